"""The LLM path stops within seconds of a lost lock (Redis restarted without persistence mid-validation):
no new request goes out, and nothing the in-flight answers produced is written."""

from __future__ import annotations

import dagster as dg
import pytest

from ocapistaine_pipelines.contributions import assets as A
from ocapistaine_pipelines.guard import TaskGuard
from ocapistaine_pipelines.redis_connection import RedisResource

from ..dagster_instances import ephemeral
from ..guard_helpers import RestartAfterRequests
from .conftest import llm_resource
from .test_assets import DAY, export


@pytest.mark.slow
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

    with RestartAfterRequests(fake_llm, private_redis) as fault:
        result = dg.materialize(
            [A.contributions_analysis],
            partition_key=DAY,
            resources=resources,
            raise_on_error=False,
            instance=ephemeral(),
        )

    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "lost the lock" in failure.event_specific_data.user_failure_data.description
    # 40 requests in all (one per contribution); the heartbeat (2 s) notices the loss; 2 in flight finish
    assert fault.sent_after_loss <= 16, f"{fault.sent_after_loss} requests sent after the loss"
    assert fault.last_after_loss < guard.renew_interval + 1.5
    assert not A.analysis_path(data_dir, DAY).exists()  # nothing written from the answers
    assert private_redis.client(5).keys("*") == []
    assert private_redis.client(6).keys("*") == []  # no success marker, no lock left
