"""The PDF downloader against a loopback site (generated answers: types, sizes, redirect chains), and the
extraction workers (time limit, stop hook)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines.crawl.gateway import CrawlInterrupted
from ocapistaine_pipelines.crawl.pdf_fetch import CHUNK, HostPace, PdfFetcher, http_session
from ocapistaine_pipelines.crawl.pdf_workers import ExtractionPool
from ocapistaine_pipelines.crawl.sources import is_allowed

from ..budget import examples
from . import pdf_factory as make
from .pdf_server import PdfSite

CAP = 200_000


@pytest.fixture(scope="module")
def site():
    server = PdfSite()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def small_pdf():
    return make.prose_pdf(1, seed=11).data


def _fetcher(tmp_path, cap=CAP, per_second=0.0, check=lambda: None):
    return PdfFetcher(
        http_session(retries=0, backoff_seconds=0),
        HostPace(per_second, check),
        lambda url: is_allowed(url, ["127.0.0.1"]),
        max_bytes=cap,
        folder=str(tmp_path),
        check=check,
    )


@settings(
    max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(
        [
            "application/pdf",
            "application/pdf; charset=binary",
            "application/x-pdf",
            "text/html",
            "application/octet-stream",
            "",
        ]
    ),
    pdf_body=st.booleans(),
    size=st.sampled_from([1_000, CAP - 10, CAP, CAP + 1, 3 * CAP]),
    chunked=st.booleans(),
)
def test_only_pdf_bodies_under_the_cap_are_kept_and_nothing_is_read_far_past_it(
    site, small_pdf, tmp_path, kind, pdf_body, size, chunked
):
    start = small_pdf if pdf_body else b"<!DOCTYPE html><html><body>Erreur</body></html>"
    body = (start + b"\n%" + b"x" * size)[:size] if size > len(start) else start[:size]
    url = site.put(f"/g/{uuid.uuid4().hex}.pdf", body, content_type=kind, chunked=chunked)
    fetcher = _fetcher(tmp_path)
    got = fetcher.fetch(url)
    is_pdf_type = kind.split(";")[0] in ("application/pdf", "application/x-pdf")
    if not is_pdf_type:
        assert got.status == "wrong_content_type" and fetcher.bytes == 0  # never read
    elif len(body) > CAP and not chunked:
        assert got.status == "oversized" and fetcher.bytes == 0  # Content-Length says so: never read
    elif not pdf_body:
        assert got.status == "wrong_content_type" and "not a PDF" in got.reason
    elif len(body) > CAP:
        assert got.status == "oversized" and CAP < fetcher.bytes <= CAP + CHUNK
    else:
        assert got.status == "downloaded" and got.bytes == len(body) and got.path
        with open(got.path, "rb") as handle:
            assert handle.read() == body
    assert fetcher.bytes <= CAP + CHUNK
    got.discard()
    assert list(tmp_path.glob(".pdf-*")) == []  # no temporary file left behind


@settings(
    max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hops=st.lists(st.sampled_from(["127.0.0.1", "localhost"]), min_size=1, max_size=7),
    code=st.sampled_from([301, 302, 303, 307, 308]),
)
def test_a_redirect_off_the_allowed_domains_is_never_followed(site, small_pdf, tmp_path, hops, code):
    """A chain of redirects across hosts: every hop on a foreign host stops the fetch before asking it."""
    run = uuid.uuid4().hex
    final = site.put(f"/r/{run}/final.pdf", small_pdf)
    target = final
    for i in reversed(range(len(hops))):  # hop i redirects to hop i+1 (the last one to the file)
        path = f"/r/{run}/hop{i}.pdf"
        site.put(path, status=code, location=target)
        target = site.url(path, host=hops[i])
    before = len(site.seen)
    got = _fetcher(tmp_path).fetch(target)
    asked = [s.host.split(":")[0] for s in site.seen[before:]]
    assert "localhost" not in asked
    if "localhost" in hops[:6]:  # the fetcher follows 5 redirects: hops 0-5 are checked
        assert got.status == "foreign" and "localhost" in got.reason
        assert len(asked) == hops.index("localhost")
    elif len(hops) > 5:
        assert got.status == "failed" and "redirects" in got.reason
    else:
        assert got.status == "downloaded" and got.final_url == final
    got.discard()


def test_the_pace_per_host_holds_across_threads_and_the_user_agent_names_the_project(
    site, small_pdf, tmp_path
):
    url = site.put("/pace.pdf", small_pdf)
    fetcher = _fetcher(tmp_path, per_second=5)
    before = len(site.seen)
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [fetcher.fetch(url).discard() for _ in range(3)]) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 5 * 0.2 - 0.05  # 6 requests, 5 intervals of 1/5 s
    seen = site.seen[before:]
    assert len(seen) == 6 and all(s.headers["User-Agent"].startswith("ocapistaine-pipelines/") for s in seen)


def test_a_conditional_get_of_an_unchanged_document_reads_no_body(site, small_pdf, tmp_path):
    url = site.put("/cond.pdf", small_pdf)
    fetcher = _fetcher(tmp_path)
    first = fetcher.fetch(url)
    first.discard()
    again = fetcher.fetch(url, first.etag, first.last_modified)
    assert first.status == "downloaded" and first.etag and again.status == "not_modified"
    assert fetcher.downloads == 1 and fetcher.bytes == len(small_pdf)


def test_server_errors_are_failed_and_a_removed_document_is_removed(site, tmp_path):
    fetcher = _fetcher(tmp_path)
    assert fetcher.fetch(site.put("/err.pdf", status=500)).status == "failed"
    assert fetcher.fetch(site.put("/gone.pdf", status=410)).status == "removed"
    assert fetcher.fetch("http://127.0.0.1:9/closed.pdf").status == "failed"  # nothing listens on port 9


def test_an_extraction_over_its_time_limit_is_killed_and_the_next_one_runs(tmp_path):
    long = tmp_path / "long.pdf"
    long.write_bytes(make.prose_pdf(60, seed=12).data)  # several seconds of pdfminer
    short = tmp_path / "short.pdf"
    short.write_bytes(make.prose_pdf(1, seed=13, title="Arrêté").data)
    with ExtractionPool(size=1, timeout_seconds=60) as pool:
        assert pool.extract(str(short))["status"] == "stored"  # the worker is up (a cold start is not timed)
        first = pool._all[0].process
        pool.timeout = 0.5
        started = time.monotonic()
        result = pool.extract(str(long))
        assert result["status"] == "timeout" and time.monotonic() - started < 5
        assert pool.killed == 1 and not first.is_alive()
        pool.timeout = 60
        result = pool.extract(str(short))  # a fresh worker
        assert result["status"] == "stored" and "Arrêté page 1" in result["page_texts"][0]
        assert pool._all[0].process.pid != first.pid


def test_a_parser_over_its_memory_limit_gives_a_damaged_document_and_the_next_one_runs(tmp_path):
    """A decompression bomb (3 MB of PDF, 500 MB once inflated) under a 300 MB limit: the worker's
    parser runs out of memory, the document is damaged with that reason, and the pool goes on."""
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(make.decompression_bomb(500))
    short = tmp_path / "short.pdf"
    short.write_bytes(make.prose_pdf(1, seed=15, title="Arrêté").data)
    with ExtractionPool(size=1, timeout_seconds=60, memory_mb=300) as pool:
        result = pool.extract(str(bomb))
        assert result["status"] == "damaged" and "memory limit" in result["reason"], result
        again = pool.extract(str(short))
        assert again["status"] == "stored" and "Arrêté page 1" in again["page_texts"][0]


def test_a_memory_limit_too_low_to_load_the_parser_says_so(tmp_path):
    """A worker that dies while it loads (here: 40 MB of address space) is a clear error naming the
    setting, raised per document (the night records it as that document's failure), not an EOFError."""
    short = tmp_path / "short.pdf"
    short.write_bytes(make.prose_pdf(1, seed=16).data)
    with ExtractionPool(size=1, timeout_seconds=60, memory_mb=40) as pool:
        for _ in range(2):  # the next document tries again (it does not wait for a worker forever)
            with pytest.raises(RuntimeError, match=r"memory limit of 40 MB .*extraction_memory_mb"):
                pool.extract(str(short))


def test_the_stop_hook_stops_a_running_extraction_and_kills_its_worker(tmp_path):
    long = tmp_path / "long.pdf"
    long.write_bytes(make.prose_pdf(60, seed=14).data)
    stop_at = time.monotonic() + 0.5

    def check():
        if time.monotonic() > stop_at:
            raise CrawlInterrupted("lost the lock")

    pool = ExtractionPool(size=1, timeout_seconds=60, check=check)
    try:
        with pytest.raises(CrawlInterrupted):
            pool.extract(str(long))
        assert pool._all == []  # the busy worker was killed, not left to finish
    finally:
        pool.close()


def test_a_lost_lock_stops_the_pdf_step_and_nothing_is_written_after_it(site, tmp_path):
    from ocapistaine_pipelines.crawl.pdf_documents import PdfDocuments
    from ocapistaine_pipelines.crawl.resources import PdfSettings
    from ocapistaine_pipelines.crawl.sources import CrawlSource
    from ocapistaine_pipelines.crawl.store import SourceStore

    source = CrawlSource(name="docs", url=site.url("/documents/"), allowed_domains=("127.0.0.1",))
    store = SourceStore(tmp_path, source)
    for i in range(6):
        url = site.put(f"/lock/{i}.pdf", make.prose_pdf(1, seed=20 + i).data)
        store.pdfs[url] = {
            "url": url,
            "title": f"n°{i}",
            "source_page": source.url,
            "first_seen": "2026-03-01",
            "source": "docs",
        }
    lost = threading.Event()

    def check():
        if lost.is_set():
            raise CrawlInterrupted("lost the lock")

    original = store.put_pdf_row

    def put_then_lose(row):  # the lock is lost right after the second document is written
        original(row)
        if len(store.documents) == 2:
            lost.set()

    store.put_pdf_row = put_then_lose
    step = PdfDocuments(
        source,
        store,
        "2026-03-01",
        False,
        PdfSettings(concurrency=2, requests_per_second_per_host=0, retries=0),
        check=check,
    )
    with pytest.raises(CrawlInterrupted):
        step.run()
    assert len(store.documents) == 2  # the documents in flight when the lock went were not written
    asked = [s for s in site.requests() if s.path.startswith("/lock/")]
    assert len(asked) <= 4  # two written, at most two in flight; the others never asked for
