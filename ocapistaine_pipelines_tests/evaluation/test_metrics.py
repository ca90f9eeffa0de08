"""The metric classes (real opik BaseMetric subclasses, track=False) and the confusion matrix, by hand."""

from __future__ import annotations

import math

import pytest

from ocapistaine_pipelines.contributions.model import CATEGORIES, Verdict
from ocapistaine_pipelines.evaluation.metrics import ConfusionMatrix, mean, summarize, verdict_output


@pytest.fixture(scope="module")
def opik_metrics():
    from ocapistaine_pipelines.evaluation import opik_metrics

    return opik_metrics


@pytest.fixture(scope="module")
def metrics_by_name(opik_metrics):
    return {metric.name: metric for metric in opik_metrics.build_metrics(track=False)}


def verdict(
    is_valid=True, violations=(), confidence=0.8, category="culture", reasoning="ok", error=None, aspects=()
):
    return verdict_output(
        Verdict(is_valid, list(violations), list(aspects), reasoning, confidence, category, "hand", error)
    )


@pytest.mark.slow
def test_the_classes_are_opik_metrics_without_tracking(opik_metrics, metrics_by_name):
    from opik.evaluation.metrics.base_metric import BaseMetric

    assert list(metrics_by_name) == [
        "charter_accuracy",
        "violation_detection",
        "confidence_calibration",
        "output_format",
        "category_accuracy",
    ]
    for metric in metrics_by_name.values():
        assert isinstance(metric, BaseMetric)
        # track=False: score is the plain method, not wrapped by opik.track (which would send a trace)
        assert metric.score.__func__ is type(metric).score


@pytest.mark.parametrize(
    "expected, output, value",
    [
        (True, verdict(True), 1.0),
        (False, verdict(False, ["aggressive"]), 1.0),
        (True, verdict(False, ["aggressive"]), 0.0),
        (False, verdict(True), 0.0),
        (False, verdict(None, confidence=0.0, error="quota"), 0.0),  # pending is a miss
    ],
)
def test_charter_accuracy(metrics_by_name, expected, output, value):
    result = metrics_by_name["charter_accuracy"].score(expected_valid=expected, **output)
    assert result.value == value and result.name == "charter_accuracy" and result.reason


@pytest.mark.parametrize(
    "expected, output, value, reason_part",
    [
        (False, verdict(False, ["aggressive"]), 1.0, "detected"),
        (False, verdict(False, []), 0.0, "without naming"),
        (False, verdict(True), 0.0, "missed"),
        (True, verdict(True), 1.0, "no violation"),
        (True, verdict(True, ["spam"]), 0.0, "false alarm"),
        (True, verdict(False, []), 0.0, "judged a valid item invalid"),
        (False, verdict(None, confidence=0.0), 0.0, "pending"),
    ],
)
def test_violation_detection(metrics_by_name, expected, output, value, reason_part):
    result = metrics_by_name["violation_detection"].score(
        expected_valid=expected, violations_injected=["aggressive"], **output
    )
    assert result.value == value
    assert reason_part in result.reason


@pytest.mark.parametrize(
    "expected, output, value",
    [
        (True, verdict(True, confidence=0.9), 0.9),  # right: the confidence
        (True, verdict(False, ["x"], confidence=0.9), 0.1),  # wrong: 1 - confidence
        (False, verdict(True, confidence=0.3), 0.7),
        (True, verdict(True, confidence=1.7), 1.0),  # clamped into [0, 1]
        (True, verdict(True, confidence="high"), 0.0),  # not a number
        (True, verdict(None, confidence=0.0), 0.0),  # pending: not 1 - 0
    ],
)
def test_confidence_calibration(metrics_by_name, expected, output, value):
    result = metrics_by_name["confidence_calibration"].score(expected_valid=expected, **output)
    assert result.value == pytest.approx(value)


