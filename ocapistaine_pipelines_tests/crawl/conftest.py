"""Crawl fixtures: a loopback Firecrawl v2 server, sources files, and a materialize helper."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from ocapistaine_pipelines.crawl.assets import crawled_documents
from ocapistaine_pipelines.crawl.resources import FirecrawlResource

from .. import dagster_instances
from ..guard_helpers import plain_value
from .fake_firecrawl import FakeFirecrawl

SITE = "https://www.audierne.bzh"


@pytest.fixture
def fake():
    server = FakeFirecrawl()
    yield server
    server.stop()


def write_sources(folder: Path, sources: list[dict], suffix: str = ".json") -> str:
    """A sources file; ``pdf_text`` defaults to ``off`` here: the sites of the page tests link PDFs on
    www.audierne.bzh, which a test must never download (the PDF tests serve theirs on loopback)."""
    path = Path(folder) / f"sources{suffix}"
    sources = [{"pdf_text": "off", **entry} for entry in sources]
    path.write_text(json.dumps({"sources": sources}), encoding="utf-8")
    return str(path)


def firecrawl_resource(fake: FakeFirecrawl, sources_file: str | None, **overrides) -> FirecrawlResource:
    settings = dict(
        api_url=fake.url,
        sources_file=sources_file,
        poll_interval_seconds=0.0,
        backoff_seconds=0.0,
        max_attempts=3,
        batch_size=20,
    )
    settings.update(overrides)
    return FirecrawlResource(**settings)


def materialize(resources: dict, day: str, tags: dict | None = None, instance=None):
    return dg.materialize(
        [crawled_documents],
        partition_key=day,
        resources=resources,
        tags=tags or {},
        raise_on_error=False,
        instance=instance or dagster_instances.ephemeral(),
    )


def plain(metadata) -> dict:
    """Metadata as plain values; a table as its list of row dicts."""
    return {key: plain_value(value) for key, value in metadata.items()}


def day_record(result, day: str):
    """(event type, metadata) of the day's materialization or observation, or (None, {})."""
    for event in result.all_events:
        data = event.event_specific_data
        record = getattr(data, "materialization", None) or getattr(data, "asset_observation", None)
        if record is not None and event.event_type_value in ("ASSET_MATERIALIZATION", "ASSET_OBSERVATION"):
            if record.partition == day:
                return event.event_type_value, plain(record.metadata)
    return None, {}


def failure(result):
    """(description, metadata) of the step failure."""
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data
            user = data.user_failure_data
            return (user.description if user else str(data.error)), plain(user.metadata if user else {})
    return None, {}
