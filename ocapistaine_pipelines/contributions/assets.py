"""Assets of the contributions domain: the day's contributions, then their charter analysis.

``contributions`` reads the configured source once per run and writes one typed table (and one
quarantine table) per day. ``contributions_analysis`` is the legacy ``task_contributions_analysis``
behind the task guard: it judges the day's table with the configured validator, writes a parquet
file and the app's Redis keys, and leaves the day pending (not successful) while any contribution
could not be judged, so the next chain tick retries only those.
"""

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from .. import redis_scripts
from ..guard import (
    TASK_CONTRIBUTIONS_ANALYSIS,
    GuardedDay,
    TaskError,
    TaskGuard,
    day_string,
    run_guarded_days,
)
from ..io_utils import atomic_write_parquet, read_parquet
from ..metadata_tables import schema, table
from ..partitions import daily_partitions, days_of_check_run
from ..redaction import safe_text
from ..redis_connection import RedisResource
from ..settings import DataDirResource, task_retry_policy
from .model import CATEGORIES, VERDICT_FIELDS, Contribution, Verdict
from .sources import COLUMNS, ContributionsSourceResource, SourceUnavailable, category_dtype, split_by_day
from .validators import MODEL_FOLDER, ValidatorResource

if TYPE_CHECKING:  # pandas loads when an asset runs, not when the code location loads
    import pandas as pd

GROUP = "contributions"
OWNERS = ["team:ocapistaine"]
APP_TTL_SECONDS = 86400
ANALYSIS_COLUMNS = ("id", "title", "category_in", *VERDICT_FIELDS)


def contribution_key(contribution_id: str) -> str:
    return f"contribution:{contribution_id}"


def validated_key(partition_key: str) -> str:
    return f"contributions:validated:{day_string(partition_key)}"


def contributions_path(data_dir: DataDirResource, partition_key: str) -> Path:
    return data_dir.folder("contributions") / f"{partition_key}.parquet"


def quarantine_path(data_dir: DataDirResource, partition_key: str) -> Path:
    return data_dir.folder("contributions", "quarantine") / f"{partition_key}.parquet"


def analysis_path(data_dir: DataDirResource, partition_key: str) -> Path:
    return data_dir.folder("contributions_analysis") / f"{partition_key}.parquet"


#: At most this many entries of a list reach the run's metadata (the rest is counted).
METADATA_LIST_LIMIT = 50


CATEGORIES_SCHEMA = schema(("category", "string"), ("count", "int"))
QUARANTINE_SCHEMA = schema(("id", "string"), ("reason", "string"), ("origin", "string"))
DAYS_SCHEMA = schema(("day", "string"), ("rows", "int"), ("quarantined", "int"))
FLAGGED_SCHEMA = schema(
    ("id", "string"),
    ("title", "string"),
    ("violations", "string"),
    ("reason", "string", "the first sentence of the validator's reasoning"),
    ("confidence", "float"),
)
PENDING_SCHEMA = schema(("id", "string"), ("error", "string", "why no verdict could be given"))
UNEXPLAINED_SCHEMA = schema(("day", "string"), ("id", "string"))


def _capped_ids(ids: list[str]) -> list[str]:
    """At most ``METADATA_LIST_LIMIT`` ids, each capped, then how many more there were."""
    shown = [safe_text(i, 100) for i in ids[:METADATA_LIST_LIMIT]]
    return shown + ([f"... {len(ids) - METADATA_LIST_LIMIT} more"] if len(ids) > METADATA_LIST_LIMIT else [])


REASON_CHARS = 120


def short_reason(reasoning: str | None, limit: int = REASON_CHARS) -> str:
    """The verdict's reasoning in one short line: its first sentence, cut at a word with an ellipsis."""
    text = " ".join((reasoning or "").split())
    if not text:
        return "-"
    first = text.split(". ", 1)[0].rstrip(".") + "."
    if len(first) <= limit:
        return first
    cut = first[: limit - 1]
    if first[limit - 1] != " ":  # do not end in the middle of a word
        cut = cut.rsplit(" ", 1)[0]
    cut = cut.rstrip(" ,;:")
    return (cut or first[: limit - 1]) + "…"


