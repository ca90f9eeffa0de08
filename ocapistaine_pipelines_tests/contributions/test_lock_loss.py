"""The LLM path stops within seconds of a lost lock (Redis restarted without persistence mid-validation):
no new request goes out, and nothing the in-flight answers produced is written."""

from __future__ import annotations

import threading
import time

import dagster as dg

from ocapistaine_pipelines.contributions import assets as A
from ocapistaine_pipelines.guard import TaskGuard
from ocapistaine_pipelines.redis_connection import RedisResource

from ..dagster_instances import ephemeral
from .conftest import llm_resource
from .test_assets import DAY, export


def test_a_lost_lock_stops_the_llm_requests_within_seconds(
    tmp_path, domain_resources, data_dir, fake_llm, private_redis
):
    texts = [
        "La plage de Trescadec est sale après le week-end",
        "Le port manque de pontons pour les visiteurs",
    ]
    path = export(
        tmp_path,
        [
            {
                "id": f"c{i}",
                "constat_factuel": f"{texts[i % 2]} (n°{i}).",
                "idees_ameliorations": "Agir vite.",
            }
            for i in range(40)
        ],
    )
    redis = RedisResource(url=f"redis://127.0.0.1:{private_redis.port}")
    guard = TaskGuard(redis=redis)  # production settings: TTL 300 s, heartbeat 2 s
    validator = llm_resource(fake_llm, models="openai/primary", concurrency=2)
    resources = {**domain_resources(str(path), validator=validator), "redis": redis, "guard": guard}
    assert dg.materialize(
        [A.contributions], partition_key=DAY, resources=resources, instance=ephemeral()
    ).success

    sent_at: list[float] = []
    original = fake_llm.handle

    def timed(*args):
        sent_at.append(time.monotonic())
        time.sleep(0.4)
        return original(*args)

    fake_llm.handle = timed
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
        [A.contributions_analysis],
        partition_key=DAY,
        resources=resources,
        raise_on_error=False,
        instance=ephemeral(),
    )
    fault.join()

    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "lost the lock" in failure.event_specific_data.user_failure_data.description
    after = [t - loss["at"] for t in sent_at if t > loss["at"]]
    # 40 requests in all (one per contribution); the heartbeat (2 s) notices the loss; 2 in flight finish
    assert len(sent_at) - loss["sent"] <= 16, f"{len(sent_at) - loss['sent']} requests sent after the loss"
    assert not after or max(after) < guard.renew_interval + 1.5
    assert not A.analysis_path(data_dir, DAY).exists()  # nothing written from the answers
    assert private_redis.client(5).keys("*") == []
    assert private_redis.client(6).keys("*") == []  # no success marker, no lock left
