"""The Firecrawl gateway with the real SDK: retries, Retry-After, fatal errors, job paging."""

from __future__ import annotations

import time

import pytest

from ocapistaine_pipelines.crawl.gateway import (
    CrawlInterrupted,
    FirecrawlFailed,
    FirecrawlFatal,
    retry_after_seconds,
)
from ocapistaine_pipelines.crawl.sources import parse_sources

from .conftest import SITE, firecrawl_resource
from .fake_firecrawl import build_site

SOURCE = parse_sources([{"name": "a", "url": f"{SITE}/arretes/", "discovery": "map"}], "test")[0]


def test_429_with_retry_after_is_honoured_then_succeeds(fake):
    build_site(fake, SITE, 3)
    fake.inject("/v2/map", 429, headers={"Retry-After": "1"}, error="Rate limit exceeded")
    gateway = firecrawl_resource(fake, None, backoff_seconds=0.0).gateway()
    started = time.monotonic()
    links = gateway.map_links(SOURCE)
    assert time.monotonic() - started >= 1.0  # waited what the server asked, not the (zero) backoff
    assert len(fake.calls("POST", "/v2/map")) == 2 and len(links) == 4
    assert gateway.stats.retries == 1 and gateway.stats.credits == 1


def test_5xx_is_retried_with_backoff_then_gives_up_with_the_status(fake):
    fake.inject("/v2/scrape", 503, times=10)
    slept = []
    gateway = firecrawl_resource(fake, None, max_attempts=3, backoff_seconds=0.01).gateway()
    gateway._sleep = lambda s: (slept.append(s), time.sleep(s))
    with pytest.raises(FirecrawlFailed) as caught:
        gateway.scrape(f"{SITE}/arretes/", {})
    assert "after 3 attempts" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert len(fake.calls("POST", "/v2/scrape")) == 3
    assert gateway.stats.waited_seconds == pytest.approx(0.01 + 0.02)  # exponential


def test_500_once_then_success(fake):
    build_site(fake, SITE, 2)
    fake.inject(
        "/v2/batch/scrape/", 500, method="GET"
    )  # the status poll fails once: the job is not restarted
    gateway = firecrawl_resource(fake, None).gateway()
    got = []
    gateway.batch_scrape([f"{SITE}/arretes/document-00000/"], {}, got.extend, lambda chunk, errors: None)
    assert len(got) == 1 and len(fake.calls("POST", "/v2/batch/scrape")) == 1


@pytest.mark.parametrize("status, words", [(401, "401 Unauthorized"), (402, "402 Payment Required")])
def test_401_and_402_are_fatal_at_once(fake, status, words):
    fake.inject("/v2/map", status, times=5)
    gateway = firecrawl_resource(fake, None, api_key="fc-secret-key", max_attempts=5).gateway()
    with pytest.raises(FirecrawlFatal) as caught:
        gateway.map_links(SOURCE)
    assert words in str(caught.value) and "fc-secret-key" not in str(caught.value)
    assert len(fake.calls("POST", "/v2/map")) == 1


def test_400_is_not_retried(fake):
    fake.inject("/v2/map", 400, times=5, error="Invalid URL")
    gateway = firecrawl_resource(fake, None, max_attempts=5).gateway()
    with pytest.raises(FirecrawlFailed, match="HTTP 400"):
        gateway.map_links(SOURCE)
    assert len(fake.calls("POST", "/v2/map")) == 1


def test_an_unreachable_server_is_retried_then_reported_without_the_key():
    from ocapistaine_pipelines.crawl.resources import FirecrawlResource
    from ocapistaine_pipelines_tests.services import free_port

    resource = FirecrawlResource(
        api_url=f"http://127.0.0.1:{free_port()}",
        api_key="fc-k3y",
        max_attempts=2,
        backoff_seconds=0.0,
        request_timeout_seconds=2,
    )
    with pytest.raises(FirecrawlFailed) as caught:
        resource.gateway().map_links(SOURCE)
    assert "cannot reach Firecrawl" in str(caught.value) and "fc-k3y" not in str(caught.value)


def test_crawl_results_are_handed_over_page_by_page(fake):
    fake.page_size = 4
    build_site(fake, SITE, 10)
    gateway = firecrawl_resource(fake, None).gateway()
    pages = []
    assert gateway.crawl(SOURCE, lambda docs: pages.append(len(docs))) == 11
    assert pages == [4, 4, 3] and gateway.stats.credits == 11 == fake.credits


