"""The evaluation with the LLM validator stops within seconds of a lost lock, as the analysis does: the
guard's stop hook reaches the validator (no new request goes out) and the day fails as a lost lock,
not as a validator failure; nothing is recorded."""

from __future__ import annotations

import threading
import time

import dagster as dg
import pytest

from ocapistaine_pipelines.evaluation import assets as E
from ocapistaine_pipelines.evaluation.resources import EvaluationSettings, OpikResource
from ocapistaine_pipelines.guard import TaskGuard
from ocapistaine_pipelines.redis_connection import RedisResource

from ..contributions.conftest import llm_resource
from ..contributions.servers import FakeLLM
from ..dagster_instances import ephemeral
from .conftest import small_export

DAY = "2026-03-02"


@pytest.fixture
def slow_llm():
    server = FakeLLM()
    yield server
    server.stop()


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

    sent_at: list[float] = []
    original = slow_llm.handle

    def timed(*args):
        sent_at.append(time.monotonic())
        time.sleep(0.4)
        return original(*args)

    slow_llm.handle = timed
    loss: dict = {}

    def restart_after_four_requests():
        deadline = time.monotonic() + 120  # litellm's import may take long on a busy machine
        while len(sent_at) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        private_redis.restart()  # every key gone: another run may claim the day now
        loss.update(at=time.monotonic(), sent=len(sent_at))

    fault = threading.Thread(target=restart_after_four_requests)
    fault.start()
    result = dg.materialize(
        [E.opik_experiment],
        partition_key=DAY,
        resources=resources,
        raise_on_error=False,
        instance=ephemeral(),
    )
    fault.join()

    assert loss["sent"] >= 4, "the LLM was never asked: the test did not reach the fault"
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    description = failure.event_specific_data.user_failure_data.description
    assert "lost the lock" in description and "validator" not in description.split("lost the lock")[0]
    after = [t - loss["at"] for t in sent_at if t > loss["at"]]
    print(
        f"{len(sent_at)} requests, {len(sent_at) - loss['sent']} after the loss, last "
        f"{max(after, default=0):.1f} s after"
    )
    # 20 labelled items; the heartbeat (2 s) notices the loss; the 2 in flight finish
    assert len(sent_at) - loss["sent"] <= 10, f"{len(sent_at) - loss['sent']} requests sent after the loss"
    assert not after or max(after) < guard.renew_interval + 1.5
    assert private_redis.client(5).keys("*") == []  # no experiment:latest
    assert private_redis.client(6).keys("*") == []  # no success marker, no lock left