def _distribution(values: list[str]) -> dg.TableMetadataValue:
    """How many of each of the 7 categories (0 included, so a category that vanished shows)."""
    counts = Counter(values)
    return table(CATEGORIES_SCHEMA, [{"category": c, "count": counts.get(c, 0)} for c in CATEGORIES])


def write_day_tables(context: dg.AssetExecutionContext, data_dir: DataDirResource, batch) -> dict[str, Any]:
    """Write one day's table and quarantine table (atomically); log what was quarantined."""
    partition_key = batch.partition_key
    frame, quarantine = batch.frame(), batch.quarantine_frame()
    atomic_write_parquet(frame, contributions_path(data_dir, partition_key))
    atomic_write_parquet(quarantine, quarantine_path(data_dir, partition_key))
    if len(quarantine):
        context.log.warning(
            f"{partition_key}: {len(quarantine)} item(s) quarantined: "
            + "; ".join(
                f"{safe_text(row.id or '?', 60)}: {safe_text(row.reason, 160)}"
                for row in quarantine.head(5).itertuples()
            )
        )
    return {"batch": batch, "frame": frame, "quarantine": quarantine}


def without_empty(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata without clutter rows: empty lists and mappings (counts, even 0, stay: they are the story)."""

    def empty(value: Any) -> bool:
        if isinstance(value, dg.JsonMetadataValue):
            value = value.value
        return isinstance(value, (list, tuple, dict)) and not value

    return {key: value for key, value in metadata.items() if not empty(value)}


# -- contributions --------------------------------------------------------------------------------
@dg.asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "pandas", "parquet"},
    description=(
        "Citizen contributions of the day (Europe/Paris), read from OCAPISTAINE_CONTRIBUTIONS_SOURCE (export "
        "file or folder, n8n webhook, github:OWNER/REPO; default: the sample export shipped with the "
        "package). Bad items go to a quarantine table with their reason."
    ),
)
def contributions(
    context: dg.AssetExecutionContext,
    contributions_source: ContributionsSourceResource,
    data_dir: DataDirResource,
) -> Iterator[dg.MaterializeResult]:
    import pandas as pd

    source = contributions_source.describe()
    try:
        items = contributions_source.read()
    except SourceUnavailable as error:
        raise dg.Failure(
            description=safe_text(
                f"cannot read contributions from {source}: {error}. Nothing was written.", 2000
            ),
            metadata={"source": source},
            allow_retries=False,
        ) from None
    batches = split_by_day(items, context.partition_keys)
    accounting = batches.accounting
    per_day = {
        partition_key: write_day_tables(context, data_dir, batches[partition_key])
        for partition_key in context.partition_keys
    }

    days = list(per_day)
    frames = [v["frame"] for v in per_day.values()]
    quarantines = [v["quarantine"] for v in per_day.values()]
    quarantine_all = pd.concat(quarantines, ignore_index=True) if quarantines else pd.DataFrame()
    reclassified = [r for v in per_day.values() for r in v["batch"].reclassified]
    if not accounting.balanced:  # every item is in a table, a quarantine or another day's run: never lost
        raise dg.Failure(description=f"items unaccounted for: {accounting.sentence()}", allow_retries=False)
    metadata = {
        "source": source,
        "fetched": dg.MetadataValue.int(accounting.fetched),
        "to_analyse": dg.MetadataValue.int(accounting.kept),
        "quarantined": dg.MetadataValue.int(accounting.quarantined),
        "other_days": dg.MetadataValue.int(accounting.other_days),
        "accounting": accounting.sentence(),
        "dagster/row_count": dg.MetadataValue.int(sum(len(f) for f in frames)),
        "quarantine_rows": dg.MetadataValue.int(len(quarantine_all)),
        "reclassified": dg.MetadataValue.int(len(reclassified)),
        "categories": _distribution(
            [c for f in frames for c in f["category"].astype(object) if isinstance(c, str)]
        ),
        "quarantine": table(QUARANTINE_SCHEMA, quarantine_all[["id", "reason", "origin"]].to_dict("records"))
        if len(quarantine_all)
        else None,
        "unknown_categories": dg.MetadataValue.json(
            [{k: safe_text(v, 100) for k, v in r.items()} for r in reclassified[:METADATA_LIST_LIMIT]]
            + (
                [{"more": len(reclassified) - METADATA_LIST_LIMIT}]
                if len(reclassified) > METADATA_LIST_LIMIT
                else []
            )
        ),
        "path": dg.MetadataValue.path(str(contributions_path(data_dir, days[-1]))),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(frames[0][name].dtype)) for name in COLUMNS]
        ),
    }
    metadata = without_empty({key: value for key, value in metadata.items() if value is not None})
    if len(days) > 1:
        metadata["days"] = table(
            DAYS_SCHEMA,
            [
                {"day": d, "rows": len(v["frame"]), "quarantined": len(v["quarantine"])}
                for d, v in per_day.items()
            ],
            limit=400,
        )
    # One output for the run (one day or a range): every day of it was written, and downstream steps run.
    yield dg.MaterializeResult(metadata=metadata)


def read_contributions(data_dir: DataDirResource, partition_key: str) -> list[Contribution]:

    path = contributions_path(data_dir, partition_key)
    if not path.exists():
        raise TaskError(
            "failed",
            f"no contributions table for {partition_key} ({path}): materialize `contributions` first",
            retryable=False,
        )
    frame = read_parquet(path)
    out = []
    for row in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        created = row.get("created_at")
        out.append(
            Contribution(
                id=str(row["id"]),
                title=row["title"] or "",
                body=row["body"] or "",
                constat_factuel=row["constat_factuel"] or "",
                idees_ameliorations=row["idees_ameliorations"] or "",
                category=row["category"],
                source=row["source"] or "",
                created_at=created.isoformat() if created is not None else None,
            )
        )
    return out


#: An error kept with a pending verdict (parquet, Redis, metadata): redacted, then capped.
ERROR_SHOWN_CHARS = 500


def _error_text(error: Any) -> Any:
    return None if error is None else safe_text(error, ERROR_SHOWN_CHARS)


def analysis_frame(contributions_: list[Contribution], verdicts: list[Verdict]) -> "pd.DataFrame":
    import pandas as pd

    rows = [
        {
            "id": c.id,
            "title": c.title,
            "category_in": c.category,
            "is_valid": v.is_valid,
            "violations": list(v.violations),
            "encouraged_aspects": list(v.encouraged_aspects),
            "reasoning": v.reasoning,
            "confidence": float(v.confidence),
            "category": v.category,
            "validator": v.validator,
            "error": _error_text(v.error),
        }
        for c, v in zip(contributions_, verdicts)
    ]
    frame = pd.DataFrame(rows, columns=list(ANALYSIS_COLUMNS))
    frame = frame.astype(
        {
            "id": "string",
            "title": "string",
            "reasoning": "string",
            "validator": "string",
            "error": "string",
            "is_valid": "boolean",
            "confidence": "float64",
        }
    )
    frame["category_in"] = frame["category_in"].astype(category_dtype())
    frame["category"] = frame["category"].astype("string")  # as judged: the check must see an unknown value
    return frame


def claims_key(contribution_id: str) -> str:
    """Set of the days (``YYYYMMDD``) whose latest app-db write lists the contribution
    (``write_app_data``)."""
    return f"contributions:days:{contribution_id}"


def write_app_data(
    redis: RedisResource,
    partition_key: str,
    pairs: list[tuple[Contribution, Verdict]],
    previous_ids: set[str],
) -> dict[str, list[str]]:
    """Write the day's ``contribution:{id}`` keys and ``contributions:validated:{YYYYMMDD}`` list atomically.

    ``contribution:{id}`` is global while days are not: the same id can sit in two days' tables (an
    undated item follows the export's ``generated_at`` from one day to the next; the dateless sample is
    on every day run). So the app db also holds ``contributions:days:{id}``, the set of days whose latest
    write lists the id (pending ones included), with the same TTL as the key. A day adds itself for each
    id it writes; for an id that left the day (in ``previous_ids``, the day's last parquet file, not in
    ``pairs``) it removes itself and deletes ``contribution:{id}`` only when no day is left in the set.
    An id another day still lists is kept, and a key without such a set (written before it existed)
    is never deleted here: it expires within the TTL. This is the rule "not in another day's list or
    table", kept in Redis so that it costs O(1) per id and reads no other day's file. A pending verdict
    does not replace a judged one another day listed (the judgement would be lost once that day is
    closed); a judged verdict replaces whatever is there (the latest judgement wins).

    Everything runs in one Lua script (``redis_scripts.WRITE_CONTRIBUTIONS_DAY``), so another day's
    concurrent run lands wholly before or after.
    Returns the ids deleted, kept for another day, and not overwritten (``deleted``, ``kept``,
    ``kept_judged``).
    """
    now = int(time.time())
    stale = sorted(previous_ids - {c.id for c, _ in pairs})
    validated = [c.id for c, v in pairs if not v.pending]
    keys = [validated_key(partition_key)]
    args = [day_string(partition_key), APP_TTL_SECONDS, len(pairs), len(validated)]
    for contribution, verdict in pairs:
        result = verdict.validation_result()
        if "error" in result:
            result["error"] = _error_text(result["error"])
        value = {
            "title": contribution.title,
            "body": contribution.body,
            "category": verdict.category,
            "validation_result": result,
            "timestamp": now,
        }
        keys += [contribution_key(contribution.id), claims_key(contribution.id)]
        args += [json.dumps(value, ensure_ascii=False), "1" if verdict.pending else "0"]
    keys += [k for stale_id in stale for k in (contribution_key(stale_id), claims_key(stale_id))]
    args += validated
    kept_judged, deleted, kept = redis.run_script(
        redis.app_db, redis_scripts.WRITE_CONTRIBUTIONS_DAY, keys=keys, args=args
    )
    return {
        "deleted": [stale[int(i) - 1] for i in deleted],
        "kept": [stale[int(i) - 1] for i in kept],
        "kept_judged": [pairs[int(i) - 1][0].id for i in kept_judged],
    }


# -- contributions_analysis ----------------------------------------------------------------------------
@dg.asset(
    partitions_def=daily_partitions,
    deps=[contributions],
    output_required=False,
    retry_policy=task_retry_policy(),
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "redis", "parquet"},
    description=(
        "task_contributions_analysis: each contribution of the day judged against the charter and filed in "
        "one of the 7 categories (OCAPISTAINE_VALIDATOR: rules, llm or learned). Writes the day's parquet "
        "file and, in the app db, contribution:{id} and contributions:validated:{YYYYMMDD}. Guarded: one run "
        "per day does the work."
    ),
)
def contributions_analysis(
    context: dg.AssetExecutionContext,
    guard: TaskGuard,
    data_dir: DataDirResource,
    redis: RedisResource,
    validator: ValidatorResource,
    contributions_source: ContributionsSourceResource,
) -> Iterator:

    cache_dir = (
        data_dir.folder("contributions_analysis", "llm_cache")
        if validator.backend.strip().lower() == "llm"
        else None
    )
    try:
        judge = validator.get_validator(cache_dir=cache_dir, model_dir=data_dir.root / MODEL_FOLDER)
    except (ValueError, FileNotFoundError) as error:  # also: learned chosen but no model trained yet
        raise dg.Failure(
            description=safe_text(f"validator not configured: {error}", 1000), allow_retries=False
        ) from None

    from_source: dict[str, Any] = {}  # the source read once per run, only when a day has no table

    def read_missing_table(partition_key: str) -> None:
        """The day has no contributions table (the analysis launched alone, e.g. a backfill of this asset):
        read the source once for the run's days, as ``contributions`` would, and write this day's tables."""
        if not from_source:
            source = contributions_source.describe()
            try:
                items = contributions_source.read()
            except SourceUnavailable as error:
                raise TaskError(
                    "failed",
                    safe_text(
                        f"no contributions table for {partition_key} and the source {source} cannot be "
                        f"read: {error}. Materialize `contributions` when it answers again",
                        2000,
                    ),
                    retryable=False,
                ) from None
            batches = split_by_day(items, context.partition_keys)
            if not batches.accounting.balanced:  # as `contributions`: every item accounted for, never lost
                raise TaskError(
                    "failed", f"items unaccounted for: {batches.accounting.sentence()}", retryable=False
                )
            from_source.update(source=source, batches=batches)
        written = write_day_tables(context, data_dir, from_source["batches"][partition_key])
        context.log.info(f"{partition_key}: no contributions table yet: read {from_source['source']} first")
        context.log_event(
            dg.AssetMaterialization(
                asset_key=contributions.key,
                partition=partition_key,
                metadata={
                    "source": from_source["source"],
                    "dagster/row_count": dg.MetadataValue.int(len(written["frame"])),
                    "quarantined": dg.MetadataValue.int(len(written["quarantine"])),
                    "written_by": "contributions_analysis (the day had no table)",
                    "path": dg.MetadataValue.path(str(contributions_path(data_dir, partition_key))),
                },
            )
        )

    def work(guarded: GuardedDay, partition_key: str) -> dict:
        if not contributions_path(data_dir, partition_key).exists():
            read_missing_table(partition_key)
        items = read_contributions(data_dir, partition_key)
        quarantine_file = quarantine_path(data_dir, partition_key)
        quarantined = len(read_parquet(quarantine_file)) if quarantine_file.exists() else 0
        guarded.check()
        started, calls_before = time.monotonic(), getattr(judge, "calls", 0)
        # stops sending requests once the lock is lost
        verdicts = judge.validate_many(items, check=guarded.check)
        elapsed = time.monotonic() - started
        if len(verdicts) != len(items):
            raise TaskError(
                "failed", f"validator returned {len(verdicts)} verdicts for {len(items)} contributions"
            )
        guarded.check()
        path = analysis_path(data_dir, partition_key)
        previous = set(read_parquet(path, columns=["id"])["id"].astype(str)) if path.exists() else set()
        pairs = list(zip(items, verdicts))
        # Redis first: the parquet file holds the ids of the last run whose Redis writes succeeded, so
        # when this write fails the next run still knows which stale contribution:{id} keys to delete.
        app_writes = write_app_data(redis, partition_key, pairs, previous)
        atomic_write_parquet(analysis_frame(items, verdicts), path)
        if app_writes["kept"]:
            context.log.info(
                f"{partition_key}: left the day, key kept (another day lists it, or none does: TTL): "
                + ", ".join(safe_text(i, 60) for i in app_writes["kept"][:20])
            )

        pending = [(c, v) for c, v in pairs if v.pending]
        flagged = [(c, v) for c, v in pairs if v.is_valid is False]
        approved = sum(1 for _, v in pairs if v.is_valid is True)
        if pending:
            first = _error_text(pending[0][1].error or "unknown error")
            guarded.warn(f"{len(pending)} contribution(s) could not be judged; first error: {first}")
            guarded.defer("contributions_pending")
        return without_empty(
            {
                "fetched": dg.MetadataValue.int(len(items)),
                "validated": dg.MetadataValue.int(len(items) - len(pending)),
                "approved": dg.MetadataValue.int(approved),
                "flagged": dg.MetadataValue.int(len(flagged)),
                "quarantined": dg.MetadataValue.int(quarantined),
                "pending": dg.MetadataValue.int(len(pending)),
                "stale_deleted": dg.MetadataValue.int(len(app_writes["deleted"])),
                "stale_kept_for_other_days": dg.MetadataValue.json(_capped_ids(app_writes["kept"])),
                "pending_kept_judged_by_other_days": dg.MetadataValue.json(
                    _capped_ids(app_writes["kept_judged"])
                ),
                "validator": safe_text(f"{judge.name}:{judge.model}", 200),
                "seconds_validating": dg.MetadataValue.float(round(elapsed, 3)),
                "llm_requests": dg.MetadataValue.int(getattr(judge, "calls", 0) - calls_before),
                "flagged_contributions": table(
                    FLAGGED_SCHEMA,
                    [
                        {
                            "id": c.id,
                            "title": c.title,
                            "violations": ", ".join(v.violations),
                            "reason": short_reason(v.reasoning),
                            "confidence": round(float(v.confidence), 2),
                        }
                        for c, v in flagged
                    ],
                )
                if flagged
                else [],
                "pending_contributions": table(
                    PENDING_SCHEMA, [{"id": c.id, "error": v.error} for c, v in pending]
                )
                if pending
                else [],
                "categories": _distribution([v.category for v in verdicts]),
                "path": dg.MetadataValue.path(str(path)),
                "dagster/row_count": dg.MetadataValue.int(len(items)),
            }
        )

    yield from run_guarded_days(context, guard, TASK_CONTRIBUTIONS_ANALYSIS, work)


# -- checks --------------------------------------------------------------------------------------------
def _analysis_tables(
    data_dir: DataDirResource, days: list[str]
) -> tuple[dict[str, "pd.DataFrame"], list[str]]:

    tables, missing = {}, []
    for partition_key in days:
        path = analysis_path(data_dir, partition_key)
        if path.exists():
            tables[partition_key] = read_parquet(path)
        else:
            missing.append(partition_key)
    return tables, missing


@dg.asset_check(
    asset=contributions_analysis,
    description="Every row has a verdict (is_valid true/false) or is pending with an error.",
)
def every_row_judged_or_pending_with_error(
    context: dg.AssetCheckExecutionContext, data_dir: DataDirResource
) -> dg.AssetCheckResult:
    days = days_of_check_run(context, contributions_analysis.key)
    tables, missing = _analysis_tables(data_dir, days)
    bad: list[dict[str, str]] = []
    for partition_key, frame in tables.items():
        unexplained = frame[
            frame["is_valid"].isna()
            & (frame["error"].isna() | (frame["error"].astype(str).str.strip() == ""))
        ]
        bad += [{"day": partition_key, "id": row_id} for row_id in unexplained["id"].astype(str)]
    return dg.AssetCheckResult(
        passed=bool(days) and not bad and not missing,
        severity=dg.AssetCheckSeverity.ERROR if bad else dg.AssetCheckSeverity.WARN,
        description=None if days else "no day to check: run it with a partition",
        metadata=without_empty(
            {
                "days": dg.MetadataValue.json(days),
                "rows": dg.MetadataValue.int(sum(len(f) for f in tables.values())),
                "unexplained": dg.MetadataValue.int(len(bad)),
                "missing_days": dg.MetadataValue.json(missing),
                "examples": table(UNEXPLAINED_SCHEMA, bad, limit=20) if bad else [],
            }
        ),
    )


@dg.asset_check(
    asset=contributions_analysis,
    description=(
        "Every category (input and verdict) is one of the 7 ids; a verdict may have none only while it is "
        "pending for a contribution the source gave no category."
    ),
)
def categories_are_known(
    context: dg.AssetCheckExecutionContext, data_dir: DataDirResource
) -> dg.AssetCheckResult:
    days = days_of_check_run(context, contributions_analysis.key)
    tables, missing = _analysis_tables(data_dir, days)
    unknown: Counter = Counter()
    for frame in tables.values():
        for column in ("category", "category_in"):
            values = frame[column].dropna().astype(str)
            unknown.update(v for v in values if v not in CATEGORIES)
        judged_without = frame["category"].isna() & frame["is_valid"].notna()
        unknown.update("<missing verdict category>" for _ in range(int(judged_without.sum())))
    return dg.AssetCheckResult(
        passed=bool(days) and not unknown and not missing,
        severity=dg.AssetCheckSeverity.ERROR if unknown else dg.AssetCheckSeverity.WARN,
        description=None if days else "no day to check: run it with a partition",
        metadata=without_empty(
            {
                "days": dg.MetadataValue.json(days),
                "unknown": dg.MetadataValue.json(dict(unknown)),
                "missing_days": dg.MetadataValue.json(missing),
            }
        ),
    )
