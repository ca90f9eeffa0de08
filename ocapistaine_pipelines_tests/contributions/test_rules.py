"""The offline charter checker and classifier, measured against labelled contributions.

Three sets: the shipped labelled set (69 items, written while the rules were built), a first
held-out set (24 items, written after the first version: it measured 0.71 accuracy, 0.86 precision,
0.50 recall on "invalid", then served to revise the rules, so it is now a regression guard), and a
second held-out set (30 items, written after the revision, never used to tune them: the honest
figure). The measured numbers are printed (``pytest -s``) and asserted with a margin.
"""

from __future__ import annotations

import statistics

from ocapistaine_pipelines.contributions.model import CATEGORIES, VIOLATION_KINDS, Contribution
from ocapistaine_pipelines.contributions.rules import RulesValidator, fold_text


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
    print(f"\nlabelled set: n={result['n']} accuracy={result['accuracy']:.3f} precision(invalid)="
          f"{result['precision_invalid']:.3f} recall(invalid)={result['recall_invalid']:.3f} "
          f"category={result['category_accuracy']:.3f} per kind={result['per_kind']}")
    assert result["accuracy"] >= 0.95
    assert result["precision_invalid"] >= 0.95 and result["recall_invalid"] >= 0.9
    assert all(found == total for found, total in result["per_kind"].values()), result["per_kind"]


def test_rules_on_the_first_held_out_set_after_revision(held_out):
    result = score(held_out)
    print(f"\nheld-out set 1 (seen by the revision): n={result['n']} accuracy={result['accuracy']:.3f} "
          f"precision(invalid)={result['precision_invalid']:.3f} recall(invalid)={result['recall_invalid']:.3f}")
    assert result["accuracy"] >= 0.95


def test_rules_on_the_second_held_out_set(held_out_2):
    """The honest number; thresholds sit under what was measured (0.70 accuracy, 1.00 precision, 0.40 recall)."""
    result = score(held_out_2)
    print(f"\nheld-out set 2: n={result['n']} accuracy={result['accuracy']:.3f} precision(invalid)="
          f"{result['precision_invalid']:.3f} recall(invalid)={result['recall_invalid']:.3f} "
          f"category={result['category_accuracy']:.3f} per kind={result['per_kind']}")
    assert result["accuracy"] >= 0.65
    assert result["precision_invalid"] >= 0.9
    assert result["recall_invalid"] >= 0.35


def test_blunt_but_fair_criticism_stays_valid(labelled):
    blunt = [r for r in labelled if r["expected_valid"] and any(
        w in fold_text(r["constat_factuel"]) for w in ("erreur", "contre", "inacceptable", "rate", "mauvaise", "mal pense", "gachis"))]
    assert len(blunt) >= 5
    verdicts = RulesValidator().validate_many([Contribution.from_record(r) for r in blunt])
    assert all(v.is_valid for v in verdicts), [(r["id"], v.reasoning) for r, v in zip(blunt, verdicts) if not v.is_valid]


def test_confidence_is_measured_against_the_labels(labelled, held_out, held_out_2):
    """Not constant, and higher when the verdict is right (AUROC of confidence for right vs wrong)."""
    pairs = score(labelled)["confidences"] + score(held_out)["confidences"] + score(held_out_2)["confidences"]
    right = [c for c, ok in pairs if ok]
    wrong = [c for c, ok in pairs if not ok]
    assert statistics.pstdev([c for c, _ in pairs]) > 0.05
    assert wrong, "the held-out set must contain mistakes for this measure to mean anything"
    auroc = statistics.mean(1.0 if a > b else 0.5 if a == b else 0.0 for a in right for b in wrong)
    brier = statistics.mean((c - (1.0 if ok else 0.0)) ** 2 for c, ok in pairs)
    print(f"\nconfidence: mean when right {statistics.mean(right):.3f}, when wrong {statistics.mean(wrong):.3f}, "
          f"AUROC {auroc:.3f}, Brier {brier:.3f}")
    assert statistics.mean(right) > statistics.mean(wrong) + 0.05
    assert auroc >= 0.7


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
        return v.validate(Contribution.from_record({"id": "t", "constat_factuel": constat, "idees_ameliorations": idees}))

    assert judge("LE MARCHÉ D'AUDIERNE EST UNE HONTE, PERSONNE NE FAIT RIEN").violations[0] == "aggressive"
    assert "spam" in judge("Le port d'Audierne mérite mieux.", "Promo : appelez le 06 11 22 33 44").violations
    assert "spam" in judge("Sur le port d'Audierne, visitez https://bateaux-pas-chers.shop").violations
    assert judge("Le compte rendu est sur https://www.audierne.bzh/deliberations, la voirie y est citée.").is_valid
    assert judge("La politique de la Chine en Afrique m'inquiète.", "Il faut une diplomatie ferme.").violations == ["off_topic"]
    assert "discrimination" in judge("Les migrants n'ont rien à faire ici, à Audierne.").violations
    subtle = judge("Le maire a-t-il seulement lu le dossier ? Comme par hasard, ce sont ses copains qui gagnent.")
    assert subtle.violations == ["subtle_violation"]
    assert "false_information" in judge("On nous cache que l'eau d'Audierne est empoisonnée, les médias se taisent.").violations
    fair = judge("Le projet de parking sur le port d'Audierne est une erreur coûteuse et mal conçue.",
                 "Je propose de l'abandonner et d'améliorer la navette depuis Esquibien.")
    assert fair.is_valid and "concrete_proposal" in fair.encouraged_aspects
    # deterministic
    assert judge("Le port d'Audierne manque de pontons.") == judge("Le port d'Audierne manque de pontons.")
