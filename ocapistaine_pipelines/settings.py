"""Settings read from the environment that are not connection secrets."""

import os
from pathlib import Path
from typing import Mapping, Optional

import dagster as dg

DEFAULT_DATA_DIR = "data"


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def task_retry_policy() -> Optional[dg.RetryPolicy]:
    """The retry policy of the task assets: transient failures (a 5xx after the client's own retries,
    Redis restarting) are tried again with exponential backoff; the guard makes a retry safe (a day
    already completed is skipped). ``OCAPISTAINE_TASK_RETRIES`` (default 2) and
    ``OCAPISTAINE_TASK_RETRY_DELAY`` (seconds, default 60) tune it; errors marked final are not retried.
    With 0 retries there is no policy at all, so a failure reads as itself, not "Exceeded max_retries"."""
    retries = int(_env_number("OCAPISTAINE_TASK_RETRIES", 2))
    if retries <= 0:
        return None
    return dg.RetryPolicy(
        max_retries=retries,
        delay=_env_number("OCAPISTAINE_TASK_RETRY_DELAY", 60),
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


class DataDirResource(dg.ConfigurableResource):
    """Where assets write their files (``OCAPISTAINE_DATA_DIR``, default ``data/`` under the cwd)."""

    path: str = DEFAULT_DATA_DIR

    @property
    def root(self) -> Path:
        return Path(self.path).expanduser().resolve()

    def folder(self, *parts: str) -> Path:
        """A sub-folder of the data dir, created on first use."""
        folder = self.root.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def data_dir_resource_from_env(environ: Optional[Mapping[str, str]] = None) -> DataDirResource:
    env = os.environ if environ is None else environ
    if env.get("OCAPISTAINE_DATA_DIR"):
        return DataDirResource(path=dg.EnvVar("OCAPISTAINE_DATA_DIR") if environ is None else env["OCAPISTAINE_DATA_DIR"])
    return DataDirResource()
