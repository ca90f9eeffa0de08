"""Deadlines: every task's day must be done by a time of that day (Europe/Paris), or someone is told.

The failure sensor sees failed runs only. When nothing runs at all (Redis down so every chain tick
skips, a lock held for hours by a dead holder, a success key that never appears, schedules turned
off) no run fails and nobody would know. So each task has a deadline:

- in the Dagster UI, a ``FreshnessPolicy.cron`` on the task's last asset (Dagster's own freshness
  API, evaluated by the daemon's freshness loop): the asset turns "failing" when it was not
  materialized between midnight and the deadline. It sees the asset's latest materialization of
  *any* day (a backfill or the 06:00 day close of yesterday counts), so it is a view, not the alarm;
- the alarm is ``deadline_alerts``: a sensor that reads the day's success key (the legacy contract)
  once the deadline has passed, and POSTs to ``OCAPISTAINE_ALERT_WEBHOOK`` once per task and day.
  It also alerts when the chain has skipped ``OCAPISTAINE_REDIS_SKIP_TICKS`` ticks in a row because
  Redis could not be read (the chain records its streak in the Dagster instance, which stays up).

Each task declares its deadline (``deadline`` in tasks.py); ``OCAPISTAINE_DEADLINES`` overrides it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

from ..guard import TaskGuard
from ..partitions import FIRST_DAY, PARIS, TIMEZONE
from ..settings import env_number
from .chain import IN_FLIGHT_STATUSES, TASKS, asset_keys, runs_of_task

DEADLINES_ENV = "OCAPISTAINE_DEADLINES"
REDIS_SKIP_TICKS_ENV = "OCAPISTAINE_REDIS_SKIP_TICKS"
DEFAULT_REDIS_SKIP_TICKS = 3  # 3 chain ticks: 14 to 21 minutes of Redis outage
#: Key in the Dagster instance's key-value store: the chain's streak of ticks skipped for Redis.
REDIS_STREAK_KEY = "ocapistaine/chain_redis_skips"
#: A webhook that keeps refusing an alert is tried on this many sensor ticks, then the alert is dropped.
ALERT_MAX_TRIES = 5
#: Sent alerts are remembered (in the sensor's cursor) this many days, so each goes once.
REMEMBER_DAYS = 3
SENSOR_INTERVAL_SECONDS = 60


def parse_deadline(task_name: str, text: str) -> dt.time | None:
    """``HH:MM`` (00:01 to 23:59) or ``off``; a clear error otherwise."""
    text = text.strip().lower()
    if text in ("off", "none", "-"):
        return None
    try:
        moment = dt.datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise ValueError(
            f"{DEADLINES_ENV}: deadline of {task_name} must be HH:MM or off, got {text!r}"
        ) from None
    if moment == dt.time(0, 0):
        raise ValueError(f"{DEADLINES_ENV}: deadline of {task_name} must be after 00:00 (the day's own time)")
    return moment


def task_deadlines(environ: Mapping[str, str] | None = None) -> dict[str, dt.time | None]:
    """Each task's deadline: its declaration's (tasks.py), overridden by ``OCAPISTAINE_DEADLINES``
    (``task_firecrawl=07:30,task_opik_experiment=off``); ``None`` means no deadline."""
    env = os.environ if environ is None else environ
    texts = {name: f"{declared.deadline:%H:%M}" for name, declared in TASKS.items()}
    for part in (env.get(DEADLINES_ENV) or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in TASKS:
            raise ValueError(
                f"{DEADLINES_ENV}: expected task=HH:MM with a task among {', '.join(TASKS)}, "
                f"got {part.strip()!r}"
            )
        texts[name] = value
    return {name: parse_deadline(name, texts[name]) for name in TASKS if name in texts}


def redis_skip_ticks(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    return int(env_number(env, REDIS_SKIP_TICKS_ENV, DEFAULT_REDIS_SKIP_TICKS, integer=True, positive=True))


def deadline_moment(partition_key: str, deadline: dt.time) -> dt.datetime:
    """The deadline of one day, as an aware datetime (Europe/Paris: a daylight-saving day has its offset)."""
    return dt.datetime.combine(dt.date.fromisoformat(partition_key), deadline).replace(tzinfo=PARIS)


def latest_passed(deadline: dt.time, now: dt.datetime) -> tuple[str, dt.datetime]:
    """The day whose deadline passed last at ``now``: today once today's deadline is over, else yesterday."""
    today = now.astimezone(PARIS).date()
    for date in (today, today - dt.timedelta(days=1)):
        moment = deadline_moment(date.isoformat(), deadline)
        if moment <= now:
            return date.isoformat(), moment
    raise AssertionError("yesterday's deadline is always past")  # pragma: no cover


