"""The Firecrawl v2 client as the crawl uses it: retries, job polling, credits, lock checks.

The SDK retries only 502 and connection errors, and raises at once on 429 and other 5xx; here every
call is retried on 429, 408, 5xx and connection errors with exponential backoff, honouring
``Retry-After``, except the start of a crawl job (no idempotency key in SDK 4.55): it is retried only
when the request never reached Firecrawl, and an answer lost after that adopts the job Firecrawl
started. 401 and 402 are not retried: the key or the account is wrong for every source, so they raise
``FirecrawlFatal`` with a message that names the cause (never the key).

Jobs (crawl, batch scrape) are polled here rather than with the SDK's blocking helpers, so that the
task's lock is checked between polls and result pages, a job is cancelled when the run stops, and
results are handed over page by page (``next`` links) instead of being held in memory all at once.
"""

from __future__ import annotations

import email.utils
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..io_utils import redact, safe_url
from .sources import CrawlSource

log = logging.getLogger(__name__)

TERMINAL = ("completed", "failed", "cancelled")
DEFAULT_API_URL = "https://api.firecrawl.dev"
#: Firecrawl's path regex (JavaScript: no inline flags) for PDF files, kept out of crawl jobs.
PDF_PATH = r"\.[pP][dD][fF]$"


class FirecrawlFailed(Exception):
    """A call or job failed for good (retries exhausted, or an error that retrying cannot fix)."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class FirecrawlFatal(FirecrawlFailed):
    """401/402: every source would fail the same way, so the run stops at once."""


class StartUncertain(FirecrawlFailed):
    """A job start whose answer was lost (timeout, 5xx, dropped reply): Firecrawl may have accepted it."""


class CrawlInterrupted(Exception):
    """The task lost its lock: stop crawling now (not a per-source failure)."""


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    #: A ``Retry-After`` longer than this is cut to it (a crawl must not sleep for hours).
    retry_after_max_seconds: float = 300.0


@dataclass
class CallStats:
    """What the gateway did, for metadata and tests."""

    credits: int = 0
    calls: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    jobs: list[str] = field(default_factory=list)


def retry_after_seconds(response: Any) -> float | None:
    """``Retry-After`` in seconds: a number or an HTTP date; None when absent or unreadable."""
    if response is None:
        return None
    value = (getattr(response, "headers", None) or {}).get("Retry-After")
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class FirecrawlGateway:
    """One crawl run's access to Firecrawl: every call retried, counted and lock-checked."""

    def __init__(
        self,
        client: Any,
        *,
        api_url: str,
        secret: str | None = None,
        poll_interval_seconds: float = 2.0,
        job_timeout_seconds: float = 3 * 3600,
        batch_size: int = 100,
        retry: RetrySettings = RetrySettings(),
        check: Callable[[], None] = lambda: None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        #: Where Firecrawl is, safe to show: no credentials, query or fragment (FIRECRAWL_API_URL may carry
        #: some).
        self.api_url = safe_url(api_url)
        parts = urlsplit(api_url)
        token_user = parts.username if parts.password is None else None  # https://TOKEN@host
        self._secrets = [secret, parts.password, token_user, parts.query or None]
        self.poll_interval = max(0.0, poll_interval_seconds)
        self.job_timeout = job_timeout_seconds
        self.batch_size = max(1, batch_size)
        self.retry = retry
        self.check = check
        self._sleep = sleep
        self.stats = CallStats()

    # -- errors ---------------------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        """``text`` without the API key or the credentials of the API URL."""
        return redact(text, self._secrets)

    def _classify(self, what: str, error: BaseException) -> tuple[bool, float | None, BaseException]:
        """(retryable, server-asked wait, the error to raise if not retried)."""
        import requests
        from firecrawl.v2.utils.error_handler import FirecrawlError

        if isinstance(error, FirecrawlError):
            status = error.status_code
            detail = self.redact(str(error))
            if status == 401:
                return (
                    False,
                    None,
                    FirecrawlFatal(
                        f"Firecrawl refused the request to {what} with 401 Unauthorized at {self.api_url}: "
                        "FIRECRAWL_API_KEY is missing or wrong for this server",
                        401,
                    ),
                )
            if status == 402:
                return (
                    False,
                    None,
                    FirecrawlFatal(
                        f"Firecrawl answered 402 Payment Required to {what} at {self.api_url}: "
                        "the account has no credits left; nothing more is crawled until it is topped up",
                        402,
                    ),
                )
            if status == 429 or status == 408 or (status is not None and status >= 500):
                return (
                    True,
                    retry_after_seconds(error.response),
                    FirecrawlFailed(f"HTTP {status}: {detail}", status),
                )
            answer = f"HTTP {status}" if status is not None else "an error answer"
            return False, None, FirecrawlFailed(f"{what} failed with {answer}: {detail}", status)
        if isinstance(error, (requests.ConnectionError, requests.Timeout)):
            return (
                True,
                None,
                FirecrawlFailed(f"{what}: cannot reach Firecrawl at {self.api_url} ({type(error).__name__})"),
            )
        return False, None, error

    @staticmethod
    def _never_reached_server(error: BaseException) -> bool:
        """A 429, a refused connection or a connect timeout: the request was not processed."""
        import requests
        from firecrawl.v2.utils.error_handler import FirecrawlError
        from urllib3.exceptions import NewConnectionError

        if isinstance(error, FirecrawlError):
            return error.status_code == 429
        if isinstance(error, requests.ConnectTimeout):
            return True
        if isinstance(error, requests.ConnectionError):
            seen: set[int] = set()
            cause: BaseException | None = error
            while cause is not None and id(cause) not in seen:  # requests wraps urllib3's MaxRetryError
                seen.add(id(cause))
                if isinstance(cause, (NewConnectionError, ConnectionRefusedError)):
                    return True
                reason = getattr(cause, "reason", None)
                cause = (
                    reason
                    if isinstance(reason, BaseException)
                    else (
                        cause.args[0]
                        if cause.args and isinstance(cause.args[0], BaseException)
                        else cause.__cause__
                    )
                )
        return False

    def call(self, what: str, fn: Callable, *args, repeatable: bool = True, **kwargs):
        """Call the SDK with retries on 429/408/5xx/connection errors; the lock is checked first.

        ``repeatable=False`` (a start that SDK 4.55 cannot make idempotent): retried only when the
        request never reached the server (429, refused connection); a timeout, 5xx or lost reply raises
        ``StartUncertain``, since a retry could start (and bill) a second job.
        """
        attempt = 0
        while True:
            attempt += 1
            self.check()
            self.stats.calls += 1
            try:
                return fn(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - classified below
                retryable, asked, failure = self._classify(what, error)
                if not retryable:
                    if failure is error:
                        raise
                    raise failure from None
                if not repeatable and not self._never_reached_server(error):
                    reason = str(failure).removeprefix(f"{what}: ")
                    raise StartUncertain(
                        f"{what}: no usable answer ({reason}); Firecrawl may have accepted it",
                        getattr(failure, "status_code", None),
                    ) from None
                if attempt >= self.retry.max_attempts:
                    raise FirecrawlFailed(
                        f"{what} failed after {attempt} attempts: {failure}",
                        getattr(failure, "status_code", None),
                    ) from None
                backoff = min(self.retry.backoff_max_seconds, self.retry.backoff_seconds * 2 ** (attempt - 1))
                wait = backoff if asked is None else min(asked, self.retry.retry_after_max_seconds)
                log.warning("%s: %s; retry %d in %.1fs", what, failure, attempt, wait)
                self.stats.retries += 1
                self.wait(wait)

    def wait(self, seconds: float) -> None:
        """Sleep in short slices, checking the lock between them."""
        end = time.monotonic() + seconds
        self.stats.waited_seconds += seconds
        while True:
            self.check()
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            self._sleep(min(remaining, 0.5))

    # -- single calls -------------------------------------------------------------------------------------
    def map_links(self, source: CrawlSource) -> list[str]:
        """All URLs Firecrawl's map knows for the source's site (1 credit)."""
        data = self.call(
            f"map {source.url}", self.client.map, source.url, limit=source.limit, sitemap="include"
        )
        self.stats.credits += 1
        return [link.url for link in data.links if getattr(link, "url", None)]

    def scrape(self, url: str, options: dict) -> Any:
        """One page; credits from the answer's metadata, else 1."""
        document = self.call(f"scrape {url}", self.client.scrape, url, **options)
        credits = getattr(document.metadata, "credits_used", None) if document.metadata else None
        self.stats.credits += credits if isinstance(credits, int) and credits >= 0 else 1
        return document

    # -- jobs -------------------------------------------------------------------------------------------
    def crawl(self, source: CrawlSource, on_documents: Callable[[list], None]) -> int:
        """A Firecrawl crawl job from the source URL; documents handed over page by page.

        Returns the number of documents received. Raises ``FirecrawlFailed`` if the job ended
        failed or cancelled (after handing over what it did return: those credits are spent).
        """
        from firecrawl.v2.types import ScrapeOptions

        options = ScrapeOptions(**source.scrape_options)
        kwargs: dict[str, Any] = dict(
            limit=source.limit,
            include_paths=list(source.include_paths) or None,
            # the PDF step reads linked PDFs itself (once, conditionally): the job must not pay for them too
            exclude_paths=list(source.exclude_paths) + ([PDF_PATH] if source.pdf_text != "off" else [])
            or None,
            scrape_options=options,
            crawl_entire_domain=source.crawl_entire_domain,
        )
        if source.max_discovery_depth is not None:
            kwargs["max_discovery_depth"] = source.max_discovery_depth
        job_id = self._start_crawl(source, kwargs)
        return self._follow_job(
            f"crawl {source.url}",
            job_id,
            status=self.client.get_crawl_status,
            page=self.client.get_crawl_status_page,
            cancel=self.client.cancel_crawl,
            on_documents=on_documents,
        )

    def _active_crawls_on(self, url: str) -> set[str]:
        """Ids of the active crawl jobs (of this account) started on ``url``."""
        active = self.call("list active crawls", self.client.get_active_crawls)
        wanted = _url_key(url)
        return {job.id for job in active.crawls if job.id and job.url and _url_key(job.url) == wanted}

    def _start_crawl(self, source: CrawlSource, kwargs: dict) -> str:
        """Start the crawl job once: SDK 4.55 has no idempotency key for it, and a second start bills
        up to ``limit`` credits again. When the answer is lost, adopt the job Firecrawl did start."""
        what = f"start crawl {source.url}"
        try:
            before: set[str] | None = self._active_crawls_on(source.url)
        except FirecrawlFatal:
            raise
        except FirecrawlFailed as error:
            log.warning("%s: could not list the active crawls first: %s", what, self.redact(str(error)))
            before = None
        try:
            return self.call(what, self.client.start_crawl, source.url, repeatable=False, **kwargs).id
        except StartUncertain as uncertain:
            lost = uncertain
        try:
            candidates = self._active_crawls_on(source.url) - (before or set())
        except FirecrawlFatal:
            raise
        except FirecrawlFailed as error:
            raise FirecrawlFailed(
                f"{lost}; the active crawls could not be listed ({error}): not started again tonight, "
                "so no second crawl is billed",
                lost.status_code,
            ) from None
        if len(candidates) == 1:
            job_id = candidates.pop()
            log.warning("%s; adopting the crawl job %s that started on that URL", lost, job_id)
            return job_id
        if candidates:
            raise FirecrawlFailed(
                f"{lost}; {len(candidates)} active crawls on {source.url} ({', '.join(sorted(candidates))}): "
                "cannot tell which one is ours; not started again tonight",
                lost.status_code,
            )
        raise FirecrawlFailed(
            f"{lost}; no active crawl on {source.url}: not started again tonight, "
            "so no second crawl is billed",
            lost.status_code,
        )

    def batch_scrape(
        self,
        urls: list[str],
        options: dict,
        on_documents: Callable[[list], None],
        on_chunk_done: Callable[[list[str], list], None],
    ) -> int:
        """Scrape ``urls`` in batch jobs of ``batch_size``: documents page by page, then per chunk
        ``on_chunk_done(requested, errors)`` (the job's per-URL errors, when it reports them).

        Each chunk's start carries an idempotency key, so a start retried after a lost answer does
        not start (and bill) a second job.
        """
        total = 0
        for start in range(0, len(urls), self.batch_size):
            chunk = urls[start : start + self.batch_size]
            key = str(uuid.uuid4())
            started = self.call(
                f"start batch scrape of {len(chunk)} URLs",
                self.client.start_batch_scrape,
                chunk,
                idempotency_key=key,
                **options,
            )
            errors: list = []
            total += self._follow_job(
                f"batch scrape {started.id}",
                started.id,
                status=self.client.get_batch_scrape_status,
                page=self.client.get_batch_scrape_status_page,
                cancel=self.client.cancel_batch_scrape,
                on_documents=on_documents,
                errors=self.client.get_batch_scrape_errors,
                on_errors=errors.extend,
            )
            on_chunk_done(chunk, errors)
        return total

    def _follow_job(
        self,
        what: str,
        job_id: str,
        *,
        status: Callable,
        page: Callable,
        cancel: Callable,
        on_documents: Callable[[list], None],
        errors: Callable | None = None,
        on_errors: Callable | None = None,
    ) -> int:
        from firecrawl.v2.types import PaginationConfig

        self.stats.jobs.append(job_id)
        deadline = time.monotonic() + self.job_timeout
        no_pages = PaginationConfig(auto_paginate=False)
        try:
            while True:
                job = self.call(f"{what}: status", status, job_id, no_pages)
                if job.status in TERMINAL:
                    break
                if time.monotonic() > deadline:
                    raise FirecrawlFailed(
                        f"{what}: still {job.status} after {self.job_timeout:.0f}s; cancelled"
                    )
                self.wait(self.poll_interval)
        except BaseException:
            self._cancel_quietly(what, cancel, job_id)
            raise

        received = 0
        documents, next_url = list(job.data or []), job.next
        while True:
            self.check()  # an answer that arrives after the lock was lost is not handed over (not written)
            if documents:
                on_documents(documents)
                received += len(documents)
            if not next_url:
                break
            result = self.call(f"{what}: results", page, next_url)
            if not result.data and result.next == next_url:
                break
            documents, next_url = list(result.data or []), result.next
        credits = job.credits_used if isinstance(job.credits_used, int) and job.credits_used > 0 else received
        self.stats.credits += credits
        if errors is not None and on_errors is not None and received < job.total:
            try:
                found = self.call(f"{what}: errors", errors, job_id)
                on_errors(list(found.errors or []))
            except FirecrawlFatal:
                raise
            except Exception as error:  # noqa: BLE001 - error details are a bonus; missing pages still count
                log.warning("%s: could not read the job's errors: %s", what, self.redact(str(error)))
        if job.status != "completed":
            raise FirecrawlFailed(f"{what} ended {job.status} after {received} documents")
        return received

    def _cancel_quietly(self, what: str, cancel: Callable, job_id: str) -> None:
        try:
            cancel(job_id)
            log.warning("%s: cancelled job %s", what, job_id)
        except Exception as error:  # noqa: BLE001 - the original failure matters more
            log.warning("%s: could not cancel job %s: %s", what, job_id, self.redact(str(error)))


def _url_key(url: str) -> str:
    """A URL compared the way Firecrawl may echo it: case-insensitive scheme and host, no fragment,
    no trailing slash."""
    parts = urlsplit(url.strip())
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}{query}"


def make_client(api_key: str | None, api_url: str, request_timeout_seconds: float):
    """The SDK client, with its own retries off (``max_retries=1``: ours are the only ones)."""
    from firecrawl import Firecrawl

    return Firecrawl(api_key=api_key or None, api_url=api_url, timeout=request_timeout_seconds, max_retries=1)


def scrape_kwargs(options: dict) -> dict:
    """The source's scrape options as keyword arguments of ``scrape``/``start_batch_scrape``."""
    return {k: v for k, v in options.items() if v is not None}
