"""The one plain-HTTP policy of the process: timeouts, retries, ``Retry-After``, a total deadline.

Used by the contribution sources (n8n webhook, GitHub issues) and the failure alert webhook; the
crawl gateway keeps its own Firecrawl-specific logic (``crawl/gateway.py``: job polling, idempotent
batch starts). A ``requests.Session`` with urllib3's ``Retry`` mounted retries what is worth retrying
(connection errors, read timeouts, 429 and 5xx, honouring ``Retry-After`` up to ``retry_after_max``)
with exponential backoff, and never shows a URL's path, query or credentials in an error.

The bounds, all in ``HttpPolicy``: one request waits at most ``connect_timeout`` to connect and
``read_timeout`` between two bytes of the answer; it is tried ``1 + retries`` times, sleeping the
backoff (``backoff * 2**n``, capped by ``backoff_max``) or the ``Retry-After`` (capped by
``retry_after_max``) in between. ``deadline`` caps the whole call (every attempt, every page of a
paged read and the reading of the body): past it the call fails, whatever the other numbers say.
The attempts of a request share what is left of the deadline, so one logical call ends within
``bound_seconds()`` = ``min(worst_case_seconds(), deadline + pauses_seconds())``. With the defaults
(5 s, 30 s, 2 retries, backoff 1 s up to 10 s, Retry-After up to 30 s, deadline 120 s) a hung
webhook fails after 3 x 30 s + 1 s + 2 s = 93 s, and nothing (slow pages, long Retry-After) takes
more than 120 s + 60 s of pauses = 180 s.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from .redaction import redact, safe_text, show_url

USER_AGENT = "ocapistaine-pipelines"
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: The largest answer read (an n8n page, a GitHub page, an alert receiver's reply).
MAX_BODY_BYTES = 32 * 1024 * 1024


class HttpFailure(Exception):
    """A call that did not get a usable answer. ``status`` is the last HTTP status (``None`` when no
    answer came: connection refused, timeout, deadline). The message names method, scheme and host,
    what went wrong and the attempts; never the path, the query or a credential."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1, body: str = ""):
        super().__init__(redact(message))
        self.status = status
        self.attempts = attempts
        #: The start of the answer's body, redacted (for a hint; never shown whole).
        self.body = safe_text(body, 300) if body else ""


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts and retries of one kind of call (see the module docstring for the bound)."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 2
    backoff: float = 1.0
    backoff_max: float = 10.0
    retry_after_max: float = 30.0
    deadline: float = 120.0
    max_body_bytes: int = MAX_BODY_BYTES

    @property
    def attempts(self) -> int:
        return 1 + max(0, self.retries)

    def replace(self, **changes: Any) -> HttpPolicy:
        return dataclasses.replace(self, **changes)

    def pauses_seconds(self) -> float:
        """The longest total pause between the attempts of one request (a ``Retry-After`` pause
        replaces the backoff, so the larger cap counts)."""
        return sum(
            max(min(self.backoff * 2**n, self.backoff_max), self.retry_after_max)
            for n in range(max(0, self.retries))
        )

    def worst_case_seconds(self) -> float:
        """The longest one request can take: every attempt hung, every pause at its cap."""
        return self.attempts * (self.connect_timeout + self.read_timeout) + self.pauses_seconds()

    def bound_seconds(self) -> float:
        """What one logical call (all its requests, all its pages) can take at most: the attempts of
        a request share what is left of the deadline, only the pauses between them can exceed it."""
        return min(self.worst_case_seconds(), self.deadline + self.pauses_seconds())

    def retry(self):
        from urllib3.util.retry import Retry

        return Retry(
            total=max(0, self.retries),
            connect=max(0, self.retries),
            read=max(0, self.retries),
            status=max(0, self.retries),
            other=0,
            allowed_methods=None,  # every method: our POSTs (n8n page queries, alerts) are safe to repeat
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            respect_retry_after_header=True,
            retry_after_max=int(self.retry_after_max),
            raise_on_status=False,  # the last answer comes back: we say which status it was
            raise_on_redirect=False,
        )

    def session(self):
        """A ``requests.Session`` with this policy mounted on http:// and https://."""
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        adapter = HTTPAdapter(max_retries=self.retry())
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        return session

    def client(self) -> HttpClient:
        return HttpClient(self)


class HttpClient:
    """One logical call (possibly many requests: pages) under one policy and one deadline."""

    def __init__(self, policy: HttpPolicy):
        self.policy = policy
        self.session = policy.session()
        self.started = time.monotonic()
        self.requests = 0

    def remaining(self) -> float:
        return self.policy.deadline - (time.monotonic() - self.started)

    def request(self, method: str, url: str, **kwargs: Any):
        """The answer (any status: the caller decides), its body read within the deadline and size cap;
        ``HttpFailure`` when no answer came. The ``requests`` error messages (they hold the whole URL)
        never travel: only their kind does."""
        import requests

        where = f"{method} {show_url(url)}"
        remaining = self.remaining()
        if remaining <= 0:
            raise HttpFailure(
                f"{where}: gave up, the deadline of {self.policy.deadline:g} s is past", attempts=0
            )
        share = remaining / self.policy.attempts  # every attempt of this request fits in what is left
        timeout = (min(self.policy.connect_timeout, share), min(self.policy.read_timeout, share))
        self.requests += 1
        try:
            response = self.session.request(method, url, timeout=timeout, stream=True, **kwargs)
        except requests.RequestException as error:
            cut = (
                f" (cut short: the deadline of {self.policy.deadline:g} s was reached)"
                if (share < self.policy.read_timeout and self.remaining() <= 0.05 * self.policy.deadline)
                else ""
            )
            raise HttpFailure(
                f"{where} failed after {self.policy.attempts} attempt(s): {_kind(error)}{cut}",
                attempts=self.policy.attempts,
            ) from None
        try:
            chunks, size = [], 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > self.policy.max_body_bytes:
                    raise HttpFailure(
                        f"{where}: answer larger than {self.policy.max_body_bytes:,} bytes",
                        status=response.status_code,
                    )
                if self.remaining() <= 0:
                    raise HttpFailure(
                        f"{where}: answer still coming when the deadline of "
                        f"{self.policy.deadline:g} s passed",
                        status=response.status_code,
                    )
                chunks.append(chunk)
            response._content = b"".join(chunks)  # noqa: SLF001 - what requests does when it reads itself
        except requests.RequestException as error:
            raise HttpFailure(f"{where}: answer cut: {_kind(error)}", status=response.status_code) from None
        finally:
            response.close()
        return response

    def attempts_of(self, response) -> int:
        """How many attempts the answer took (urllib3 keeps the retry history on the raw response)."""
        retries = getattr(getattr(response, "raw", None), "retries", None)
        return 1 + len(getattr(retries, "history", ()) or ())


def _kind(error: BaseException) -> str:
    """A request error by its kind (``ConnectTimeout``, ``ReadTimeout``, ``ConnectionError``...), plus
    the underlying cause's kind when requests wraps it (refused, DNS, TLS)."""
    import requests

    name = type(error).__name__
    if isinstance(error, requests.exceptions.ConnectionError) and not isinstance(error, requests.Timeout):
        cause = error.args[0] if error.args else None
        reason = getattr(cause, "reason", None)
        if reason is not None:
            inner = type(reason).__name__
            if "Timeout" in inner or "timed out" in str(reason):
                return "ReadTimeout" if "Read" in inner or "read" in str(reason) else "ConnectTimeout"
            return f"{name} ({inner})"
    return name