# -- the view in the UI: Dagster freshness policies ------------------------------------------------
def freshness_policy(deadline: dt.time) -> dg.FreshnessPolicy:
    """Materialized between midnight and the deadline of the day (Europe/Paris), else failing."""
    since_midnight = dt.timedelta(hours=deadline.hour, minutes=deadline.minute)
    return dg.FreshnessPolicy.cron(
        deadline_cron=f"{deadline.minute} {deadline.hour} * * *",
        lower_bound_delta=since_midnight,
        timezone=TIMEZONE,
    )


def with_deadlines(
    assets: list[dg.AssetsDefinition], environ: Mapping[str, str] | None = None
) -> list[dg.AssetsDefinition]:
    """The assets, with each task's last asset carrying the freshness policy of the task's deadline."""
    policies: dict[dg.AssetKey, dg.FreshnessPolicy] = {}
    for name, deadline in task_deadlines(environ).items():
        if deadline is not None:
            policies[asset_keys(TASKS[name])[-1]] = freshness_policy(deadline)

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        policy = policies.get(spec.key)
        return spec.replace_attributes(freshness_policy=policy) if policy else spec

    return [
        asset.map_asset_specs(apply)
        if isinstance(asset, dg.AssetsDefinition) and set(asset.keys) & set(policies)
        else asset
        for asset in assets
    ]


# -- the chain's streak of Redis skips (kept in the Dagster instance) ------------------------------
def read_redis_streak(instance: dg.DagsterInstance) -> dict[str, Any]:
    raw = instance.run_storage.get_cursor_values({REDIS_STREAK_KEY}).get(REDIS_STREAK_KEY)
    try:
        streak = json.loads(raw) if raw else {}
    except ValueError:
        streak = {}
    return streak if isinstance(streak, dict) else {}


def record_chain_tick(
    instance: dg.DagsterInstance, scheduled: dt.datetime, partition_key: str, redis_error: str | None
) -> dict[str, Any]:
    """Count a chain tick that could not read Redis (``redis_error``), or end the streak.

    A tick the daemon evaluates again (same scheduled time) is not counted twice. Written only when
    something changes, so a healthy chain costs one read of the instance per tick.
    """
    streak = read_redis_streak(instance)
    if redis_error is None:
        if streak.get("count"):
            instance.run_storage.set_cursor_values({REDIS_STREAK_KEY: json.dumps({"count": 0})})
        return {"count": 0}
    stamp = scheduled.astimezone(dt.UTC).isoformat()
    if streak.get("last_tick") == stamp:
        return streak
    count = int(streak.get("count") or 0) + 1
    streak = {
        "count": count,
        "since": streak.get("since") if count > 1 else stamp,
        "last_tick": stamp,
        "day": partition_key,
        "error": redis_error,
    }
    instance.run_storage.set_cursor_values({REDIS_STREAK_KEY: json.dumps(streak)})
    return streak


# -- the alarm: one sensor, one alert per task and day -----------------------------------------------
def current_time() -> dt.datetime:
    """The sensor's clock (one place, so tests evaluate the real sensor at a fixed time)."""
    return dt.datetime.now(dt.UTC)


def _day_done(
    context: dg.SensorEvaluationContext, guard: TaskGuard, name: str, partition_key: str
) -> tuple[bool, dict]:
    """Whether the task's day succeeded: its success key; when Redis cannot be read, a Dagster
    materialization of the day's partition of the task's last asset stands in."""
    try:
        row = next(row for row in guard.history(partition_key) if row["task"] == name)
    except Exception as error:  # noqa: BLE001 - Redis down is exactly when this alert matters
        cause = guard.redis.redact(f"{type(error).__name__}: {error}")
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_keys(TASKS[name])[-1], asset_partitions=[partition_key]),
            limit=1,
        ).records
        return bool(records), {"redis_error": cause, "materialized_in_dagster": bool(records)}
    return row["completed"], {"lock_holder": row["lock_holder"]}


def _payload_base(kind: str, name: str, partition_key: str) -> dict[str, Any]:
    return {"kind": kind, "task": name, "date": partition_key}


