"""``CeleryRunLauncher`` that also notices a worker that died whole, and routes runs by task.

dagster-celery's launcher asks the result backend how the run's Celery task is doing. A worker
whose pool process dies reports the task FAILED (run monitoring then fails the run in seconds), but
a worker that dies whole (host down, OOM killer on the main process, ``kill -9`` of the group)
reports nothing: the task stays STARTED and the run with it, until its ``dagster/max_runtime``. So
while the backend says STARTED, this launcher pings the worker named in the task's state (Celery's
``control.ping``, answered by the worker's main process even while its pool runs a day). After
``missed_pings`` polls in a row without an answer the run worker counts as FAILED: run monitoring
marks the run failed, run retries launch it again, and the guard lets the retry take the dead
run's lock over.

Runs without a ``dagster-celery/queue`` tag (UI launches) go to their task's queue
(``orchestration.chain.TASKS``: the crawl to ``crawl``), else to the default queue.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from dagster import Field, IntSource
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG, DAGSTER_CELERY_TASK_ID_TAG

from ..orchestration.chain import TASK_TAG, TASKS, task_for_assets


class WorkerCheckingCeleryRunLauncher(CeleryRunLauncher):
    def __init__(
        self,
        default_queue: str,
        worker_ping_timeout_seconds: int = 2,
        missed_pings: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(default_queue=default_queue, **kwargs)
        self.worker_ping_timeout_seconds = max(1, int(worker_ping_timeout_seconds))
        self.missed_pings = max(1, int(missed_pings))
        self._missed: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- routing ------------------------------------------------------------------------------------------
    def queue_for(self, run) -> str:
        """The run's queue tag, else its task's queue, else the default queue."""
        if run.tags.get(DAGSTER_CELERY_QUEUE_TAG):
            return run.tags[DAGSTER_CELERY_QUEUE_TAG]
        name = run.tags.get(TASK_TAG) or task_for_assets(run.asset_selection)
        chain_task = TASKS.get(name) if name else None
        return chain_task.queue if chain_task is not None else self.default_queue

    def _launch_celery_task_run(self, run, task_signature, routing_key) -> None:
        queue = self.queue_for(run)
        if run.tags.get(DAGSTER_CELERY_QUEUE_TAG) != queue:
            self._instance.add_run_tags(run.run_id, {DAGSTER_CELERY_QUEUE_TAG: queue})
            run = run.with_tags({**run.tags, DAGSTER_CELERY_QUEUE_TAG: queue})
        super()._launch_celery_task_run(run=run, task_signature=task_signature, routing_key=routing_key)

    # -- health -------------------------------------------------------------------------------------------
    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        if DAGSTER_CELERY_TASK_ID_TAG not in run.tags:
            return CheckRunHealthResult(
                WorkerStatus.UNKNOWN, "the run has no Celery task id (not launched here)"
            )
        result = super().check_run_worker_health(run)
        if result.status != WorkerStatus.RUNNING:
            self._forget(run.run_id)
            return result
        state = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG])
        info = state.info if isinstance(state.info, dict) else {}
        worker = info.get("hostname") or getattr(state, "worker", None)
        if not worker:
            return result
        replies = self.celery.control.ping(
            destination=[worker], timeout=self.worker_ping_timeout_seconds, limit=1
        )
        with self._lock:
            if replies:
                self._missed.pop(run.run_id, None)
                return result
            missed = self._missed.get(run.run_id, 0) + 1
            self._missed[run.run_id] = missed
        if missed < self.missed_pings:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING,
                f"Celery worker {worker} did not answer a ping ({missed}/{self.missed_pings})",
            )
        self._forget(run.run_id)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"Celery worker {worker} (pid {info.get('pid', '?')}) answered none of {missed} pings in a row "
            f"({self.worker_ping_timeout_seconds} s each): its process or host died with the run",
        )

    def _forget(self, run_id: str) -> None:
        with self._lock:
            self._missed.pop(run_id, None)

    # -- configuration ------------------------------------------------------------------------------------
    @classmethod
    def config_type(cls):
        return {
            **super().config_type(),
            "worker_ping_timeout_seconds": Field(
                IntSource,
                is_required=False,
                default_value=2,
                description="How long run monitoring waits for the run's worker to answer a ping.",
            ),
            "missed_pings": Field(
                IntSource,
                is_required=False,
                default_value=2,
                description="Polls in a row without an answer before the run's worker counts as dead.",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]):
        return cls(inst_data=inst_data, **config_value)
