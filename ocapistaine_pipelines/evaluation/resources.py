"""Resources of the evaluation domain, built from the environment.

``opik``: where the experiment is recorded (``OPIK_API_KEY``, ``OPIK_URL_OVERRIDE``, ``OPIK_WORKSPACE``,
``OPIK_PROJECT_NAME``); without a key or a URL the scores are computed locally and nothing is sent.
``evaluation_settings``: the labelled set (``OCAPISTAINE_EVAL_DATASET``) and the accuracy floor of the
asset check (``OCAPISTAINE_MIN_ACCURACY``, ``OCAPISTAINE_MAX_ACCURACY_DROP``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import dagster as dg

from ..io_utils import redact, safe_url
from ..settings import env_number

DEFAULT_PROJECT = "ocapistaine"
DEFAULT_MIN_ACCURACY = 0.75
DEFAULT_MAX_DROP_POINTS = 5.0
DEFAULT_FLUSH_TIMEOUT = 60


class OpikResource(dg.ConfigurableResource):
    """The Opik server the daily experiment is recorded on. ``import opik`` happens only in ``client()``."""

    api_key: str | None = None
    url_override: str | None = None
    workspace: str | None = None
    project_name: str = DEFAULT_PROJECT
    #: Seconds to wait for the SDK's background queue (traces, scores) at the end of a run.
    flush_timeout_seconds: int = DEFAULT_FLUSH_TIMEOUT

    @property
    def configured(self) -> bool:
        return bool(self.api_key or self.url_override)

    def location(self) -> str:
        """Where the experiment goes, safe to log (no key, no credentials or query of the URL)."""
        where = safe_url(self.url_override) if self.url_override else "Comet cloud (default Opik URL)"
        return f"{where} workspace={self.workspace or 'default'} project={self.project_name}"

    def redact(self, text: str) -> str:
        """``text`` without the API key or the credentials of ``OPIK_URL_OVERRIDE``."""
        secrets: list[str | None] = [self.api_key]
        if self.url_override:
            parts = urlsplit(self.url_override)
            secrets += [parts.password, parts.query or None]
            if parts.password is None:
                secrets.append(parts.username)  # https://TOKEN@host
        return redact(text, secrets)

    def client(self):
        """A new ``opik.Opik`` client with exactly this configuration."""
        import opik

        return opik.Opik(
            project_name=self.project_name,
            workspace=self.workspace,
            host=self.url_override,
            api_key=self.api_key,
            _show_misconfiguration_message=False,
        )


class EvaluationSettings(dg.ConfigurableResource):
    """Which labelled set is used and how low accuracy may go before the asset check fails."""

    dataset_path: str | None = None  # None: the set shipped in the package
    min_accuracy: float = DEFAULT_MIN_ACCURACY
    max_drop_points: float = DEFAULT_MAX_DROP_POINTS
    #: Validators scored side by side with the active one (``OCAPISTAINE_COMPARE_VALIDATORS``); the
    #: accuracy check applies to the active one only.
    compare: str = "rules,learned"

    def compare_list(self) -> list[str]:
        return [name.strip().lower() for name in self.compare.split(",") if name.strip()]


def resources_from_env(environ: Mapping[str, str] | None = None) -> dict:
    env = os.environ if environ is None else environ
    opik_kwargs: dict = {"project_name": env.get("OPIK_PROJECT_NAME") or DEFAULT_PROJECT}
    if env.get("OPIK_API_KEY"):
        opik_kwargs["api_key"] = dg.EnvVar("OPIK_API_KEY") if environ is None else env["OPIK_API_KEY"]
    if env.get("OPIK_URL_OVERRIDE"):  # may carry credentials (user:password@, ?token=): an EnvVar too
        opik_kwargs["url_override"] = (
            dg.EnvVar("OPIK_URL_OVERRIDE") if environ is None else env["OPIK_URL_OVERRIDE"]
        )
    if env.get("OPIK_WORKSPACE"):
        opik_kwargs["workspace"] = env["OPIK_WORKSPACE"]
    opik_kwargs["flush_timeout_seconds"] = env_number(
        env, "OPIK_DEFAULT_FLUSH_TIMEOUT", DEFAULT_FLUSH_TIMEOUT, integer=True, positive=True, unit="seconds"
    )
    min_accuracy = env_number(env, "OCAPISTAINE_MIN_ACCURACY", DEFAULT_MIN_ACCURACY)
    if not 0.0 <= min_accuracy <= 1.0:
        raise ValueError(f"OCAPISTAINE_MIN_ACCURACY must be between 0 and 1, got {min_accuracy}")
    settings = EvaluationSettings(
        dataset_path=env.get("OCAPISTAINE_EVAL_DATASET") or None,
        min_accuracy=min_accuracy,
        max_drop_points=env_number(env, "OCAPISTAINE_MAX_ACCURACY_DROP", DEFAULT_MAX_DROP_POINTS),
        compare=env.get("OCAPISTAINE_COMPARE_VALIDATORS", "rules,learned"),
    )
    return {"opik": OpikResource(**opik_kwargs), "evaluation_settings": settings}
