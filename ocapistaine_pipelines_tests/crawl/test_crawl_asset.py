"""crawled_documents end to end: the real firecrawl-py SDK against a loopback Firecrawl v2 server,
the real guard on a private redis-server, files in a temporary data dir."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from ocapistaine_pipelines.guard import TaskGuard
from ocapistaine_pipelines.guard.contract import FORCE_TAG

from .conftest import SITE, day_record, failure, firecrawl_resource, materialize, write_sources
from .fake_firecrawl import build_site

DAY1, DAY2 = "2026-03-01", "2026-03-02"


def _resources(base_resources, fake, sources_file, **overrides):
    return {**base_resources, "firecrawl": firecrawl_resource(fake, sources_file, **overrides)}


def _two_sources(tmp_path):
    return write_sources(
        tmp_path,
        [
            {
                "name": "mairie_arretes",
                "url": f"{SITE}/arretes/",
                "mode": "crawl",
                "allowed_domains": ["audierne.bzh"],
            },
            {
                "name": "commission_controle",
                "url": f"{SITE}/documentheque/?documents_category=49",
                "mode": "scrape",
                "allowed_domains": ["audierne.bzh"],
            },
        ],
    )


def source_row(meta: dict, name: str, columns: int) -> tuple:
    """The first ``columns`` cells of a source's row of the ``sources`` table."""
    row = next(row for row in meta["sources"] if row["source"] == name)
    return tuple(row.values())[:columns]


def test_first_crawl_then_an_incremental_second_night(
    fake, base_resources, data_dir, scheduler_db, app_db, tmp_path
):
    fake.page_size = 7  # the crawl's results come back over several `next` pages
    build_site(fake, SITE, 30)
    fake.add_page(
        f"{SITE}/documentheque/?documents_category=49",
        title="Documenthèque",
        markdown=f"# Documents\n\n[Rapport CCSP 2025]({SITE}/wp-content/uploads/2026/rapport.pdf)\n"
        "[Ailleurs](https://example.org/autre.pdf)\n",
    )
    resources = _resources(base_resources, fake, _two_sources(tmp_path))

    first = materialize(resources, DAY1)
    assert first.success
    kind, meta = day_record(first, DAY1)
    assert kind == "ASSET_MATERIALIZATION" and meta["status"] == "success"
    assert (meta["new"], meta["changed"], meta["unchanged"], meta["failed_pages"]) == (32, 0, 0, 0)
    assert meta["credits_used"] == 32 == fake.credits  # what we record is what the account was billed
    assert source_row(meta, "mairie_arretes", 6) == (
        "mairie_arretes",
        "crawl",
        "crawl job (first run)",
        "success",
        31,
        31,
    )
    assert len(fake.calls("GET", "/v2/crawl/")) >= 5  # status + next pages followed
    assert scheduler_db.get("success:task_firecrawl:20260301") == "completed"

    folder = Path(data_dir.root) / "documents" / "mairie_arretes"
    index = pd.read_parquet(folder / "index.parquet")
    assert len(index) == 31 and set(index["state"]) == {"stored"}
    row = index[index["url"] == f"{SITE}/arretes/document-00003/"].iloc[0]
    markdown = (folder / row["file"]).read_text(encoding="utf-8")
    sidecar = json.loads((folder / row["file"]).with_suffix(".json").read_text(encoding="utf-8"))
    assert "Texte de l'acte 3." in markdown
    assert (
        sidecar["url"] == row["url"] and sidecar["title"] == "arretes n°3" and sidecar["status_code"] == 200
    )
    assert sidecar["crawl_date"] == DAY1 and sidecar["source"] == "mairie_arretes"
    import hashlib

    assert sidecar["sha256"] == hashlib.sha256(markdown.encode()).hexdigest() == row["sha256"]
    pdfs = pd.read_parquet(folder / "pdf_links.parquet")
    assert len(pdfs) == 30 and set(pdfs["first_seen"]) == {DAY1}
    commission_pdfs = pd.read_parquet(Path(data_dir.root) / "documents/commission_controle/pdf_links.parquet")
    assert commission_pdfs.to_dict("records") == [
        {
            "url": f"{SITE}/wp-content/uploads/2026/rapport.pdf",
            "title": "Rapport CCSP 2025",
            "source_page": f"{SITE}/documentheque/?documents_category=49",
            "first_seen": DAY1,
            "source": "commission_controle",
        }
    ]  # the example.org PDF is not on an allowed domain
    status = app_db.hgetall("crawl:mairie_arretes")
    assert (
        status["status"] == "success"
        and status["documents"] == "31"
        and status["last_crawl"].startswith("20")
    )

    # the next night: 3 new documents, one document edited, the rest untouched
    mtimes = {p.name: p.stat().st_mtime_ns for p in (folder / "pages").iterdir()}
    build_site(fake, SITE, 3, start=30)
    fake.pages[f"{SITE}/arretes/document-00001/"].markdown += "\nRectificatif.\n"
    fake.credits = 0
    second = materialize(resources, DAY2)
    assert second.success
    _, meta2 = day_record(second, DAY2)
    assert meta2["new"] == 3
    assert not fake.calls("POST", "/v2/crawl")[1:]  # no second crawl job: listing + batch scrape only
    assert meta2["credits_used"] == fake.credits < 0.5 * 32
    # refreshed: the listing, the scrape source and the pages whose refresh slot is today, nothing else
    scraped = [u for body in fake.calls("POST", "/v2/batch/scrape") for u in body["urls"]]
    assert len(scraped) == len(set(scraped)) == meta2["new"] + meta2["unchanged"] + meta2["changed"] - 2
    untouched = [
        p
        for p in (folder / "pages").iterdir()
        if p.name in mtimes and "document-" in p.name and "document-00001-" not in p.name
    ]
    assert len(untouched) == 2 * 29
    assert all(p.stat().st_mtime_ns == mtimes[p.name] for p in untouched)  # unchanged pages are not rewritten
    assert len(pd.read_parquet(folder / "index.parquet")) == 34
    assert app_db.hget("crawl:mairie_arretes", "documents") == "34"


