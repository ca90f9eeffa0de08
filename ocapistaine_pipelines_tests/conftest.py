"""Shared fixtures: one private redis-server for the session, flushed before each test; one Dagster
test instance per module, wiped before each test."""

from __future__ import annotations

import os

# Task assets read their RetryPolicy at import: no retry (and no 60 s wait) in tests that drive
# failures; tests of the retry behaviour build their own policy.
os.environ.setdefault("OCAPISTAINE_TASK_RETRIES", "0")

import dagster as dg  # noqa: E402
import pytest  # noqa: E402

from ocapistaine_pipelines.guard import TaskGuard  # noqa: E402
from ocapistaine_pipelines.redis_connection import RedisResource  # noqa: E402
from ocapistaine_pipelines.settings import DataDirResource  # noqa: E402

from . import dagster_instances  # noqa: E402
from .services import RedisServer  # noqa: E402


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def private_redis():
    """A redis-server of the test's own without persistence (``save ""``, ``appendonly no``), to freeze
    (``pause``/``resume``), restart (every key lost) or put behind a proxy."""
    server = RedisServer("--save", "")
    yield server
    server.stop()


@pytest.fixture
def clean_redis(redis_server):
    """The session's redis-server, emptied for this test."""
    redis_server.client().flushall()
    return redis_server


@pytest.fixture
def redis_resource(clean_redis, redis_server) -> RedisResource:
    return RedisResource(url=f"redis://127.0.0.1:{redis_server.port}", scheduler_db=6, app_db=5)


@pytest.fixture
def scheduler_db(clean_redis, redis_server):
    return redis_server.client(6)


@pytest.fixture
def app_db(clean_redis, redis_server):
    return redis_server.client(5)


@pytest.fixture
def guard(redis_resource) -> TaskGuard:
    return TaskGuard(redis=redis_resource)


@pytest.fixture
def data_dir(tmp_path) -> DataDirResource:
    return DataDirResource(path=str(tmp_path / "data"))


@pytest.fixture
def base_resources(redis_resource, guard, data_dir) -> dict:
    """The resources every asset needs, pointed at the private Redis and a temporary data dir."""
    return {"redis": redis_resource, "guard": guard, "data_dir": data_dir}


@pytest.fixture(scope="module")
def module_instance():
    """One persistent (sqlite) Dagster test instance for the module's tests: a new one costs 1-10 s."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def instance(module_instance) -> dg.DagsterInstance:
    """The module's Dagster test instance, emptied for this test (runs, events, schedule state, cursors)."""
    return dagster_instances.wipe(module_instance)
