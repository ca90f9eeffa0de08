"""Assets of the evaluation domain: the daily Opik experiment on the contribution validator.

``opik_experiment`` (task ``task_opik_experiment``, recurring: it locks and marks success but does not
skip a day already marked) validates the labelled set once, scores every item with the Opik metric
classes, records the experiment ``forseti_validation_{YYYYMMDD}`` when Opik is configured, and writes
``{data_dir}/evaluation/{YYYY-MM-DD}.parquet`` and ``experiment:latest`` (app db). Heavy SDKs (opik,
litellm) are imported inside the run only.
"""

import datetime as dt
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from .. import redis_scripts
from ..contributions.validators import MODEL_FOLDER, ValidatorResource
from ..guard import TASK_OPIK_EXPERIMENT, GuardedDay, TaskError, TaskGuard, day_string, run_guarded_days
from ..io_utils import atomic_write_parquet, read_parquet
from ..metadata_tables import confusion_table, schema, table
from ..partitions import daily_partitions, days_of_check_run
from ..redis_connection import RedisResource
from ..settings import DataDirResource, task_retry_policy
from .comparison import compare, comparison_table, honest
from .metrics import METRIC_NAMES, ConfusionMatrix
from .resources import EvaluationSettings, OpikResource

if TYPE_CHECKING:
    from .dataset import LabelledSet
    from .experiment import EvaluationOutcome

EXPERIMENT_LATEST_KEY = "experiment:latest"
OUTPUT_FOLDER = "evaluation"
WORST_MISSES = 10


