"""Deadlines: the freshness policies the UI shows, and the alerts of ``deadline_alerts`` at fixed times.

The sensor and the chain schedule are evaluated through Dagster's own evaluation functions
(``evaluate_tick`` on ``build_sensor_context`` / ``build_schedule_context``) with a real instance,
the private redis-server (or a dead port for an outage) and a loopback webhook.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines.guard import (
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TASK_OPIK_EXPERIMENT,
    TaskGuard,
)
from ocapistaine_pipelines.guard.contract import lock_key, success_key
from ocapistaine_pipelines.orchestration import deadlines, schedules, sensors
from ocapistaine_pipelines.orchestration.deadlines import (
    DEADLINES_ENV,
    REDIS_SKIP_TICKS_ENV,
    deadline_alerts,
    latest_passed,
    parse_deadline,
    task_deadlines,
)
from ocapistaine_pipelines.orchestration.jobs import task_jobs
from ocapistaine_pipelines.redis_connection import RedisResource
from ocapistaine_pipelines.resources import build_resources
from ocapistaine_pipelines_tests.services import free_port

from ..budget import examples
from .standin_assets import ASSETS
from .webhook import SECRET_PATH, Webhook

PARIS = ZoneInfo("Europe/Paris")
DAY = "2026-11-29"
_REPOSITORY = dg.Definitions(
    assets=ASSETS,
    jobs=task_jobs(),
    schedules=schedules.task_schedules(),
    resources=build_resources({"REDIS_URL": "redis://127.0.0.1:9"}),
).get_repository_def()


def paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(sensors, "ALERT_BACKOFF_SECONDS", 0.01)
    monkeypatch.delenv(DEADLINES_ENV, raising=False)
    monkeypatch.delenv(REDIS_SKIP_TICKS_ENV, raising=False)


@pytest.fixture
def webhook(monkeypatch):
    server = Webhook()
    monkeypatch.setenv(sensors.ALERT_WEBHOOK_ENV, server.url)
    yield server
    server.close()


@pytest.fixture
def dead_guard() -> TaskGuard:
    """A guard whose Redis does not answer (nothing listens on the port)."""
    return TaskGuard(redis=RedisResource(url=f"redis://:hunter2@127.0.0.1:{free_port()}", retries=0))


class Sensor:
    """Evaluates ``deadline_alerts`` as the daemon does: one tick at a given time, the cursor carried over."""

    def __init__(self, instance, guard, monkeypatch):
        self.instance, self.guard, self.monkeypatch = instance, guard, monkeypatch
        self.cursor = None

    def tick(self, when: dt.datetime, guard=None):
        self.monkeypatch.setattr(deadlines, "current_time", lambda: when)
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"guard": guard or self.guard}
        ) as context:
            data = deadline_alerts.evaluate_tick(context)
        self.cursor = data.cursor
        return data


@pytest.fixture
def sensor(instance, guard, monkeypatch):
    return Sensor(instance, guard, monkeypatch)


def chain_tick(instance, when: dt.datetime, guard):
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"guard": guard},
        repository_def=_REPOSITORY,
    ) as context:
        return schedules.orchestrate_task_chain.evaluate_tick(context)


def complete(scheduler_db, task: str, day: str = DAY):
    scheduler_db.set(success_key(task, day.replace("-", "")), "completed", ex=86400)


# -- configuration ----------------------------------------------------------------------------------


def test_default_deadlines_are_the_issue_s_and_keyed_by_task():
    assert task_deadlines({}) == {
        TASK_CONTRIBUTIONS_ANALYSIS: dt.time(23, 0),
        TASK_FIRECRAWL: dt.time(6, 0),
        TASK_OPIK_EXPERIMENT: dt.time(8, 0),
    }


def test_deadlines_are_configurable_and_can_be_turned_off():
    env = {DEADLINES_ENV: " task_firecrawl=07:30 , task_opik_experiment=off"}
    assert task_deadlines(env) == {
        TASK_CONTRIBUTIONS_ANALYSIS: dt.time(23, 0),
        TASK_FIRECRAWL: dt.time(7, 30),
        TASK_OPIK_EXPERIMENT: None,
    }


@pytest.mark.parametrize(
    "value, message",
    [
        ("task_unknown=06:00", "task=HH:MM"),
        ("task_firecrawl", "task=HH:MM"),
        ("task_firecrawl=25:00", "HH:MM or off"),
        ("task_firecrawl=6h", "HH:MM or off"),
        ("task_firecrawl=00:00", "after 00:00"),
    ],
)
def test_a_bad_deadline_is_a_clear_error_at_load(value, message):
    with pytest.raises(ValueError, match=message):
        task_deadlines({DEADLINES_ENV: value})


@given(st.text(max_size=12))
@settings(max_examples=examples(300), deadline=None)
def test_any_deadline_text_parses_or_raises_a_value_error(text):
    try:
        parsed = parse_deadline(TASK_FIRECRAWL, text)
    except ValueError as error:
        assert DEADLINES_ENV in str(error)
    else:
        assert parsed is None or dt.time(0, 1) <= parsed <= dt.time(23, 59)


@given(
    st.datetimes(
        min_value=dt.datetime(2026, 1, 2),
        max_value=dt.datetime(2030, 12, 31),
        timezones=st.just(dt.UTC),
    ),
    st.times(min_value=dt.time(0, 1), max_value=dt.time(23, 59)).map(
        lambda t: t.replace(second=0, microsecond=0)
    ),
)
@settings(max_examples=examples(400), deadline=None)
def test_the_latest_passed_deadline_is_the_day_s_own_paris_time_within_a_day(now, deadline):
    """Whatever the instant (daylight-saving days included), the deadline considered is the last one
    that passed: on the Paris calendar day it names, at the deadline's wall-clock time, at most a day ago
    (25 h on the fall-back day)."""
    day, moment = latest_passed(deadline, now)
    assert moment <= now < moment + dt.timedelta(hours=25)
    local = moment.astimezone(PARIS)
    assert local.date().isoformat() == day
    # a wall-clock time skipped by spring forward (02:xx on the last Sunday of March) moves an hour on
    assert local.time() == deadline or (local.hour, local.minute) == (deadline.hour + 1, deadline.minute)


# -- the view in the UI: Dagster's freshness policies ---------------------------------------------------


def test_each_task_s_last_asset_carries_a_cron_freshness_policy_of_its_deadline(monkeypatch):
    from ocapistaine_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    policies = {
        key: graph.get(dg.AssetKey(key)).freshness_policy
        for key in ("contributions", "contributions_analysis", "crawled_documents", "opik_experiment")
    }
    assert policies["contributions"] is None
    expected = {
        "contributions_analysis": ("0 23 * * *", 23),
        "crawled_documents": ("0 6 * * *", 6),
        "opik_experiment": ("0 8 * * *", 8),
    }
    for key, (cron, hours) in expected.items():
        policy = policies[key]
        assert isinstance(policy, dg.FreshnessPolicy)
        assert (policy.deadline_cron, policy.timezone) == (cron, "Europe/Paris")
        assert policy.lower_bound_delta == dt.timedelta(hours=hours)  # since midnight
    # the asset keeps everything else (the runner's retry policy, its checks)
    assert defs.get_assets_def("contributions_analysis").op.name == "contributions_analysis"


def test_a_deadline_turned_off_leaves_the_asset_without_policy():
    from ocapistaine_pipelines.definitions import _asset_modules

    assets = deadlines.with_deadlines(
        dg.load_assets_from_modules(_asset_modules),
        {DEADLINES_ENV: "task_firecrawl=off,task_opik_experiment=07:15"},
    )
    policies = {
        key.to_user_string(): spec.freshness_policy for a in assets for key, spec in a.specs_by_key.items()
    }
    assert policies["crawled_documents"] is None
    assert policies["opik_experiment"].deadline_cron == "15 7 * * *"
    assert policies["contributions_analysis"].deadline_cron == "0 23 * * *"


# -- deadline alerts ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_alert_before_a_deadline_and_one_alert_after_it_once_per_task_and_day(
    sensor, scheduler_db, webhook, monkeypatch
):
    complete(scheduler_db, TASK_FIRECRAWL)
    complete(scheduler_db, TASK_OPIK_EXPERIMENT)
    complete(scheduler_db, TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-28")
    data = sensor.tick(paris(2026, 11, 29, 22, 59))
    assert webhook.received == [] and "nothing new to alert (0" in data.skip_message

    sensor.tick(paris(2026, 11, 29, 23, 0, 30))
    [payload] = webhook.received
    assert webhook.paths == [SECRET_PATH]
    assert payload["kind"] == "deadline_missed"
    assert (payload["task"], payload["date"]) == (TASK_CONTRIBUTIONS_ANALYSIS, DAY)
    assert payload["deadline"] == "2026-11-29T23:00:00+01:00"
    assert payload["lock_holder"] is None and payload["runs_in_flight"] == []

    for minute in range(1, 59, 7):  # every later tick of the day, and after midnight: nothing new
        sensor.tick(paris(2026, 11, 29, 23, minute))
    sensor.tick(paris(2026, 11, 30, 0, 30))
    complete(scheduler_db, TASK_FIRECRAWL, "2026-11-30")
    complete(scheduler_db, TASK_OPIK_EXPERIMENT, "2026-11-30")
    sensor.tick(paris(2026, 11, 30, 12, 0))
    assert len(webhook.received) == 1

    sensor.tick(paris(2026, 11, 30, 23, 5))  # the next day misses it too: its own alert
    assert [(p["task"], p["date"]) for p in webhook.received[1:]] == [
        (TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-30")
    ]


def test_a_day_done_in_time_is_not_alerted(sensor, scheduler_db, webhook):
    for task in (TASK_FIRECRAWL, TASK_OPIK_EXPERIMENT, TASK_CONTRIBUTIONS_ANALYSIS):
        complete(scheduler_db, task)
    sensor.tick(paris(2026, 11, 29, 23, 30))
    assert webhook.received == []


def test_each_task_has_its_own_deadline(sensor, scheduler_db, webhook):
    complete(scheduler_db, TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-28")
    complete(scheduler_db, TASK_OPIK_EXPERIMENT, "2026-11-28")
    complete(scheduler_db, TASK_FIRECRAWL, "2026-11-28")
    sensor.tick(paris(2026, 11, 29, 5, 59))
    assert webhook.received == []
    sensor.tick(paris(2026, 11, 29, 6, 0))
    assert [(p["task"], p["date"]) for p in webhook.received] == [(TASK_FIRECRAWL, DAY)]
    complete(scheduler_db, TASK_OPIK_EXPERIMENT)
    sensor.tick(paris(2026, 11, 29, 8, 1))
    assert len(webhook.received) == 1  # evaluation done by 08:00: no alert


def test_a_lock_held_by_a_dead_holder_past_the_deadline_is_alerted_with_its_holder(
    sensor, scheduler_db, webhook
):
    complete(scheduler_db, TASK_FIRECRAWL)
    complete(scheduler_db, TASK_OPIK_EXPERIMENT)
    scheduler_db.set(lock_key(TASK_CONTRIBUTIONS_ANALYSIS, "20261129"), "dead-run-id", ex=300)
    sensor.tick(paris(2026, 11, 29, 23, 1))
    [payload] = webhook.received
    assert payload["lock_holder"] == "dead-run-id"


def test_a_deadline_turned_off_is_not_alerted(sensor, scheduler_db, webhook, monkeypatch):
    monkeypatch.setenv(DEADLINES_ENV, "task_firecrawl=off,task_opik_experiment=off")
    complete(scheduler_db, TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-28")
    sensor.tick(paris(2026, 11, 29, 12, 0))
    assert webhook.received == []


def test_days_before_the_first_partition_are_never_alerted(sensor, webhook):
    sensor.tick(paris(2026, 1, 1, 5, 0))  # latest passed deadlines: 2025-12-31 for all three
    assert webhook.received == []


@pytest.mark.slow
def test_with_redis_down_the_deadline_is_alerted_with_the_cause_and_no_password(
    sensor, dead_guard, instance, webhook, base_resources
):
    # crawl and evaluation of the day materialized in Dagster: they count as done while Redis is down
    from .standin_assets import crawled_documents, opik_experiment

    for asset in (crawled_documents, opik_experiment):
        assert dg.materialize([asset], instance=instance, partition_key=DAY, resources=base_resources).success
    sensor.tick(paris(2026, 11, 29, 23, 1), guard=dead_guard)
    [payload] = webhook.received
    assert payload["task"] == TASK_CONTRIBUTIONS_ANALYSIS
    assert payload["materialized_in_dagster"] is False
    assert "127.0.0.1" in payload["redis_error"] and "hunter2" not in json.dumps(payload)


def test_without_a_webhook_the_alert_is_logged_once(sensor, scheduler_db, monkeypatch, caplog):
    monkeypatch.delenv(sensors.ALERT_WEBHOOK_ENV, raising=False)
    complete(scheduler_db, TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-28")
    first = sensor.tick(paris(2026, 11, 29, 8, 30))
    assert "deadline:task_firecrawl:2026-11-29" in first.skip_message
    assert "deadline:task_opik_experiment:2026-11-29" in first.skip_message
    again = sensor.tick(paris(2026, 11, 29, 8, 31))
    assert again.skip_message == "nothing new to alert (2 alert(s) of the last days already sent)"


def test_a_failing_webhook_is_tried_on_later_ticks_then_dropped(sensor, scheduler_db, monkeypatch):
    server = Webhook(statuses=(500,))
    monkeypatch.setenv(sensors.ALERT_WEBHOOK_ENV, server.url)
    try:
        complete(scheduler_db, TASK_FIRECRAWL)
        complete(scheduler_db, TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-28")
        for minute in range(deadlines.ALERT_MAX_TRIES + 3):
            data = sensor.tick(paris(2026, 11, 29, 8, 1 + minute))
            assert "secret-token" not in (data.cursor or "") + (data.skip_message or "")
        attempts = len(server.received) // sensors.ALERT_ATTEMPTS
        assert attempts == deadlines.ALERT_MAX_TRIES  # one alert: 5 ticks of 3 attempts, then given up
        assert {p["task"] for p in server.received} == {TASK_OPIK_EXPERIMENT}
    finally:
        server.close()


def test_a_webhook_that_recovers_gets_the_alert_once(sensor, scheduler_db, monkeypatch):
    server = Webhook(statuses=(500, 500, 500, 200))
    monkeypatch.setenv(sensors.ALERT_WEBHOOK_ENV, server.url)
    try:
        complete(scheduler_db, TASK_FIRECRAWL)
        complete(scheduler_db, TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-28")
        for minute in range(4):
            sensor.tick(paris(2026, 11, 29, 8, 1 + minute))
        assert len(server.received) == 4  # 3 refused on the first tick, delivered on the second
    finally:
        server.close()


# -- the chain skipping for Redis ------------------------------------------------------------------


ALL_OFF = "task_firecrawl=off,task_opik_experiment=off,task_contributions_analysis=off"


def chain_times(start: dt.datetime, n: int) -> list[dt.datetime]:
    return [start + dt.timedelta(minutes=7 * i) for i in range(n)]


@pytest.mark.slow
def test_n_chain_ticks_skipped_for_redis_raise_one_alert_per_task_and_day(
    instance, sensor, scheduler_db, dead_guard, guard, webhook, monkeypatch
):
    monkeypatch.setenv(DEADLINES_ENV, ALL_OFF)  # the Redis alert alone
    ticks = chain_times(paris(2026, 11, 29, 10, 3), 6)
    for i, when in enumerate(ticks[:3]):
        data = chain_tick(instance, when, dead_guard)
        assert "cannot read the task markers" in data.skip_message and "hunter2" not in data.skip_message
        chain_tick(instance, when, dead_guard)  # the daemon evaluating the same tick again: counted once
        sensor.tick(when + dt.timedelta(seconds=30), guard=dead_guard)
        assert len(webhook.received) == (1 if i == 2 else 0), i
    [payload] = webhook.received
    assert payload["kind"] == "redis_unreachable"
    assert (payload["task"], payload["date"], payload["ticks_skipped"]) == (
        TASK_CONTRIBUTIONS_ANALYSIS,
        DAY,
        3,
    )
    assert payload["since"] == ticks[0].astimezone(dt.UTC).isoformat()
    assert "(3 tick(s) in a row)" in chain_tick(instance, ticks[2], dead_guard).skip_message

    for when in ticks[3:]:  # the outage goes on: no second alert that day
        chain_tick(instance, when, dead_guard)
        sensor.tick(when + dt.timedelta(seconds=30), guard=dead_guard)
    assert len(webhook.received) == 1


def test_a_tick_that_reads_redis_ends_the_streak(
    instance, sensor, scheduler_db, dead_guard, guard, webhook, monkeypatch
):
    monkeypatch.setenv(DEADLINES_ENV, ALL_OFF)  # the Redis alert alone
    complete(scheduler_db, TASK_CONTRIBUTIONS_ANALYSIS, "2026-11-28")
    complete(scheduler_db, TASK_CONTRIBUTIONS_ANALYSIS)  # nothing to request once Redis answers
    ticks = chain_times(paris(2026, 11, 29, 10, 3), 5)
    for when, g in zip(ticks, (dead_guard, dead_guard, guard, dead_guard, dead_guard)):
        chain_tick(instance, when, g)
        sensor.tick(when + dt.timedelta(seconds=30), guard=g)
    assert webhook.received == []  # never 3 in a row
    assert deadlines.read_redis_streak(instance)["count"] == 2


def test_the_skip_threshold_is_configurable(instance, sensor, scheduler_db, dead_guard, webhook, monkeypatch):
    monkeypatch.setenv(REDIS_SKIP_TICKS_ENV, "1")
    monkeypatch.setenv(DEADLINES_ENV, ALL_OFF)  # the Redis alert alone
    when = paris(2026, 11, 29, 10, 3)
    chain_tick(instance, when, dead_guard)
    sensor.tick(when + dt.timedelta(seconds=30), guard=dead_guard)
    assert [p["kind"] for p in webhook.received] == ["redis_unreachable"]


# -- Dagster's freshness daemon on the real code location -------------------------------------------


@pytest.mark.slow
def test_dagster_s_freshness_daemon_marks_a_task_failing_after_its_deadline_and_passing_before():
    """The state the UI shows (asset health → freshness), computed by Dagster's own daemon loop on the
    real code location at fixed times around the analysis deadline."""
    import asyncio
    from pathlib import Path

    from dagster._core.definitions.freshness import FreshnessState
    from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.freshness import FreshnessDaemon

    key = dg.AssetKey("contributions_analysis")
    target = ModuleTarget(
        module_name="ocapistaine_pipelines.definitions",
        attribute=None,
        location_name="ocapistaine_pipelines",
        working_directory=str(Path(__file__).resolve().parents[2]),
    )
    with (
        dg.instance_for_test() as instance,
        create_test_daemon_workspace_context(target, instance) as workspace,
    ):
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=DAY))
        stamp = instance.get_latest_materialization_event(key).timestamp
        day = dt.datetime.fromtimestamp(stamp, PARIS).date()

        def state_at(when: dt.datetime) -> FreshnessState:
            with freeze_time(when):
                # the daemon's loop body
                asyncio.run(FreshnessDaemon()._evaluate_assets(workspace))  # noqa: SLF001
            return instance.get_freshness_state_records([key])[key].freshness_state

        next_day = day + dt.timedelta(days=1)
        assert state_at(dt.datetime.combine(next_day, dt.time(22, 59), PARIS)) == FreshnessState.PASS
        assert state_at(dt.datetime.combine(next_day, dt.time(23, 1), PARIS)) == FreshnessState.FAIL
        # an asset without a deadline is "not applicable", never failing
        records = instance.get_freshness_state_records([dg.AssetKey("contributions")])
        assert records[dg.AssetKey("contributions")].freshness_state == FreshnessState.NOT_APPLICABLE
