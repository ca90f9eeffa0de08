"""The task guard: the legacy lock and success-key contract, without its race conditions.

One ``GuardedDay`` per task and day. Entering it claims the day in one atomic step (success key,
then lock, with our own token recognised); while the work runs a watchdog renews the lock; leaving
it completes the day in one atomic step (success key set, lock deleted only if still ours) or, on
failure, releases the lock only if it is still ours. A lock written by anyone else is never deleted.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

import dagster as dg
from pydantic import PrivateAttr

from ..redis_connection import RedisResource
from . import scripts
from .contract import (
    LOCK_TTL_SECONDS,
    SUCCESS_TTL_SECONDS,
    SUCCESS_VALUE,
    TASK_NAMES,
    SkipReason,
    TaskError,
    TaskResult,
    TaskStatus,
    day_string,
    lock_key,
    success_key,
)

log = logging.getLogger(__name__)


class TaskSkipped(Exception):
    """Raised by the work to end a claimed day as skipped (e.g. ``firecrawl_not_configured``)."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason


class TaskGuard(dg.ConfigurableResource):
    """Per task and day: one run does the work, the others skip with the legacy reasons."""

    redis: RedisResource
    lock_ttl_seconds: float = LOCK_TTL_SECONDS
    success_ttl_seconds: int = SUCCESS_TTL_SECONDS
    renew_every_seconds: Optional[float] = None  # default: a third of the lock TTL

    _scripts: dict = PrivateAttr(default_factory=dict)

    @property
    def renew_interval(self) -> float:
        return self.renew_every_seconds or self.lock_ttl_seconds / 3

    def _scheduler(self):
        return self.redis.scheduler_client()

    def _call(self, fn, *args, **kwargs):
        """Run a Redis call; connection errors become a failure naming host, port and db."""
        import redis

        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise self.redis.unavailable(self.redis.scheduler_db, error) from None

    def _script(self, source: str, keys: list[str], args: list[Any], *, retries: Optional[int] = None):
        """Run a Lua script by SHA (EVALSHA, loading it once if the server does not know it)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._scheduler().register_script(source)
        client = self.redis.client(self.redis.scheduler_db, retries=retries)
        return self._call(script, keys=keys, args=args, client=client)

    # -- the contract, step by step -----------------------------------------------------------------
    def day(
        self,
        task_name: str,
        day: str,
        task_id: str,
        *,
        skip_success_check: bool = False,
        force: bool = False,
        predecessors: tuple[str, ...] = (),
    ) -> "GuardedDay":
        """``predecessors``: ids of the runs this one re-executes; a lock one of them left behind
        (its worker crashed) is taken over instead of skipping the day as ``lock_held``."""
        if task_name not in TASK_NAMES:
            raise ValueError(f"unknown task {task_name!r}; expected one of {', '.join(TASK_NAMES)}")
        return GuardedDay(
            self,
            task_name,
            day_string(day),
            task_id,
            check_success=not (skip_success_check or force),
            predecessors=tuple(p for p in predecessors if p and p != task_id),
        )

    def server_warnings(self) -> list[str]:
        """Warnings about server settings that break the contract (eviction, no persistence)."""
        import redis

        client = self._scheduler()
        warnings: list[str] = []
        try:
            policy = self._call(client.config_get, "maxmemory-policy").get("maxmemory-policy")
        except redis.ResponseError:  # hosted Redis often forbids CONFIG
            return ["could not read maxmemory-policy (CONFIG is disabled): check that it is noeviction"]
        if policy and policy != "noeviction":
            warnings.append(
                f"maxmemory-policy is {policy}: success markers and locks have a TTL and may be evicted; "
                "set maxmemory-policy noeviction"
            )
        return warnings

    def history(self, day: str) -> list[dict[str, Any]]:
        """The legacy ``get_task_history(date)``: per task, completed, running, holder and TTLs."""
        client = self._scheduler()
        date = day_string(day)
        pipe = client.pipeline(transaction=False)
        for task in TASK_NAMES:
            pipe.exists(success_key(task, date))
            pipe.get(lock_key(task, date))
            pipe.ttl(success_key(task, date))
            pipe.ttl(lock_key(task, date))
        values = self._call(pipe.execute)
        rows = []
        for i, task in enumerate(TASK_NAMES):
            done, holder, success_ttl, lock_ttl = values[4 * i : 4 * i + 4]
            rows.append(
                {
                    "task": task,
                    "date": date,
                    "completed": bool(done),
                    "running": holder is not None,
                    "lock_holder": holder,
                    "success_ttl": success_ttl if success_ttl >= 0 else None,
                    "lock_ttl": lock_ttl if lock_ttl >= 0 else None,
                }
            )
        return rows


class GuardedDay:
    """One task on one day: claim on enter, renew while inside, complete or release on exit.

    Inside the block, the work may call ``check()`` to stop early once the lock is lost, ``defer()``
    to end without marking the day successful (status ``pending``), ``warn()`` and ``error()``.
    """

    def __init__(
        self,
        guard: TaskGuard,
        task: str,
        date: str,
        task_id: str,
        check_success: bool,
        predecessors: tuple[str, ...] = (),
    ):
        self.guard = guard
        self.predecessors = predecessors
        self.task = task
        self.date = date
        self.task_id = task_id
        self.check_success = check_success
        self.result = TaskResult(task=task, date=date, task_id=task_id)
        self.acquired = False
        self.holder: Optional[str] = None
        self._deferred: Optional[str] = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewer: Optional[threading.Thread] = None
        self.renewals = 0

    # -- keys ---------------------------------------------------------------------------------------
    @property
    def lock_key(self) -> str:
        return lock_key(self.task, self.date)

    @property
    def success_key(self) -> str:
        return success_key(self.task, self.date)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    # -- helpers for the work ------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        self.result.warnings.append(message)

    def error(self, message: str) -> None:
        self.result.errors.append(message)

    def defer(self, reason: str) -> None:
        """End the block without marking success: the next run does the rest."""
        self._deferred = reason

    def check(self) -> None:
        if self.lost:
            raise TaskError(
                TaskStatus.FAILED.value,
                f"lost the lock {self.lock_key}: another run may hold it; stopping without marking success",
            )

    # -- claim -------------------------------------------------------------------------------------
    def claim(self) -> bool:
        guard = self.guard
        ttl_ms = max(1, int(guard.lock_ttl_seconds * 1000))
        outcome, holder = guard._script(
            scripts.CLAIM,
            [self.lock_key, self.success_key],
            [self.task_id, ttl_ms, "1" if self.check_success else "0", *self.predecessors],
        )
        if outcome in ("acquired", "reacquired", "taken_over"):
            self.acquired = True
            self.result.status = TaskStatus.PENDING.value
            if outcome == "reacquired":
                log.info("%s already held our token %s (a retried claim): acquired", self.lock_key, self.task_id)
            if outcome == "taken_over":
                self.warn(f"took over {self.lock_key} from {holder}, the run this one re-executes")
            return True
        self.result.status = TaskStatus.SKIPPED.value
        self.result.reason = SkipReason(outcome).value
        self.holder = holder or None
        return False

    def __enter__(self) -> "GuardedDay":
        if self.claim():
            self._start_renewer()
        return self

    # -- renewal -----------------------------------------------------------------------------------
    def _start_renewer(self) -> None:
        self._renewer = threading.Thread(
            target=self._renew_loop, name=f"renew-{self.lock_key}", daemon=True
        )
        self._renewer.start()

    def _renew_loop(self) -> None:
        guard = self.guard
        ttl_ms = max(1, int(guard.lock_ttl_seconds * 1000))
        last_ok = time.monotonic()
        while not self._stop.wait(guard.renew_interval):
            try:
                renewed = guard._script(scripts.RENEW, [self.lock_key], [self.task_id, ttl_ms])
            except Exception as error:  # keep trying until the TTL would have run out
                if time.monotonic() - last_ok >= guard.lock_ttl_seconds:
                    log.warning("could not renew %s for a whole TTL: %s", self.lock_key, type(error).__name__)
                    self._lost.set()
                    return
                continue
            if renewed != 1:
                log.warning("lock %s is no longer ours: stopping renewal", self.lock_key)
                self._lost.set()
                return
            self.renewals += 1
            last_ok = time.monotonic()

    def _stop_renewer(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.guard.redis.socket_timeout_seconds * 4)

    # -- exit --------------------------------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.acquired:
            return False
        self._stop_renewer()
        if exc is not None:
            return self._end_with_exception(exc)
        if self._deferred is not None:
            self._release()
            self.result.status = TaskStatus.PENDING.value
            self.result.reason = self._deferred
            return False
        self._complete()
        return False

    def _end_with_exception(self, exc: BaseException) -> bool:
        self._release_quietly()
        if isinstance(exc, TaskSkipped):
            self.result.status = TaskStatus.SKIPPED.value
            self.result.reason = exc.reason
            self.warn(exc.message)
            return True  # a skip is an outcome, not an error
        self.result.status = TaskStatus.FAILED.value
        message = exc.message if isinstance(exc, TaskError) else f"{type(exc).__name__}: {exc}"
        self.error(self.guard.redis.redact(message))
        return False

    def _complete(self) -> None:
        """Mark the day done if the lock is still ours.

        The first attempt goes out once, without the client's retries. Only when its answer was lost
        (connection error) may a retry find "lock gone, day marked" and take it as our own completion;
        found on a first attempt, that state means our lock expired and another run finished the day.
        """
        from ..redis_connection import RedisUnavailable

        keys = [self.lock_key, self.success_key]
        args = [self.task_id, int(self.guard.success_ttl_seconds), SUCCESS_VALUE]
        retried = False
        try:
            outcome, holder = self.guard._script(scripts.COMPLETE, keys, args, retries=0)
        except RedisUnavailable:
            retried = True
            outcome, holder = self.guard._script(scripts.COMPLETE, keys, args)
        if outcome == "completed" or (outcome == "already_completed" and retried and not self.lost):
            self.result.status = TaskStatus.SUCCESS.value
            return
        self.result.status = TaskStatus.FAILED.value
        who = f"now held by {holder}" if holder else "expired"
        message = f"lost the lock {self.lock_key} before completing ({who}): the day is not marked successful"
        self.error(message)
        raise TaskError(TaskStatus.FAILED.value, message)

    def _release(self) -> None:
        self.guard._script(scripts.RELEASE, [self.lock_key], [self.task_id])

    def _release_quietly(self) -> None:
        """Release after a failure; if Redis is gone too, the lock simply expires."""
        try:
            self._release()
        except Exception as error:  # noqa: BLE001 - the original failure matters more
            log.warning("could not release %s: %s", self.lock_key, self.guard.redis.redact(str(error)))