def test_a_failing_source_does_not_stop_the_others_and_the_day_fails(
    fake, base_resources, data_dir, scheduler_db, app_db, tmp_path
):
    build_site(fake, SITE, 5)
    fake.fail_target("https://down.audierne.bzh/", 500)
    sources = write_sources(
        tmp_path,
        [
            {"name": "broken", "url": "https://down.audierne.bzh/arretes/", "mode": "crawl"},
            {"name": "mairie_arretes", "url": f"{SITE}/arretes/", "mode": "crawl"},
        ],
    )
    result = materialize(_resources(base_resources, fake, sources, max_attempts=2), DAY1)
    assert not result.success
    description, meta = failure(result)
    assert "1 of 2 source(s) failed" in description and "broken" in description and "500" in description
    assert source_row(meta, "broken", 5) == ("broken", "crawl", "crawl job (first run)", "failed", 0)
    assert source_row(meta, "mairie_arretes", 6) == (
        "mairie_arretes",
        "crawl",
        "crawl job (first run)",
        "success",
        6,
        6,
    )
    # one start on the broken site (a 500 may hide an accepted job: never started twice), then the other
    # source
    assert len(fake.calls("POST", "/v2/crawl")) == 2
    errors = " ".join(str(row["error"]) for row in meta["sources"])
    assert "no active crawl on https://down.audierne.bzh/arretes/" in errors + description
    assert scheduler_db.get("success:task_firecrawl:20260301") is None
    assert scheduler_db.get("lock:task_firecrawl:20260301") is None  # released for the next attempt
    assert app_db.hget("crawl:broken", "status") == "failed"
    assert app_db.hget("crawl:mairie_arretes", "status") == "success"
    assert len(pd.read_parquet(Path(data_dir.root) / "documents/mairie_arretes/index.parquet")) == 6


def test_nothing_is_stored_from_a_foreign_domain(fake, base_resources, data_dir, tmp_path):
    build_site(fake, SITE, 3)
    fake.add_page(
        f"{SITE}/arretes/moved/", title="moved", redirect_to="https://evil.example.com/arretes/moved/"
    )
    fake.map_extra = ["https://evil.example.com/page/", "https://audierne.bzh.evil.example/x/"]
    sources = write_sources(
        tmp_path,
        [
            {
                "name": "mairie_arretes",
                "url": f"{SITE}/arretes/",
                "discovery": "map",
                "allowed_domains": ["audierne.bzh"],
            }
        ],
    )
    resources = _resources(base_resources, fake, sources)
    first = materialize(resources, DAY1)
    assert first.success
    _, meta = day_record(first, DAY1)
    assert meta["foreign_pages"] == 1 and meta["new"] == 4
    assert "evil.example.com" in json.dumps(meta["warnings"])
    folder = Path(data_dir.root) / "documents" / "mairie_arretes"
    stored = " ".join(p.read_text(encoding="utf-8") for p in (folder / "pages").glob("*.json"))
    assert "evil" not in stored and "moved" not in stored
    index = pd.read_parquet(folder / "index.parquet")
    assert index.set_index("url").loc[f"{SITE}/arretes/moved/", "state"] == "foreign"

    # night 2 discovers through map: foreign links are never scraped (no credits spent on them)
    materialize(resources, DAY2)
    scraped = [u for body in fake.calls("POST", "/v2/batch/scrape") for u in body["urls"]]
    assert not [u for u in scraped if "evil" in u]


