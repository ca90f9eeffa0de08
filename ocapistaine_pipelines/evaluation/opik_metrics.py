"""The five metrics as Opik ``BaseMetric`` subclasses.

This module imports opik (about 3 s) at import time: import it only inside a run, never from a
module the code location loads. ``score`` takes the dataset item's fields and the task output
(the verdict) as keyword arguments, the way ``opik.evaluation.evaluate`` calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opik.evaluation.metrics import base_metric, score_result

from . import metrics


def _result(name: str, scored: metrics.Score) -> score_result.ScoreResult:
    value, reason = scored
    if value is None:
        # Opik leaves a failed score out of the averages and never sends it: "not scored".
        return score_result.ScoreResult(name=name, value=0.0, reason=reason, scoring_failed=True)
    return score_result.ScoreResult(name=name, value=value, reason=reason)


class CharterAccuracy(base_metric.BaseMetric):
    """1 when ``is_valid`` matches the label."""

    def __init__(self, name: str = "charter_accuracy", track: bool = True):
        super().__init__(name=name, track=track)

    def score(self, expected_valid: bool, is_valid: bool | None = None, **ignored: Any):
        return _result(self.name, metrics.score_charter_accuracy(expected_valid, is_valid))


class ViolationDetection(base_metric.BaseMetric):
    """1 when a violation is named exactly when the item has one."""

    def __init__(self, name: str = "violation_detection", track: bool = True):
        super().__init__(name=name, track=track)

    def score(
        self,
        expected_valid: bool,
        is_valid: bool | None = None,
        violations: Sequence[str] | None = None,
        violations_injected: Sequence[str] | None = None,
        **ignored: Any,
    ):
        scored = metrics.score_violation_detection(expected_valid, is_valid, violations, violations_injected)
        return _result(self.name, scored)


class ConfidenceCalibration(base_metric.BaseMetric):
    """The confidence when right, 1 - confidence when wrong."""

    def __init__(self, name: str = "confidence_calibration", track: bool = True):
        super().__init__(name=name, track=track)

    def score(
        self, expected_valid: bool, is_valid: bool | None = None, confidence: Any = None, **ignored: Any
    ):
        return _result(self.name, metrics.score_confidence_calibration(expected_valid, is_valid, confidence))


class OutputFormat(base_metric.BaseMetric):
    """1 when the verdict has every field with the right type and a known category."""

    def __init__(self, name: str = "output_format", track: bool = True, categories: Sequence[str] = ()):
        super().__init__(name=name, track=track)
        if not categories:
            from ..contributions.model import CATEGORIES

            categories = CATEGORIES
        self.categories = tuple(categories)

    def score(self, **fields: Any):
        output = {key: fields.get(key) for key in metrics.VERDICT_FIELDS}
        return _result(self.name, metrics.score_output_format(output, self.categories))


class CategoryAccuracy(base_metric.BaseMetric):
    """1 when the predicted category is the expected one; not scored without an expected category."""

    def __init__(self, name: str = "category_accuracy", track: bool = True):
        super().__init__(name=name, track=track)

    def score(self, expected_category: str | None = None, category: str | None = None, **ignored: Any):
        return _result(self.name, metrics.score_category_accuracy(expected_category, category))


def build_metrics(track: bool = False, categories: Sequence[str] = ()) -> list[base_metric.BaseMetric]:
    """One instance of each metric; ``track=False`` keeps standalone scoring from sending traces."""
    return [
        CharterAccuracy(track=track),
        ViolationDetection(track=track),
        ConfidenceCalibration(track=track),
        OutputFormat(track=track, categories=categories),
        CategoryAccuracy(track=track),
    ]
