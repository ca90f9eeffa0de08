"""How a verdict is scored against its label, in plain Python.

Each ``score_*`` function gives one item's score in ``[0, 1]`` and a reason, or ``None`` when the
item cannot be scored (e.g. no expected category). The Opik metric classes (``opik_metrics.py``)
wrap these functions one to one, so the scores an Opik experiment records are the very numbers the
asset writes locally. The confusion matrix treats "invalid" as the positive class: what the charter
check exists to catch. A pending verdict (``is_valid is None``: the validator could not judge) counts
as a miss, never as a correct answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..contributions.model import VERDICT_FIELDS

Score = tuple[float | None, str]

METRIC_NAMES = (
    "charter_accuracy",
    "violation_detection",
    "confidence_calibration",
    "output_format",
    "category_accuracy",
)


def verdict_output(verdict: Any) -> dict[str, Any]:
    """A verdict as the task output Opik records and the metrics read (JSON-safe, types kept)."""
    output = {}
    for name in VERDICT_FIELDS:
        value = getattr(verdict, name, None) if not isinstance(verdict, Mapping) else verdict.get(name)
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, (str, int, float, bool, list, dict, type(None))):
            value = repr(value)
        output[name] = value
    return output


def _label(value: bool | None) -> str:
    return "pending" if value is None else ("valid" if value else "invalid")


def score_charter_accuracy(expected_valid: bool, is_valid: bool | None) -> Score:
    if is_valid is None:
        return 0.0, f"pending verdict (expected {_label(expected_valid)})"
    if bool(is_valid) == bool(expected_valid):
        return 1.0, f"{_label(expected_valid)} as expected"
    return 0.0, f"predicted {_label(is_valid)}, expected {_label(expected_valid)}"


def score_violation_detection(
    expected_valid: bool,
    is_valid: bool | None,
    violations: Sequence[str] | None,
    violations_injected: Sequence[str] | None = None,
) -> Score:
    """A violation is named exactly when there is one: an invalid verdict must say why, a valid item
    must get no violation at all."""
    named = [v for v in (violations or []) if isinstance(v, str) and v.strip()]
    if is_valid is None:
        return 0.0, "pending verdict"
    if not expected_valid:
        kinds = ", ".join(violations_injected or []) or "unspecified"
        if is_valid is False and named:
            return 1.0, f"detected ({kinds}): {'; '.join(named)[:200]}"
        if is_valid is False:
            return 0.0, f"judged invalid without naming a violation ({kinds})"
        return 0.0, f"missed the violation ({kinds})"
    if named:
        return 0.0, f"false alarm on a valid item: {'; '.join(named)[:200]}"
    if is_valid is False:
        return 0.0, "judged a valid item invalid"
    return 1.0, "no violation on a valid item"


def score_confidence_calibration(expected_valid: bool, is_valid: bool | None, confidence: Any) -> Score:
    """The confidence when right, ``1 - confidence`` when wrong; a pending verdict scores 0."""
    if is_valid is None:
        return 0.0, "pending verdict"
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        return 0.0, f"confidence is not a number: {confidence!r}"
    if math.isnan(value):
        return 0.0, "confidence is NaN"
    value = min(1.0, max(0.0, value))
    if bool(is_valid) == bool(expected_valid):
        return value, f"right with confidence {value:.2f}"
    return 1.0 - value, f"wrong with confidence {value:.2f}"


def format_problems(output: Mapping[str, Any], categories: Iterable[str]) -> list[str]:
    """What is wrong with a verdict's shape (empty list: well formed)."""
    problems = []
    if output.get("error"):
        problems.append(f"error: {str(output['error'])[:120]}")
    if not isinstance(output.get("is_valid"), bool):
        problems.append(f"is_valid is {output.get('is_valid')!r}, not a boolean")
    for name in ("violations", "encouraged_aspects"):
        value = output.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{name} is not a list of strings")
    reasoning = output.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        problems.append("reasoning is empty")
    confidence = output.get("confidence")
    is_number = isinstance(confidence, (int, float)) and not isinstance(confidence, bool)
    if not is_number or not 0.0 <= confidence <= 1.0:
        problems.append(f"confidence {confidence!r} is not a number in [0, 1]")
    elif confidence == 0.0:
        problems.append("confidence 0.0 marks a record that was not validated")
    if output.get("category") not in set(categories):
        problems.append(f"category {output.get('category')!r} is not one of the 7 ids")
    return problems