def test_401_fails_at_once_with_a_clear_message_and_no_key(fake, base_resources, scheduler_db, tmp_path):
    fake.api_key = "fc-the-right-key"
    build_site(fake, SITE, 3)
    sources = write_sources(
        tmp_path,
        [
            {"name": "mairie_arretes", "url": f"{SITE}/arretes/"},
            {"name": "mairie_deliberations", "url": f"{SITE}/deliberations/"},
        ],
    )
    secret = "fc-wrong-secret-123"
    result = materialize(_resources(base_resources, fake, sources, api_key=secret, max_attempts=5), DAY1)
    assert not result.success
    description, meta = failure(result)
    assert "401 Unauthorized" in description and "FIRECRAWL_API_KEY" in description
    assert len(fake.requests) == 1  # not retried, and the second source is not tried with a bad key
    assert source_row(meta, "mairie_deliberations", 5) == ("mairie_deliberations", "crawl", "", "not_run", 0)
    everything = json.dumps([str(e) for e in result.all_events]) + description + json.dumps(meta, default=str)
    assert secret not in everything
    assert scheduler_db.get("success:task_firecrawl:20260301") is None


@pytest.mark.slow
def test_a_crawl_outliving_the_lock_ttl_keeps_its_lock_and_completes(
    fake, redis_resource, data_dir, scheduler_db, tmp_path
):
    fake.job_seconds = 3.0  # the crawl job takes 1.5 lock TTLs
    build_site(fake, SITE, 5)
    # a 2 s TTL: the guard declares a lock lost after 2/3 of it without a confirmed renewal, and a
    # loaded CI machine may starve the heartbeat thread for a few hundred ms
    guard = TaskGuard(redis=redis_resource, lock_ttl_seconds=2)
    resources = {
        "redis": redis_resource,
        "guard": guard,
        "data_dir": data_dir,
        "firecrawl": firecrawl_resource(
            fake,
            write_sources(tmp_path, [{"name": "a", "url": f"{SITE}/arretes/"}]),
            poll_interval_seconds=0.05,
        ),
    }
    started = time.monotonic()
    result = materialize(resources, DAY1)
    assert time.monotonic() - started > 3.0
    assert result.success
    assert scheduler_db.get("success:task_firecrawl:20260301") == "completed"
    assert len(fake.calls("GET", "/v2/crawl/")) > 10  # polled all along


def test_losing_the_lock_stops_the_crawl_cancels_the_job_and_does_not_mark_success(
    fake, redis_resource, data_dir, scheduler_db, tmp_path
):
    import threading

    fake.job_seconds = 30
    build_site(fake, SITE, 5)
    guard = TaskGuard(redis=redis_resource, lock_ttl_seconds=1)
    resources = {
        "redis": redis_resource,
        "guard": guard,
        "data_dir": data_dir,
        "firecrawl": firecrawl_resource(
            fake,
            write_sources(tmp_path, [{"name": "a", "url": f"{SITE}/arretes/"}]),
            poll_interval_seconds=0.05,
        ),
    }

    def steal():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not fake.calls("GET", "/v2/crawl/"):
            time.sleep(0.02)
        scheduler_db.set("lock:task_firecrawl:20260301", "another-run", ex=60)

    thief = threading.Thread(target=steal)
    thief.start()
    started = time.monotonic()
    result = materialize(resources, DAY1)
    thief.join()
    assert time.monotonic() - started < 10
    assert not result.success
    description, _ = failure(result)
    assert "lost the lock" in description
    assert fake.calls("DELETE", "/v2/crawl/")  # the job is cancelled: no more credits spent
    assert scheduler_db.get("success:task_firecrawl:20260301") is None
    assert scheduler_db.get("lock:task_firecrawl:20260301") == "another-run"  # never deletes another's lock


def test_not_configured_is_skipped_with_a_clear_reason(base_resources, scheduler_db):
    from ocapistaine_pipelines.crawl.resources import firecrawl_resource_from_env

    resources = {**base_resources, "firecrawl": firecrawl_resource_from_env({})}
    result = materialize(resources, DAY1)
    assert result.success
    kind, meta = day_record(result, DAY1)
    assert kind == "ASSET_OBSERVATION"
    assert meta["status"] == "skipped" and meta["reason"] == "firecrawl_not_configured"
    assert "FIRECRAWL_API_KEY" in json.dumps(meta["warnings"]) and "FIRECRAWL_API_URL" in json.dumps(
        meta["warnings"]
    )
    assert scheduler_db.get("success:task_firecrawl:20260301") is None


