"""Every configured validator side by side on the same labelled items (``opik_experiment``'s comparison).

The learned validator is never scored on the rows it was trained on: on those it answers with a model
fitted without them (``LearnedValidator.for_evaluation``, cross-validation), on any other row with the
stored model. A validator that cannot be built (no trained model, no LLM configured) gets a row saying why.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from ..metadata_tables import schema, table
from .dataset import LabelledItem


def honest(validator: Any) -> Any:
    """The validator to evaluate: the learned one's out-of-fold view, any other as it is."""
    view = getattr(validator, "for_evaluation", None)
    return view() if callable(view) else validator


def score_row(
    name: str,
    model: str,
    items: Sequence[LabelledItem],
    predicted: Sequence[bool | None],
    seconds: float,
    note: str = "",
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, precision/recall on "invalid"; a pending verdict counts as wrong."""
    from ..contributions.learned import scores

    truth = [item.expected_valid for item in items]
    judged = [(not t) if p is None else p for t, p in zip(truth, predicted)]
    s = scores(truth, judged)
    clean = {
        k: (None if isinstance(v, float) and math.isnan(v) else (round(v, 4) if isinstance(v, float) else v))
        for k, v in s.items()
    }
    return {
        "validator": name,
        "model": model,
        "items": len(items),
        "pending": sum(p is None for p in predicted),
        "seconds": round(seconds, 3),
        "note": note,
        **clean,
    }


def compare(
    items: Sequence[LabelledItem],
    build: Callable[[str], Any],
    names: Sequence[str],
    done: dict[str, tuple[str, list[bool | None], float]],
    check: Callable[[], None] = lambda: None,
) -> list[dict[str, Any]]:
    """One row per validator name; ``done`` holds the ones already run (the active validator).
    ``check`` is the guard's stop hook, handed to every validator (an LLM one asks it per request)."""
    rows = []
    contributions = [item.contribution for item in items]
    for name in dict.fromkeys(list(done) + list(names)):
        if name in done:
            model, predicted, seconds = done[name]
            rows.append(score_row(name, model, items, predicted, seconds, "active"))
            continue
        try:
            validator = honest(build(name))
        except (ValueError, FileNotFoundError, ImportError) as error:
            rows.append({"validator": name, "model": "", "items": 0, "note": f"not evaluated: {error}"[:200]})
            continue
        started = time.perf_counter()
        verdicts = validator.validate_many(contributions, check=check)
        rows.append(
            score_row(
                name,
                str(validator.model),
                items,
                [v.is_valid for v in verdicts],
                time.perf_counter() - started,
            )
        )
    return rows


COMPARISON_SCHEMA = schema(
    ("validator", "string"),
    ("model", "string"),
    ("items", "int"),
    ("accuracy", "float"),
    ("balanced_accuracy", "float"),
    ("precision_invalid", "float", "precision on invalid (the positive class)"),
    ("recall_invalid", "float", "recall on invalid (the positive class)"),
    ("seconds", "float"),
    ("note", "string", "active: the day's validator; else why it was not evaluated"),
)


def comparison_table(rows: list[dict[str, Any]]) -> dg.TableMetadataValue:
    """``compare``'s rows as a UI table (the same rows are in the ``side_by_side`` JSON)."""
    return table(COMPARISON_SCHEMA, rows, limit=None)
