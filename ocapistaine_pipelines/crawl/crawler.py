"""One night's crawl: for each source, discover cheaply, scrape only what is new or due, store.

Credits are money, so a night costs in proportion to what is new, not to the size of the site:
- first night of a ``crawl`` source (nothing stored): one Firecrawl crawl job;
- later nights: discovery for 1 credit (the listing page, or ``map``), then one batch scrape of
  the URLs not stored yet plus the stored pages whose refresh slot is today (or all, when forced);
- a ``scrape`` source: its one page, every night.

A source that fails is reported and the next one runs; a lost lock or a 401/402 stops the night.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from .gateway import CrawlInterrupted, FirecrawlFailed, FirecrawlFatal, FirecrawlGateway, scrape_kwargs
from .pdf_documents import PdfDocuments, PdfReport
from .sources import CrawlSource, normalize_url
from .store import MARKDOWN_LINK, Page, SourceStore


@dataclass
class SourceReport:
    """What one source did tonight (one row of the run's metadata table)."""

    name: str
    mode: str
    plan: str = ""
    status: str = "not_run"
    pages: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    foreign: int = 0
    credits: int = 0
    documents: int = 0
    pdf_links: int = 0
    pdf_text: str = ""
    seconds: float = 0.0
    error: str | None = None
    failures: list[str] = field(default_factory=list)
    pdf: PdfReport = field(default_factory=PdfReport)

    def count(self, outcome: str, url: str = "", reason: str = "") -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.pages += 1
        if outcome in ("failed", "foreign") and len(self.failures) < 20:
            self.failures.append(f"{url}: {reason}" if reason else url)


@dataclass
class NightReport:
    partition_key: str
    sources: list[SourceReport]
    seconds: float = 0.0
    aborted: str | None = None

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status != "success"]

    @property
    def credits(self) -> int:
        return sum(s.credits for s in self.sources)

    def total(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.sources)


def day_ordinal(partition_key: str) -> int:
    return dt.date.fromisoformat(partition_key).toordinal()


class SourceCrawl:
    """One source, one night."""

    def __init__(
        self,
        source: CrawlSource,
        gateway: FirecrawlGateway,
        store: SourceStore,
        partition_key: str,
        force: bool,
        report: SourceReport | None = None,
    ):
        self.source = source
        self.gateway = gateway
        self.store = store
        self.partition_key = partition_key
        self.force = force
        self.report = report or SourceReport(name=source.name, mode=source.mode)
        self.options = scrape_kwargs(dict(source.scrape_options))
        self._received: set[str] = set()

    def handle(self, page: Page) -> None:
        if not page.url:
            self.report.count("failed", "(no URL)", "an answer without sourceURL or url")
            return
        crawled_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        outcome = self.store.save(page, self.partition_key, crawled_at)
        self._received.add(page.url)
        reason = ""
        if outcome == "failed":
            reason = page.failure or ""
        elif outcome == "foreign":
            reason = f"outside the allowed domains (landed on {page.final_url})"
        self.report.count(outcome, page.url, reason)

    def handle_documents(self, documents: Iterable) -> None:
        for document in documents:
            self.handle(Page.from_document(document))
        self.store.flush()  # what was paid for is kept even if the night stops later

    def chunk_done(self, requested: list[str], errors: list) -> None:
        """URLs of a batch that came back with nothing are failures (with the job's reason if any)."""
        reasons = {normalize_url(getattr(e, "url", "") or ""): getattr(e, "error", "") for e in errors}
        for url in requested:
            if url not in self._received:
                reason = reasons.get(url) or "not returned by the batch job"
                self.store.record_failure(url, reason, self.partition_key)
                self.report.count("failed", url, reason)
        self.store.flush()

    # -- plans ------------------------------------------------------------------------------------------
    def run(self) -> SourceReport:
        source = self.source
        if source.mode == "scrape":
            self.report.plan = "scrape"
            self.scrape_essential_page()
        elif self.store.is_empty():
            self.report.plan = "crawl job (first run)"
            self.gateway.crawl(source, self.handle_documents)
        else:
            self.report.plan = source.discovery
            candidates = self.discover()
            known = set(self.store.index)
            new = [u for u in candidates if u not in known][: source.limit]
            skip = {source.url} if source.discovery == "listing" else set()
            due = [u for u in self.store.due(day_ordinal(self.partition_key), self.force) if u not in skip]
            todo = list(dict.fromkeys(new + due))
            self.report.plan = f"{source.discovery}: {len(new)} new + {len(set(due) - set(new))} refresh"
            if todo:
                self.gateway.batch_scrape(todo, self.options, self.handle_documents, self.chunk_done)
        self.store.flush()
        return self.report

    def scrape_essential_page(self) -> Page:
        """The source's own page (a scrape source, or the listing): if it fails, the source fails."""
        page = Page.from_document(self.gateway.scrape(self.source.url, self.options), self.source.url)
        self.handle(page)
        self.store.flush()
        if page.failure or not self.source.allows(page.final_url):
            reason = page.failure or f"redirected outside the allowed domains to {page.final_url}"
            raise FirecrawlFailed(f"the source page {self.source.url} could not be read: {reason}")
        return page

    def discover(self) -> list[str]:
        """Candidate page URLs: allowed, selected by the path rules, not PDFs, in discovery order."""
        source = self.source
        if source.discovery == "map":
            links = self.gateway.map_links(source)
        else:
            listing = self.scrape_essential_page()
            targets = list(listing.links) + [target for _, target in MARKDOWN_LINK.findall(listing.markdown)]
            base = listing.final_url or source.url
            links = [urljoin(base, link) for link in targets if isinstance(link, str)]
        found: dict[str, None] = {}
        for link in links:
            url = normalize_url(link)
            if url == source.url or url.lower().split("?")[0].endswith(".pdf"):
                continue
            if source.allows(url) and source.selects(url):
                found[url] = None
        return list(found)


