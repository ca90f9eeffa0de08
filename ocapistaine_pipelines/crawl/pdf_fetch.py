"""Polite PDF downloads: the town's web server is a small one and this is a civic project.

- a User-Agent naming the project; a per-host pace (requests per second) shared by every thread;
- a conditional GET (``If-None-Match`` / ``If-Modified-Since``) when the server gave validators, so an
  unchanged document costs a 304 and no body;
- redirects followed by hand, each hop checked against the source's allowed domains (a document of
  ours moved to another domain is never fetched from there);
- only ``application/pdf`` bodies that start like a PDF, up to a size cap (``Content-Length`` checked
  before reading, the stream cut when the cap is passed without one), streamed to a temporary file;
- transient errors (429, 5xx, connection) retried with backoff by the project's HTTP policy
  (``http_policy.HttpPolicy``: urllib3's ``Retry`` mounted on the session), honouring ``Retry-After``.

Every outcome is a ``Fetched`` with a status, never an exception, except the task's stop hook.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from .sources import host_of, normalize_url

PDF_TYPES = ("application/pdf", "application/x-pdf")
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
CHUNK = 64 * 1024


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from ..http_policy import USER_AGENT

    try:
        release = version("ocapistaine-pipelines")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
        release = "dev"
    return (
        f"{USER_AGENT}/{release} (OCapistaine civic-transparency crawler of "
        "Audierne-Esquibien's public documents)"
    )


def http_session(retries: int = 3, backoff_seconds: float = 1.0, read_timeout: float = 60.0):
    """The project's one HTTP policy (``http_policy``: urllib3 ``Retry`` on 429/5xx and connection
    errors, honouring ``Retry-After``), with a User-Agent that says who is asking and why."""
    from ..http_policy import HttpPolicy

    policy = HttpPolicy(
        connect_timeout=10.0,
        read_timeout=read_timeout,
        retries=retries,
        backoff=backoff_seconds,
        backoff_max=60.0,
        retry_after_max=120.0,
    )
    session = policy.session()
    session.headers["User-Agent"] = user_agent()
    return session


class HostPace:
    """At most ``per_second`` request starts per host, across threads; waits are cut into slices so the
    stop hook is honoured while waiting."""

    def __init__(self, per_second: float, check: Callable[[], None] = lambda: None):
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.check = check
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, url: str) -> None:
        if self.interval <= 0:
            return
        host = host_of(url)
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + self.interval
        while True:
            self.check()
            remaining = slot - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 0.25))


@dataclass
class Fetched:
    """What one request for a PDF gave. ``status``: ``downloaded``, ``not_modified``, ``removed``
    (404/410), ``oversized``, ``wrong_content_type``, ``foreign`` (redirected off the allowed
    domains), ``failed`` (anything else; retried on the next nights)."""

    url: str
    status: str
    final_url: str = ""
    http_status: int | None = None
    reason: str | None = None
    path: str | None = None
    bytes: int = 0
    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    content_length: int | None = None

    def discard(self) -> None:
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.path = None


class PdfFetcher:
    """Downloads for one night; thread-safe (one session, one pace)."""

    def __init__(
        self,
        session: Any,
        pace: HostPace,
        allows: Callable[[str], bool],
        *,
        max_bytes: int,
        folder: str,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        download_timeout: float = 300.0,
        check: Callable[[], None] = lambda: None,
    ):
        self.session = session
        self.pace = pace
        self.allows = allows
        self.max_bytes = max_bytes
        self.folder = folder
        self.timeouts = (connect_timeout, read_timeout)
        self.download_timeout = download_timeout
        self.check = check
        self._lock = threading.Lock()
        self.downloads = 0
        self.bytes = 0
        self.requests = 0

    def _count(self, requests: int = 0, downloads: int = 0, received: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.downloads += downloads
            self.bytes += received

    def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None, method: str = "GET"
    ) -> Fetched:
        """One document; ``method="HEAD"`` checks it without its body (before paying Firecrawl)."""
        import requests

        headers = {"Accept": "application/pdf"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = normalize_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allows(current):
                return Fetched(
                    url, "foreign", current, reason=f"redirected outside the allowed domains to {current}"
                )
            self.pace.wait(current)
            self._count(requests=1)
            try:
                response = self.session.request(
                    method,
                    current,
                    headers=headers,
                    stream=True,
                    allow_redirects=False,
                    timeout=self.timeouts,
                )
            except requests.RequestException as error:
                return Fetched(url, "failed", current, reason=f"cannot download: {type(error).__name__}")
            if response.status_code in REDIRECTS and response.headers.get("Location"):
                response.close()
                current = normalize_url(urljoin(current, response.headers["Location"]))
                continue
            try:
                return self._answer(url, current, response, method)
            finally:
                response.close()
        return Fetched(url, "failed", current, reason=f"more than {MAX_REDIRECTS} redirects")

    def _answer(self, url: str, final_url: str, response: Any, method: str) -> Fetched:
        import requests

        code = response.status_code
        found = Fetched(
            url,
            "failed",
            final_url,
            http_status=code,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            content_type=response.headers.get("Content-Type"),
        )
        length = response.headers.get("Content-Length")
        found.content_length = int(length) if length and length.isdigit() else None
        if code == 304:
            found.status = "not_modified"
            return found
        if code in (404, 410):
            found.status, found.reason = "removed", f"HTTP {code}: the document was removed from the site"
            return found
        if code >= 400 or code < 200 or code >= 300:
            found.reason = f"HTTP {code}"
            return found
        kind = (found.content_type or "").split(";")[0].strip().lower()
        if kind not in PDF_TYPES:
            found.status = "wrong_content_type"
            found.reason = f"served as {kind or 'no content type'}, not application/pdf"
            return found
        if found.content_length is not None and found.content_length > self.max_bytes:
            found.status = "oversized"
            found.reason = (
                f"{found.content_length} bytes, over the {self.max_bytes}-byte cap (not downloaded)"
            )
            return found
        if method == "HEAD":
            found.status = "downloaded"
            return found
        return self._download(found, response, requests)

    def _download(self, found: Fetched, response: Any, requests: Any) -> Fetched:
        digest = hashlib.sha256()
        received = 0
        deadline = time.monotonic() + self.download_timeout
        fd, path = tempfile.mkstemp(prefix=".pdf-", suffix=".part", dir=self.folder)
        found.path = path
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in response.iter_content(CHUNK):
                    if received == 0 and b"%PDF-" not in chunk[:1024]:
                        start = chunk[:40].decode("latin-1", "replace").strip()
                        found.status = "wrong_content_type"
                        found.reason = f"the body is not a PDF (it starts with {start!r})"
                        found.discard()
                        self._count(received=len(chunk))
                        return found
                    received += len(chunk)
                    if received > self.max_bytes:
                        found.status = "oversized"
                        found.reason = (
                            f"over the {self.max_bytes}-byte cap while downloading (no Content-Length)"
                        )
                        found.discard()
                        self._count(received=received)
                        return found
                    if time.monotonic() > deadline:
                        found.reason = f"download slower than its {self.download_timeout:g} s limit"
                        found.discard()
                        self._count(received=received)
                        return found
                    digest.update(chunk)
                    handle.write(chunk)
                    self.check()
        except (requests.RequestException, OSError) as error:
            found.reason = f"download cut short after {received} bytes ({type(error).__name__})"
            found.discard()
            self._count(received=received)
            return found
        except BaseException:
            found.discard()
            raise
        self._count(downloads=1, received=received)
        if received == 0:
            found.reason = "empty body"
            found.discard()
            return found
        found.status, found.bytes, found.sha256 = "downloaded", received, digest.hexdigest()
        return found
