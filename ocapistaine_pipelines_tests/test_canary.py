"""Secrets never leave the process: a unique canary in every secret variable, successful and failing runs
of every asset (wrong keys, unreachable endpoints, a gateway that echoes the key it got), the failure
alerts and the CLI; then every place an output lands is searched for every canary: the logs, the Dagster
home (event log database, compute logs), the data folder, both Redis dbs, the alert payloads."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ocapistaine_pipelines.cli import main as cli_main
from ocapistaine_pipelines.contributions import assets as C
from ocapistaine_pipelines.contributions.sources import ContributionsSourceResource
from ocapistaine_pipelines.contributions.validators import ValidatorResource
from ocapistaine_pipelines.crawl.assets import crawled_documents
from ocapistaine_pipelines.crawl.resources import FirecrawlResource
from ocapistaine_pipelines.evaluation.assets import opik_experiment
from ocapistaine_pipelines.evaluation.resources import EvaluationSettings, OpikResource
from ocapistaine_pipelines.guard.contract import FORCE_TAG
from ocapistaine_pipelines.learning.assets import labelled_contributions, validator_model
from ocapistaine_pipelines.orchestration import sensors

from .contributions.servers import FakeEmbeddings, FakeGitHub, FakeLLM, FakeN8N
from .crawl.fake_firecrawl import FakeFirecrawl, build_site
from .evaluation.conftest import ScriptedValidatorResource, small_export
from .evaluation.opik_server import OpikServer
from .orchestration.webhook import Webhook
from .services import free_port

SECRET_VARIABLES = (
    "MISTRAL_API_KEY",
    "GEMINI_API_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OCAPISTAINE_LLM_API_KEY",
    "OCAPISTAINE_EMBEDDING_API_KEY",
    "GITHUB_TOKEN",
    "FIRECRAWL_API_KEY",
    "OPIK_API_KEY",
    "HF_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "DAGSTER_PG_PASSWORD",
    "REDIS_PASSWORD",
)
DAY = "2026-03-02"
SITE = "https://www.audierne.bzh"
GOOD = "Le parking du port d'Audierne est saturé tous les samedis matin pendant le marché."


def n8n_issue(i: int) -> dict:
    return {
        "id": i,
        "title": f"[economie] Pontons {i}",
        "body": f"**Constat factuel:**\n{GOOD}\n\n**Idées d'améliorations:**\nEn ajouter deux.",
        "labels": [],
        "created_at": f"{DAY}T09:00:00Z",
    }


@pytest.fixture
def canaries(monkeypatch, tmp_path):
    """A unique value in every secret variable (and in the webhooks' secret paths and query)."""
    values = {name: f"cnry{uuid.uuid4().hex[:16]}" for name in SECRET_VARIABLES}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    values["n8n path"] = f"cnry{uuid.uuid4().hex[:16]}"
    values["n8n query"] = f"cnry{uuid.uuid4().hex[:16]}"
    values["alert path"] = f"cnry{uuid.uuid4().hex[:16]}"
    for name in list(__import__("os").environ):  # Opik's own settings: only ours
        if name.startswith(("OPIK_", "COMET_")) and name != "OPIK_API_KEY":
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name, value in {
        "OPIK_ANALYTICS_ENABLE": "false",
        "OPIK_SENTRY_ENABLE": "false",
        "OPIK_DEFAULT_FLUSH_TIMEOUT": "5",
        "OPIK_CONSOLE_LOGGING_LEVEL": "ERROR",
    }.items():
        monkeypatch.setenv(name, value)
    return values


def _files_text(folder: Path) -> str:
    """Every byte of every file (as latin-1, so any byte sequence reads) plus parquet files decoded."""
    parts = []
    for path in folder.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("latin-1"))
            if path.suffix == ".parquet":
                parts.append(json.dumps(pd.read_parquet(path).astype(str).to_dict("records")))
    return "\n".join(parts)


def _redis_text(client) -> str:
    parts = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        value = {
            "string": client.get,
            "list": lambda k: client.lrange(k, 0, -1),
            "set": client.smembers,
            "hash": client.hgetall,
            "zset": lambda k: client.zrange(k, 0, -1),
        }.get(kind, lambda k: "")(key)
        parts.append(f"{key} {value}")
    return "\n".join(parts)


