"""Fixtures of the orchestration tests: the stand-in code location and a PostgreSQL for the deployment test.

The Dagster test instance (``instance``) is the top-level conftest's, shared by a module and wiped per test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from ocapistaine_pipelines.orchestration.jobs import task_jobs
from ocapistaine_pipelines.orchestration.schedules import task_schedules
from ocapistaine_pipelines.orchestration.sensors import SENSORS

from .standin_assets import ASSETS


@pytest.fixture
def standin_defs(base_resources) -> dg.Definitions:
    """The project's schedules and sensors over stand-in task assets, on the test Redis."""
    return dg.Definitions(
        assets=ASSETS, jobs=task_jobs(), schedules=task_schedules(), sensors=SENSORS, resources=base_resources
    )


ROOT = Path(__file__).resolve().parents[2]
PG_ENV = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD")


@pytest.fixture(scope="session")
def postgres():
    """Connection settings of a PostgreSQL for the deployment test, as ``DAGSTER_PG_*`` variables.

    Uses the one named by ``DAGSTER_PG_*`` when they are all set, else starts a private server
    with scripts/pg.sh (initdb in a temp dir, a free port) and stops it at the end of the session.
    """
    if all(os.environ.get(name) for name in PG_ENV):
        yield {name: os.environ[name] for name in PG_ENV}
        return
    base = tempfile.mkdtemp(prefix="ocapistaine-pg-")
    os.chmod(base, 0o711)  # the server runs as `postgres` when we are root
    folder = os.path.join(base, "pg")
    script = str(ROOT / "scripts" / "pg.sh")
    started = subprocess.run([script, "start", folder], capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"scripts/pg.sh could not start PostgreSQL:\n{started.stderr}")
    settings = dict(line.split("=", 1) for line in started.stdout.split() if "=" in line)
    try:
        yield settings
    finally:
        subprocess.run([script, "stop", folder], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts real servers (dagster dev, PostgreSQL); runs in CI too")