def evaluation_path(data_dir: DataDirResource, partition_key: str) -> Path:
    return data_dir.root / OUTPUT_FOLDER / f"{partition_key}.parquet"


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    """The day's rows with stable column types, written atomically (``io_utils.atomic_write_parquet``)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for name in METRIC_NAMES:
        frame[name] = frame[name].astype("float64")
    frame["predicted"] = frame["predicted"].astype("boolean")
    frame["confidence"] = frame["confidence"].astype("float64")
    atomic_write_parquet(frame, path)


WORST_MISSES_SCHEMA = schema(
    ("id", "string"),
    ("expected", "string"),
    ("predicted", "string", "pending: the validator gave no verdict"),
    ("confidence", "float"),
    ("injected", "string", "violations injected in the labelled item"),
    ("reasoning", "string", "the validator's reasoning, or its error when pending"),
)
REJECTED_SCHEMA = schema(("record", "string"), ("reason", "string"))


def _verdict_word(value: bool | None) -> str:
    return "pending" if value is None else ("valid" if value else "invalid")


def worst_misses_table(rows: list[dict[str, Any]], limit: int = WORST_MISSES) -> dg.TableMetadataValue:
    """The charter misses, most confident first (a confident mistake is the worst kind); the rest are in
    the parquet file."""
    misses = [row for row in rows if not row["charter_accuracy"]]
    misses.sort(key=lambda row: (row["predicted"] is not None, row["confidence"] or 0.0), reverse=True)
    return table(
        WORST_MISSES_SCHEMA,
        [
            {
                "id": row["id"],
                "expected": _verdict_word(bool(row["expected"])),
                "predicted": _verdict_word(row["predicted"]),
                "confidence": row["confidence"],
                "injected": row["violations_injected"] or "-",
                "reasoning": row["error"] if row["predicted"] is None and row["error"] else row["reasoning"],
            }
            for row in misses
        ],
        limit=limit,
    )


def _float_or_null(value: float | None) -> dg.MetadataValue:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return dg.MetadataValue.null()
    return dg.MetadataValue.float(float(value))


def _rounded(summary: dict[str, Any]) -> dict[str, Any]:
    """The numbers stored in ``experiment:latest`` (rounded, JSON-safe)."""
    keys = ("accuracy", "precision", "recall", "f1", *METRIC_NAMES)
    metrics = {key: (None if summary.get(key) is None else round(float(summary[key]), 4)) for key in keys}
    metrics.update(
        items=summary["items"],
        items_unlabelled=summary.get("items_unlabelled", 0),
        items_pending=summary["items_pending"],
        confusion_matrix=summary["confusion_matrix"],
    )
    return metrics


def write_experiment_latest(redis: RedisResource, record: dict[str, Any]) -> bool:
    """Store ``experiment:latest`` (``redis_scripts.SET_EXPERIMENT_LATEST``); False when a later day is
    already stored (kept as is)."""
    written = redis.run_script(
        redis.app_db,
        redis_scripts.SET_EXPERIMENT_LATEST,
        keys=[EXPERIMENT_LATEST_KEY],
        args=[json.dumps(record), record["date"]],
    )
    return bool(written)


@dg.asset(
    partitions_def=daily_partitions,
    output_required=False,
    retry_policy=task_retry_policy(),
    deps=["contributions_analysis"],
    group_name="evaluation",
    owners=["team:ocapistaine"],
    kinds={"opik", "python", "parquet", "redis"},
    description=(
        "Daily Opik experiment forseti_validation_{YYYYMMDD}: the configured validator on the labelled set, "
        "scored for charter accuracy, violation detection, confidence calibration, output format and "
        "category; "
        "confusion matrix with invalid as the positive class."
    ),
)
def opik_experiment(
    context: dg.AssetExecutionContext,
    guard: TaskGuard,
    data_dir: DataDirResource,
    redis: RedisResource,
    opik: OpikResource,
    evaluation_settings: EvaluationSettings,
    validator: ValidatorResource,
):
    """Guarded per day: one run evaluates, concurrent ones skip; the day fails closed on a broken set."""

    def work(guarded: GuardedDay, partition_key: str) -> dict[str, Any]:
        started = time.perf_counter()
        day_key = day_string(partition_key)
        labelled = _labelled_set(evaluation_settings, guarded)
        model_dir = data_dir.root / MODEL_FOLDER
        backend = _validator_under_test(validator, model_dir)
        outcome = _evaluate(context, labelled, backend, opik, day_key, guarded)
        guarded.check()
        side_by_side = _side_by_side(labelled, validator, model_dir, evaluation_settings, outcome, guarded)
        guarded.check()

        summary = {**outcome.summary, "items_unlabelled": len(labelled.unlabelled)}
        path = evaluation_path(data_dir, partition_key)
        _write_parquet(outcome.rows, path)
        status = _experiment_status(outcome)
        latest_written = write_experiment_latest(
            redis,
            {
                "experiment_id": outcome.experiment_id,
                "date": day_key,
                "metrics": _rounded(summary),
                "status": status,
            },
        )
        for warning in outcome.warnings:
            guarded.warn(warning)
        if not latest_written:
            guarded.warn(f"{EXPERIMENT_LATEST_KEY} holds a later day: kept it")

        metadata = {
            **_scores_metadata(summary, labelled),
            **_tables_metadata(summary, outcome, side_by_side, labelled),
            **_record_metadata(outcome, labelled, opik, status, day_key, path, latest_written),
            "wall_seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
        }
        if outcome.opik_error is not None:
            raise TaskError(
                "failed",
                f"Opik is configured ({opik.location()}) but the experiment was not recorded: "
                f"{outcome.opik_error}; local scores written to {path}",
                metadata=metadata,
            )
        return metadata

    yield from run_guarded_days(context, guard, TASK_OPIK_EXPERIMENT, work)  # recurring: tasks.py


def _labelled_set(settings: EvaluationSettings, guarded: GuardedDay) -> "LabelledSet":
    """The labelled set, its warnings on the day; a set that cannot be read fails the day for good."""
    from .dataset import DatasetError, load_labelled_set

    try:
        labelled = load_labelled_set(settings.dataset_path)
    except DatasetError as error:
        raise TaskError("failed", str(error), retryable=False) from None
    for warning in labelled.warnings[:20]:
        guarded.warn(warning)
    if len(labelled.warnings) > 20:
        guarded.warn(f"{len(labelled.warnings) - 20} more warnings about the labelled set")
    if labelled.rejected:
        guarded.warn(f"{len(labelled.rejected)} record(s) of the labelled set rejected (see 'rejected')")
    return labelled


def _validator_under_test(validator: ValidatorResource, model_dir: Path) -> Any:
    """The configured validator, with no verdict cache (the experiment measures today's answers)."""
    try:
        return honest(validator.get_validator(model_dir=model_dir))
    except (ValueError, FileNotFoundError) as error:  # e.g. learned chosen, no model trained yet
        raise TaskError("failed", f"validator not configured: {error}", retryable=False) from None


def _evaluate(
    context: dg.AssetExecutionContext,
    labelled: "LabelledSet",
    backend: Any,
    opik: OpikResource,
    day_key: str,
    guarded: GuardedDay,
) -> "EvaluationOutcome":
    from ..contributions.model import CATEGORIES
    from .experiment import ValidatorFailed, run_evaluation

    context.log.info(
        f"evaluating validator {backend.name} ({backend.model}) on {len(labelled.items)} labelled items "
        f"from {labelled.source}; Opik: {opik.location() if opik.configured else 'not configured'}"
    )
    try:
        return run_evaluation(labelled, backend, opik, day_key, categories=CATEGORIES, check=guarded.check)
    except ValidatorFailed as error:
        raise TaskError("failed", str(error)) from None


def _side_by_side(
    labelled: "LabelledSet",
    validator: ValidatorResource,
    model_dir: Path,
    settings: EvaluationSettings,
    outcome: "EvaluationOutcome",
    guarded: GuardedDay,
) -> list[dict[str, Any]]:
    """Every other configured validator on the same items; the active one's verdicts are reused."""
    active = str(outcome.validator)
    return compare(
        labelled.items,
        lambda name: validator.get_validator(model_dir=model_dir, backend=name),
        [name for name in settings.compare_list() if name != active],
        {
            active: (
                str(outcome.model),
                [row["predicted"] for row in outcome.rows],
                outcome.timings.get("validate_seconds", 0.0),
            )
        },
        check=guarded.check,
    )


def _experiment_status(outcome: "EvaluationOutcome") -> str:
    """``experiment:latest``'s status: completed (recorded in Opik), opik_failed, or local (no Opik)."""
    if outcome.opik_status == "recorded":
        return "completed"
    return "opik_failed" if outcome.opik_error else "local"


def _scores_metadata(summary: dict[str, Any], labelled: "LabelledSet") -> dict[str, Any]:
    """The day's numbers: charter scores (invalid is the positive class), metric means, item counts."""
    return {
        "accuracy": dg.MetadataValue.float(summary["accuracy"]),
        "precision": dg.MetadataValue.float(summary["precision"]),
        "recall": dg.MetadataValue.float(summary["recall"]),
        "f1": dg.MetadataValue.float(summary["f1"]),
        "category_accuracy": _float_or_null(summary["category_accuracy"]),
        "violation_detection": _float_or_null(summary["violation_detection"]),
        "confidence_calibration": _float_or_null(summary["confidence_calibration"]),
        "output_format": _float_or_null(summary["output_format"]),
        "items": dg.MetadataValue.int(summary["items"]),
        "items_unlabelled": dg.MetadataValue.int(len(labelled.unlabelled)),
        "items_rejected": dg.MetadataValue.int(len(labelled.rejected)),
        "items_pending": dg.MetadataValue.int(summary["items_pending"]),
    }


def _tables_metadata(
    summary: dict[str, Any],
    outcome: "EvaluationOutcome",
    side_by_side: list[dict[str, Any]],
    labelled: "LabelledSet",
) -> dict[str, Any]:
    """The tables the UI shows: confusion matrix, worst misses, validators side by side, rejected records."""
    matrix = ConfusionMatrix(**summary["confusion_matrix"])
    tables: dict[str, Any] = {
        "confusion_matrix": confusion_table(matrix.by_expected(), truth="expected", judged="predicted"),
        "worst_misses": worst_misses_table(outcome.rows),
        "validators_side_by_side": comparison_table(side_by_side),
        "side_by_side": dg.MetadataValue.json(side_by_side),
    }
    if labelled.rejected:
        tables["rejected"] = table(
            REJECTED_SCHEMA,
            [{"record": where, "reason": reason} for where, reason in labelled.rejected],
            limit=20,
        )
    return tables


def _record_metadata(
    outcome: "EvaluationOutcome",
    labelled: "LabelledSet",
    opik: OpikResource,
    status: str,
    day_key: str,
    path: Path,
    latest_written: bool,
) -> dict[str, Any]:
    """Where the day's experiment went: validator, labelled set, Opik, the parquet file, experiment:latest."""
    from .experiment import experiment_name

    if status == "local":
        opik_shown = "not configured"
    else:
        opik_shown = (
            f"failed: {outcome.opik_error}" if outcome.opik_error else f"recorded at {opik.location()}"
        )
    metadata: dict[str, Any] = {
        "validator": f"{outcome.validator} ({outcome.model})",
        "labelled_set": labelled.source,
        "opik": opik_shown,
        "experiment_name": experiment_name(day_key),
        "experiment_id": outcome.experiment_id or "",
        "path": dg.MetadataValue.path(str(path)),
        "experiment_latest": "written" if latest_written else "kept (a later day is stored)",
    }
    if outcome.experiment_url:
        metadata["experiment_url"] = dg.MetadataValue.url(outcome.experiment_url)
    return metadata


def _previous_evaluation(folder: Path, partition_key: str) -> tuple[Path | None, str]:
    """The previous day's file, else the latest earlier one; and which of the two it is."""
    day = dt.date.fromisoformat(partition_key)
    previous = folder / f"{(day - dt.timedelta(days=1)).isoformat()}.parquet"
    if previous.exists():
        return previous, "previous day"
    earlier = sorted(p for p in folder.glob("*.parquet") if p.stem < partition_key and _is_day(p.stem))
    if earlier:
        return earlier[-1], f"latest earlier evaluation ({earlier[-1].stem}; no file for {previous.stem})"
    return None, "none (first evaluation)"


def _is_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _accuracy(path: Path) -> tuple[float, int]:
    frame = read_parquet(path, columns=["charter_accuracy"])
    return float(frame["charter_accuracy"].fillna(0.0).mean()) if len(frame) else 0.0, len(frame)


def accuracy_check_result(
    data_dir: DataDirResource, settings: EvaluationSettings, partition_key: str
) -> dg.AssetCheckResult:
    """Accuracy at least ``min_accuracy``; a drop of at most ``max_drop_points`` since the previous file."""
    folder = data_dir.root / OUTPUT_FOLDER
    path = folder / f"{partition_key}.parquet"
    if not path.exists():
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                f"no evaluation for {partition_key}: {path} is missing (the day was skipped or failed)"
            ),
            metadata={"partition": partition_key},
        )
    accuracy, items = _accuracy(path)
    previous_path, compared_with = _previous_evaluation(folder, partition_key)
    metadata: dict[str, Any] = {
        "partition": partition_key,
        "accuracy": dg.MetadataValue.float(accuracy),
        "items": dg.MetadataValue.int(items),
        "min_accuracy": dg.MetadataValue.float(settings.min_accuracy),
        "max_drop_points": dg.MetadataValue.float(settings.max_drop_points),
        "compared_with": compared_with,
    }
    problems = []
    if accuracy < settings.min_accuracy:
        problems.append(f"accuracy {accuracy:.1%} is under the floor {settings.min_accuracy:.1%}")
    if previous_path is not None:
        previous, _ = _accuracy(previous_path)
        drop = (previous - accuracy) * 100
        metadata["previous_accuracy"] = dg.MetadataValue.float(previous)
        metadata["drop_points"] = dg.MetadataValue.float(round(drop, 3))
        if drop > settings.max_drop_points + 1e-9:
            problems.append(
                f"accuracy dropped {drop:.1f} points ({previous:.1%} -> {accuracy:.1%}) "
                f"from the {compared_with}, "
                f"more than {settings.max_drop_points:g}"
            )
    description = (
        "; ".join(problems)
        if problems
        else (
            f"accuracy {accuracy:.1%} (floor {settings.min_accuracy:.1%}; compared with the {compared_with})"
        )
    )
    return dg.AssetCheckResult(passed=not problems, description=description, metadata=metadata)