def score_output_format(output: Mapping[str, Any], categories: Iterable[str]) -> Score:
    problems = format_problems(output, categories)
    if problems:
        return 0.0, "; ".join(problems)
    return 1.0, "well formed"


def score_category_accuracy(expected_category: str | None, category: str | None) -> Score:
    if not expected_category:
        return None, "no expected category"
    if category == expected_category:
        return 1.0, f"{category} as expected"
    return 0.0, f"predicted {category!r}, expected {expected_category!r}"


# -- the whole set ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfusionMatrix:
    """Rows: expected; columns: predicted. "invalid" is the positive class; pending is its own column."""

    true_positive: int  # expected invalid, predicted invalid
    false_negative: int  # expected invalid, predicted valid
    pending_positive: int  # expected invalid, pending
    false_positive: int  # expected valid, predicted invalid
    true_negative: int  # expected valid, predicted valid
    pending_negative: int  # expected valid, pending

    @classmethod
    def of(cls, pairs: Iterable[tuple[bool, bool | None]]) -> ConfusionMatrix:
        counts = dict(tp=0, fn=0, pp=0, fp=0, tn=0, pn=0)
        for expected_valid, is_valid in pairs:
            if not expected_valid:
                key = "pp" if is_valid is None else ("fn" if is_valid else "tp")
            else:
                key = "pn" if is_valid is None else ("tn" if is_valid else "fp")
            counts[key] += 1
        return cls(counts["tp"], counts["fn"], counts["pp"], counts["fp"], counts["tn"], counts["pn"])

    @property
    def total(self) -> int:
        return (
            self.true_positive
            + self.false_negative
            + self.pending_positive
            + self.false_positive
            + self.true_negative
            + self.pending_negative
        )

    @property
    def pending(self) -> int:
        return self.pending_positive + self.pending_negative

    @property
    def accuracy(self) -> float:
        return (self.true_positive + self.true_negative) / self.total if self.total else 0.0

    @property
    def precision(self) -> float:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        """Share of the invalid items caught; a pending verdict on an invalid item is a miss."""
        invalid = self.true_positive + self.false_negative + self.pending_positive
        return self.true_positive / invalid if invalid else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, int]:
        return {
            "true_positive": self.true_positive,
            "false_negative": self.false_negative,
            "pending_positive": self.pending_positive,
            "false_positive": self.false_positive,
            "true_negative": self.true_negative,
            "pending_negative": self.pending_negative,
        }

    def by_expected(self) -> dict[str, dict[str, int]]:
        """Expected class -> predicted class -> count (invalid is the positive class: TP is
        invalid/invalid, FN invalid/valid, FP valid/invalid, TN valid/valid)."""
        return {
            "invalid": {
                "invalid": self.true_positive,
                "valid": self.false_negative,
                "pending": self.pending_positive,
            },
            "valid": {
                "invalid": self.false_positive,
                "valid": self.true_negative,
                "pending": self.pending_negative,
            },
        }


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the scored values (``None`` and NaN are not scored); ``None`` when nothing was scored."""
    scored = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(scored) / len(scored) if scored else None


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The day's numbers from the per-item rows (``expected``, ``predicted`` and each metric)."""
    matrix = ConfusionMatrix.of((row["expected"], row["predicted"]) for row in rows)
    summary: dict[str, Any] = {
        "items": len(rows),
        "accuracy": matrix.accuracy,
        "precision": matrix.precision,
        "recall": matrix.recall,
        "f1": matrix.f1,
        "items_pending": matrix.pending,
        "confusion_matrix": matrix.as_dict(),
    }
    for name in METRIC_NAMES:
        summary[name] = mean(row.get(name) for row in rows)
    summary["items_with_category"] = sum(
        1
        for row in rows
        if row.get("category_accuracy") is not None
        and not (isinstance(row.get("category_accuracy"), float) and math.isnan(row["category_accuracy"]))
    )
    return summary
