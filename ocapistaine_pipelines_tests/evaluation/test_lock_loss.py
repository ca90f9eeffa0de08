"""The evaluation with the LLM validator stops within seconds of a lost lock, as the analysis does: the
guard's stop hook reaches the validator (no new request goes out) and the day fails as a lost lock,
not as a validator failure; nothing is recorded."""

from __future__ import annotations

import dagster as dg
import pytest

from ocapistaine_pipelines.evaluation import assets as E
from ocapistaine_pipelines.evaluation.resources import EvaluationSettings, OpikResource
from ocapistaine_pipelines.guard import TaskGuard
from ocapistaine_pipelines.redis_connection import RedisResource

from ..contributions.conftest import llm_resource
from ..contributions.servers import FakeLLM
from ..dagster_instances import ephemeral
from ..guard_helpers import RestartAfterRequests
from .conftest import small_export

DAY = "2026-03-02"


@pytest.fixture
def slow_llm():
    server = FakeLLM()
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("side_by_side", [False, True], ids=["active validator", "side by side"])
def test_a_lost_lock_stops_the_evaluation_requests_within_seconds(
    tmp_path, opik_env, data_dir, slow_llm, private_redis, side_by_side
):
    labelled = tmp_path / "labelled.json"
    labelled.write_text(__import__("json").dumps(small_export()), encoding="utf-8")
    redis = RedisResource(url=f"redis://127.0.0.1:{private_redis.port}")
    guard = TaskGuard(redis=redis)  # production settings: TTL 300 s, heartbeat 2 s
    llm = llm_resource(slow_llm, models="openai/primary", concurrency=2)
    if side_by_side:  # the rules validator is active, the LLM one runs beside it
        validator = llm_resource(slow_llm, models="openai/primary", concurrency=2, backend="rules")
        settings = EvaluationSettings(dataset_path=str(labelled), compare="llm")
    else:
        validator = llm
        settings = EvaluationSettings(dataset_path=str(labelled))
    resources = {
        "redis": redis,
        "guard": guard,
        "data_dir": data_dir,
        "validator": validator,
        "opik": OpikResource(),
        "evaluation_settings": settings,
    }

    with RestartAfterRequests(slow_llm, private_redis) as fault:
        result = dg.materialize(
            [E.opik_experiment],
            partition_key=DAY,
            resources=resources,
            raise_on_error=False,
            instance=ephemeral(),
        )

    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    description = failure.event_specific_data.user_failure_data.description
    assert "lost the lock" in description and "validator" not in description.split("lost the lock")[0]
    print(f"{fault.sent_after_loss} requests after the loss, the last {fault.last_after_loss:.1f} s after")
    # 20 labelled items; the heartbeat (2 s) notices the loss; the 2 in flight finish
    assert fault.sent_after_loss <= 10, f"{fault.sent_after_loss} requests sent after the loss"
    assert fault.last_after_loss < guard.renew_interval + 1.5
    assert private_redis.client(5).keys("*") == []  # no experiment:latest
    assert private_redis.client(6).keys("*") == []  # no success marker, no lock left
