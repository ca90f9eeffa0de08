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
from typing import Any, Optional

import dagster as dg

from ..contributions.validators import MODEL_FOLDER, ValidatorResource
from ..guard import TASK_OPIK_EXPERIMENT, GuardedDay, TaskError, TaskGuard, day_string, run_guarded_days
from ..io_utils import atomic_write_parquet, read_parquet
from ..partitions import daily_partitions, days_of_check_run
from ..redis_connection import RedisResource
from ..settings import DataDirResource, task_retry_policy
from .comparison import compare, comparison_markdown, honest
from .metrics import METRIC_NAMES, ConfusionMatrix
from .resources import EvaluationSettings, OpikResource

EXPERIMENT_LATEST_KEY = "experiment:latest"
OUTPUT_FOLDER = "evaluation"
WORST_MISSES = 10

#: Writes ``experiment:latest`` unless it already holds a later day (a backfill of old days must not
#: replace today's numbers). Returns 1 when written, 0 when a later day was kept.
_SET_LATEST = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and type(decoded['date']) == 'string' and decoded['date'] > ARGV[2] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


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


def _md_escape(text: Any, limit: int = 90) -> str:
    value = " ".join(str(text if text is not None else "").split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("|", "\\|")


def worst_misses_markdown(rows: list[dict[str, Any]], limit: int = WORST_MISSES) -> str:
    """The charter misses, most confident first (a confident mistake is the worst kind)."""
    misses = [row for row in rows if not row["charter_accuracy"]]
    if not misses:
        return "No miss: every item was judged as labelled."
    misses.sort(key=lambda row: (row["predicted"] is not None, row["confidence"] or 0.0), reverse=True)
    lines = [
        "| id | expected | predicted | confidence | injected | reasoning |",
        "|---|---|---|---:|---|---|",
    ]
    for row in misses[:limit]:
        expected = "valid" if row["expected"] else "invalid"
        predicted = "pending" if row["predicted"] is None else ("valid" if row["predicted"] else "invalid")
        confidence = "" if row["confidence"] is None else f"{row['confidence']:.2f}"
        reasoning = row["error"] if row["predicted"] is None and row["error"] else row["reasoning"]
        lines.append(
            f"| {_md_escape(row['id'], 40)} | {expected} | {predicted} | {confidence} | "
            f"{_md_escape(row['violations_injected'], 40) or '-'} | {_md_escape(reasoning)} |"
        )
    if len(misses) > limit:
        lines.append(f"\n{len(misses) - limit} more in the parquet file.")
    return "\n".join(lines)


def _rejected_markdown(rejected: list[tuple[str, str]], limit: int = 20) -> str:
    lines = ["| record | reason |", "|---|---|"]
    lines += [
        f"| {_md_escape(where, 40)} | {_md_escape(reason, 120)} |" for where, reason in rejected[:limit]
    ]
    if len(rejected) > limit:
        lines.append(f"\n{len(rejected) - limit} more.")
    return "\n".join(lines)


def _float_or_null(value: Optional[float]) -> dg.MetadataValue:
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
    """Store ``experiment:latest``; False when a later day is already stored (kept as is)."""
    import redis as redis_lib

    client = redis.app_client()
    try:
        written = client.eval(_SET_LATEST, 1, EXPERIMENT_LATEST_KEY, json.dumps(record), record["date"])
    except (redis_lib.ConnectionError, redis_lib.TimeoutError) as error:
        raise redis.unavailable(redis.app_db, error) from None
    return bool(written)


@dg.asset(
    partitions_def=daily_partitions,
    output_required=False,
    retry_policy=task_retry_policy(),
    backfill_policy=dg.BackfillPolicy.single_run(),
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
    from ..contributions.model import CATEGORIES
    from .dataset import DatasetError, load_labelled_set
    from .experiment import ValidatorFailed, experiment_name, run_evaluation

    def work(day: GuardedDay, partition_key: str) -> dict[str, Any]:
        started = time.perf_counter()
        date = day_string(partition_key)
        try:
            labelled = load_labelled_set(evaluation_settings.dataset_path)
        except DatasetError as error:
            raise TaskError("failed", str(error), retryable=False) from None
        for warning in labelled.warnings[:20]:
            day.warn(warning)
        if len(labelled.warnings) > 20:
            day.warn(f"{len(labelled.warnings) - 20} more warnings about the labelled set")
        if labelled.rejected:
            day.warn(f"{len(labelled.rejected)} record(s) of the labelled set rejected (see 'rejected')")

        model_dir = data_dir.root / MODEL_FOLDER
        try:  # no verdict cache: the experiment measures today's answers
            backend = honest(validator.get_validator(model_dir=model_dir))
        except (ValueError, FileNotFoundError) as error:  # e.g. learned chosen, no model trained yet
            raise TaskError("failed", f"validator not configured: {error}", retryable=False) from None
        context.log.info(
            f"evaluating validator {backend.name} ({backend.model}) on {len(labelled.items)} labelled items "
            f"from {labelled.source}; Opik: {opik.location() if opik.configured else 'not configured'}"
        )
        try:
            outcome = run_evaluation(labelled, backend, opik, date, categories=CATEGORIES, check=day.check)
        except ValidatorFailed as error:
            raise TaskError("failed", str(error)) from None
        opik_error = outcome.opik_error
        day.check()

        active = str(outcome.validator)
        side_by_side = compare(
            labelled.items, lambda name: validator.get_validator(model_dir=model_dir, backend=name),
            [name for name in evaluation_settings.compare_list() if name != active],
            {active: (str(outcome.model), [row["predicted"] for row in outcome.rows],
                      outcome.timings.get("validate_seconds", 0.0))},
        )
        day.check()

        summary = {**outcome.summary, "items_unlabelled": len(labelled.unlabelled)}
        path = evaluation_path(data_dir, partition_key)
        _write_parquet(outcome.rows, path)
        if outcome.opik_status == "recorded":
            status = "completed"
        else:
            status = "opik_failed" if opik_error else "local"
        latest = {
            "experiment_id": outcome.experiment_id,
            "date": date,
            "metrics": _rounded(summary),
            "status": status,
        }
        latest_written = write_experiment_latest(redis, latest)
        for warning in outcome.warnings:
            day.warn(warning)
        if not latest_written:
            day.warn(f"{EXPERIMENT_LATEST_KEY} holds a later day: kept it")

        matrix = ConfusionMatrix(**summary["confusion_matrix"])
        metadata: dict[str, Any] = {
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
            "confusion_matrix": dg.MetadataValue.md(matrix.markdown()),
            "worst_misses": dg.MetadataValue.md(worst_misses_markdown(outcome.rows)),
            "validator": f"{outcome.validator} ({outcome.model})",
            "labelled_set": labelled.source,
            "opik": "not configured" if status == "local" else (
                f"failed: {opik_error}" if opik_error else f"recorded at {opik.location()}"
            ),
            "experiment_name": experiment_name(date),
            "experiment_id": outcome.experiment_id or "",
            "path": dg.MetadataValue.path(str(path)),
            "experiment_latest": "written" if latest_written else "kept (a later day is stored)",
            "wall_seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
            "validators_side_by_side": dg.MetadataValue.md(comparison_markdown(side_by_side)),
            "side_by_side": dg.MetadataValue.json(side_by_side),
        }
        if outcome.experiment_url:
            metadata["experiment_url"] = dg.MetadataValue.url(outcome.experiment_url)
        if labelled.rejected:
            metadata["rejected"] = dg.MetadataValue.md(_rejected_markdown(labelled.rejected))
        if opik_error is not None:
            raise TaskError(
                "failed",
                f"Opik is configured ({opik.location()}) but the experiment was not recorded: {opik_error}; "
                f"local scores written to {path}",
                metadata=metadata,
            )
        return metadata

    yield from run_guarded_days(context, guard, TASK_OPIK_EXPERIMENT, work, skip_success_check=True)


def _previous_evaluation(folder: Path, partition_key: str) -> tuple[Optional[Path], str]:
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
    description = "; ".join(problems) if problems else (
        f"accuracy {accuracy:.1%} (floor {settings.min_accuracy:.1%}; compared with the {compared_with})"
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
            if failing else f"{len(results)} days checked, all passed"
        ),
        metadata={
            "days": dg.MetadataValue.json(
                [{"day": key, "passed": result.passed, "description": result.description}
                 for key, result in zip(partition_keys, results)]
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
            description="no day to check: opik_experiment was never materialized; run the check with a partition",
        )
    return accuracy_check_for_days(data_dir, evaluation_settings, days)
