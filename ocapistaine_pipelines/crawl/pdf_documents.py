"""The documents themselves: the text of the PDFs linked from a source's stored pages.

Per source, ``pdf_text`` says how (sources file): ``local`` downloads the file politely
(``pdf_fetch``) and extracts it in a worker process that can be stopped (``pdf_workers``);
``firecrawl`` asks Firecrawl to parse it (a scrape of the PDF URL with the SDK's ``PDFParser``,
billed per page), after a free ``HEAD`` that checks type, size and validators first; ``off`` keeps
only the links.

Incremental like the pages: a PDF is fetched the first night it is linked, then only on its refresh
slot (``refresh_days``), with a conditional GET, so an unchanged document costs a 304. Transient
failures are retried the next nights (``MAX_DAILY_RETRIES``), document problems (encrypted, no text
layer, oversized, ...) wait for the slot. Nothing here fails the night: every document gets a state
and a reason in ``index.parquet``; only the task's stop hook (lost lock) propagates.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .gateway import CrawlInterrupted, FirecrawlFatal
from .sources import CrawlSource
from .store import MAX_DAILY_RETRIES, SourceStore

#: States of a PDF document in the index; ``stored`` has text, the others say why not.
STATES = (
    "stored",
    "no_text_layer",
    "encrypted",
    "truncated",
    "damaged",
    "oversized",
    "wrong_content_type",
    "removed",
    "foreign",
    "timeout",
    "failed",
)
#: Worth retrying the next nights (the server or the network may mend); the others wait for their slot.
TRANSIENT = ("failed",)
#: The night's new documents listed in the metadata table (the rest are counted).
TABLE_ROWS = 200


@dataclass
class PdfReport:
    """What the PDF step of one source did tonight."""

    planned: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    problems: int = 0
    requests: int = 0
    downloads: int = 0
    bytes: int = 0
    credits: int = 0
    killed: int = 0
    stored: int = 0
    without_text: int = 0
    known: int = 0
    deferred: int = 0
    seconds: float = 0.0
    documents: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """One document's result, before it is written to the store."""

    url: str
    state: str
    reason: str | None = None
    fetched: Any = None
    extracted: dict[str, Any] | None = None
    markdown: str | None = None
    credits: int = 0
    not_modified: bool = False