def due_alerts(
    context: dg.SensorEvaluationContext,
    guard: TaskGuard,
    now: dt.datetime,
    sent: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The alerts to send now, by key (``deadline:{task}:{YYYY-MM-DD}``, ``redis:{task}:{YYYY-MM-DD}``)."""
    alerts: dict[str, dict[str, Any]] = {}
    for name, deadline in task_deadlines(environ).items():
        if deadline is None:
            continue
        partition_key, moment = latest_passed(deadline, now)
        key = f"deadline:{name}:{partition_key}"
        if partition_key < FIRST_DAY or key in sent:
            continue
        done, details = _day_done(context, guard, name, partition_key)
        if done:
            continue
        in_flight = runs_of_task(context.instance, TASKS[name], partition_key, IN_FLIGHT_STATUSES)
        late = int((now - moment).total_seconds() // 60)
        alerts[key] = {
            **_payload_base("deadline_missed", name, partition_key),
            "deadline": moment.isoformat(),
            "minutes_late": late,
            "error": f"{name} {partition_key} not done at its deadline {deadline:%H:%M} Europe/Paris "
            "(success key missing)",
            "runs_in_flight": [f"{run.run_id} ({run.status.value.lower()})" for run in in_flight[:5]],
            **details,
        }

    streak = read_redis_streak(context.instance)
    threshold = redis_skip_ticks(environ)
    if int(streak.get("count") or 0) >= threshold:
        partition_key = str(streak.get("day"))
        for chain_task in (declared for declared in TASKS.values() if declared.in_chain):
            key = f"redis:{chain_task.name}:{partition_key}"
            if key not in sent:
                alerts[key] = {
                    **_payload_base("redis_unreachable", chain_task.name, partition_key),
                    "ticks_skipped": int(streak["count"]),
                    "since": streak.get("since"),
                    "error": f"the chain skipped {streak['count']} ticks in a row "
                    f"since {streak.get('since')}, "
                    f"{chain_task.name} {partition_key} is not requested: {streak.get('error')}",
                }
    return alerts


def evaluate_deadline_alerts(
    context: dg.SensorEvaluationContext, guard: TaskGuard, now: dt.datetime
) -> dg.SkipReason:
    """Send what is due, remember it in the cursor (sent, or dropped after ``ALERT_MAX_TRIES``)."""
    from .sensors import ALERT_WEBHOOK_ENV, DAGSTER_UI_URL_ENV, post_alert, webhook_host

    try:
        cursor = json.loads(context.cursor) if context.cursor else {}
    except ValueError:
        cursor = {}
    sent: dict[str, str] = dict(cursor.get("sent") or {})
    tries: dict[str, int] = dict(cursor.get("tries") or {})
    alerts = due_alerts(context, guard, now, sent)
    url = os.environ.get(ALERT_WEBHOOK_ENV, "").strip()
    base_url = os.environ.get(DAGSTER_UI_URL_ENV, "").strip()
    done: list[str] = []
    for key, payload in alerts.items():
        context.log.error(f"{payload['kind']}: {payload['error']}")
        if base_url:
            payload["dagster_url"] = f"{base_url.rstrip('/')}/assets/{TASKS[payload['task']].assets[-1]}"
        if url:
            try:
                post_alert(url, payload)
            except RuntimeError as error:
                tries[key] = tries.get(key, 0) + 1
                if tries[key] < ALERT_MAX_TRIES:
                    context.log.error(f"{error}; {key} is tried again at the next tick")
                    continue
                context.log.error(f"{error}; {key} dropped after {tries[key]} ticks")
            else:
                context.log.info(f"alert {key} sent to {webhook_host(url)}")
        sent[key] = now.isoformat()
        tries.pop(key, None)
        done.append(key)

    oldest = (now.astimezone(PARIS).date() - dt.timedelta(days=REMEMBER_DAYS)).isoformat()
    sent = {key: at for key, at in sent.items() if key.rsplit(":", 1)[-1] >= oldest}
    tries = {key: n for key, n in tries.items() if key.rsplit(":", 1)[-1] >= oldest}
    context.update_cursor(json.dumps({"sent": sent, "tries": tries}, sort_keys=True))
    if done:
        return dg.SkipReason(f"alerted: {', '.join(done)}")
    if alerts:
        return dg.SkipReason(f"alerts not delivered yet: {', '.join(alerts)}")
    return dg.SkipReason(f"nothing new to alert ({len(sent)} alert(s) of the last days already sent)")


@dg.sensor(
    name="deadline_alerts",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every minute: alerts (OCAPISTAINE_ALERT_WEBHOOK, else the log) once per task and day "
    "when a task is not done at its deadline (OCAPISTAINE_DEADLINES; default crawl 06:00, evaluation "
    "08:00, analysis 23:00 Europe/Paris), or when the chain skipped OCAPISTAINE_REDIS_SKIP_TICKS ticks "
    "in a row (default 3) for Redis.",
)
def deadline_alerts(context: dg.SensorEvaluationContext, guard: TaskGuard) -> dg.SkipReason:
    return evaluate_deadline_alerts(context, guard, current_time())
