"""scripts/dev says where it works before dagster dev starts; scripts/bootstrap.sh shows the install."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]


def start_dev(env: dict, home: Path) -> tuple[subprocess.Popen, list[str]]:
    """scripts/dev until its banner is out (then dagster dev starts); returns the process and the banner."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OCAPISTAINE_", "DAGSTER_"))}
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "dev"), "-p", str(free_port()), "-h", "127.0.0.1"],
        cwd=str(ROOT),
        env={**clean, **env, "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.lstrip().startswith("UI "):
            return process, lines
    stop_dev(process)
    raise AssertionError("scripts/dev printed no banner:\n" + "\n".join(lines))


def stop_dev(process: subprocess.Popen) -> None:
    """SIGTERM to the group, as a terminal's Ctrl-C would; the output is drained meanwhile (a full pipe
    would block dagster dev's shutdown messages, and with them the script's exit trap)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def port_open(port: int) -> bool:
    try:
        wait_for_port(port, timeout=0.3)
        return True
    except TimeoutError:
        return False


@pytest.mark.slow
def test_dev_says_where_it_works_and_its_private_redis_never_outlives_it(tmp_path):
    """The banner names Redis (host, port, dbs), the data folder, the Dagster home and the private Redis;
    even a kill -9 of the script (no exit trap) stops that Redis (a watcher in its session)."""
    port = free_port()
    data = tmp_path / "data"
    process, banner = start_dev(
        {"REDIS_URL": f"redis://127.0.0.1:{port}", "OCAPISTAINE_DATA_DIR": str(data)}, tmp_path
    )
    try:
        text = "\n".join(banner)
        assert f"Redis   127.0.0.1:{port} db 6 (task markers), db 5 (app data)" in text
        assert f"data    {data}" in text
        assert f"Dagster home {tmp_path}" in text
        assert f"private redis-server started by scripts/dev (data in {tmp_path}/redis)" in text
        assert port_open(port)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(port), "the private redis-server outlived scripts/dev"


def test_the_first_install_shows_what_pip_installs():
    """A silent `pip -q` of ~2 minutes looked hung: the project install is announced and not quiet."""
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    [install] = [line for line in script.splitlines() if "pip install" in line and "-e '.[test]'" in line]
    assert " -q" not in install and "--progress-bar on" in install
    assert "installing the project and its pinned dependencies" in script


@pytest.mark.parametrize("args", [["where"]])
def test_where_uses_the_code_s_own_settings(args, monkeypatch, capsys):
    from ocapistaine_pipelines.cli import main

    monkeypatch.setenv("REDIS_URL", "rediss://:p%40ss-word@cache.example.org:6380/2")
    monkeypatch.setenv("REDIS_DB", "7")
    monkeypatch.setenv("OCAPISTAINE_DATA_DIR", "/srv/ocapistaine")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Redis   cache.example.org:6380 db 6 (TLS) (task markers), db 7 (app data)" in out
    assert "data    /srv/ocapistaine" in out
    assert "p@ss" not in out and "p%40ss" not in out
