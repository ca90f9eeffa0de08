"""The task guard: the legacy lock and success-key contract, without its race conditions.

One ``GuardedDay`` per task and day. Entering it claims the day in one atomic step (success key,
then lock, with our own token recognised); while the work runs a watchdog renews the lock; leaving
it completes the day in one atomic step (success key set, lock deleted only if still ours) or, on
failure, releases the lock only if it is still ours. A lock written by anyone else is never deleted.

Under faults the lock is a lease: the watchdog confirms it every few seconds (so a lock wiped by a
Redis restart or taken by another run is noticed within one heartbeat), retries a failed renewal
within a second, and declares the lock lost once ownership could not be confirmed for
``lost_after`` seconds, well before the TTL can run out under us. ``keep_going()`` / ``check()`` read
that lease clock directly, so the work sees the loss even while a renewal call hangs.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg

from .. import redis_scripts
from ..redis_connection import RedisResource
from .contract import (
    LOCK_TTL_SECONDS,
    SUCCESS_TTL_SECONDS,
    SUCCESS_VALUE,
    TASK_NAMES,
    SkipReason,
    TaskError,
    TaskResult,
    TaskStatus,
    completed_by_key,
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


class Predecessor(str, enum.Enum):
    """What the Dagster instance says about a run this one re-executes (see ``redis_scripts.CLAIM``)."""

    FAILED = "failed"  # failed or cancelled: an earlier attempt of this run; dead
    SUCCEEDED = "succeeded"  # finished: dead, but its completion is its own
    MAYBE_RUNNING = "maybe_running"  # started, queued, unknown: alive until it misses its renewals


class TaskGuard(dg.ConfigurableResource):
    """Per task and day: one run does the work, the others skip with the legacy reasons."""

    redis: RedisResource
    lock_ttl_seconds: float = LOCK_TTL_SECONDS
    success_ttl_seconds: int = SUCCESS_TTL_SECONDS
    #: Heartbeat: the lock's TTL is set again this often (default: 2 s, at most a sixth of the TTL).
    renew_every_seconds: float | None = None
    #: Ownership not confirmed for this long: the lock is declared lost (default: two thirds of the TTL).
    lost_after_seconds: float | None = None
    #: Time a holder that declared its loss has to stop, before a re-execution takes its lock over.
    takeover_grace_seconds: float = 10.0
    #: How long the completion is retried while Redis does not answer (it is idempotent).
    completion_patience_seconds: float = 60.0

    @property
    def renew_interval(self) -> float:
        return self.renew_every_seconds or min(2.0, self.lock_ttl_seconds / 6)

    @property
    def renew_retry_delay(self) -> float:
        """After a failed renewal: try again within a second."""
        return min(1.0, self.renew_interval)

    @property
    def lost_after(self) -> float:
        return min(self.lost_after_seconds or self.lock_ttl_seconds * 2 / 3, self.lock_ttl_seconds)

    @property
    def stale_lock_ms(self) -> int:
        """A maybe-running holder's lock with this much TTL left (or less) missed its renewals for
        ``lost_after`` + grace: the holder has declared the loss and stopped. -1: never."""
        left = self.lock_ttl_seconds - self.lost_after - self.takeover_grace_seconds
        return int(left * 1000) if left > 0 else -1

    def _scheduler(self):
        return self.redis.scheduler_client()

    def _call(self, fn, *args, **kwargs):
        """Run a Redis call; connection errors become a failure naming host, port and db."""
        with self.redis.failing_closed(self.redis.scheduler_db):
            return fn(*args, **kwargs)

    def _script(self, source: str, keys: list[str], args: list[Any], *, retries: int | None = None):
        """Run one of ``redis_scripts``' guard scripts on the scheduler db (``RedisResource.run_script``)."""
        return self.redis.run_script(self.redis.scheduler_db, source, keys=keys, args=args, retries=retries)

    # -- the contract, step by step -----------------------------------------------------------------
    def day(
        self,
        task_name: str,
        partition_key: str,
        task_id: str,
        *,
        skip_success_check: bool = False,
        force: bool = False,
        predecessors: Mapping[str, Predecessor | str] | tuple[str, ...] = (),
    ) -> GuardedDay:
        """``predecessors``: the runs this one re-executes, with what the instance says of them. Only
        a holder that is provably gone loses its lock: a failed, cancelled or finished run at once, a
        maybe-running one (a bare id means that) once it has missed its renewals. The completion of a
        failed predecessor (an earlier attempt) is recognised as this run's own. ``partition_key``:
        ``YYYY-MM-DD`` (a ``YYYYMMDD`` day key or a date is accepted too)."""
        if task_name not in TASK_NAMES:
            raise ValueError(f"unknown task {task_name!r}; expected one of {', '.join(TASK_NAMES)}")
        if not isinstance(predecessors, Mapping):
            predecessors = {run_id: Predecessor.MAYBE_RUNNING for run_id in predecessors}
        kinds = {
            run_id: Predecessor(kind) for run_id, kind in predecessors.items() if run_id and run_id != task_id
        }
        return GuardedDay(
            self,
            task_name,
            day_string(partition_key),
            task_id,
            check_success=not (skip_success_check or force),
            predecessors=kinds,
        )

    def server_warnings(self) -> list[str]:
        """Warnings about server settings that break the contract (eviction, no persistence)."""
        import redis

        client = self._scheduler()
        warnings: list[str] = []
        try:
            config = self._call(client.config_get, "maxmemory-policy", "save", "appendonly")
        except redis.ResponseError:  # hosted Redis often forbids CONFIG
            return [
                "could not read the server settings (CONFIG is disabled): check that maxmemory-policy is "
                "noeviction and that persistence (RDB save points or appendonly) is on"
            ]
        policy = config.get("maxmemory-policy")
        if policy and policy != "noeviction":
            warnings.append(
                f"maxmemory-policy is {policy}: success markers and locks have a TTL and may be evicted; "
                "set maxmemory-policy noeviction"
            )
        if "save" in config and not (config.get("save") or "").strip() and config.get("appendonly") == "no":
            warnings.append(
                'Redis has no persistence (save "" and appendonly no): a restart loses every lock and '
                "success marker, so finished days run again and running days get a second run; "
                "set appendonly yes or RDB save points"
            )
        return warnings

    def history(self, partition_key: str) -> list[dict[str, Any]]:
        """The legacy ``get_task_history(date)``: per task, completed, running, holder and TTLs."""
        client = self._scheduler()
        day_key = day_string(partition_key)
        pipe = client.pipeline(transaction=False)
        for task in TASK_NAMES:
            pipe.exists(success_key(task, day_key))
            pipe.get(lock_key(task, day_key))
            pipe.ttl(success_key(task, day_key))
            pipe.ttl(lock_key(task, day_key))
        values = self._call(pipe.execute)
        rows = []
        for i, task in enumerate(TASK_NAMES):
            done, holder, success_ttl, lock_ttl = values[4 * i : 4 * i + 4]
            rows.append(
                {
                    "task": task,
                    "date": day_key,
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

    Inside the block, the work asks ``keep_going()`` (or calls ``check()``, which raises) before each
    costly step, so it stops within seconds of a lost lock; ``defer()`` ends without marking the day
    successful (status ``pending``); ``warn()`` and ``error()`` add to the legacy result. Hand
    ``guarded.check`` (or ``guarded.keep_going``) to long work, not the guard itself.
    """

    def __init__(
        self,
        guard: TaskGuard,
        task: str,
        day_key: str,
        task_id: str,
        check_success: bool,
        predecessors: Mapping[str, Predecessor] | None = None,
    ):
        self.guard = guard
        self.predecessors: dict[str, Predecessor] = dict(predecessors or {})
        self.task = task
        self.day_key = day_key  # YYYYMMDD, as in the Redis keys
        self.task_id = task_id
        self.check_success = check_success
        self.result = TaskResult(task=task, date=day_key, task_id=task_id)
        self.acquired = False
        self.holder: str | None = None
        #: Set when the claim found the day completed by this run or an earlier attempt of it.
        self.completed_by: str | None = None
        self._deferred: str | None = None
        self._lost = threading.Event()
        self._lost_reason = ""
        self._state_lock = threading.Lock()
        self._valid_until: float | None = None  # monotonic: ownership confirmed until then
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        #: Heartbeat counters: what a test or a fault benchmark observes of the watchdog (not used by the
        #: guard's decisions, which read the lease clock).
        self.renewals = 0
        self.renew_failures = 0
        #: monotonic time at which the loss was declared (for measurements), None while the lock is ours.
        self.lost_at: float | None = None

    # -- keys ---------------------------------------------------------------------------------------
    @property
    def lock_key(self) -> str:
        return lock_key(self.task, self.day_key)

    @property
    def success_key(self) -> str:
        return success_key(self.task, self.day_key)

    @property
    def completed_by_key(self) -> str:
        return completed_by_key(self.task, self.day_key)

    @property
    def lost(self) -> bool:
        """The lock is (or may be) no longer ours: sticky once true."""
        until = self._valid_until
        if not self._lost.is_set() and until is not None and time.monotonic() >= until:
            self._declare_lost(
                f"ownership not confirmed for {self.guard.lost_after:.0f}s (Redis unreachable or frozen)"
            )
        return self._lost.is_set()

    def _declare_lost(self, reason: str) -> None:
        with self._state_lock:
            if self._lost.is_set():
                return
            self._lost_reason = reason
            self.lost_at = time.monotonic()
            self._lost.set()
        log.warning("lock %s declared lost: %s", self.lock_key, reason)

    def _confirmed(self, sent_at: float) -> None:
        """A claim or renewal sent at ``sent_at`` succeeded: the server set the TTL after that moment."""
        with self._state_lock:
            until = sent_at + self.guard.lost_after
            if self._valid_until is None or until > self._valid_until:
                self._valid_until = until

    # -- helpers for the work ------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        self.result.warnings.append(message)

    def error(self, message: str) -> None:
        self.result.errors.append(message)

    def defer(self, reason: str) -> None:
        """End the block without marking success: the next run does the rest."""
        self._deferred = reason

    def keep_going(self) -> bool:
        """The "should I go on" hook: False once the lock is lost (then stop; do not write results)."""
        return not self.lost

    def check(self) -> None:
        """Raise ``TaskError`` once the lock is lost: the same hook as ``keep_going``, for code that
        stops by exception (the LLM validator, the Firecrawl gateway)."""
        if self.lost:
            raise TaskError(
                TaskStatus.FAILED.value,
                f"lost the lock {self.lock_key} ({self._lost_reason}): another run may hold it; "
                "stopping without marking success",
            )

    # -- claim -------------------------------------------------------------------------------------
    def claim(self) -> bool:
        guard = self.guard
        ttl_ms = max(1, int(guard.lock_ttl_seconds * 1000))
        pairs = [part for run_id, kind in self.predecessors.items() for part in (kind.value, run_id)]
        sent_at = time.monotonic()
        outcome, holder = guard._script(
            redis_scripts.CLAIM,
            [self.lock_key, self.success_key, self.completed_by_key],
            [self.task_id, ttl_ms, "1" if self.check_success else "0", guard.stale_lock_ms, *pairs],
        )
        if outcome in ("acquired", "reacquired", "taken_over"):
            self.acquired = True
            self._confirmed(sent_at)
            self.result.status = TaskStatus.PENDING.value
            if outcome == "reacquired":
                log.info(
                    "%s already held our token %s (a retried claim): acquired", self.lock_key, self.task_id
                )
            if outcome == "taken_over":
                why = self.predecessors.get(holder)
                gone = "missed its renewals" if why == Predecessor.MAYBE_RUNNING else f"ended ({why.value})"
                self.warn(f"took over {self.lock_key} from {holder}, the run this one re-executes ({gone})")
            return True
        if outcome == "completed_by_us":
            self.completed_by = holder  # the caller reports it (or skips it if Dagster has it already)
            self.result.status = TaskStatus.SUCCESS.value
            return False
        self.result.status = TaskStatus.SKIPPED.value
        self.result.reason = SkipReason(outcome).value
        self.holder = holder or None
        return False

    def __enter__(self) -> GuardedDay:
        if self.claim():
            self._start_renewer()
        return self

    # -- renewal -----------------------------------------------------------------------------------
    def _start_renewer(self) -> None:
        self._renewer = threading.Thread(target=self._renew_loop, name=f"renew-{self.lock_key}", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        """Heartbeat; after a failure, retry within a second until the lease clock says lost."""
        guard = self.guard
        ttl_ms = max(1, int(guard.lock_ttl_seconds * 1000))
        delay, failing = guard.renew_interval, 0
        while not self._stop.wait(delay):
            if self.lost:
                return
            sent_at = time.monotonic()
            try:
                renewed = guard._script(
                    redis_scripts.RENEW, [self.lock_key], [self.task_id, ttl_ms], retries=0
                )
            except Exception as error:  # noqa: BLE001 - any failure: retry soon, the lease clock decides
                self.renew_failures += 1
                if self.renew_failures == 1 or self.renew_failures % 10 == 0:
                    log.warning(
                        "could not renew %s (%d failure(s)): %s",
                        self.lock_key,
                        self.renew_failures,
                        guard.redis.redact(str(error)),
                    )
                if self.lost:
                    return
                # the first retry at once (a pooled connection broken by a restart is replaced), then
                # one a second
                failing += 1
                delay = 0.0 if failing == 1 else guard.renew_retry_delay
                continue
            if renewed != 1:
                self._declare_lost("the lock is no longer ours (expired, deleted, or held by another run)")
                return
            self.renewals += 1
            self._confirmed(sent_at)
            delay, failing = guard.renew_interval, 0

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

        The completion is idempotent for our token (``completed_by``), so it is retried, one call at a
        time, for up to ``completion_patience_seconds`` while Redis does not answer: a short freeze at
        the end of a long job does not fail the run. A completion that landed while we could not hear
        it is recognised by the next attempt's claim (``completed_by_us``).
        """
        from ..redis_connection import RedisUnavailable

        keys = [self.lock_key, self.success_key, self.completed_by_key]
        args = [self.task_id, int(self.guard.success_ttl_seconds), SUCCESS_VALUE]
        give_up_at = time.monotonic() + self.guard.completion_patience_seconds
        while True:
            try:
                outcome, holder = self.guard._script(redis_scripts.COMPLETE, keys, args, retries=0)
                break
            except RedisUnavailable as error:
                if time.monotonic() >= give_up_at:
                    self.result.status = TaskStatus.FAILED.value
                    self.error(
                        f"could not complete {self.lock_key} for "
                        f"{self.guard.completion_patience_seconds:.0f}s: "
                        "the outcome is unknown; a retry of this run recognises a completion that landed"
                    )
                    raise error
                log.warning("completing %s: Redis did not answer; trying again", self.lock_key)
                time.sleep(min(1.0, max(0.05, self.guard.redis.socket_timeout_seconds / 3)))
        if outcome == "completed":
            self.result.status = TaskStatus.SUCCESS.value
            return
        self.result.status = TaskStatus.FAILED.value
        who = f"now held by {holder}" if holder else "expired"
        message = f"lost the lock {self.lock_key} before completing ({who}): the day is not marked successful"
        self.error(message)
        raise TaskError(TaskStatus.FAILED.value, message)

    def _release(self) -> None:
        self.guard._script(redis_scripts.RELEASE, [self.lock_key], [self.task_id])

    def _release_quietly(self) -> None:
        """Release after a failure; if Redis is gone too, the lock simply expires."""
        try:
            self._release()
        except Exception as error:  # noqa: BLE001 - the original failure matters more
            log.warning("could not release %s: %s", self.lock_key, self.guard.redis.redact(str(error)))
