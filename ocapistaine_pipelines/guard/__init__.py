"""The Redis task guard: the legacy lock and success-key contract, made atomic."""

from .contract import (
    FORCE_TAG,
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_NAMES,
    TASK_OPIK_EXPERIMENT,
    SkipReason,
    TaskError,
    TaskResult,
    TaskStatus,
    completed_by_key,
    day_string,
    lock_key,
    normalize_timestamp,
    success_key,
)
from .resource import GuardedDay, Predecessor, TaskGuard, TaskSkipped
from .runner import is_forced, run_guarded_days

__all__ = [
    "FORCE_TAG",
    "TASK_CONTRIBUTIONS_ANALYSIS",
    "TASK_FIRECRAWL",
    "TASK_NAMES",
    "TASK_OPIK_EXPERIMENT",
    "GuardedDay",
    "Predecessor",
    "SkipReason",
    "TaskError",
    "TaskGuard",
    "TaskResult",
    "TaskSkipped",
    "TaskStatus",
    "completed_by_key",
    "day_string",
    "is_forced",
    "lock_key",
    "normalize_timestamp",
    "run_guarded_days",
    "success_key",
]