def crawl_sources(
    sources: list[CrawlSource],
    gateway: FirecrawlGateway,
    data_root: Path,
    partition_key: str,
    *,
    force: bool = False,
    pdf_settings: Any = None,
    on_source_done: Callable[[SourceReport], None] = lambda report: None,
    log: Callable[[str], None] = lambda message: None,
) -> NightReport:
    """Crawl every source; one failing source does not stop the others.

    ``CrawlInterrupted`` (lost lock) and ``FirecrawlFatal`` (401/402) stop the night: the sources
    not run yet stay ``not_run``. The caller decides how the night ends from the report.
    With ``pdf_settings`` (``PdfSettings``), the PDFs linked from each source's pages are read too.
    """
    started = time.monotonic()
    night = NightReport(
        partition_key=partition_key, sources=[SourceReport(name=s.name, mode=s.mode) for s in sources]
    )
    for index, source in enumerate(sources):
        gateway.check()
        report, stop = _crawl_one(source, gateway, data_root, partition_key, force, pdf_settings)
        night.sources[index] = report
        pdf = report.pdf
        log(
            f"{source.name}: {report.status} ({report.plan}) pages={report.pages} new={report.new} "
            f"changed={report.changed} unchanged={report.unchanged} failed={report.failed} "
            f"foreign={report.foreign} credits={report.credits}"
            + (
                f" pdfs({report.pdf_text}): planned={pdf.planned} new={pdf.new} changed={pdf.changed} "
                f"unchanged={pdf.unchanged} problems={pdf.problems} downloads={pdf.downloads} "
                f"bytes={pdf.bytes}"
                if pdf_settings is not None
                else ""
            )
            + (f" error={report.error}" if report.error else "")
        )
        if not isinstance(stop, CrawlInterrupted):  # without the lock, the status is another run's to write
            on_source_done(report)
        if stop is not None:
            night.aborted = report.error
            break
    night.seconds = round(time.monotonic() - started, 3)
    return night


def _crawl_one(
    source: CrawlSource,
    gateway: FirecrawlGateway,
    data_root: Path,
    partition_key: str,
    force: bool,
    pdf_settings: Any = None,
) -> tuple[SourceReport, BaseException | None]:
    """One source, every failure caught into its report; returns the error that stops the night.

    The PDF step runs after the pages (it reads the links they gave) and never fails the source: its
    documents each get a state; a surprise in the step itself is a warning.
    """
    pdf_text = source.pdf_text if pdf_settings is not None else ""
    report = SourceReport(name=source.name, mode=source.mode, pdf_text=pdf_text)
    credits_before = gateway.stats.credits
    t0 = time.monotonic()
    stop: BaseException | None = None
    store: SourceStore | None = None
    try:
        store = SourceStore(data_root, source)
        crawl = SourceCrawl(source, gateway, store, partition_key, force, report)
        report.failures.extend(store.notes)
        crawl.run()
        report.status = "success"
        if pdf_settings is not None:
            _read_pdfs(source, store, gateway, partition_key, force, pdf_settings, report)
    except (CrawlInterrupted, FirecrawlFatal) as error:
        report.status, report.error = "failed", gateway.redact(str(error))
        stop = error
    except Exception as error:  # noqa: BLE001 - one source's failure is reported, the others run
        report.status = "failed"
        kind = "" if isinstance(error, FirecrawlFailed) else f"{type(error).__name__}: "
        report.error = gateway.redact(f"{kind}{error}")
    if store is not None:
        try:
            store.flush()
            report.documents = store.document_count()
            report.pdf_links = len(store.pdfs)
            counts = store.pdf_counts()
            report.pdf.stored, report.pdf.without_text, report.pdf.known = (
                counts["stored"],
                counts["no_text_layer"],
                counts["known"],
            )
        except Exception as error:  # noqa: BLE001 - e.g. a full disk: this source fails, loudly
            report.status = "failed"
            report.error = (report.error + "; " if report.error else "") + (
                f"could not write the index of {source.name}: {type(error).__name__}: {error}"
            )
    report.credits = gateway.stats.credits - credits_before
    report.seconds = round(time.monotonic() - t0, 3)
    return report, stop


def _read_pdfs(
    source: CrawlSource,
    store: SourceStore,
    gateway: FirecrawlGateway,
    partition_key: str,
    force: bool,
    settings: Any,
    report: SourceReport,
) -> None:
    """The PDF step of a source whose pages were crawled; its problems are warnings, not failures."""
    step = PdfDocuments(source, store, partition_key, force, settings, gateway=gateway, check=gateway.check)
    try:
        step.run()
    except (CrawlInterrupted, FirecrawlFatal):
        raise
    except Exception as error:  # noqa: BLE001 - documents are a bonus on top of the pages: warn, go on
        reason = gateway.redact(str(error))
        step.report.failures.append(f"the PDF step stopped: {type(error).__name__}: {reason}")
        try:
            store.flush()
        except Exception:  # noqa: BLE001 - reported by the caller's own flush
            pass
    report.pdf = step.report
    report.failures.extend(step.report.failures[: max(0, 20 - len(report.failures))])
