"""Fixtures of the contributions tests: loopback servers and the domain's resources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocapistaine_pipelines.contributions.sources import ContributionsSourceResource
from ocapistaine_pipelines.contributions.validators import ValidatorResource

from .servers import FakeLLM

LABELLED = (
    Path(__file__).resolve().parents[2] / "ocapistaine_pipelines" / "data" / "labelled_contributions.json"
)
HELD_OUT = Path(__file__).resolve().parent / "heldout_contributions.json"
HELD_OUT_2 = Path(__file__).resolve().parent / "heldout2_contributions.json"
HELD_OUT_3 = Path(__file__).resolve().parent / "heldout3_contributions.json"
HELD_OUT_4 = Path(__file__).resolve().parent / "heldout4_contributions.json"
HELD_OUT_5 = Path(__file__).resolve().parent / "heldout5_contributions.json"


@pytest.fixture(scope="session")
def labelled() -> list[dict]:
    return json.loads(LABELLED.read_text(encoding="utf-8"))["contributions"]


@pytest.fixture(scope="session")
def held_out() -> list[dict]:
    """Written after the first version of the rules; used to revise them once (so no longer held out)."""
    return json.loads(HELD_OUT.read_text(encoding="utf-8"))["contributions"]


@pytest.fixture(scope="session")
def held_out_2() -> list[dict]:
    """Written after the first revision; measured once (0.70), then used by the v2 revision and the
    calibration fit."""
    return json.loads(HELD_OUT_2.read_text(encoding="utf-8"))["contributions"]


@pytest.fixture(scope="session")
def held_out_3() -> list[dict]:
    """Written before the v2 revision (baseline measured on it), but the v2 patterns were written with it
    in view."""
    return json.loads(HELD_OUT_3.read_text(encoding="utf-8"))["contributions"]


@pytest.fixture(scope="session")
def held_out_4() -> list[dict]:
    """Written after v2 and measured once; then used by the v3 revision and the calibration fit."""
    return json.loads(HELD_OUT_4.read_text(encoding="utf-8"))["contributions"]


@pytest.fixture(scope="session")
def held_out_5() -> list[dict]:
    """Written after v3 and the calibration fit, measured once, never tuned on: the honest figure."""
    return json.loads(HELD_OUT_5.read_text(encoding="utf-8"))["contributions"]


@pytest.fixture
def fake_llm():
    server = FakeLLM()
    yield server
    server.stop()


def llm_resource(
    server: FakeLLM, models: str = "openai/primary,openai/backup", **overrides
) -> ValidatorResource:
    options = dict(
        backend="llm",
        models=models,
        api_base=f"{server.url}/v1",
        api_key="sk-loopback-secret",
        concurrency=4,
        timeout_seconds=2.0,
        rate_limit_cooldown_seconds=60.0,
    )
    options.update(overrides)
    return ValidatorResource(**options)


@pytest.fixture
def domain_resources(base_resources):
    """Every resource the two assets need: private Redis, temporary data dir, rules validator."""

    def build(source: str = "", validator: ValidatorResource | None = None, **source_options):
        source_options.setdefault("attempts", 1)
        source_options.setdefault("backoff_seconds", 0.0)
        return {
            **base_resources,
            "validator": validator or ValidatorResource(),
            "contributions_source": ContributionsSourceResource(source=source, **source_options),
        }

    return build
