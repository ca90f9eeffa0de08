"""How a contribution treats people: shouting, insults and contempt, discrimination, veiled attacks.

One function per family of charter signals, each returning what it found (``evidence.Finding``). Every
family reads the folded text (lower case, no accents; ``text.fold_text``) except shouting, which needs
the capitals. Within a family the rules are tried strongest first and the first that holds is the
family's signal; when none holds, what came close is a near miss (a "point de vigilance", never a
flag). The words are in ``lexicon.py``, the weights in ``weights.py``.
"""

from __future__ import annotations

import re

from . import lexicon
from .evidence import Finding, Signal, flag, near_miss, signal
from .text import alternatives, first, found, phrases, sentences, words

# -- aggressive: shouting ----------------------------------------------------------------------------------
_ACRONYMS = frozenset(lexicon.ACRONYMS)
_CAPITAL_RUNS = re.compile(r"[^\W\d_a-z]{3,}")


def _capitals(raw: str) -> tuple[float, int]:
    """(share of upper-case letters in words, longest run of shouted words), acronyms left out.

    Only a run of two shouted words or more is ever used, so a text with fewer than two runs of three
    letters that are not lower-case ASCII (every shouted word is one) returns at once: most texts.
    """
    if len(_CAPITAL_RUNS.findall(raw)) < 2:
        return 0.0, 0
    letters = [w for w in re.findall(r"[^\W\d_]{2,}", raw) if w.upper() not in _ACRONYMS]
    total = sum(len(w) for w in letters)
    upper = sum(len(w) for w in letters if w.isupper())
    run = longest = 0
    for w in letters:
        run = run + 1 if (w.isupper() and len(w) >= 3) else 0
        longest = max(longest, run)
    return (upper / total if total else 0.0), longest


def shouting(raw: str) -> Finding:
    """Capitals: a text mostly in capitals, or a shouted passage (read on the text before folding)."""
    ratio, run = _capitals(raw)
    if ratio >= 0.5 and run >= 3:
        return flag("shouted_text", f"texte en majuscules ({ratio:.0%} des lettres)")
    if run >= 4:
        return flag("shouted_passage", f"passage crié ({run} mots en capitales)")
    if run >= 2 or len(re.findall(r"!{2,}", raw)) >= 2:
        return near_miss("ton appuyé (majuscules ou points d'exclamation)")
    return Finding()


# -- aggressive: insults and contempt ---------------------------------------------------------------------
INSULTS = words(lexicon.INSULTS)
CONTEMPT = phrases(lexicon.CONTEMPT)
_STRONG = alternatives(lexicon.STRONG_WORDS_ABOUT_THINGS)
STRONG_WORD = re.compile(rf"\b{_STRONG}\b")
#: Who a strong word or an ambiguous verb is aimed at, and "les élus d'Audierne", "l'adjoint aux travaux".
_PEOPLE = rf"{alternatives(lexicon.PEOPLE)}(?:-la|-ci)?"
_OF_PLACE = r"(?:\s+(?:d|de|du|des|aux?|a la|a l)\s+[a-z-]+)?"
#: "vous êtes lamentable", "ces élus sont vraiment pourris": a person, up to four small words, the word.
_AS_PREDICATE = (
    rf"(?:vous|tu|ils|elles|{_PEOPLE}{_OF_PLACE})\s+(?:(?:ne|n|\w+ment|si|tres|trop|bien|tous|toutes|aussi|"
    rf"vraiment|tellement|etes|es|sont|etiez|etaient|restez|restent|serez|seront|avez ete|ont ete|est|etait|"
    rf"reste|a ete|et|de|la|le|l)\s+){{0,4}}{_STRONG}"
)
#: "des pourris", "un minable qui ...": the word used as a noun (never "un ponton pourri").
_AS_NOUN = (
    rf"(?:des|les|ces|ce|cette|un|une|bande de|tas de|espece d|espece de|sale|tous|vous|quels?|quelles?)\s+"
    rf"{_STRONG}(?=\s*(?:$|[.,;:!?)]|qui\b|que\b|et\b|de\b|du\b|des\b|comme\b|pareils?\b))"
)
#: "quelle équipe municipale pitoyable".
_EXCLAIMED = rf"(?:quels?|quelles?|ce|cette|ces)\s+(?:\w+\s+){{0,1}}{_PEOPLE}\s+(?:\w+\s+){{0,1}}{_STRONG}"
PERSON_INSULT = re.compile(rf"\b(?:{_AS_PREDICATE}|{_AS_NOUN}|{_EXCLAIMED})")


def attack(text: str) -> Finding:
    """Insults and contempt; a strong word about things ("pourri") only when grammar aims it at a person."""
    strong_word = first(STRONG_WORD, text)
    insult = first(INSULTS, text) or (first(PERSON_INSULT, text) if strong_word else None)
    contempt = first(CONTEMPT, text)
    if insult and contempt:
        return flag("insult_and_contempt", f"insulte « {insult} » et mépris « {contempt} »")
    if insult:
        return flag("insult", f"insulte « {insult} »")
    if contempt:
        return flag("contempt", f"mépris « {contempt} »")
    if strong_word:
        return near_miss(f"mot fort sur une chose, pas sur une personne (« {strong_word} »)")
    return Finding()


# -- discrimination ---------------------------------------------------------------------------------------
SLURS = words(lexicon.SLURS)
GROUPS = phrases(lexicon.GROUPS)
EXCLUSION = phrases(lexicon.EXCLUSION)
EXCLUSION_ON_ITS_OWN = re.compile(alternatives(lexicon.EXCLUSION_ON_ITS_OWN))


def slur(text: str) -> Signal | None:
    word = first(SLURS, text)
    return signal("slur", f"terme discriminatoire « {word} »") if word else None


