"""The rules validator's layout stays what a newcomer is told: words in the lexicon, weights in one table.

Checks the promises of docs/contributions.md ("Changing the rules validator"): an entry may be written
with accents; an entry can never hide a later one; every rule named by a family is in the weight table
and every rule of the table is used; each family returns its own evidence; ``hard_signals`` holds only
on invalid contributions; any mix of lexicon words and sentences gets a verdict consistent with its
signals (hypothesis).
"""

from __future__ import annotations

import inspect
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines.contributions.model import CATEGORIES, VIOLATION_KINDS, Contribution
from ocapistaine_pipelines.contributions.rules import (
    FLAG_CONFIDENCE_MARGIN,
    FLAG_THRESHOLD,
    HARD_RULES,
    RULES,
    RulesValidator,
    analyse,
    category_words,
    conduct,
    content,
    hard_signals,
    lexicon,
)
from ocapistaine_pipelines.contributions.rules.text import fold_text, phrases, words

from ..budget import examples
from . import rules_golden

_PATTERN_SYNTAX = re.compile(r"[\\()\[\]?*+{}|.^$]")


def lexicon_lists() -> dict[str, tuple[str, ...]]:
    return {
        name: value for name, value in vars(lexicon).items() if isinstance(value, tuple) and name.isupper()
    }


def test_an_entry_may_be_written_with_accents_and_apostrophes():
    pattern = phrases(["élus", "l'édile", "chef-d'œuvre"])
    for written in ("Les élus", "L’édile", "un chef-d'œuvre"):
        assert pattern.search(fold_text(written)), written
    assert words(["gros nul"]).search(fold_text("Quel GROS\n NULS"))


@pytest.mark.parametrize("entry", [r"\Slien", "-50 %", " maire", "!!"])
def test_an_entry_that_could_never_match_is_refused(entry):
    with pytest.raises(ValueError, match="lexicon entry"):
        phrases([entry])


@pytest.mark.parametrize("name", sorted(lexicon_lists()))
def test_no_entry_hides_a_later_one(name):
    """Entries are tried in order: a plain entry that starts a later one ("copains" before "copains et
    coquins") would always be the one shown, and the later one could never be."""
    entries = [fold_text(e) for e in lexicon_lists()[name]]
    assert len(entries) == len(set(entries)), f"{name}: duplicate entries"
    plain = [e for e in entries if not _PATTERN_SYNTAX.search(e)]
    for i, earlier in enumerate(plain):
        for later in plain[i + 1 :]:
            hidden = later.startswith(earlier) and not re.match(r"\w", later[len(earlier) :])
            assert not hidden, f"{name}: {earlier!r} comes before {later!r}, which it hides"


def test_category_words_are_folded():
    for category, stems in category_words.CATEGORY_VOCABULARY.items():
        assert all(stem == fold_text(stem) for stem in stems), category


def test_every_rule_is_in_the_weight_table_and_every_weight_is_used():
    named = set()
    for module in (conduct, content):
        named |= set(re.findall(r'(?:signal|flag)\(\s*"(\w+)"', inspect.getsource(module)))
    assert named == set(RULES), (named - set(RULES), set(RULES) - named)
    for name, rule in RULES.items():
        assert rule.kind in VIOLATION_KINDS, name
        assert FLAG_THRESHOLD <= rule.weight < 1.0, name
        assert re.fullmatch(r"v[1-4]: .+", rule.origin), name
    assert set(HARD_RULES) <= set(RULES)


@pytest.mark.parametrize(
    ("family", "text", "rule"),
    [
        (conduct.attack, "vous etes lamentable, monsieur le maire", "insult"),
        (conduct.attack, "bande d incapables, honte a vous", "contempt"),
        (conduct.discrimination, "les migrants n ont rien a faire ici", "group_exclusion"),
        (conduct.veiled_attack, "le maire sait-il au moins ou se trouve le port ?", "rhetorical_question"),
        (conduct.veiled_attack, "comme d habitude, le maire decouvre le probleme.", "irony_at_a_person"),
        (content.spam, "toiture a refaire ? devis au 06 12 34 56 78", "business_contact"),
        (
            content.false_information,
            "il parait que l adjoint a fait annuler l amende.",
            "rumour_about_a_person",
        ),
        (
            content.false_information,
            "c est officiel : la piscine va fermer.",
            "drastic_fact_stated_as_certain",
        ),
    ],
)
def test_each_family_returns_its_own_evidence(family, text, rule):
    finding = family(text)
    assert [s.rule for s in finding.signals] == [rule]
    assert finding.signals[0].kind == RULES[rule].kind and finding.signals[0].weight == RULES[rule].weight
    assert finding.signals[0].evidence


