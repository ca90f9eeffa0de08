"""What a contribution says: spam, false information, off topic, and the aspects the charter encourages.

One function per family of charter signals, as in ``conduct.py`` (rules strongest first, one signal a
family, near misses otherwise). The words are in ``lexicon.py``, the weights in ``weights.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import lexicon
from .conduct import PERSON_MENTION
from .evidence import Finding, Signal, flag, near_miss, signal
from .text import alternatives, first, found, phrases, sentences

# -- spam ----------------------------------------------------------------------------------------------------
URL = re.compile(
    r"(?:https?://\S+|\bwww\.\S+|\b[a-z0-9-]{2,}\.(?:com|net|shop|store|biz|info|io|xyz|fr)\b(?:/\S*)?)"
)
TRUSTED_URL = re.compile("|".join(re.escape(site) for site in lexicon.TRUSTED_SITES))
PHONE = re.compile(r"(?:\+33\s?|\b0)[1-9](?:[\s.-]?\d{2}){4}\b")
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
#: Contact details written out to dodge filters ("monsite point com", "contact[at]...").
OBFUSCATED_CONTACT = re.compile(r"\b[a-z0-9-]{3,} point (?:com|fr|net|org)\b|\[at\]|\(at\)|\barobase\b")
SHOP_URL = re.compile(
    rf"(?:\.{alternatives(lexicon.SHOP_DOMAINS)}\b|\bwww\.shop|"
    rf"{alternatives(lexicon.SELLING_WORDS_IN_ADDRESSES)}[a-z0-9-]*\.)"
)
PROMOTION = phrases(lexicon.PROMOTION)
SELLING = phrases(lexicon.SELLING)


@dataclass
class Commercial:
    """The commercial evidence in a text: what spam is made of."""

    links: list[str]  #: outside links (a trusted site's are left out)
    contacts: list[str]  #: a link, a phone number, an e-mail, an address written out; at most one of each
    promotion: list[str]  #: promotional wording, distinct and sorted
    shop_link: str | None  #: a link that is itself an advert
    selling: str | None  #: selling wording, looked for only beside a contact


def commercial(text: str) -> Commercial:
    links = [u for u in URL.findall(text) if not TRUSTED_URL.search(u)]
    contacts = [
        x
        for x in (
            links[0] if links else None,
            first(PHONE, text),
            first(EMAIL, text),
            first(OBFUSCATED_CONTACT, text),
        )
        if x
    ]
    shop_link = next((u for u in links if SHOP_URL.search(u)), None)
    selling = first(SELLING, text) if contacts else None
    return Commercial(links, contacts, found(PROMOTION, text), shop_link, selling)


def spam_rules(c: Commercial) -> list[Signal]:
    """Every spam rule that holds on this evidence, strongest first."""
    holds = []
    if c.contacts and c.promotion:
        evidence = f"publicité (« {c.promotion[0]} ») avec contact « {c.contacts[0]} »"
        holds.append(signal("advert_with_contact", evidence))
    if len(c.promotion) >= 2:
        holds.append(signal("promotional_words", "vocabulaire promotionnel : " + ", ".join(c.promotion[:3])))
    if c.shop_link:
        holds.append(signal("shop_link", f"lien publicitaire « {c.shop_link} »"))
    if c.contacts and c.selling:
        evidence = f"coordonnées d'un commerce (« {c.selling} », « {c.contacts[0]} »)"
        holds.append(signal("business_contact", evidence))
    if len(set(c.links)) >= 3:
        holds.append(signal("many_links", f"{len(set(c.links))} liens extérieurs"))
    return holds


def spam(text: str) -> Finding:
    """Commercial intent: a link, a phone or an e-mail counts only with promotional or selling wording."""
    c = commercial(text)
    holds = spam_rules(c)
    if holds:
        return Finding(holds[:1])
    if c.contacts:  # a news article, a public service's number: a source or a piece of information
        return near_miss(f"lien ou coordonnées sans caractère commercial (« {c.contacts[0]} »)")
    if c.promotion:
        return near_miss(f"mot promotionnel « {c.promotion[0]} »")
    return Finding()


# -- false information: unverifiable claims, hearsay, unsourced certainties ----------------------------------
UNVERIFIABLE_CLAIM = phrases(lexicon.UNVERIFIABLE_CLAIMS)
HEARSAY = phrases(lexicon.HEARSAY)
ASKS_CONFIRMATION = re.compile(rf"\?|\b{alternatives(lexicon.ASKS_CONFIRMATION)}\b")
CERTAINTY = phrases(lexicon.CERTAINTY)
DRASTIC_CLAIM = phrases(lexicon.DRASTIC_CLAIMS, ends_a_word=False)
HEALTH_SCARE = phrases(lexicon.HEALTH_SCARES, ends_a_word=False)
SOURCE = phrases(lexicon.SOURCES, ends_a_word=False)


@dataclass
class Hearsay:
    """What is reported as heard: welcome as a question, a false-information signal only as a statement."""

    said: str | None  #: "il paraît que", "des rumeurs"
    asked: bool  #: the text asks the commune to confirm or explain ("la mairie peut-elle confirmer ?")
    about: str | None  #: the person or role a stated rumour is about (same sentence)


def hearsay(text: str) -> Hearsay:
    said = first(HEARSAY, text)
    asked = bool(said) and bool(ASKS_CONFIRMATION.search(text))
    about = None
    if said and not asked:
        about = next(
            (
                who
                for sentence in sentences(text)
                if HEARSAY.search(sentence) and (who := first(PERSON_MENTION, sentence))
            ),
            None,
        )
    return Hearsay(said, asked, about)


def false_information(text: str) -> Finding:
    """Unverifiable claims; hearsay stated as fact; a drastic fact or a health danger stated, unsourced.

    A source ("selon la délibération", a link to the commune's site) cancels a certainty or a health claim;
    hearsay alone, or asked as a question, is a request for clarification, which the charter encourages.
    """
    claims = found(UNVERIFIABLE_CLAIM, text)
    certainties = found(CERTAINTY, text)
    heard = hearsay(text)
    scare = first(HEALTH_SCARE, text)
    drastic = first(DRASTIC_CLAIM, text) if (certainties or heard.said) else None  # only read with them
    # a source answers a certainty or a health claim; hearsay about a person stays hearsay with a link
    sourced = bool(certainties or scare) and bool(
        SOURCE.search(text) or any(TRUSTED_URL.search(u) for u in URL.findall(text))
    )
    if len(claims) >= 2:
        return flag("unverifiable_claims", "affirmations invérifiables : " + ", ".join(claims[:3]))
    if claims and heard.said and not heard.asked:
        return flag(
            "rumour_and_unverifiable_claim",
            f"rumeur (« {heard.said} ») et affirmation invérifiable « {claims[0]} »",
        )
    if claims:
        return flag("unverifiable_claim", f"affirmation invérifiable « {claims[0]} »")
    if heard.said and certainties and not sourced:
        return flag(
            "rumour_stated_as_certain",
            f"rumeur (« {heard.said} ») présentée comme certaine (« {certainties[0]} »)",
        )
    if heard.said and drastic and not heard.asked and not sourced:
        return flag(
            "rumour_with_drastic_fact", f"rumeur (« {heard.said} ») rapportée comme un fait (« {drastic} »)"
        )
    if heard.about and not sourced:
        return flag(
            "rumour_about_a_person",
            f"rumeur sur « {heard.about} » rapportée comme un fait (« {heard.said} »)",
        )
    if scare and certainties and not sourced:
        return flag("health_scare_stated_as_certain", f"danger sanitaire affirmé sans source (« {scare} »)")
    if scare and not sourced:
        return flag("health_scare", f"danger sanitaire affirmé sans source (« {scare} »)")
    if certainties and drastic and not sourced:
        return flag(
            "drastic_fact_stated_as_certain",
            f"fait grave (« {drastic} ») présenté comme certain (« {certainties[0]} ») sans source",
        )
    if len(certainties) >= 2 and not sourced:
        return flag("certainties", "certitudes sans source : " + ", ".join(certainties[:3]))
    if certainties and not sourced:
        return near_miss(f"affirmation sans source (« {certainties[0]} »)")
    if heard.said:
        asked = ", posée comme une question" if heard.asked else ""
        return near_miss(f"rumeur rapportée (« {heard.said} »){asked}")
    return Finding()


# -- off topic -----------------------------------------------------------------------------------------------
LOCAL = phrases(lexicon.LOCAL)
STRONG_LOCAL = phrases(lexicon.STRONG_LOCAL)
NATIONAL_OR_FOREIGN = phrases(lexicon.NATIONAL_OR_FOREIGN)
ELSEWHERE = phrases(lexicon.ELSEWHERE)


def mentions_the_commune(text: str) -> bool:
    """Any tie to the commune or a municipal matter (the neighbouring towns count here)."""
    return bool(LOCAL.search(text))


def off_topic(text: str, *, local: bool, topical: float) -> Finding:
    """Positive evidence only: the main subject is national, foreign or private, with at most one strong tie.

    ``local``: ``mentions_the_commune(text)``; ``topical``: the best category's vocabulary score.
    """
    elsewhere = found(ELSEWHERE, text)
    national = first(NATIONAL_OR_FOREIGN, text)
    # strong ties are counted only when something could be off topic (a local text with nothing elsewhere
    # is never off topic)
    ties = found(STRONG_LOCAL, text) if (elsewhere or national or not local) else []
    away = sorted(set(elsewhere) | ({national} if national else set()))
    if not local and national and not ties:
        return flag("national_or_foreign_topic", f"sujet sans lien avec la commune (« {national} »)")
    if elsewhere and not ties:
        return flag("main_subject_elsewhere", f"sujet principal hors de la commune (« {elsewhere[0]} »)")
    if len(away) >= 2 and len(ties) <= 1:
        return flag(
            "subjects_elsewhere", f"sujet principal hors de la commune (« {away[0]} », « {away[1]} »)"
        )
    if not local and topical < 2 and not ties:  # no evidence either way: not a flag
        return near_miss("aucune mention de la commune")
    if national and topical < 1:
        return near_miss(f"sujet national (« {national} »)")
    if elsewhere:
        return near_miss(f"sujet en partie hors de la commune (« {elsewhere[0]} »)")
    return Finding()


# -- encouraged aspects --------------------------------------------------------------------------------------
PROPOSAL = phrases(lexicon.PROPOSAL)
QUESTION = re.compile(rf"\?|\b{alternatives(lexicon.QUESTION)}\b")
CRITICISM = phrases(lexicon.CRITICISM)
EXPERIENCE = phrases(lexicon.EXPERIENCE)
IMPROVEMENT = phrases(lexicon.IMPROVEMENT)


def encouraged_aspects(text: str) -> list[str]:
    """What the charter encourages (``model.ENCOURAGED_ASPECTS``), in that list's order of discovery."""
    proposal, question = PROPOSAL.search(text), QUESTION.search(text)
    aspects = []
    if proposal:
        aspects.append("concrete_proposal")
    if question:
        aspects.append("question")
    if (proposal or question) and CRITICISM.search(text):
        aspects.append("constructive_criticism")
    if EXPERIENCE.search(text):
        aspects.append("experience_sharing")
    if IMPROVEMENT.search(text):
        aspects.append("improvement_suggestion")
    return aspects