def test_a_forced_run_refreshes_every_stored_page(fake, base_resources, scheduler_db, tmp_path):
    build_site(fake, SITE, 12)
    resources = _resources(
        base_resources, fake, write_sources(tmp_path, [{"name": "a", "url": f"{SITE}/arretes/"}])
    )
    assert materialize(resources, DAY1).success
    again = materialize(resources, DAY1)  # already completed: skipped, nothing called
    assert day_record(again, DAY1)[1]["reason"] == "already_completed"
    calls = len(fake.requests)
    forced = materialize(resources, DAY1, tags={FORCE_TAG: "true"})
    assert forced.success and len(fake.requests) > calls
    _, meta = day_record(forced, DAY1)
    assert meta["forced"] is True and meta["unchanged"] == 13 and meta["new"] == 0


def test_pages_a_batch_cannot_scrape_are_failed_and_retried_next_night(
    fake, base_resources, data_dir, tmp_path
):
    build_site(fake, SITE, 4)
    resources = _resources(
        base_resources, fake, write_sources(tmp_path, [{"name": "a", "url": f"{SITE}/arretes/"}])
    )
    assert materialize(resources, DAY1).success
    new = build_site(fake, SITE, 2, start=4)
    fake.fail_in_batch(new[0])
    result = materialize(resources, DAY2)
    assert result.success  # a page that failed is retried later; it does not fail the night
    _, meta = day_record(result, DAY2)
    assert meta["failed_pages"] == 1 and meta["new"] == 1
    assert "scrape failed: timeout" in json.dumps(meta["warnings"])
    index = pd.read_parquet(Path(data_dir.root) / "documents/a/index.parquet").set_index("url")
    assert index.loc[new[0], "state"] == "failed" and index.loc[new[0], "attempts"] == 1
    fake.batch_failures.clear()
    third = materialize(resources, "2026-03-03")
    _, meta3 = day_record(third, "2026-03-03")
    assert meta3["new"] == 1  # the failed page is retried and stored


def test_an_invalid_sources_file_fails_with_a_message_naming_it(fake, base_resources, tmp_path):
    path = write_sources(tmp_path, [{"name": "Bad Name!", "url": f"{SITE}/"}])
    result = materialize(_resources(base_resources, fake, path), DAY1)
    assert not result.success
    description, _ = failure(result)
    assert (
        path in description
        and "name must match" in description
        and "OCAPISTAINE_CRAWL_SOURCES" in description
    )
    assert not fake.requests


def test_the_store_check_passes_on_a_crawl_and_catches_a_tampered_page(
    fake, base_resources, data_dir, tmp_path
):
    from ocapistaine_pipelines.crawl.assets import crawled_documents_store_is_consistent as check

    build_site(fake, SITE, 4)
    resources = _resources(
        base_resources, fake, write_sources(tmp_path, [{"name": "a", "url": f"{SITE}/arretes/"}])
    )
    assert materialize(resources, DAY1).success
    good = check(data_dir=data_dir, firecrawl=resources["firecrawl"])
    assert good.passed and good.metadata["pages_checked"].value == 5
    page = next((Path(data_dir.root) / "documents/a/pages").glob("*document-00002-*.md"))
    page.write_text("tampered", encoding="utf-8")
    bad = check(data_dir=data_dir, firecrawl=resources["firecrawl"])
    assert not bad.passed and "does not match its sha256" in json.dumps(bad.metadata["problems"].value)


def test_a_listing_page_that_cannot_be_read_fails_its_source(fake, base_resources, app_db, tmp_path):
    build_site(fake, SITE, 3)
    resources = _resources(
        base_resources, fake, write_sources(tmp_path, [{"name": "a", "url": f"{SITE}/arretes/"}])
    )
    assert materialize(resources, DAY1).success
    del fake.pages[f"{SITE}/arretes/"]  # the listing now answers 404: nothing can be discovered
    result = materialize(resources, DAY2)
    assert not result.success
    description, meta = failure(result)
    assert "the source page https://www.audierne.bzh/arretes/ could not be read: HTTP 404" in description
    assert not fake.calls("POST", "/v2/batch/scrape")
    assert app_db.hget("crawl:a", "status") == "failed" and app_db.hget("crawl:a", "documents") == "4"


def test_rate_limits_and_server_errors_mid_night_are_retried_without_paying_twice(
    fake, base_resources, tmp_path
):
    fake.page_size = 3
    build_site(fake, SITE, 6)
    fake.inject("/v2/crawl", 429, method="POST", headers={"Retry-After": "1"}, error="Rate limit exceeded")
    fake.inject("/v2/crawl/", 500, method="GET")  # a status poll
    resources = _resources(
        base_resources, fake, write_sources(tmp_path, [{"name": "a", "url": f"{SITE}/arretes/"}])
    )
    started = time.monotonic()
    result = materialize(resources, DAY1)
    assert result.success and time.monotonic() - started >= 1.0
    _, meta = day_record(result, DAY1)
    assert meta["firecrawl_retries"] == 2 and meta["new"] == 7
    assert len(fake.jobs) == 1 and meta["credits_used"] == 7 == fake.credits  # one job, billed once
