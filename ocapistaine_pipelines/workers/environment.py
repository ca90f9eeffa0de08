"""What a Celery worker must be told before it takes a run, and the check that refuses to start it.

Resources are built from each worker's own environment, not the launcher's: a worker without
``REDIS_URL`` would take its locks on ``localhost:6379`` (maybe some other Redis), one without
``OCAPISTAINE_DATA_DIR`` would write the day's files on its own disk, one without ``DAGSTER_HOME``
would not find the run. So a worker names what is missing and stops, instead of guessing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: Broker and result backend (Redis by default: ``redis://host:6379/2``; RabbitMQ: ``amqp://...``).
BROKER_ENV = "CELERY_BROKER_URL"
BACKEND_ENV = "CELERY_RESULT_BACKEND"
#: Run tag a worker writes on each run it takes (its Celery node name), so the UI shows which host ran it.
WORKER_TAG = "ocapistaine/celery_worker"
#: The queue of runs without a task-specific one (dagster-celery's default).
DEFAULT_QUEUE = "dagster"

_WHY = {
    "DAGSTER_HOME": "the folder holding the instance's dagster.yaml (the same as the daemon's)",
    "OCAPISTAINE_DATA_DIR": "where runs write their files; s3://bucket/prefix to share them across hosts",
    "REDIS_URL": "the Redis of the task guard and the app data (or REDIS_HOST)",
    BROKER_ENV: "the Celery broker the daemon sends runs to",
    BACKEND_ENV: "the Celery result backend run monitoring reads",
}


def worker_environment_problems(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per missing or unusable setting; empty when the worker may start."""
    env = os.environ if environ is None else environ

    def present(name: str) -> bool:
        return bool((env.get(name) or "").strip())

    problems = []
    for name in ("DAGSTER_HOME", "OCAPISTAINE_DATA_DIR", BROKER_ENV, BACKEND_ENV):
        if not present(name):
            problems.append(f"{name} is not set: {_WHY[name]}")
    if not (present("REDIS_URL") or present("REDIS_HOST")):
        problems.append(f"REDIS_URL is not set: {_WHY['REDIS_URL']}; a worker never falls back to localhost")
    if present("DAGSTER_HOME") and not (Path(env["DAGSTER_HOME"]) / "dagster.yaml").is_file():
        problems.append(
            "DAGSTER_HOME has no dagster.yaml: copy deploy/dagster-celery.yaml there as dagster.yaml"
        )
    if present("OCAPISTAINE_DATA_DIR"):
        from ..io_utils import data_path

        try:
            data_path(env["OCAPISTAINE_DATA_DIR"])
        except ValueError as error:
            problems.append(str(error))
    return problems


def refusal_message(problems: list[str]) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return (
        "ocapistaine worker: refusing to start, the variables that decide where it writes are missing:\n"
        f'{lines}\nSee deploy/README.md ("Runs on Celery workers"): every worker host needs them.'
    )