class PdfDocuments:
    """The PDF step of one source for one night."""

    def __init__(
        self,
        source: CrawlSource,
        store: SourceStore,
        partition_key: str,
        force: bool,
        settings: Any,
        gateway: Any = None,
        check: Callable[[], None] = lambda: None,
    ):
        self.source = source
        self.store = store
        self.partition_key = partition_key
        self.force = force
        self.settings = settings
        self.gateway = gateway
        self.check = check
        self.report = PdfReport()
        self._write = threading.Lock()
        self._firecrawl_calls = threading.Lock()

    # -- planning -------------------------------------------------------------------------------------
    def plan(self) -> list[str]:
        """New links first (in the order found), then retries of transient failures, then refresh slots."""
        ordinal = dt.date.fromisoformat(self.partition_key).toordinal()
        new, retry, due = [], [], []
        for url in self.store.pdfs:
            if not self.source.allows(url):
                continue
            row = self.store.pdf_row(url)
            if row is None:
                new.append(url)
            elif row.get("state") in TRANSIENT and int(row.get("attempts") or 0) < MAX_DAILY_RETRIES:
                retry.append(url)
            elif self.force or self.source.is_due(url, ordinal):
                due.append(url)
        todo = new + retry + due
        cap = max(0, int(self.settings.max_documents_per_night))
        self.report.deferred = max(0, len(todo) - cap)
        return todo[:cap]

    # -- running ----------------------------------------------------------------------------------------
    def run(self) -> PdfReport:
        started = time.monotonic()
        mode = self.source.pdf_text
        todo = self.plan() if mode != "off" else []
        self.report.planned = len(todo)
        if todo:
            import tempfile

            from .pdf_fetch import HostPace, PdfFetcher, http_session

            settings = self.settings
            session = http_session(settings.retries, settings.backoff_seconds, settings.read_timeout_seconds)
            # downloads go to local scratch (the data folder may be an object store); only text is stored
            scratch = tempfile.TemporaryDirectory(prefix="ocapistaine-pdfs-")
            fetcher = PdfFetcher(
                session,
                HostPace(settings.requests_per_second_per_host, self.check),
                self.source.allows,
                max_bytes=int(settings.max_megabytes * 1024 * 1024),
                folder=scratch.name,
                read_timeout=settings.read_timeout_seconds,
                download_timeout=settings.download_timeout_seconds,
                check=self.check,
            )
            pool = None
            try:
                if mode == "local":
                    from .pdf_workers import ExtractionPool

                    pool = ExtractionPool(
                        settings.concurrency,
                        settings.extraction_timeout_seconds,
                        settings.extraction_memory_mb,
                        check=self.check,
                    )
                    work = lambda url: self._local(url, fetcher, pool)  # noqa: E731
                else:
                    work = lambda url: self._firecrawl(url, fetcher)  # noqa: E731
                self._run_all(todo, work)
            finally:
                if pool is not None:
                    self.report.killed = pool.killed
                    pool.close()
                session.close()
                scratch.cleanup()
                self.report.requests = fetcher.requests
                self.report.downloads = fetcher.downloads
                self.report.bytes = fetcher.bytes
                self.store.flush()
        counts = self.store.pdf_counts()
        self.report.stored, self.report.without_text = counts["stored"], counts["no_text_layer"]
        self.report.known = counts["known"]
        self.report.seconds = round(time.monotonic() - started, 3)
        return self.report

    def _run_all(self, todo: list[str], work: Callable[[str], Outcome]) -> None:
        """``concurrency`` documents at a time; each result stored as it comes (and the index flushed
        every 20), so what was downloaded is kept if the night stops."""
        with ThreadPoolExecutor(
            max_workers=max(1, int(self.settings.concurrency)), thread_name_prefix="pdf"
        ) as executor:
            futures = [executor.submit(self._one, url, work) for url in todo]
            try:
                for count, future in enumerate(futures, 1):
                    future.result()
                    if count % 20 == 0:
                        with self._write:
                            self.store.flush()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _one(self, url: str, work: Callable[[str], Outcome]) -> None:
        self.check()
        try:
            outcome = work(url)
        except (CrawlInterrupted, FirecrawlFatal):
            raise  # the night stops: nothing more is written without the lock, nothing more paid after a 402
        except Exception as error:  # noqa: BLE001 - one document's bug or surprise is its own failure
            outcome = Outcome(url, "failed", f"{type(error).__name__}: {str(error)[:300]}")
        with self._write:
            self.check()  # a result that arrives after the lock was lost is not written
            self._record(outcome)

    # -- the two ways to get the text ---------------------------------------------------------------------
    def _local(self, url: str, fetcher: Any, pool: Any) -> Outcome:
        row = self.store.pdf_row(url) or {}
        fetched = fetcher.fetch(url, *self._validators(row))
        try:
            if fetched.status == "not_modified":
                return Outcome(url, row.get("state") or "stored", fetched=fetched, not_modified=True)
            if fetched.status != "downloaded":
                return Outcome(url, self._state_of(fetched.status), fetched.reason, fetched=fetched)
            if row.get("state") == "stored" and row.get("pdf_sha256") == fetched.sha256:
                return Outcome(url, "stored", fetched=fetched, not_modified=True)  # same bytes: same text
            extracted = pool.extract(fetched.path, int(self.settings.max_pages))
            outcome = Outcome(
                url, extracted["status"], extracted.get("reason"), fetched=fetched, extracted=extracted
            )
            if extracted["status"] == "stored":
                outcome.markdown = _markdown(self._title(url), url, extracted["page_texts"])
            return outcome
        finally:
            fetched.discard()

    def _firecrawl(self, url: str, fetcher: Any) -> Outcome:
        """Firecrawl's PDF parser, paid per page: a free conditional HEAD first says whether the document
        is one we may and need to pay for (type, size, domain, unchanged)."""
        from firecrawl.v2.types import PDFParser

        row = self.store.pdf_row(url) or {}
        head = fetcher.fetch(url, *self._validators(row), method="HEAD")
        if head.status == "not_modified":
            return Outcome(url, row.get("state") or "stored", fetched=head, not_modified=True)
        if head.status == "failed" and head.http_status in (405, 501):
            pass  # the server does not answer HEAD: ask Firecrawl anyway
        elif head.status != "downloaded":
            return Outcome(url, self._state_of(head.status), head.reason, fetched=head)
        elif row.get("state") == "stored" and row.get("etag") and head.etag == row.get("etag"):
            return Outcome(url, "stored", fetched=head, not_modified=True)
        parser = PDFParser(
            mode=self.settings.firecrawl_parser_mode, max_pages=int(self.settings.max_pages) or None
        )
        with self._firecrawl_calls:  # one scrape at a time: the gateway and its credit count are not shared
            credits_before = self.gateway.stats.credits
            document = self.gateway.scrape(url, {"formats": ["markdown"], "parsers": [parser]})
            credits = self.gateway.stats.credits - credits_before
        meta = document.metadata
        status = getattr(meta, "status_code", None) if meta else None
        pages = getattr(meta, "num_pages", None) if meta else None
        markdown = (document.markdown or "").strip()
        outcome = Outcome(url, "stored", fetched=head, credits=credits)
        outcome.extracted = {"pages": pages, "pages_without_text": None, "characters": len(markdown)}
        if status in (404, 410):
            outcome.state, outcome.reason = (
                "removed",
                f"HTTP {status}: the document was removed from the site",
            )
        elif isinstance(status, int) and status >= 400:
            outcome.state, outcome.reason = (
                "failed",
                f"Firecrawl: HTTP {status} {getattr(meta, 'error', '') or ''}".strip(),
            )
        elif not markdown:
            outcome.state, outcome.reason = (
                "no_text_layer",
                f"Firecrawl found no text in its {pages or '?'} pages",
            )
        else:
            outcome.markdown = f"# {self._title(url)}\n\nSource: {url}\n\n{markdown}\n"
        return outcome

    @staticmethod
    def _validators(row: dict[str, Any]) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) for a conditional request; none after a transient failure (read it again)."""
        if not row or row.get("state") in TRANSIENT:
            return None, None
        return row.get("etag"), row.get("last_modified")

    # -- writing ------------------------------------------------------------------------------------------
    @staticmethod
    def _state_of(fetch_status: str) -> str:
        return fetch_status if fetch_status in STATES else "failed"

    def _title(self, url: str) -> str:
        return str((self.store.pdfs.get(url) or {}).get("title") or url.rsplit("/", 1)[-1])

    def _record(self, outcome: Outcome) -> None:
        """The document's index row (and text files): a failure keeps the stored text of an earlier night."""
        report, store, partition_key = self.report, self.store, self.partition_key
        url = outcome.url
        link = store.pdfs.get(url) or {}
        row = dict(store.pdf_row(url) or {})
        fetched = outcome.fetched
        report.credits += outcome.credits
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        base = {
            "url": url,
            "final_url": (fetched.final_url if fetched else None) or row.get("final_url") or url,
            "title": link.get("title") or row.get("title"),
            "source_page": link.get("source_page") or row.get("source_page"),
            "first_seen": row.get("first_seen") or partition_key,
            "last_checked": partition_key,
        }
        if fetched is not None and fetched.http_status == 200 and outcome.state not in TRANSIENT:
            # the server's validators for what we read: a refresh of an unchanged document is a 304,
            # whatever its state (an unchanged encrypted file is not downloaded again either)
            base.update(etag=fetched.etag, last_modified=fetched.last_modified)
        if outcome.not_modified:
            row.update(base, attempts=0, error=None)
            store.put_pdf_row(row)
            report.unchanged += 1
            return
        if outcome.state == "stored" and outcome.markdown is not None:
            extracted = outcome.extracted or {}
            was_stored = row.get("state") == "stored"
            local = self.source.pdf_text == "local"
            sidecar = {
                "url": url,
                "final_url": base["final_url"],
                "title": base["title"],
                "source": self.source.name,
                "linked_from": base["source_page"],
                "sha256": fetched.sha256 if fetched is not None and local else None,
                "bytes": fetched.bytes if fetched is not None and local else None,
                "pages": extracted.get("pages"),
                "pages_without_text": extracted.get("pages_without_text"),
                "characters": extracted.get("characters"),
                "extractor": self._extractor(),
                "fetched_at": now,
                "crawl_date": partition_key,
                "first_seen": base["first_seen"],
                "etag": base.get("etag"),
                "last_modified": base.get("last_modified"),
                "content_type": fetched.content_type if fetched is not None else None,
                "credits": outcome.credits if not local else None,
            }
            file, digest = store.write_pdf_text(url, outcome.markdown, sidecar)
            store.put_pdf_row(
                {
                    **row,
                    **base,
                    "status_code": fetched.http_status if fetched else 200,
                    "state": "stored",
                    "sha256": digest,
                    "file": file,
                    "crawl_date": partition_key,
                    "attempts": 0,
                    "error": None,
                    "pages": sidecar["pages"],
                    "characters": sidecar["characters"],
                    "bytes": sidecar["bytes"],
                    "pdf_sha256": sidecar["sha256"],
                    "extractor": sidecar["extractor"],
                    "fetched_at": now,
                }
            )
            if was_stored:
                report.changed += 1
            else:
                report.new += 1
            self._list(
                base["title"],
                url,
                "stored",
                sidecar["pages"],
                sidecar["characters"],
                "changed" if was_stored else "new",
            )
            return
        # no text tonight: keep what an earlier night stored, say why
        report.problems += 1
        extracted = outcome.extracted or {}
        attempts = int(row.get("attempts") or 0) + 1
        if row.get("state") == "stored" and outcome.state in ("failed", "timeout"):
            row.update(base, attempts=attempts, error=(outcome.reason or outcome.state)[:500])
            store.put_pdf_row(row)
        else:
            store.put_pdf_row(
                {
                    **row,
                    **base,
                    "state": outcome.state,
                    "error": (outcome.reason or outcome.state)[:500],
                    "status_code": fetched.http_status if fetched is not None else row.get("status_code"),
                    "attempts": attempts,
                    "pages": extracted.get("pages") or row.get("pages"),
                    "characters": row.get("characters") if outcome.state == "removed" else 0,
                    "bytes": (fetched.bytes or fetched.content_length)
                    if fetched is not None
                    else row.get("bytes"),
                    "pdf_sha256": fetched.sha256
                    if fetched is not None and fetched.sha256
                    else row.get("pdf_sha256"),
                    "extractor": self._extractor() if outcome.extracted else row.get("extractor"),
                    "fetched_at": now if fetched is not None and fetched.bytes else row.get("fetched_at"),
                }
            )
        if len(report.failures) < 20:
            report.failures.append(f"{url}: {outcome.state}: {outcome.reason or ''}".rstrip(": "))
        if not row:
            self._list(base["title"], url, outcome.state, extracted.get("pages"), 0, "new")

    def _extractor(self) -> str:
        if self.source.pdf_text == "firecrawl":
            return f"firecrawl pdf parser ({self.settings.firecrawl_parser_mode})"
        from .pdf_text import EXTRACTOR, extractor_version

        return f"{EXTRACTOR} {extractor_version()}"

    def _list(self, title: Any, url: str, state: str, pages: Any, characters: Any, change: str) -> None:
        if len(self.report.documents) < TABLE_ROWS:
            self.report.documents.append(
                {
                    "source": self.source.name,
                    "title": str(title or ""),
                    "pages": int(pages or 0),
                    "characters": int(characters or 0),
                    "state": state,
                    "change": change,
                    "url": url,
                }
            )


def _markdown(title: str, url: str, page_texts: list[str]) -> str:
    """The stored text: a title, the source URL, then each page after a marker (citations need pages)."""
    parts = [f"# {title}", "", f"Source: {url}", ""]
    for number, text in enumerate(page_texts, 1):
        parts += [f"<!-- page {number} -->", "", text.strip(), ""]
    return "\n".join(parts)
