"""One evaluation: validate every labelled item once, score it, and record it in Opik when configured.

The validator runs once over all items (``validate_many``, so the LLM backend's concurrency applies);
the Opik task function only hands back the verdict already computed for its item. That keeps an
experiment from paying for the LLM twice and makes the local scores and Opik's identical. This module
imports no heavy SDK at import time; opik is imported inside the functions that need it.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..guard.contract import TaskError
from .dataset import LabelledItem, LabelledSet
from .metrics import score_charter_accuracy, summarize, verdict_output
from .resources import OpikResource

log = logging.getLogger(__name__)

DATASET_NAME = "forseti_validation"
DATASET_DESCRIPTION = (
    "Forseti charter validator: labelled contributions (expected_valid, category, violation kind)"
)


def experiment_name(date: str) -> str:
    """``forseti_validation_{YYYYMMDD}`` for a ``YYYYMMDD`` date."""
    return f"{DATASET_NAME}_{date}"


class ValidatorFailed(RuntimeError):
    """The validator raised or returned an unusable answer for the whole set."""


class OpikFailed(RuntimeError):
    """Opik is configured but the dataset or the experiment could not be recorded."""


@dataclass
class EvaluationOutcome:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    validator: str
    model: str
    opik_status: str  # "not configured" | "recorded" | "failed"
    opik_error: str | None = None
    experiment_id: str | None = None
    experiment_url: str | None = None
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def validate_all(
    validator: Any, items: Sequence[LabelledItem], check: Callable[[], None] = lambda: None
) -> list[dict[str, Any]]:
    """The verdict of every item as a task output dict, in the items' order. ``check`` (the guard's
    stop hook) is asked by the validator before each request: what it raises passes through as it is,
    so a lost lock ends the day as a lost lock, not as a validator failure."""
    contributions = [item.contribution for item in items]
    try:
        verdicts = list(validator.validate_many(contributions, check=check))
    except TaskError:
        raise
    except Exception as error:  # noqa: BLE001 - any validator failure fails the day with its cause
        name = getattr(validator, "name", "?")
        raise ValidatorFailed(f"validator {name} failed: {type(error).__name__}: {error}") from error
    if len(verdicts) != len(items):
        raise ValidatorFailed(
            f"validator {getattr(validator, 'name', '?')} returned {len(verdicts)} verdicts "
            f"for {len(items)} items"
        )
    return [verdict_output(verdict) for verdict in verdicts]


def item_fields(item: LabelledItem) -> dict[str, Any]:
    """The dataset item's content as the metrics read it (what Opik passes them from the item)."""
    data = item.opik_item()
    data.pop("id")
    return data


def score_items(
    items: Sequence[LabelledItem], outputs: Sequence[dict[str, Any]], scoring_metrics: Sequence[Any]
) -> list[dict[str, Any]]:
    """One row per item: labels, verdict and every metric's value (``None`` when not scored)."""
    rows = []
    for item, output in zip(items, outputs):
        arguments = {**item_fields(item), **output}
        row: dict[str, Any] = {
            "id": item.id,
            "expected": item.expected_valid,
            "predicted": output.get("is_valid") if isinstance(output.get("is_valid"), bool) else None,
            "expected_category": item.expected_category,
            "predicted_category": output.get("category") if isinstance(output.get("category"), str) else None,
            "confidence": _number(output.get("confidence")),
            "violations_injected": ", ".join(item.violations_injected),
            "violations": "; ".join(v for v in output.get("violations") or [] if isinstance(v, str)),
            "reasoning": str(output.get("reasoning") or ""),
            "error": str(output["error"]) if output.get("error") else None,
        }
        for metric in scoring_metrics:
            result = metric.score(**arguments)
            row[metric.name] = None if result.scoring_failed else float(result.value)
        missed = not row["charter_accuracy"]
        row["miss_reason"] = (
            score_charter_accuracy(item.expected_valid, row["predicted"])[1] if missed else ""
        )
        rows.append(row)
    return rows


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def experiment_scores(test_results: Sequence[Any]) -> list[Any]:
    """Experiment-level scores for Opik: accuracy, precision, recall and F1 ("invalid" positive)."""
    from opik.evaluation.metrics import score_result

    rows = []
    for test in test_results:
        content, output = test.test_case.dataset_item_content, test.test_case.task_output
        predicted = output.get("is_valid") if isinstance(output.get("is_valid"), bool) else None
        rows.append({"expected": bool(content.get("expected_valid")), "predicted": predicted})
    summary = summarize(rows)
    return [
        score_result.ScoreResult(name=name, value=float(summary[name]))
        for name in ("accuracy", "precision", "recall", "f1")
    ]


