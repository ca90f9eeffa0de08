"""The legacy Redis contract in one place.

Outside systems (the FastAPI app, n8n workflows, operators with ``redis-cli``) read these keys, so
names, values and TTLs must stay exactly as the APScheduler scheduler wrote them.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# The task names come from their declarations (ocapistaine_pipelines/tasks.py, below the guard);
# TASK_NAMES is a live view, so a task declared there is known to the guard without an edit here.
from ..tasks import (  # noqa: F401 - re-exported: the contract names the tasks
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_NAMES,
    TASK_OPIK_EXPERIMENT,
)

LOCK_TTL_SECONDS = 300
SUCCESS_TTL_SECONDS = 86400
SUCCESS_VALUE = "completed"

#: Run tag that ignores the success key (a forced re-run) but still takes the lock.
FORCE_TAG = "ocapistaine/force"
#: Run tags the guard writes so a skipped run is recognisable in the runs list.
STATUS_TAG = "ocapistaine/status"
REASON_TAG = "ocapistaine/reason"


class TaskStatus(str, enum.Enum):
    PENDING = "pending"
    SUCCESS = "success"
    SKIPPED = "skipped"
    FAILED = "failed"


class SkipReason(str, enum.Enum):
    ALREADY_COMPLETED = "already_completed"
    LOCK_HELD = "lock_held"


class TaskError(Exception):
    """The exception a task raises; keeps the legacy ``status`` and ``message`` fields.

    ``metadata`` travels to the Dagster failure so a failed run still shows what it did;
    ``retryable=False`` (a wrong key, a bad config file) tells Dagster's retry policy not to try again.
    """

    def __init__(
        self,
        status: str,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        retryable: bool = True,
    ):
        super().__init__(message)
        self.status = TaskStatus(status).value
        self.message = message
        self.metadata = dict(metadata or {})
        self.retryable = retryable

    def __str__(self) -> str:
        return f"[{self.status}] {self.message}"


def day_string(partition_key: str | dt.date | dt.datetime) -> str:
    """The day key (``YYYYMMDD``, as in the Redis keys) of a partition key (``YYYY-MM-DD``), a date, or a
    day key."""
    if isinstance(partition_key, dt.datetime):
        return partition_key.strftime("%Y%m%d")
    if isinstance(partition_key, dt.date):
        return partition_key.strftime("%Y%m%d")
    text = str(partition_key).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).strftime("%Y%m%d")
        except ValueError:
            continue
    raise ValueError(f"not a day: {partition_key!r} (expected YYYY-MM-DD or YYYYMMDD)")


def lock_key(task_name: str, partition_key: str | dt.date) -> str:
    return f"lock:{task_name}:{day_string(partition_key)}"


def success_key(task_name: str, partition_key: str | dt.date) -> str:
    return f"success:{task_name}:{day_string(partition_key)}"


def completed_by_key(task_name: str, partition_key: str | dt.date) -> str:
    """The run id that set the success key (written with it, same TTL): lets a run recognise its own
    completion when the reply was lost. Not part of the legacy contract; outside systems ignore it."""
    return f"completed_by:{task_name}:{day_string(partition_key)}"


def normalize_timestamp(ts: float | int | str) -> int:
    """Seconds since the epoch; a value above 1e12 is milliseconds (as JavaScript sends them)."""
    value = float(ts)
    if value > 1e12:
        value = value / 1000
    return int(value)


@dataclass
class TaskResult:
    """The legacy result dict of every task."""

    task: str
    date: str
    task_id: str
    status: str = TaskStatus.PENDING.value
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_metadata(self) -> dict[str, Any]:
        """Flat metadata for the Dagster UI: the legacy keys, lists as JSON."""
        import dagster as dg

        return {
            "task": self.task,
            "status": self.status,
            "reason": self.reason or "",
            "task_id": self.task_id,
            "date": self.date,
            "errors": dg.MetadataValue.json(list(self.errors)),
            "warnings": dg.MetadataValue.json(list(self.warnings)),
        }
