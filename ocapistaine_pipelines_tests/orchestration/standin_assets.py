"""Stand-ins for the task assets, with the real names, partitions and guard: they let the schedule,
sensor and deployment tests run the real orchestration code without the domains' data and SDKs.

``contributions`` writes a small file; ``contributions_analysis`` is guarded as
``task_contributions_analysis`` and fails on purpose for a day listed in ``FAIL_DAYS_ENV``.
"""

import json
import os

import dagster as dg

from ocapistaine_pipelines.guard import (
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_OPIK_EXPERIMENT,
    TaskError,
    run_guarded_days,
)
from ocapistaine_pipelines.guard.resource import TaskGuard
from ocapistaine_pipelines.partitions import daily_partitions
from ocapistaine_pipelines.settings import DataDirResource

FAIL_DAYS_ENV = "OCAPISTAINE_STANDIN_FAIL_DAYS"

COMMON = dict(
    partitions_def=daily_partitions,
    output_required=False,
)


@dg.asset(group_name="contributions", **COMMON)
def contributions(context: dg.AssetExecutionContext, data_dir: DataDirResource):
    # Not guarded, and it returns a result: a step that yields only AssetMaterialization events has no
    # output, and Dagster then skips the downstream step of the same run.
    for key in context.partition_keys:
        (data_dir.folder("standin") / f"contributions-{key}.json").write_text(
            json.dumps({"day": key, "count": 2})
        )
    return dg.MaterializeResult(metadata={"days": len(context.partition_keys)})


@dg.asset(group_name="contributions", deps=[contributions], **COMMON)
def contributions_analysis(context: dg.AssetExecutionContext, guard: TaskGuard):
    failing = set(filter(None, os.environ.get(FAIL_DAYS_ENV, "").split(",")))

    def work(day, partition_key):
        if partition_key in failing:
            raise TaskError("failed", f"validator unavailable for {partition_key}", metadata={"validated": 0})
        return {"validated": dg.MetadataValue.int(2)}

    yield from run_guarded_days(context, guard, TASK_CONTRIBUTIONS_ANALYSIS, work)


def _simple_guarded(name: str, task_name: str, group: str, deps=()):
    @dg.asset(name=name, group_name=group, deps=list(deps), **COMMON)
    def _asset(context: dg.AssetExecutionContext, guard: TaskGuard):
        yield from run_guarded_days(
            context, guard, task_name, lambda day, key: {"done": True}, skip_success_check=True
        )

    return _asset


crawled_documents = _simple_guarded("crawled_documents", TASK_FIRECRAWL, "crawl")
opik_experiment = _simple_guarded(
    "opik_experiment", TASK_OPIK_EXPERIMENT, "evaluation", deps=[contributions_analysis]
)

ASSETS = [contributions, contributions_analysis, crawled_documents, opik_experiment]
