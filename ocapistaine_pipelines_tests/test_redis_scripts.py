"""One home for Lua: every script in ``redis_scripts`` with its contract on top, every one run by SHA
through ``RedisResource.run_script``, every Redis outage in a domain's writes reported the same way."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import redis

from ocapistaine_pipelines import redis_scripts
from ocapistaine_pipelines.contributions import assets as contributions_assets
from ocapistaine_pipelines.contributions.model import Contribution, Verdict
from ocapistaine_pipelines.crawl import assets as crawl_assets
from ocapistaine_pipelines.crawl.crawler import SourceReport
from ocapistaine_pipelines.evaluation import assets as evaluation_assets
from ocapistaine_pipelines.redis_connection import RedisResource, RedisUnavailable

from .services import free_port

PACKAGE = Path(redis_scripts.__file__).parent


def script_sources() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(redis_scripts).items()
        if name.isupper() and isinstance(value, str) and "redis.call(" in value
    }


def test_every_script_of_the_package_lives_in_redis_scripts_with_its_keys_and_argv_on_top():
    scripts = script_sources()
    assert {
        "CLAIM",
        "RENEW",
        "COMPLETE",
        "RELEASE",
        "WRITE_CONTRIBUTIONS_DAY",
        "SET_EXPERIMENT_LATEST",
    } <= set(scripts)
    lines = Path(redis_scripts.__file__).read_text().splitlines()
    for node in ast.parse("\n".join(lines)).body:
        if isinstance(node, ast.Assign) and node.targets[0].id in scripts:  # type: ignore[attr-defined]
            above = []
            for line in reversed(lines[: node.lineno - 1]):
                if not line.startswith("#"):
                    break
                above.append(line)
            contract = " ".join(above)
            assert "KEYS[1]" in contract and "ARGV[1]" in contract, (
                f"{node.targets[0].id}: no contract on top"
            )
    for path in PACKAGE.rglob("*.py"):
        if path.name == "redis_scripts.py":
            continue
        text = path.read_text()
        assert "redis.call(" not in text, f"Lua outside redis_scripts.py: {path}"
        if path.name != "redis_connection.py":
            assert not re.search(r"\.(eval|evalsha|register_script)\(", text), (
                f"a script run by hand in {path}"
            )


def contribution(contribution_id: str) -> Contribution:
    return Contribution(
        contribution_id, "Le port", "La cale est cassée.", "constat", "idée", "economie", "export", None
    )


def judged() -> Verdict:
    return Verdict(True, [], [], "ok", 0.9, "economie", "rules:rules-v4")


WRITERS = {
    "contributions": lambda resource: contributions_assets.write_app_data(
        resource, "2026-03-15", [(contribution("a"), judged())], {"gone"}
    ),
    "evaluation": lambda resource: evaluation_assets.write_experiment_latest(
        resource, {"date": "20260315", "accuracy": 0.9}
    ),
    "crawl": lambda resource: crawl_assets._write_app_status(
        resource, SourceReport(name="site", mode="full")
    ),
}


def test_the_domains_scripts_run_by_sha_and_are_loaded_again_after_a_script_flush(
    redis_resource, redis_server
):
    server = redis_server.client()
    WRITERS["evaluation"](redis_resource)  # the server knows the scripts now
    WRITERS["contributions"](redis_resource)
    for flush in (False, True):
        if flush:
            server.script_flush()  # a restarted server knows no script: redis-py loads it and runs it by SHA
        server.config_resetstat()
        assert WRITERS["evaluation"](redis_resource) is True
        assert WRITERS["contributions"](redis_resource) == {
            "deleted": [],
            "kept": ["gone"],
            "kept_judged": [],
        }
        stats = server.info("commandstats")
        assert "cmdstat_eval" not in stats and stats["cmdstat_evalsha"]["calls"] >= 2
        assert ("cmdstat_script|load" in stats or "cmdstat_script" in stats) is flush
    assert json.loads(redis_server.client(5).get("experiment:latest"))["date"] == "20260315"
    assert redis_server.client(5).lrange("contributions:validated:20260315", 0, -1) == ["a"]


@pytest.mark.parametrize("domain", sorted(WRITERS))
def test_every_domains_write_fails_closed_naming_the_server_and_never_the_password(domain):
    port = free_port()  # nothing listens there
    resource = RedisResource(url=f"redis://:s3cret-pw@127.0.0.1:{port}", app_db=5, retries=0)
    with pytest.raises(RedisUnavailable) as raised:
        WRITERS[domain](resource)
    failure = raised.value
    assert f"127.0.0.1:{port} db 5" in failure.description
    assert "s3cret" not in failure.description and "s3cret" not in str(failure.metadata)
    assert failure.__cause__ is None and failure.__suppress_context__


def test_a_script_error_is_not_mistaken_for_an_outage(redis_resource):
    """Only connection and timeout errors mean "unavailable"; a script's own error passes unchanged."""
    redis_resource.app_client().set("k", "text")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        redis_resource.run_script(
            redis_resource.app_db, "return redis.call('INCR', KEYS[1])", keys=["k"], args=[]
        )