def test_a_family_that_finds_nothing_says_nothing():
    fair = fold_text("Le bois du ponton de Poulgoazec est pourri : il faudrait le remplacer avant l'été.")
    assert conduct.attack(fair).signals == []
    assert conduct.attack(fair).near_misses == ["mot fort sur une chose, pas sur une personne (« pourri »)"]
    assert conduct.shouting("Le port d'Audierne manque de pontons.").near_misses == []
    assert content.off_topic(fair, local=True, topical=2.0).signals == []


def test_hard_signals_name_their_rule_and_need_no_context():
    slur_and_shop = hard_signals("Les bougnoules dehors. Gîtes : réservez sur gites-pas-chers.shop")
    # each hard rule on its own (the spam family shows only its strongest): the link is also a contact
    assert [s.rule for s in slur_and_shop] == ["slur", "shop_link", "business_contact"]
    advert = hard_signals("Promo -50 % sur nos pontons, appelez le 06 11 22 33 44")
    assert [s.rule for s in advert] == ["advert_with_contact"]
    assert hard_signals("Le cabinet médical d'Audierne répond au 02 98 70 00 00, à afficher.") == []
    assert hard_signals("Le maire est un incapable.") == []  # an insult is not a hard signal: context decides


def test_hard_signals_hold_only_on_contributions_labelled_invalid_and_always_flag():
    """Over every labelled set and random pairs of their sentences: a hard signal means a flag, and no
    item labelled valid has one (what another validator may take as given)."""
    validator = RulesValidator()
    labelled = [
        r
        for path in rules_golden.labelled_set_files()
        for r in rules_golden.records(path)
        if "expected_valid" in r
    ]
    for record in labelled:
        contribution = Contribution.from_record(record)
        if hard_signals(contribution.text):
            assert record["expected_valid"] is False, record["id"]
            assert validator.validate(contribution).is_valid is False, record["id"]
    sentences = [s["constat_factuel"] for s in rules_golden.sentence_records(labelled)]
    rng = random.Random(12)
    for i in range(1000):
        text = " ".join(rng.sample(sentences, 2))
        contribution = Contribution.from_record({"id": f"r{i}", "constat_factuel": text})
        signals = hard_signals(contribution.text)
        verdict = validator.validate(contribution)
        if signals:
            assert verdict.is_valid is False and {s.kind for s in signals} <= set(verdict.violations)


def _plain_entries() -> list[str]:
    entries = {e for listed in lexicon_lists().values() for e in listed}
    return sorted(e for e in entries if not _PATTERN_SYNTAX.search(e))


_SENTENCES = [
    s["constat_factuel"]
    for path in rules_golden.labelled_set_files()
    for s in rules_golden.sentence_records(rules_golden.records(path))
]
_PIECES = st.one_of(
    st.sampled_from(_SENTENCES),
    st.sampled_from(_plain_entries()),
    st.sampled_from(
        [
            "!!",
            "?",
            ".",
            "\n",
            "https://promo-velos.shop",
            "06 11 22 33 44",
            "contact@exemple.fr",
            "selon le compte rendu",
            "AUDIERNE",
            "É",
        ]
    ),
)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sentence=st.sampled_from(_SENTENCES),
    pieces=st.lists(_PIECES, max_size=8),
    shout=st.booleans(),
    category=st.sampled_from([None, "economie", "culture", "bogus"]),
)
def test_any_mix_of_lexicon_words_and_sentences_gets_a_consistent_verdict(sentence, pieces, shout, category):
    """Words of every list and sentences of every set, mixed: the verdict agrees with its signals, the
    table's weights and the hard signals, and the same text gives the same verdict."""
    text = " ".join([sentence, *pieces])
    record = {"id": "h", "constat_factuel": text.upper() if shout else text, "category": category}
    contribution = Contribution.from_record(record)
    verdict = RulesValidator().validate(contribution)
    assert verdict == RulesValidator().validate(contribution)
    flagged = [s for s in analyse(contribution).signals if s.weight >= FLAG_THRESHOLD]
    for s in analyse(contribution).signals:
        assert (s.kind, s.weight) == (RULES[s.rule].kind, RULES[s.rule].weight) and s.evidence
    assert (verdict.is_valid is False) == bool(flagged) == bool(verdict.violations)
    assert set(verdict.violations) == {s.kind for s in flagged}
    assert 0.5 <= verdict.confidence <= 0.99 and verdict.category in CATEGORIES
    if flagged:
        assert verdict.confidence <= max(s.weight for s in flagged) + FLAG_CONFIDENCE_MARGIN + 1e-9
    hard = hard_signals(contribution.text)
    assert {s.kind for s in hard} <= set(verdict.violations)
