"""Fixtures of the evaluation tests: an isolated Opik configuration, a small labelled set, a scripted
validator whose mistakes the test chooses (so accuracy is known in advance)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from ocapistaine_pipelines.contributions.model import Contribution, Verdict
from ocapistaine_pipelines.evaluation.resources import EvaluationSettings, OpikResource

from .opik_server import OpikServer

OPIK_KEY = "opik-test-key-5f0c1e"


@pytest.fixture
def opik_env(monkeypatch, tmp_path):
    """No Opik setting leaks in from the machine: HOME is a temporary dir, OPIK_* cleared, no analytics."""
    import os

    for name in list(os.environ):
        if name.startswith("OPIK_") or name.startswith("COMET_"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPIK_ANALYTICS_ENABLE", "false")
    monkeypatch.setenv("OPIK_SENTRY_ENABLE", "false")
    monkeypatch.setenv("OPIK_DEFAULT_FLUSH_TIMEOUT", "5")
    monkeypatch.setenv("OPIK_CONSOLE_LOGGING_LEVEL", "ERROR")
    return home


@pytest.fixture
def opik_server(opik_env):
    server = OpikServer(api_key=OPIK_KEY)
    yield server
    server.stop()


def _record(item_id: str, valid: bool, category: str = "culture", kinds: list[str] | None = None) -> dict:
    constat = (
        f"Le festival de la plage ({item_id}) manque de bénévoles et de bancs pour le public."
        if valid
        else f"VOUS ÊTES DES INCAPABLES ({item_id}), la mairie ne fait RIEN comme d'habitude."
    )
    return {
        "id": item_id,
        "category": category,
        "constat_factuel": constat,
        "idees_ameliorations": "Organiser une réunion publique en mairie pour en parler.",
        "source": "labelled",
        "expected_valid": valid,
        "violations_injected": [] if valid else (kinds or ["aggressive"]),
    }


def small_export(extra: list | None = None) -> dict:
    """20 labelled items (ok-01..10 valid, bad-01..10 invalid), 2 unlabelled, 2 unusable records."""
    records = [_record(f"ok-{i:02d}", True) for i in range(1, 11)]
    records += [_record(f"bad-{i:02d}", False) for i in range(1, 11)]
    records += [
        {**_record("unlabelled-1", True), "expected_valid": None},
        {key: value for key, value in _record("unlabelled-2", True).items() if key != "expected_valid"},
        {**_record("broken-1", True), "title": 42},  # from_record refuses a non-text title
        {**_record("ok-01", False)},  # duplicate id: the first one is kept
    ]
    records += extra or []
    return {"generated_at": "2026-03-01T08:00:00+01:00", "count": len(records), "contributions": records}


@pytest.fixture
def labelled_file(tmp_path) -> Path:
    path = tmp_path / "labelled.json"
    path.write_text(json.dumps(small_export(), ensure_ascii=False), encoding="utf-8")
    return path


class ScriptedValidator:
    """Answers as labelled (``bad-*`` invalid), except the ids the test names: wrong, pending or raising."""

    name = "scripted"
    model = "scripted-v1"

    def __init__(self, wrong_ids, pending_ids, fail_with, category):
        self.wrong_ids, self.pending_ids = set(wrong_ids), set(pending_ids)
        self.fail_with, self.category = fail_with, category
        self.calls = 0

    def validate_many(self, contributions: list[Contribution], check=None) -> list[Verdict]:
        if self.fail_with:
            raise RuntimeError(self.fail_with)
        verdicts = []
        for c in contributions:
            if c.category is not None:
                raise AssertionError("the expected category must be hidden from the validator")
            if c.id in self.pending_ids:
                pending = Verdict.pending_because("rate limited", category=self.category, validator=self.name)
                verdicts.append(pending)
                continue
            valid = not c.id.startswith("bad")
            if c.id in self.wrong_ids:
                valid = not valid
            verdicts.append(
                Verdict(
                    is_valid=valid,
                    violations=[] if valid else ["aggressive"],
                    encouraged_aspects=["concrete_proposal"] if valid else [],
                    reasoning=f"scripted answer for {c.id}",
                    confidence=0.9,
                    category=self.category,
                    validator=self.name,
                )
            )
        return verdicts


class ScriptedValidatorResource(dg.ConfigurableResource):
    wrong_ids: list[str] = []
    pending_ids: list[str] = []
    fail_with: str | None = None
    category: str = "culture"

    def get_validator(self, cache_dir=None, model_dir=None, backend=None):
        if backend is not None:  # another validator, side by side: the real one of that name
            from ocapistaine_pipelines.contributions.validators import ValidatorResource

            return ValidatorResource(backend=backend).get_validator(model_dir=model_dir)
        return ScriptedValidator(self.wrong_ids, self.pending_ids, self.fail_with, self.category)


@pytest.fixture
def eval_resources(base_resources, labelled_file, opik_env) -> dict:
    """Every resource ``opik_experiment`` needs: Opik unconfigured, the small set, scripted answers."""
    return {
        **base_resources,
        "validator": ScriptedValidatorResource(),
        "opik": OpikResource(),
        "evaluation_settings": EvaluationSettings(dataset_path=str(labelled_file)),
    }