def record_in_opik(
    opik: OpikResource,
    items: Sequence[LabelledItem],
    outputs: Sequence[dict[str, Any]],
    scoring_metrics: Sequence[Any],
    *,
    name: str,
    experiment_config: dict[str, Any],
) -> tuple[Any, list[str]]:
    """Create or update the dataset, run ``opik.evaluation.evaluate`` and flush; (result, warnings)."""
    from opik.api_objects import opik_client
    from opik.evaluation import evaluate

    by_contribution = {item.id: output for item, output in zip(items, outputs)}

    def task(dataset_item: dict[str, Any]) -> dict[str, Any]:
        return by_contribution[dataset_item["contribution_id"]]

    warnings: list[str] = []
    try:
        client = opik.client()
    except Exception as error:  # noqa: BLE001 - e.g. a configuration the SDK refuses
        raise OpikFailed(_short(opik.redact(f"{type(error).__name__}: {error}"))) from None

    def run() -> Any:
        # evaluate() takes the "global" client; set ours for this context only.
        opik_client.set_global_client(client, context_wise=True)
        dataset = client.get_or_create_dataset(DATASET_NAME, description=DATASET_DESCRIPTION)
        # Stable ids: the server updates an item in place. No content deduplication: it would skip an item
        # whose content already exists under another id, and that item would then not be evaluated.
        dataset.insert([item.opik_item() for item in items], deduplication=False)
        return evaluate(
            dataset=dataset,
            task=task,
            scoring_metrics=list(scoring_metrics),
            experiment_name=name,
            experiment_config=experiment_config,
            experiment_scoring_functions=[experiment_scores],
            dataset_item_ids=[item.opik_item_id for item in items],
            task_threads=1,
            verbose=0,
        )

    try:
        result = contextvars.copy_context().run(run)
    except Exception as error:  # noqa: BLE001 - reported as one clear, redacted failure
        client.end(timeout=min(5, opik.flush_timeout_seconds), flush=False)
        raise OpikFailed(_short(opik.redact(f"{type(error).__name__}: {error}"))) from None
    during_evaluate = client.last_flush_result  # evaluate() flushes at its end and records losses there
    flushed = client.end(timeout=opik.flush_timeout_seconds)
    dropped = sum(r.dropped_messages for r in (during_evaluate, flushed) if r is not None)
    dropped_items = sum(r.dropped_items for r in (during_evaluate, flushed) if r is not None)
    evaluated = len(result.test_results)
    if evaluated != len(items):
        raise OpikFailed(
            f"the experiment evaluated {evaluated} of {len(items)} items: the dataset {DATASET_NAME} "
            "did not return every item that was just written"
        )
    if flushed is not None and not flushed.flushed:
        warnings.append(
            f"Opik did not confirm every trace and score within {opik.flush_timeout_seconds}s: "
            "the experiment may show missing scores"
        )
    if dropped:
        warnings.append(
            f"Opik refused {dropped} background message(s) ({dropped_items} traces, spans or scores): "
            "the experiment may show missing traces or scores"
        )
    return result, warnings


def _short(text: str, limit: int = 600) -> str:
    """SDK errors carry whole response headers and bodies: keep the start."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_evaluation(
    labelled: LabelledSet,
    validator: Any,
    opik: OpikResource,
    date: str,
    *,
    categories: Sequence[str],
    check: Callable[[], None] = lambda: None,
) -> EvaluationOutcome:
    """Validate, score, and (when configured) record the experiment for one day (``YYYYMMDD``)."""
    from .opik_metrics import build_metrics

    timings: dict[str, float] = {}
    started = time.perf_counter()
    outputs = validate_all(validator, labelled.items, check)
    timings["validate_seconds"] = time.perf_counter() - started
    check()

    judged = sum(1 for output in outputs if isinstance(output.get("is_valid"), bool))
    if judged == 0:
        errors = sorted({str(o.get("error")) for o in outputs if o.get("error")})
        raise ValidatorFailed(
            f"validator {validator.name} judged none of the {len(outputs)} items"
            + (f" (errors: {'; '.join(errors)[:300]})" if errors else "")
        )

    started = time.perf_counter()
    scoring_metrics = build_metrics(track=False, categories=categories)
    rows = score_items(labelled.items, outputs, scoring_metrics)
    summary = summarize(rows)
    timings["score_seconds"] = time.perf_counter() - started

    outcome = EvaluationOutcome(
        rows=rows,
        summary=summary,
        validator=str(validator.name),
        model=str(validator.model),
        opik_status="not configured",
        timings=timings,
    )
    if summary["items_pending"]:
        outcome.warnings.append(
            f"{summary['items_pending']} of {len(rows)} verdicts are pending (validator could not judge): "
            "scored as misses"
        )
    if not opik.configured:
        return outcome

    check()
    started = time.perf_counter()
    try:
        result, warnings = record_in_opik(
            opik,
            labelled.items,
            outputs,
            scoring_metrics,
            name=experiment_name(date),
            experiment_config={
                "validator": outcome.validator,
                "model": outcome.model,
                "items": len(rows),
                "labelled_set": labelled.source.rsplit("/", 1)[-1],
            },
        )
    except OpikFailed as error:
        # The local scores stand; the caller decides what a missing experiment means for the day.
        outcome.opik_status, outcome.opik_error = "failed", str(error)
        return outcome
    finally:
        timings["opik_seconds"] = time.perf_counter() - started
    outcome.opik_status = "recorded"
    outcome.experiment_id = result.experiment_id
    outcome.experiment_url = opik.redact(result.experiment_url) if result.experiment_url else None
    outcome.warnings.extend(warnings)
    return outcome


__all__ = [
    "DATASET_NAME",
    "EvaluationOutcome",
    "OpikFailed",
    "ValidatorFailed",
    "experiment_name",
    "run_evaluation",
]
