"""A crawl sources file that cannot be used fails the day once, naming the file and the variable."""

from __future__ import annotations

import dagster as dg
import pytest

from ocapistaine_pipelines.crawl.assets import crawled_documents
from ocapistaine_pipelines.crawl.sources import SourcesError, load_sources

from .conftest import SITE, firecrawl_resource

BAD_FILES = {
    "latin1.yaml": "- name: arretes\n  url: https://www.audierne.bzh/arrêtés/\n".encode("latin-1"),
    "bom16.json": '{"sources": []}'.encode("utf-16"),
    "tabs.yaml": b"- name: a\n\t url: x\n",
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "deep.yaml": b"[" * 5_000 + b"]" * 5_000,
    "empty.yaml": b"",
    "folder.yaml": None,  # a folder, not a file
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_any_unusable_sources_file_is_one_clear_error(tmp_path, name):
    path = tmp_path / name
    if BAD_FILES[name] is None:
        path.mkdir()
    else:
        path.write_bytes(BAD_FILES[name])
    with pytest.raises(SourcesError) as caught:
        load_sources(path)
    assert str(path) in str(caught.value) and "OCAPISTAINE_CRAWL_SOURCES" in str(caught.value)


def test_a_sources_file_that_is_not_utf8_fails_once_and_is_not_retried(fake, base_resources, tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_bytes(f"- name: arretes\n  url: {SITE}/arrêtés/\n".encode("latin-1"))
    job = dg.define_asset_job(
        "crawl", selection=[crawled_documents], op_retry_policy=dg.RetryPolicy(max_retries=2, delay=0)
    )
    defs = dg.Definitions(
        assets=[crawled_documents],
        jobs=[job],
        resources={**base_resources, "firecrawl": firecrawl_resource(fake, str(path))},
    )
    result = defs.resolve_job_def("crawl").execute_in_process(
        partition_key="2026-03-01", raise_on_error=False, instance=dg.DagsterInstance.ephemeral()
    )
    assert not result.success
    types = [e.event_type_value for e in result.all_events]
    assert types.count("STEP_FAILURE") == 1 and "STEP_UP_FOR_RETRY" not in types
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.user_failure_data.description
    assert str(path) in message and "OCAPISTAINE_CRAWL_SOURCES" in message and "not UTF-8" in message
    assert "UnicodeDecodeError" not in str(failure.event_specific_data)
    assert not fake.requests