@pytest.mark.slow
def test_no_canary_reaches_any_output(
    canaries, tmp_path, redis_resource, guard, data_dir, redis_server, capfd, caplog, monkeypatch
):
    caplog.set_level("DEBUG")
    base = {"redis": redis_resource, "guard": guard, "data_dir": data_dir}
    home = tmp_path / "dagster_home"
    home.mkdir()
    llm, n8n, github = (
        FakeLLM(),
        FakeN8N([n8n_issue(i) for i in range(1, 4)]),
        FakeGitHub([], token="the-right-token"),
    )
    refusing_n8n = FakeN8N([], fail_with=(401, {"message": f"bad token {canaries['n8n query']}"}))
    firecrawl, opik_server, alerts = (
        FakeFirecrawl(api_key="fc-the-right-key"),
        OpikServer(api_key="opik-right"),
        Webhook(),
    )
    llm.modes["mistral-small-latest"] = "error"  # answers 400 quoting the Authorization header it got
    embeddings, echoing_embeddings = FakeEmbeddings(), FakeEmbeddings()
    echoing_embeddings.mode = "error"  # answers 400 quoting the Authorization header it got
    n8n_url = f"{n8n.url}/webhook/participons/issues/{canaries['n8n path']}?token={canaries['n8n query']}"
    monkeypatch.setenv("OCAPISTAINE_CONTRIBUTIONS_SOURCE", n8n_url)
    monkeypatch.setenv(
        sensors.ALERT_WEBHOOK_ENV,
        f"http://127.0.0.1:{alerts.server.server_address[1]}/webhook/{canaries['alert path']}",
    )
    monkeypatch.setattr(sensors, "ALERT_BACKOFF_SECONDS", 0.01)
    build_site(firecrawl, SITE, 2)
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps([{"name": "arretes", "url": f"{SITE}/arretes/"}]))
    labelled = tmp_path / "labelled.json"
    labelled.write_text(json.dumps(small_export(), ensure_ascii=False), encoding="utf-8")

    def source(spec: str, **options) -> ContributionsSourceResource:
        return ContributionsSourceResource(source=spec, attempts=1, backoff_seconds=0.0, **options)

    echoing_llm = ValidatorResource(
        backend="llm",
        models="mistral/mistral-small-latest",
        api_base=f"{llm.url}/v1",
        concurrency=2,
        timeout_seconds=5.0,
    )

    def learned(server: FakeEmbeddings, model: str) -> ValidatorResource:
        return ValidatorResource(
            embedding_model=f"litellm:openai/{model}",  # its own model: no cached embedding reused
            embedding_api_base=f"{server.url}/v1",
            embedding_api_key=canaries["OCAPISTAINE_EMBEDDING_API_KEY"],
        )

    runs = [  # (assets, resources, should succeed)
        (
            [C.contributions, C.contributions_analysis],
            {**base, "contributions_source": source(n8n_url), "validator": ValidatorResource()},
            True,
        ),
        (
            [C.contributions, C.contributions_analysis],
            {**base, "contributions_source": source(n8n_url), "validator": echoing_llm},
            True,
        ),  # pending: key echoed
        (
            [C.contributions],
            {
                **base,
                "contributions_source": source(
                    f"{refusing_n8n.url}/webhook/participons/issues/{canaries['n8n path']}"
                    f"?token={canaries['n8n query']}"
                ),
                "validator": ValidatorResource(),
            },
            False,
        ),
        (
            [C.contributions],
            {
                **base,
                "contributions_source": source(
                    "github:o/r", github_api_url=github.url, github_token=canaries["GITHUB_TOKEN"]
                ),
                "validator": ValidatorResource(),
            },
            False,
        ),
        (
            [C.contributions],
            {
                **base,
                "contributions_source": source(
                    f"http://127.0.0.1:{free_port()}/webhook/{canaries['n8n path']}"
                    f"?token={canaries['n8n query']}"
                ),
                "validator": ValidatorResource(),
            },
            False,
        ),
        (
            [C.contributions_analysis],
            {
                **base,
                "contributions_source": source(n8n_url),
                "validator": ValidatorResource(
                    backend="llm", models="", api_key=canaries["OCAPISTAINE_LLM_API_KEY"]
                ),
            },
            False,
        ),
        (
            [crawled_documents],
            {
                **base,
                "firecrawl": FirecrawlResource(
                    api_url=firecrawl.url,
                    api_key=canaries["FIRECRAWL_API_KEY"],
                    sources_file=str(sources),
                    poll_interval_seconds=0.0,
                    backoff_seconds=0.0,
                    max_attempts=2,
                ),
            },
            False,
        ),
        (
            [crawled_documents],
            {
                **base,
                "firecrawl": FirecrawlResource(
                    api_url=f"http://127.0.0.1:{free_port()}",
                    api_key=canaries["FIRECRAWL_API_KEY"],
                    sources_file=str(sources),
                    backoff_seconds=0.0,
                    max_attempts=1,
                    request_timeout_seconds=2,
                ),
            },
            False,
        ),
        (
            [opik_experiment],
            {
                **base,
                "validator": ScriptedValidatorResource(),
                "opik": OpikResource(
                    url_override=opik_server.url, api_key=canaries["OPIK_API_KEY"], flush_timeout_seconds=5
                ),
                "evaluation_settings": EvaluationSettings(dataset_path=str(labelled)),
            },
            False,
        ),
    ]
    for server, model, should_succeed in (
        (embeddings, "text-embedding-3-small", True),
        (echoing_embeddings, "text-embedding-3-large", False),
    ):
        runs.append(
            (
                [labelled_contributions, validator_model],
                {"data_dir": data_dir, "validator": learned(server, model), "opik": OpikResource()},
                should_succeed,
            )
        )
    outcomes = []
    try:
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            for index, (assets, resources, should_succeed) in enumerate(runs):
                result = dg.materialize(
                    assets,
                    partition_key=DAY if assets[0].partitions_def else None,  # learning: not partitioned
                    resources=resources,
                    instance=instance,
                    raise_on_error=False,
                    tags={FORCE_TAG: "true"},
                )  # the day again
                outcomes.append(result.success)
                assert result.success is should_succeed, f"run {index}"
                if not result.success:
                    context = dg.build_run_status_sensor_context(
                        sensor_name=sensors.alert_on_run_failure.name,
                        dagster_instance=instance,
                        dagster_run=result.dagster_run,
                        dagster_event=result.get_run_failure_event(),
                    ).for_run_failure()
                    sensors.alert_on_run_failure(context)
            monkeypatch.setenv("REDIS_URL", f"redis://:{canaries['REDIS_PASSWORD']}@127.0.0.1:{free_port()}")
            assert cli_main(["status"]) == 1
    finally:
        for server in (
            llm,
            n8n,
            github,
            refusing_n8n,
            firecrawl,
            opik_server,
            embeddings,
            echoing_embeddings,
        ):
            server.stop()
        alerts.close()

    # the canaries were really in play: the servers received them, the gateway echoed one back
    assert any(canaries["MISTRAL_API_KEY"] in (r.get("authorization") or "") for r in llm.requests), (
        llm.requests[:2]
    )
    assert any(canaries["GITHUB_TOKEN"] in (r.get("authorization") or "") for r in github.requests)
    for server in (embeddings, echoing_embeddings):
        assert server.requests and all(
            canaries["OCAPISTAINE_EMBEDDING_API_KEY"] in (r.get("authorization") or "")
            for r in server.requests
        )
    assert len(alerts.received) == outcomes.count(False)

    captured = capfd.readouterr()
    places = {
        "logs": captured.out + captured.err + caplog.text,
        "dagster home": _files_text(home),
        "data folder": _files_text(Path(data_dir.root)),
        "redis db 5": _redis_text(redis_server.client(5)),
        "redis db 6": _redis_text(redis_server.client(6)),
        "alerts": json.dumps(alerts.received, ensure_ascii=False),
    }
    assert "contribution:1" in places["redis db 5"] and "pending" in places["redis db 5"]
    assert "cannot read contributions" in places["dagster home"]
    leaks = [
        (name, place) for name, value in canaries.items() for place, text in places.items() if value in text
    ]
    assert leaks == [], [
        (n, p, places[p][max(0, places[p].find(canaries[n]) - 300) : places[p].find(canaries[n]) + 60])
        for n, p in leaks
    ]