def test_a_lost_lock_between_polls_cancels_the_job(fake):
    fake.job_seconds = 30
    build_site(fake, SITE, 2)
    polls = []

    def check():
        polls.append(1)
        if len(polls) > 4:
            raise CrawlInterrupted("lost the lock")

    gateway = firecrawl_resource(fake, None, poll_interval_seconds=0.01).gateway(check=check)
    with pytest.raises(CrawlInterrupted):
        gateway.crawl(SOURCE, lambda docs: None)
    assert fake.calls("DELETE", "/v2/crawl/")


def test_retry_after_accepts_seconds_and_http_dates():
    import email.utils

    class Response:
        def __init__(self, value):
            self.headers = {"Retry-After": value} if value is not None else {}

    assert retry_after_seconds(Response("7")) == 7.0
    assert retry_after_seconds(Response(None)) is None
    assert retry_after_seconds(Response("soon")) is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds(Response(future)) <= 31


# -- the crawl start is never blindly repeated (a second start bills up to `limit` credits again) --------


@pytest.mark.slow
@pytest.mark.parametrize("how", ["drop", "500"])
def test_a_lost_answer_to_the_crawl_start_adopts_the_job_firecrawl_started(fake, how):
    fake.job_seconds = 0.5  # still running when the gateway looks for it
    build_site(fake, SITE, 3)
    fake.lose_answer("/v2/crawl", how)
    gateway = firecrawl_resource(fake, None, poll_interval_seconds=0.05).gateway()
    got = []
    assert gateway.crawl(SOURCE, got.extend) == 4
    assert len(fake.calls("POST", "/v2/crawl")) == 1  # started once
    assert len(fake.jobs) == 1 and gateway.stats.jobs == list(fake.jobs)
    assert fake.credits == 4 == gateway.stats.credits  # billed once
    assert sorted(doc.metadata.source_url for doc in got) == sorted(u for u in fake.pages if "/arretes/" in u)


def test_a_lost_answer_without_an_active_job_fails_the_source_without_a_second_start(fake):
    build_site(fake, SITE, 3)
    fake.inject("/v2/crawl", 503, times=5, method="POST")  # refused by a proxy: maybe accepted, maybe not
    gateway = firecrawl_resource(fake, None, max_attempts=5).gateway()
    with pytest.raises(FirecrawlFailed) as caught:
        gateway.crawl(SOURCE, lambda docs: None)
    assert "no active crawl on" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert len(fake.calls("POST", "/v2/crawl")) == 1 and fake.credits == 0


def test_an_older_active_crawl_on_the_same_url_is_not_adopted(fake):
    """A job already running before the start (an earlier night's, say) is not ours: only the new one is."""
    build_site(fake, SITE, 2)
    fake.job_seconds = 30
    older = fake._new_job("crawl", [], [], url=SOURCE.url)
    fake.job_seconds = 0.5
    fake.lose_answer("/v2/crawl", "drop")
    gateway = firecrawl_resource(fake, None, poll_interval_seconds=0.05).gateway()
    assert gateway.crawl(SOURCE, lambda docs: None) == 3
    [ours] = [job_id for job_id in fake.jobs if job_id != older]
    assert gateway.stats.jobs == [ours]
    assert len(fake.calls("POST", "/v2/crawl")) == 1


def test_429_on_the_crawl_start_is_retried(fake):
    build_site(fake, SITE, 2)
    fake.inject("/v2/crawl", 429, method="POST", error="Rate limit exceeded")
    gateway = firecrawl_resource(fake, None).gateway()
    assert gateway.crawl(SOURCE, lambda docs: None) == 3
    assert len(fake.calls("POST", "/v2/crawl")) == 2 and len(fake.jobs) == 1


def test_a_refused_connection_on_the_crawl_start_is_retried():
    from ocapistaine_pipelines.crawl.resources import FirecrawlResource
    from ocapistaine_pipelines_tests.services import free_port

    resource = FirecrawlResource(
        api_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=3,
        backoff_seconds=0.0,
        request_timeout_seconds=2,
    )
    with pytest.raises(FirecrawlFailed) as caught:
        resource.gateway().crawl(SOURCE, lambda docs: None)
    assert "start crawl" in str(caught.value) and "after 3 attempts" in str(caught.value)
    assert "cannot reach Firecrawl" in str(caught.value)
