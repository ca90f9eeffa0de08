"""The offline charter checker and classifier, measured against labelled contributions.

Six sets, each written before the rules version it first measured (figures in docs/contributions.md):
the shipped labelled set (69, written while building v1); held-out 1 (24) and 2 (30), measured once then
used to revise the rules; held-out 3 (53, v1 measured 0.55 on it, but the v2 patterns were written with
it in view, so it is a regression guard); held-out 4 (38, v2 measured 0.63, then used for v3 and the
calibration fit); held-out 5 (36, written after v3 and the calibration fit, measured once, never tuned
on: the honest figure for v3). A seventh set, fair criticism (48 valid blunt-but-fair items, 18 close calls
the other way), was written before v4 and measured v3's false flags (21 of 48); v4 was written against it.
Thresholds sit just under what was measured; ``pytest -s`` prints the numbers.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from ocapistaine_pipelines.contributions.model import CATEGORIES, VIOLATION_KINDS, Contribution
from ocapistaine_pipelines.contributions.rules import (
    CALIBRATION_BASE_RATE,
    RulesValidator,
    analyse,
    fold_text,
)

FAIR_CRITICISM = Path(__file__).resolve().parent / "fair_criticism_contributions.json"


def score(items: list[dict], *, keep_category: bool = True) -> dict:
    validator = RulesValidator()
    contributions = [Contribution.from_record(r if keep_category else {**r, "category": None}) for r in items]
    verdicts = validator.validate_many(contributions)
    expected = [r["expected_valid"] for r in items]
    tp = sum(1 for e, v in zip(expected, verdicts) if not e and v.is_valid is False)
    fp = sum(1 for e, v in zip(expected, verdicts) if e and v.is_valid is False)
    fn = sum(1 for e, v in zip(expected, verdicts) if not e and v.is_valid is True)
    right = [v.is_valid == e for e, v in zip(expected, verdicts)]
    per_kind = {}
    for kind in VIOLATION_KINDS:
        hits = [v.is_valid is False for r, v in zip(items, verdicts) if kind in r["violations_injected"]]
        per_kind[kind] = (sum(hits), len(hits))
    return {
        "n": len(items),
        "accuracy": sum(right) / len(items),
        "precision_invalid": tp / (tp + fp) if tp + fp else 0.0,
        "recall_invalid": tp / (tp + fn) if tp + fn else 0.0,
        "category_accuracy": sum(v.category == r["category"] for r, v in zip(items, verdicts)) / len(items),
        "per_kind": per_kind,
        "confidences": [(v.confidence, ok) for v, ok in zip(verdicts, right)],
        "verdicts": verdicts,
    }


def brier(pairs: list[tuple[float, bool]], constant: float | None = None) -> float:
    """Mean squared error of the confidence (or of a constant) against 1 = right, 0 = wrong."""
    return statistics.mean(
        ((c if constant is None else constant) - (1.0 if ok else 0.0)) ** 2 for c, ok in pairs
    )


def auroc(pairs: list[tuple[float, bool]]) -> float:
    right = [c for c, ok in pairs if ok]
    wrong = [c for c, ok in pairs if not ok]
    return statistics.mean(1.0 if a > b else 0.5 if a == b else 0.0 for a in right for b in wrong)


def report(name: str, result: dict) -> None:
    print(
        f"\n{name}: n={result['n']} accuracy={result['accuracy']:.3f} precision(invalid)="
        f"{result['precision_invalid']:.3f} recall(invalid)={result['recall_invalid']:.3f} "
        f"category={result['category_accuracy']:.3f} Brier={brier(result['confidences']):.3f} per "
        f"kind={result['per_kind']}"
    )


def test_labelled_set_covers_every_category_and_violation_kind(labelled):
    assert len(labelled) >= 60
    assert {r["category"] for r in labelled} == set(CATEGORIES)
    kinds = {k for r in labelled for k in r["violations_injected"]}
    assert kinds == set(VIOLATION_KINDS)
    assert all((r["expected_valid"] is True) == (r["violations_injected"] == []) for r in labelled)
    assert sum(r["expected_valid"] for r in labelled) >= 30
    for r in labelled:  # the export format, with title and body as the legacy code builds them
        assert Contribution.from_record(r).body == r["body"]


def test_rules_on_the_labelled_set(labelled):
    result = score(labelled)
    print(
        f"\nlabelled set: n={result['n']} accuracy={result['accuracy']:.3f} precision(invalid)="
        f"{result['precision_invalid']:.3f} recall(invalid)={result['recall_invalid']:.3f} "
        f"category={result['category_accuracy']:.3f} per kind={result['per_kind']}"
    )
    assert result["accuracy"] >= 0.95
    assert result["precision_invalid"] >= 0.95 and result["recall_invalid"] >= 0.9
    assert all(found == total for found, total in result["per_kind"].values()), result["per_kind"]


def test_rules_on_the_first_held_out_set_after_revision(held_out):
    result = score(held_out)
    print(
        f"\nheld-out set 1 (seen by the revision): n={result['n']} accuracy={result['accuracy']:.3f} "
        f"precision(invalid)={result['precision_invalid']:.3f} recall(invalid)={result['recall_invalid']:.3f}"
    )
    assert result["accuracy"] >= 0.95


def test_rules_on_the_second_held_out_set(held_out_2):
    """v1 measured 0.70 / 1.00 / 0.40 here; the v2 revision saw it, so it is now a regression guard (1.00)."""
    result = score(held_out_2)
    report("held-out set 2 (seen by the v2 revision)", result)
    assert result["accuracy"] >= 0.95
    assert result["precision_invalid"] >= 0.95
    assert result["recall_invalid"] >= 0.9


def test_rules_on_the_third_held_out_set(held_out_3):
    """v1 measured 0.55 accuracy, 0.78 precision, 0.24 recall; v2 and v3 measure 1.00 (patterns written
    with it in view)."""
    result = score(held_out_3)
    report("held-out set 3 (regression guard)", result)
    assert result["accuracy"] >= 0.95
    assert result["precision_invalid"] >= 0.95 and result["recall_invalid"] >= 0.95
    assert all(found == total for found, total in result["per_kind"].values()), result["per_kind"]


def test_rules_on_the_fourth_held_out_set(held_out_4):
    """v2 measured 0.63 / 0.88 / 0.35 once; the v3 revision and the calibration fit then used it (1.00)."""
    result = score(held_out_4)
    report("held-out set 4 (seen by the v3 revision)", result)
    assert result["accuracy"] >= 0.95
    assert result["precision_invalid"] >= 0.95 and result["recall_invalid"] >= 0.9


def test_rules_on_the_fifth_held_out_set(held_out_5):
    """Never tuned on. v3: 0.64 accuracy, 0.78 precision, 0.39 recall on "invalid"; v4: 0.64 / 1.00 / 0.28.

    v4 no longer flags held-out 5's two valid items (the old "no local word" off-topic rule) but no longer
    catches three invalid ones that rule caught by accident (a bitcoin forecast, a novel, a false claim
    with no local word): off topic now needs positive evidence. v4's rumour-about-a-person and commerce
    rules were written after looking at this set's misses, so it is no longer strictly unseen.
    """
    result = score(held_out_5)
    report("held-out set 5 (never tuned on)", result)
    assert result["accuracy"] >= 0.6
    assert result["precision_invalid"] >= 0.95
    assert result["recall_invalid"] >= 0.25


def test_rules_on_the_fair_criticism_set():
    """Blunt but fair items stay valid; insults with the same words, spam with a link, rumours stated as facts
    do not.

    Written before v4: v3 flagged 21 of its 48 valid items (false-positive rate 0.44) and caught 18/18
    invalid ones. v4 was written against it (in-sample): 0/48 false positives, 18/18 caught.
    """
    items = json.loads(FAIR_CRITICISM.read_text(encoding="utf-8"))["contributions"]
    valid = [r for r in items if r["expected_valid"]]
    invalid = [r for r in items if not r["expected_valid"]]
    assert len(valid) >= 40 and len(invalid) >= 15
    assert all(r["category"] in CATEGORIES for r in items)
    for r in items:
        assert Contribution.from_record(r).body == r["body"]
    result = score(items)
    flagged_valid = [
        (r["id"], v.reasoning)
        for r, v in zip(items, result["verdicts"])
        if r["expected_valid"] and not v.is_valid
    ]
    false_positive_rate = len(flagged_valid) / len(valid)
    report("fair-criticism set", result)
    print(f"false-positive rate on valid items {false_positive_rate:.3f} ({len(flagged_valid)}/{len(valid)})")
    assert false_positive_rate <= 0.03, flagged_valid
    assert result["recall_invalid"] >= 0.94
    assert result["precision_invalid"] >= 0.94


def test_blunt_but_fair_criticism_stays_valid(labelled, held_out_3):
    blunt = [
        r
        for r in labelled + held_out_3
        if r["expected_valid"]
        and any(
            w in fold_text(r["constat_factuel"])
            for w in (
                "erreur",
                "contre",
                "inacceptable",
                "rate",
                "mauvaise",
                "mal pense",
                "gachis",
                "desaccord",
                "aberration",
                "regrette",
                "traine",
                "franchement",
            )
        )
    ]
    assert len(blunt) >= 12
    verdicts = RulesValidator().validate_many([Contribution.from_record(r) for r in blunt])
    assert all(v.is_valid for v in verdicts), [
        (r["id"], v.reasoning) for r, v in zip(blunt, verdicts) if not v.is_valid
    ]


def test_confidence_is_measured_against_the_labels(
    labelled, held_out, held_out_2, held_out_3, held_out_4, held_out_5
):
    """Not constant, and higher when the verdict is right (AUROC of confidence for right vs wrong), over all
    six sets.

    The three sets this test used to pool hold no mistakes any more, so the pool now takes every set
    (250 verdicts, 13 wrong, all on held-out 5; measured v3: right 0.86, wrong 0.75, AUROC 0.81, Brier 0.056;
    v4: right 0.83, wrong 0.74, AUROC 0.87, Brier 0.062).
    """
    pairs = [
        p
        for items in (labelled, held_out, held_out_2, held_out_3, held_out_4, held_out_5)
        for p in score(items)["confidences"]
    ]
    right = [c for c, ok in pairs if ok]
    wrong = [c for c, ok in pairs if not ok]
    assert statistics.pstdev([c for c, _ in pairs]) > 0.05
    assert wrong, "the held-out sets must contain mistakes for this measure to mean anything"
    print(
        f"\nconfidence: mean when right {statistics.mean(right):.3f}, when wrong "
        f"{statistics.mean(wrong):.3f}, "
        f"AUROC {auroc(pairs):.3f}, Brier {brier(pairs):.3f}"
    )
    assert statistics.mean(right) > statistics.mean(wrong) + 0.05
    assert auroc(pairs) >= 0.75


def test_confidence_is_calibrated_on_sets_the_fit_never_read(held_out_3, held_out_5):
    """Brier below a constant predictor, and higher confidence when right, on held-out sets 3 and 5.

    The constant is CALIBRATION_BASE_RATE, what the fitted model would say without evidence. Measured
    v3 / v4: held-out 5: Brier 0.232 / 0.229 vs 0.267 / 0.265, AUROC 0.73 / 0.79. Held-out 3: every
    verdict is right there, so a lower confidence can only cost Brier: v3 0.025 vs 0.029, v4 0.033 vs
    0.031, because v4 caps a flag from one weak signal near its weight (0.70 for a 0.6 signal) instead of
    ~0.95; the test allows v4 to be within 0.005 of the constant there.
    """
    three, five = score(held_out_3)["confidences"], score(held_out_5)["confidences"]
    print(
        f"\ncalibration: held-out 3 Brier {brier(three):.3f} (constant "
        f"{brier(three, CALIBRATION_BASE_RATE):.3f}); held-out 5 Brier {brier(five):.3f} (constant "
        f"{brier(five, CALIBRATION_BASE_RATE):.3f}), AUROC {auroc(five):.3f}"
    )
    assert brier(three) <= brier(three, CALIBRATION_BASE_RATE) + 0.005
    assert brier(five) < brier(five, CALIBRATION_BASE_RATE)
    assert brier(five) <= 0.235
    right = [c for c, ok in five if ok]
    wrong = [c for c, ok in five if not ok]
    assert statistics.mean(right) > statistics.mean(wrong) + 0.04  # v3 0.83 vs 0.75; v4 0.78 vs 0.74
    assert auroc(five) >= 0.75
    assert all(0.5 <= c <= 0.99 for c, _ in three + five)


def test_classifier_without_the_given_category(labelled):
    """The text alone files most contributions; the given category only breaks weak ties."""
    alone = score(labelled, keep_category=False)["category_accuracy"]
    with_prior = score(labelled)["category_accuracy"]
    print(f"\ncategory accuracy: text alone {alone:.3f}, with the given category as prior {with_prior:.3f}")
    assert alone >= 0.7 and with_prior >= alone
    assert all(v.category in CATEGORIES for v in score(labelled, keep_category=False)["verdicts"])


def test_each_signal_on_its_own():
    v = RulesValidator()

    def judge(constat: str, idees: str = "Il faudrait en parler au conseil municipal d'Audierne."):
        return v.validate(
            Contribution.from_record({"id": "t", "constat_factuel": constat, "idees_ameliorations": idees})
        )

    assert judge("LE MARCHÉ D'AUDIERNE EST UNE HONTE, PERSONNE NE FAIT RIEN").violations[0] == "aggressive"
    assert "spam" in judge("Le port d'Audierne mérite mieux.", "Promo : appelez le 06 11 22 33 44").violations
    assert "spam" in judge("Sur le port d'Audierne, visitez https://bateaux-pas-chers.shop").violations
    assert judge(
        "Le compte rendu est sur https://www.audierne.bzh/deliberations, la voirie y est citée."
    ).is_valid
    assert judge(
        "La politique de la Chine en Afrique m'inquiète.", "Il faut une diplomatie ferme."
    ).violations == ["off_topic"]
    assert "discrimination" in judge("Les migrants n'ont rien à faire ici, à Audierne.").violations
    subtle = judge(
        "Le maire a-t-il seulement lu le dossier ? Comme par hasard, ce sont ses copains qui gagnent."
    )
    assert subtle.violations == ["subtle_violation"]
    assert (
        "false_information"
        in judge("On nous cache que l'eau d'Audierne est empoisonnée, les médias se taisent.").violations
    )
    # veiled attacks: a person as the subject of a rhetorical question, irony aimed at a person; not a plain
    # request
    assert judge("La conseillère déléguée connaît-elle seulement le prix d'un loyer ici ?").violations == [
        "subtle_violation"
    ]
    assert judge("Comme d'habitude, le maire découvre le problème dans la presse.").violations == [
        "subtle_violation"
    ]
    assert judge("Le maire peut-il préciser la date de fin des travaux rue de la Marine ?").is_valid
    assert judge("Je regrette que le conseil ait supprimé la navette du dimanche.").is_valid
    # a drastic claim presented as certain without a source; the same figure with its source is fine
    assert judge("C'est officiel : la mairie va fermer la piscine l'an prochain.").violations == [
        "false_information"
    ]
    assert judge(
        "Selon le compte rendu du conseil, la piscine va fermer l'an prochain pour travaux."
    ).is_valid
    # the main subject is elsewhere even though a local place is named
    assert judge(
        "Quelqu'un d'Esquibien a vu le film d'hier soir ?", "Merci d'avance pour vos avis."
    ).violations == ["off_topic"]
    # one national word (FOREIGN_TOPIC) and one private-life word (ELSEWHERE), one local tie: both named in
    # the reason
    mixed = judge("Le gouvernement a raté la sortie de mon film préféré.", "Qu'en pense le maire ?")
    assert (
        mixed.violations == ["off_topic"] and "gouvernement" in mixed.reasoning and "film" in mixed.reasoning
    )
    fair = judge(
        "Le projet de parking sur le port d'Audierne est une erreur coûteuse et mal conçue.",
        "Je propose de l'abandonner et d'améliorer la navette depuis Esquibien.",
    )
    assert fair.is_valid and "concrete_proposal" in fair.encouraged_aspects
    # deterministic
    assert judge("Le port d'Audierne manque de pontons.") == judge("Le port d'Audierne manque de pontons.")


#: Ordinary, fair contributions v3 flagged as invalid with ~0.95 confidence (objects called "pourri", a rumour
#: asked as a question, a month, a speed, a press link, a public service's number, a national road).
FAIR_SENTENCES = [
    "Le bois du ponton de Poulgoazec est pourri : il faudrait le remplacer avant l'été.",
    "L'état de la rue principale d'Audierne est lamentable, il faudrait refaire la chaussée.",
    "J'ai entendu des rumeurs sur la fermeture de la pharmacie d'Audierne : la mairie peut-elle préciser ?",
    "Depuis mars, les poubelles jaunes ne sont plus ramassées le mardi. Pourrait-on rétablir la collecte ?",
    "La vitesse dépasse souvent 70 km/h rue du Rouanez ; "
    "la municipalité pourrait installer un radar pédagogique.",
    "Un article de ouest-france.fr explique comment Douarnenez a créé des navettes ; "
    "Audierne pourrait s'en inspirer.",
    "Pour les urgences, le cabinet médical d'Audierne répond au 02 98 70 00 00 ; il faudrait un numéro "
    "unique affiché à la mairie.",
    "Le trafic sur la route nationale 784 est dangereux à l'entrée d'Audierne, il faudrait un rond-point.",
]


@pytest.mark.parametrize("text", FAIR_SENTENCES)
def test_fair_sentences_stay_valid(text):
    verdict = RulesValidator().validate(
        Contribution.from_record({"id": "x", "constat_factuel": text, "idees_ameliorations": ""})
    )
    assert verdict.is_valid, verdict.reasoning
    assert verdict.violations == []


def test_the_same_words_aimed_at_people_still_flag():
    v = RulesValidator()

    def judge(text: str):
        return v.validate(
            Contribution.from_record({"id": "t", "constat_factuel": text, "idees_ameliorations": ""})
        )

    assert judge("Le ponton d'Audierne est pourri.").is_valid
    assert judge("Les élus d'Audierne sont pourris.").violations == ["aggressive"]
    assert judge("Vous êtes lamentable, monsieur le maire.").violations == ["aggressive"]
    assert judge("Quelle équipe municipale pitoyable.").violations == ["aggressive"]
    assert judge("Des rumeurs sur la fermeture de l'école : la mairie peut-elle confirmer ?").is_valid
    assert judge("Il paraît que l'adjoint a fait annuler l'amende de son fils.").violations == [
        "false_information"
    ]
    assert judge("De source sûre, le maire a déjà vendu le terrain du stade.").violations == [
        "false_information"
    ]
    assert judge("La vitesse dépasse 50 km/h près de l'école ; la municipalité pourrait agir.").is_valid
    assert judge("La municipalité est complètement dépassée par le dossier du port.").violations == [
        "subtle_violation"
    ]
    assert judge("L'article de letelegramme.fr sur la criée d'Audierne est instructif.").is_valid
    assert judge("Gîtes à Audierne : réservez sur gites-pas-chers.shop").violations == ["spam"]
    assert judge("Toiture à refaire à Audierne ? Devis au 06 12 34 56 78.").violations == ["spam"]
    # a month, a national road or a pet is no evidence that the subject is elsewhere
    assert judge("En mars, la route nationale vers Audierne a été fermée deux jours.").is_valid
    assert judge("Qui a suivi l'élection présidentielle américaine ?").violations == ["off_topic"]


def test_confidence_follows_the_strength_of_the_evidence():
    """A flag from one weak signal stays near its weight (never ~0.95); strong or agreeing signals score
    higher."""
    v = RulesValidator()

    def judge(text: str):
        c = Contribution.from_record({"id": "t", "constat_factuel": text, "idees_ameliorations": ""})
        return v.validate(c), analyse(c)

    weak, weak_found = judge("Il paraît que l'adjoint a fait annuler l'amende de son fils.")
    assert [s.weight for s in weak_found.signals] == [0.6]
    assert weak.confidence <= 0.75
    strong, _ = judge("Promo -50 % sur nos pontons, achetez sur https://pontons-pas-chers.shop")
    assert strong.confidence >= 0.9 > weak.confidence
    insult, _ = judge("Bande d'abrutis, les élus d'Audierne sont des incapables.")
    assert insult.confidence >= 0.9
