"""Settings read from the environment that are not connection secrets."""

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import dagster as dg

if TYPE_CHECKING:
    from .io_utils import DataPath

DEFAULT_DATA_DIR = "data"


def env_number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    integer: bool = False,
    positive: bool = False,
    unit: str = "",
) -> float:
    """A number from the environment, or a ValueError naming the variable and the bad value:
    a typo must not become a mystery when the code location loads."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    what = ("a whole number" if integer else "a number") + (f" of {unit}" if unit else "")
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    if integer and value != int(value):
        raise ValueError(f"{name} must be {what}, got {raw!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be above 0, got {raw!r}")
    return int(value) if integer else value


def task_retry_policy() -> dg.RetryPolicy | None:
    """The retry policy of the task assets: transient failures (a 5xx after the client's own retries,
    Redis restarting) are tried again with exponential backoff; the guard makes a retry safe (a day
    already completed is skipped). ``OCAPISTAINE_TASK_RETRIES`` (default 2) and
    ``OCAPISTAINE_TASK_RETRY_DELAY`` (seconds, default 60) tune it; errors marked final are not retried.
    With 0 retries there is no policy at all, so a failure reads as itself, not "Exceeded max_retries"."""
    retries = env_number(os.environ, "OCAPISTAINE_TASK_RETRIES", 2, integer=True)
    if retries <= 0:
        return None
    return dg.RetryPolicy(
        max_retries=retries,
        delay=env_number(os.environ, "OCAPISTAINE_TASK_RETRY_DELAY", 60, unit="seconds"),
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


class DataDirResource(dg.ConfigurableResource):
    """Where assets write their files (``OCAPISTAINE_DATA_DIR``, default ``data/`` under the cwd): a
    local folder, or ``s3://bucket/prefix`` shared by every worker host (see ``io_utils.data_path``)."""

    path: str = DEFAULT_DATA_DIR

    @property
    def root(self) -> "DataPath":
        from .io_utils import data_path

        return data_path(self.path)

    @property
    def is_remote(self) -> bool:
        from .io_utils import OBJECT_STORE_SCHEMES

        return "://" in self.path and urlsplit(self.path.strip()).scheme.lower() in OBJECT_STORE_SCHEMES

    def folder(self, *parts: str) -> "DataPath":
        """A sub-folder of the data dir, created on first use (an object store has no folders)."""
        folder = self.root.joinpath(*parts)
        if not self.is_remote:
            folder.mkdir(parents=True, exist_ok=True)
        return folder

    def describe(self) -> str:
        """Where files go, safe to show: the folder or URL, and the S3 endpoint when one is set."""
        if not self.is_remote:
            return str(self.root)
        from .io_utils import safe_url

        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        return str(self.root) + (f" (endpoint {safe_url(endpoint)})" if endpoint else "")


def data_dir_resource_from_env(environ: Mapping[str, str] | None = None) -> DataDirResource:
    env = os.environ if environ is None else environ
    if env.get("OCAPISTAINE_DATA_DIR"):
        return DataDirResource(
            path=dg.EnvVar("OCAPISTAINE_DATA_DIR") if environ is None else env["OCAPISTAINE_DATA_DIR"]
        )
    return DataDirResource()
