"""The run queue of the Celery deployment: every run carries its Celery queue from the moment it is queued.

The per-queue limits of deploy/dagster-celery.yaml (``dagster-celery/queue``: no more runs on a queue
than its workers have slots) apply only to queued runs that carry the tag. Runs the UI, a GraphQL
``__ASSET_JOB`` submission or a sensor queue without it (the range-check runs among them) were exempt:
the launcher tagged them only when they left the queue. Dagster's run queue skips a run its tag limit
blocks and goes on down the priority order, so while a queue was full a priority-0 retry waited and
the untagged priority -1 check runs behind it were dequeued into the broker, one per free slot; the
retry then waited in the broker's FIFO behind them (57 s behind 31 check runs, benchmarks/RESULTS.md).

``QueueTaggingRunCoordinator`` is Dagster's ``QueuedRunCoordinator`` that tags each run with the queue
the launcher will send it to (``WorkerCheckingCeleryRunLauncher.queue_for``: the one routing rule)
before queueing it, so the limits and the priorities hold for every run, however it was launched.
"""

from __future__ import annotations

from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG


class QueueTaggingRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` (same config) that tags a run with its Celery queue as it is queued."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        route = getattr(self._instance.run_launcher, "queue_for", None)
        if route is not None and not run.tags.get(DAGSTER_CELERY_QUEUE_TAG):
            queue = route(run)
            self._instance.add_run_tags(run.run_id, {DAGSTER_CELERY_QUEUE_TAG: queue})
            context = context._replace(
                dagster_run=run.with_tags({**run.tags, DAGSTER_CELERY_QUEUE_TAG: queue})
            )
        return super().submit_run(context)