def discrimination(text: str) -> Finding:
    """A slur; a group named with exclusion wording; essentialising wording on its own."""
    result = Finding()
    if found_slur := slur(text):
        result.signals.append(found_slur)
    exclusion = first(EXCLUSION, text)
    group = first(GROUPS, text) if exclusion else None
    if group:
        evidence = f"exclusion d'un groupe (« {group} » … « {exclusion} »)"
        result.signals.append(signal("group_exclusion", evidence))
    elif exclusion and EXCLUSION_ON_ITS_OWN.search(exclusion):
        result.signals.append(signal("exclusion_rhetoric", f"rhétorique d'exclusion « {exclusion} »"))
    elif exclusion:
        result.near_misses.append(f"formule d'exclusion « {exclusion} »")
    return result


# -- subtle violations: veiled attacks on people -------------------------------------------------------------
PERSON_TARGET = phrases(lexicon.PERSON_TARGETS)
PERSON_MENTION = phrases(lexicon.PERSON_MENTIONS)
PERSON_ATTRIBUTE = phrases(lexicon.PERSON_ATTRIBUTES)
#: An ambiguous verb or adjective ("dépassée", "dort"), and the same with a person or role as its subject.
TIED_WORD = phrases(lexicon.TIED_WORDS)
TIED_ATTRIBUTE = re.compile(
    rf"\b(?:ils|elles|vous|{_PEOPLE}{_OF_PLACE})\s+(?:(?:ne|n|se|s|nous|vous|en|est|sont|etes|etait|etaient|"
    rf"semble|semblent|parait|paraissent|reste|restent|restez|a|ont|avez|toujours|encore|completement|"
    rf"totalement|visiblement|clairement|vraiment|bien|profondement|tranquillement|manifestement|pas|plus|"
    rf"trop|si|"
    rf"tellement)\s+){{0,3}}{alternatives(lexicon.TIED_WORDS)}\b"
)
INSINUATION = phrases(lexicon.INSINUATIONS, ends_a_word=False)
IRONY = phrases(lexicon.IRONY)
_VERB, _NEXT = alternatives(lexicon.RHETORICAL_VERBS), alternatives(lexicon.RHETORICAL_NEXT_WORDS)
RHETORICAL_QUESTION = phrases([f"{_VERB}-t?-?(?:il|ils|elle|elles) {_NEXT}"])


def _attribute(text: str) -> str | None:
    """An attack on competence, honesty or care: listed, or an ambiguous word aimed at a person."""
    listed = first(PERSON_ATTRIBUTE, text)
    if listed or not TIED_WORD.search(text):  # the grammar is checked only when an ambiguous word is there
        return listed
    return first(TIED_ATTRIBUTE, text)


def _attack_on_a_person(text: str) -> tuple[Signal | None, str]:
    """(the signal, or the irony or question that came close) for attacks aimed at a person by grammar.

    Strongest first: a rhetorical question with the person as subject ("le maire sait-il au moins ...");
    in one sentence, a person and an attack with irony or a question mark, a person and an attack, a
    person and irony ("bien sûr, l'adjoint n'a aucun lien ..."); two irony markers in a text that names
    a person. Criticism of a project ("le maire a annoncé la vente, je suis contre") has none.
    """
    person = PERSON_MENTION.search(text)
    # the verb inverted with its pronoun always writes "-il" or "-elle" ("sait-il", "a-t-elle")
    rhetorical = first(RHETORICAL_QUESTION, text) if ("-il" in text or "-elle" in text) else None
    ironies = found(IRONY, text)
    if rhetorical and (person or ironies):
        return signal("rhetorical_question", f"question rhétorique sur une personne (« {rhetorical} »)"), ""
    if not person:
        return None, ironies[0] if ironies else ""
    for sentence in sentences(text):
        who = first(PERSON_MENTION, sentence)
        if not who:
            continue
        what = _attribute(sentence)
        irony = first(IRONY, sentence)
        if what and (irony or sentence.rstrip().endswith("?")):
            evidence = f"attaque voilée contre « {who} » (« {what} », « {irony or '?'} »)"
            return signal("veiled_attack_in_a_sentence", evidence), ""
        if what:
            return signal("person_questioned", f"mise en cause de « {who} » (« {what} »)"), ""
        if irony:
            return signal("irony_at_a_person", f"ironie visant « {who} » (« {irony} »)"), ""
    if len(ironies) >= 2:
        return signal("repeated_irony", "ironie répétée : " + ", ".join(ironies[:3])), ""
    return None, (ironies[0] if ironies else rhetorical or "")


def veiled_attack(text: str) -> Finding:
    """Attacks on people in polite wording: insinuations, doubts on competence or honesty, irony."""
    attribute = _attribute(text)
    target = first(PERSON_TARGET, text) if attribute else None
    insinuations = found(INSINUATION, text)
    if target and attribute and insinuations:
        return flag(
            "attack_with_insinuation",
            f"attaque voilée contre « {target} » (« {attribute} », « {insinuations[0]} »)",
        )
    if target and attribute:
        return flag("attack_on_people", f"attaque contre des personnes (« {target} » … « {attribute} »)")
    if attribute and insinuations:
        return flag("insinuation_with_attribute", f"insinuation (« {insinuations[0]} » … « {attribute} »)")
    if len(insinuations) >= 2:
        return flag("insinuations", "insinuations : " + ", ".join(insinuations[:3]))
    aimed, hint = _attack_on_a_person(text)
    if aimed:
        return Finding([aimed])
    if insinuations or attribute or hint:
        return near_miss(f"ton insinuant (« {(insinuations or [attribute or hint])[0]} »)")
    return Finding()
