"""The operators' CLI against a real redis-server; the legacy redis-cli runbook keeps working beside it."""

import json
import shutil
import subprocess

import pytest

from ocapistaine_pipelines.cli import main


@pytest.fixture
def env(monkeypatch, redis_server, clean_redis):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_server.port}")
    for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB_SCHEDULER"):
        monkeypatch.delenv(name, raising=False)


def test_status_json_reports_each_task(env, scheduler_db, capsys):
    scheduler_db.set("success:task_firecrawl:20260315", "completed", ex=86400)
    scheduler_db.set("lock:task_opik_experiment:20260315", "run-7", ex=300)
    assert main(["status", "--date", "2026-03-15", "--json"]) == 0
    rows = {row["task"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"task_contributions_analysis", "task_firecrawl", "task_opik_experiment"}
    assert rows["task_firecrawl"]["completed"] is True and rows["task_firecrawl"]["success_ttl"] > 86000
    assert (
        rows["task_opik_experiment"]["running"] is True
        and rows["task_opik_experiment"]["lock_holder"] == "run-7"
    )


def test_status_table(env, scheduler_db, capsys):
    scheduler_db.set("lock:task_firecrawl:20260315", "run-9", ex=300)
    assert main(["status", "--date", "2026-03-15"]) == 0
    line = [row for row in capsys.readouterr().out.splitlines() if row.startswith("task_firecrawl")][0]
    assert "run-9" in line and "20260315" in line


def test_rerun_deletes_only_the_success_key(env, scheduler_db, capsys):
    scheduler_db.set("success:task_firecrawl:20260315", "completed", ex=86400)
    scheduler_db.set("success:task_firecrawl:20260316", "completed", ex=86400)
    assert main(["rerun", "task_firecrawl", "--date", "2026-03-15"]) == 0
    assert "deleted success:task_firecrawl:20260315" in capsys.readouterr().out
    assert scheduler_db.exists("success:task_firecrawl:20260315") == 0
    assert scheduler_db.exists("success:task_firecrawl:20260316") == 1
    assert main(["rerun", "task_firecrawl", "--date", "2026-03-15"]) == 0
    assert "was not set" in capsys.readouterr().out


def test_unlock_says_whose_lock_it_was(env, scheduler_db, capsys):
    scheduler_db.set("lock:task_contributions_analysis:20260315", "a1b2-run", ex=300)
    assert main(["unlock", "task_contributions_analysis", "--date", "2026-03-15"]) == 0
    assert "held by a1b2-run" in capsys.readouterr().out
    assert scheduler_db.exists("lock:task_contributions_analysis:20260315") == 0


def test_bad_arguments_and_redis_down(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        main(["rerun", "task_nope", "--date", "2026-03-15"])
    with pytest.raises(SystemExit):
        main(["status", "--date", "15/03/2026"])
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:1")
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "Redis unreachable at 127.0.0.1:1 db 6" in err and "hunter2" not in err


@pytest.mark.skipif(not shutil.which("redis-cli"), reason="redis-cli not installed")
def test_the_legacy_runbook_with_redis_cli(env, redis_server, scheduler_db, guard):
    """KEYS shows a stuck lock, DEL clears it, deleting the success key forces a re-run."""
    day = guard.day("task_firecrawl", "2026-03-15", "stuck-run")
    assert day.claim()
    cli = ["redis-cli", "-p", str(redis_server.port), "-n", "6"]
    listed = subprocess.run(
        cli + ["KEYS", "lock:task_firecrawl:*"], capture_output=True, text=True, check=True
    ).stdout
    assert listed.strip() == "lock:task_firecrawl:20260315"
    subprocess.run(cli + ["DEL", "lock:task_firecrawl:20260315"], check=True, capture_output=True)
    again = guard.day("task_firecrawl", "2026-03-15", "next-run")
    assert again.claim()
    again._complete()
    assert guard.day("task_firecrawl", "2026-03-15", "third").claim() is False
    subprocess.run(cli + ["DEL", "success:task_firecrawl:20260315"], check=True, capture_output=True)
    assert guard.day("task_firecrawl", "2026-03-15", "forced").claim() is True


def test_status_names_the_redis_it_read(env, redis_server, capsys):
    assert main(["status", "--date", "2026-03-15"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[0] == f"Redis 127.0.0.1:{redis_server.port} db 6 (task markers)"
    )
    assert main(["status", "--date", "2026-03-15", "--json"]) == 0
    captured = capsys.readouterr()
    assert f"127.0.0.1:{redis_server.port} db 6" in captured.err
    json.loads(captured.out)  # stdout stays plain JSON


def test_status_days_is_the_morning_table(env, scheduler_db, monkeypatch, capsys):
    from ocapistaine_pipelines_tests.services import free_port

    monkeypatch.setenv("DAGSTER_GRAPHQL_URL", f"http://127.0.0.1:{free_port()}")  # Dagster down: Redis alone
    scheduler_db.set("success:task_firecrawl:20260315", "completed", ex=86400)
    scheduler_db.set("success:task_contributions_analysis:20260314", "completed", ex=86400)
    scheduler_db.set("lock:task_opik_experiment:20260315", "0f1e2d3c-run", ex=300)
    assert main(["status", "--days", "3", "--date", "2026-03-15"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Dagster unreachable at http://127.0.0.1:" in out[1]
    rows = [line.split() for line in out if line[:4] == "2026"]
    assert [row[:3] for row in rows] == [
        ["2026-03-15", "task_contributions_analysis", "-"],
        ["2026-03-15", "task_firecrawl", "yes"],
        ["2026-03-15", "task_opik_experiment", "-"],
        ["2026-03-14", "task_contributions_analysis", "yes"],
        ["2026-03-14", "task_firecrawl", "-"],
        ["2026-03-14", "task_opik_experiment", "-"],
        ["2026-03-13", "task_contributions_analysis", "-"],
        ["2026-03-13", "task_firecrawl", "-"],
        ["2026-03-13", "task_opik_experiment", "-"],
    ]
    assert rows[2][3] == "0f1e2d3c-run"
    assert main(["status", "--days", "2", "--date", "2026-03-15", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["date"], r["task"], r["last_run"]) for r in listed][:2] == [
        ("20260315", "task_contributions_analysis", None),
        ("20260315", "task_firecrawl", None),
    ]


@pytest.mark.parametrize("days", ["0", "-2", "x", "367"])
def test_status_days_refuses_nonsense(days):
    with pytest.raises(SystemExit):
        main(["status", "--days", days])