def test_output_format_accepts_a_complete_verdict_and_names_each_problem(metrics_by_name):
    metric = metrics_by_name["output_format"]
    assert metric.score(expected_valid=True, **verdict(True, aspects=["question"])).value == 1.0

    broken = {
        **verdict(True),
        "is_valid": "yes",
        "violations": "none",
        "reasoning": " ",
        "confidence": 2,
        "category": "sports",
    }
    result = metric.score(expected_valid=True, **broken)
    assert result.value == 0.0
    for part in ("is_valid", "violations", "reasoning", "confidence", "category"):
        assert part in result.reason

    pending = metric.score(
        expected_valid=True, **verdict(None, confidence=0.0, error="all models rate limited")
    )
    assert pending.value == 0.0 and "rate limited" in pending.reason
    # every one of the 7 ids is accepted
    assert all(metric.score(**verdict(True, category=c)).value == 1.0 for c in CATEGORIES)


def test_category_accuracy_is_not_scored_without_an_expected_category(metrics_by_name):
    metric = metrics_by_name["category_accuracy"]
    assert metric.score(expected_category="logement", **verdict(category="logement")).value == 1.0
    assert metric.score(expected_category="logement", **verdict(category="culture")).value == 0.0
    missing = metric.score(expected_category=None, **verdict(category="culture"))
    assert missing.scoring_failed and "no expected category" in missing.reason


def test_confusion_matrix_invalid_is_positive():
    # expected, predicted: 3 TP, 1 FN, 1 pending invalid, 2 FP, 4 TN, 1 pending valid
    pairs = (
        [(False, False)] * 3
        + [(False, True)]
        + [(False, None)]
        + [(True, False)] * 2
        + [(True, True)] * 4
        + [(True, None)]
    )
    matrix = ConfusionMatrix.of(pairs)
    assert matrix.as_dict() == {
        "true_positive": 3,
        "false_negative": 1,
        "pending_positive": 1,
        "false_positive": 2,
        "true_negative": 4,
        "pending_negative": 1,
    }
    assert matrix.total == 12 and matrix.pending == 2
    assert matrix.accuracy == pytest.approx(7 / 12)
    assert matrix.precision == pytest.approx(3 / 5)
    assert matrix.recall == pytest.approx(3 / 5)  # the pending invalid item counts as missed
    assert matrix.f1 == pytest.approx(2 * 0.6 * 0.6 / 1.2)
    assert matrix.by_expected() == {
        "invalid": {"invalid": 3, "valid": 1, "pending": 1},
        "valid": {"invalid": 2, "valid": 4, "pending": 1},
    }


def test_confusion_matrix_edge_cases():
    nothing_flagged = ConfusionMatrix.of([(True, True), (False, True)])
    assert nothing_flagged.precision == 0.0 and nothing_flagged.recall == 0.0 and nothing_flagged.f1 == 0.0
    assert ConfusionMatrix.of([]).accuracy == 0.0
    perfect = ConfusionMatrix.of([(False, False), (True, True)])
    assert (perfect.accuracy, perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0, 1.0)


def test_summary_means_skip_unscored_items():
    rows = [
        {"expected": True, "predicted": True, "charter_accuracy": 1.0, "category_accuracy": None},
        {"expected": False, "predicted": True, "charter_accuracy": 0.0, "category_accuracy": 1.0},
        {"expected": False, "predicted": False, "charter_accuracy": 1.0, "category_accuracy": float("nan")},
    ]
    summary = summarize(rows)
    assert summary["accuracy"] == pytest.approx(2 / 3) == pytest.approx(summary["charter_accuracy"])
    assert summary["category_accuracy"] == 1.0 and summary["items_with_category"] == 1
    assert summary["violation_detection"] is None  # no row carries it
    assert mean([]) is None and math.isclose(mean([0.5, None, 1.0]), 0.75)


def test_verdict_output_reads_objects_and_dicts():
    from_object = verdict(False, ("spam",), confidence=0.7)
    assert from_object["violations"] == ["spam"] and from_object["is_valid"] is False
    assert verdict_output({"is_valid": True, "confidence": object()})["confidence"].startswith("<object")