def accuracy_check_for_days(
    data_dir: DataDirResource, settings: EvaluationSettings, partition_keys: list[str]
) -> dg.AssetCheckResult:
    """One day's result as is; for a range (a check run over several days), one result for all of them."""
    results = [accuracy_check_result(data_dir, settings, key) for key in partition_keys]
    if len(results) == 1:
        return results[0]
    failing = [(key, result) for key, result in zip(partition_keys, results) if not result.passed]
    errors = any(result.severity == dg.AssetCheckSeverity.ERROR for _, result in failing)
    return dg.AssetCheckResult(
        passed=not failing,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=(
            "; ".join(f"{key}: {result.description}" for key, result in failing)
            if failing
            else f"{len(results)} days checked, all passed"
        ),
        metadata={
            "days": dg.MetadataValue.json(
                [
                    {"day": key, "passed": result.passed, "description": result.description}
                    for key, result in zip(partition_keys, results)
                ]
            ),
        },
    )


@dg.asset_check(
    asset=opik_experiment,
    description=(
        "Fails when the day's accuracy is under OCAPISTAINE_MIN_ACCURACY (default 0.75) or drops more than "
        "5 points (OCAPISTAINE_MAX_ACCURACY_DROP) from the previous evaluation: the previous day's file, "
        "else the latest earlier one. Warns when the day has no evaluation file. The day is the run's "
        "partition (or range), else the latest materialized one."
    ),
)
def opik_experiment_accuracy(
    context: dg.AssetCheckExecutionContext, data_dir: DataDirResource, evaluation_settings: EvaluationSettings
) -> dg.AssetCheckResult:
    days = days_of_check_run(context, opik_experiment.key)
    if not days:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "no day to check: opik_experiment was never materialized; run the check with a partition"
            ),
        )
    return accuracy_check_for_days(data_dir, evaluation_settings, days)
