"""Assets of the crawl domain: ``crawled_documents`` (the legacy ``task_firecrawl``) and its check."""

import datetime as dt
import time

import dagster as dg

from ..guard import (
    TASK_FIRECRAWL,
    GuardedDay,
    TaskError,
    TaskGuard,
    TaskSkipped,
    is_forced,
    run_guarded_days,
)
from ..metadata_tables import schema, table
from ..partitions import PARIS, daily_partitions
from ..redis_connection import RedisResource
from ..settings import DataDirResource, task_retry_policy
from .crawler import NightReport, SourceReport, crawl_sources
from .gateway import CrawlInterrupted
from .resources import SOURCES_ENV, FirecrawlResource
from .sources import SourcesError, load_sources

NOT_CONFIGURED_MESSAGE = (
    "Firecrawl is not configured: set FIRECRAWL_API_KEY (hosted Firecrawl) or FIRECRAWL_API_URL "
    "(self-hosted Firecrawl); nothing was crawled and the day is not marked successful"
)


def _crawl_status_key(source: str) -> str:
    return f"crawl:{source}"


def _write_app_status(redis: RedisResource, report: SourceReport) -> None:
    """The legacy ``crawl:{source}`` hash the FastAPI app reads: last_crawl, documents, status."""
    client = redis.app_client()
    with redis.failing_closed(redis.app_db):
        client.hset(
            _crawl_status_key(report.name),
            mapping={
                "last_crawl": dt.datetime.now(PARIS).isoformat(timespec="seconds"),
                "documents": report.documents,
                "status": report.status,
                "pdfs": report.pdf.stored,
                "pdfs_new": report.pdf.new,
                "pdfs_without_text": report.pdf.without_text,
            },
        )


NEW_DOCUMENTS_SCHEMA = schema(
    ("source", "string"),
    ("title", "string"),
    ("pages", "int"),
    ("characters", "int", "characters of text extracted"),
    ("state", "string", "stored, or why there is no text (no_text_layer, ...)"),
    ("change", "string", "new tonight, or changed since it was stored"),
    ("url", "string"),
)
SOURCES_SCHEMA = schema(
    ("source", "string"),
    ("mode", "string"),
    ("plan", "string"),
    ("status", "string"),
    ("pages", "int"),
    ("new", "int"),
    ("changed", "int"),
    ("unchanged", "int"),
    ("failed", "int"),
    ("foreign", "int", "pages outside the source's site"),
    ("credits", "int", "Firecrawl credits used"),
    ("documents", "int"),
    ("pdf_text", "string"),
    ("pdfs", "int", "PDFs stored"),
    ("pdfs_new", "int"),
    ("pdfs_changed", "int"),
    ("pdf_problems", "int"),
    ("pdf_downloads", "int"),
    ("pdf_mb", "float", "megabytes of PDFs downloaded"),
    ("error", "string"),
)


#: A source's page counts of the night, as the sources table and the per-source JSON both show them.
PAGE_COUNTS = ("pages", "new", "changed", "unchanged", "failed", "foreign", "credits", "documents")


def page_counts(source_report: SourceReport) -> dict[str, int]:
    return {name: getattr(source_report, name) for name in PAGE_COUNTS}


def sources_table(night: NightReport) -> dg.TableMetadataValue:
    """One row per source: what it crawled tonight, what its PDFs cost, and its error if it failed."""
    return table(
        SOURCES_SCHEMA,
        [
            {
                "source": s.name,
                "mode": s.mode,
                "plan": s.plan,
                "status": s.status,
                **page_counts(s),
                "pdf_text": s.pdf_text,
                "pdfs": s.pdf.stored,
                "pdfs_new": s.pdf.new,
                "pdfs_changed": s.pdf.changed,
                "pdf_problems": s.pdf.problems,
                "pdf_downloads": s.pdf.downloads,
                "pdf_mb": round(s.pdf.bytes / 1e6, 1),
                "error": s.error,
            }
            for s in night.sources
        ],
        limit=None,
    )


def _pdf_metadata(night: NightReport) -> dict:
    """The night's story of the documents: a table of what came in, and what it cost."""
    rows = [row for s in night.sources for row in s.pdf.documents]
    pdfs = [s.pdf for s in night.sources]
    return {
        "new_documents": table(NEW_DOCUMENTS_SCHEMA, rows, limit=None),
        "pdfs_stored": dg.MetadataValue.int(sum(p.stored for p in pdfs)),
        "pdfs_new": dg.MetadataValue.int(sum(p.new for p in pdfs)),
        "pdfs_changed": dg.MetadataValue.int(sum(p.changed for p in pdfs)),
        "pdfs_unchanged": dg.MetadataValue.int(sum(p.unchanged for p in pdfs)),
        "pdf_problems": dg.MetadataValue.int(sum(p.problems for p in pdfs)),
        "pdfs_without_text": dg.MetadataValue.int(sum(p.without_text for p in pdfs)),
        "pdf_requests": dg.MetadataValue.int(sum(p.requests for p in pdfs)),
        "pdf_downloads": dg.MetadataValue.int(sum(p.downloads for p in pdfs)),
        "pdf_bytes": dg.MetadataValue.int(sum(p.bytes for p in pdfs)),
        "pdf_credits": dg.MetadataValue.int(sum(p.credits for p in pdfs)),
        "pdfs_deferred": dg.MetadataValue.int(sum(p.deferred for p in pdfs)),
    }


def _metadata(night: NightReport, sources_file: str) -> dict:
    return {
        "sources": sources_table(night),
        "credits_used": dg.MetadataValue.int(night.credits),
        "pages": dg.MetadataValue.int(night.total("pages")),
        "new": dg.MetadataValue.int(night.total("new")),
        "changed": dg.MetadataValue.int(night.total("changed")),
        "unchanged": dg.MetadataValue.int(night.total("unchanged")),
        "failed_pages": dg.MetadataValue.int(night.total("failed")),
        "foreign_pages": dg.MetadataValue.int(night.total("foreign")),
        "documents": dg.MetadataValue.int(night.total("documents")),
        "duration_seconds": dg.MetadataValue.float(night.seconds),
        "sources_file": sources_file,
        "per_source": dg.MetadataValue.json(
            {
                s.name: {
                    "status": s.status,
                    "plan": s.plan,
                    **page_counts(s),
                    "pdf_links": s.pdf_links,
                    "seconds": s.seconds,
                    "error": s.error,
                    "failures": s.failures,
                    "pdfs": {
                        "pdf_text": s.pdf_text,
                        "planned": s.pdf.planned,
                        "new": s.pdf.new,
                        "changed": s.pdf.changed,
                        "unchanged": s.pdf.unchanged,
                        "problems": s.pdf.problems,
                        "stored": s.pdf.stored,
                        "without_text": s.pdf.without_text,
                        "requests": s.pdf.requests,
                        "downloads": s.pdf.downloads,
                        "bytes": s.pdf.bytes,
                        "credits": s.pdf.credits,
                        "deferred": s.pdf.deferred,
                        "killed_extractions": s.pdf.killed,
                        "seconds": s.pdf.seconds,
                    },
                }
                for s in night.sources
            }
        ),
        **_pdf_metadata(night),
    }


@dg.asset(
    partitions_def=daily_partitions,
    output_required=False,
    retry_policy=task_retry_policy(),
    group_name="crawl",
    owners=["team:ocapistaine"],
    kinds={"firecrawl", "parquet", "redis"},
    tags={"ocapistaine/task": TASK_FIRECRAWL},
    description=(
        "Municipal documents of audierne.bzh (by-laws, council deliberations, control commission), crawled "
        "with Firecrawl into {data_dir}/documents/{source}/: markdown + JSON sidecar per page, "
        "index.parquet, pdf_links.parquet, and the text of the linked PDFs (pdfs/*.md + sidecar, one index "
        "row each). Incremental: a night costs credits and downloads for what is new or due for refresh, not "
        "for the size of the site. Guarded as task_firecrawl (lock and success key in Redis db 6); writes "
        "crawl:{source} in db 5."
    ),
)
def crawled_documents(
    context: dg.AssetExecutionContext,
    guard: TaskGuard,
    data_dir: DataDirResource,
    redis: RedisResource,
    firecrawl: FirecrawlResource,
):
    force = is_forced(context)

    def work(guarded: GuardedDay, partition_key: str) -> dict:
        if not firecrawl.configured:
            raise TaskSkipped("firecrawl_not_configured", NOT_CONFIGURED_MESSAGE)
        sources_file = firecrawl.sources_file or "(default: audierne.bzh sources)"
        try:
            sources = load_sources(firecrawl.sources_file)
        except SourcesError as error:
            message = str(error) if SOURCES_ENV in str(error) else f"{error} (set by {SOURCES_ENV})"
            raise TaskError("failed", message, retryable=False) from None

        def check() -> None:
            try:
                guarded.check()
            except TaskError as error:
                raise CrawlInterrupted(error.message) from None

        gateway = firecrawl.gateway(check=check)
        started = time.monotonic()
        try:
            night = crawl_sources(
                sources,
                gateway,
                data_dir.root,
                partition_key,
                force=force,
                pdf_settings=firecrawl.pdfs,
                on_source_done=lambda report: _write_app_status(redis, report),
                log=context.log.info,
            )
        except CrawlInterrupted as error:
            raise TaskError(
                "failed",
                f"{error}; credits used before stopping: {gateway.stats.credits}",
                metadata={"credits_used": dg.MetadataValue.int(gateway.stats.credits)},
            ) from None
        night.seconds = round(time.monotonic() - started, 3)
        metadata = _metadata(night, sources_file)
        metadata["forced"] = force
        metadata["firecrawl_retries"] = dg.MetadataValue.int(gateway.stats.retries)
        for report in night.sources:
            for failure in report.failures[:5]:
                guarded.warn(f"{report.name}: {failure}")
        failed = night.failed
        if failed:
            detail = "; ".join(f"{s.name}: {s.error or s.status}" for s in failed)
            prefix = f"stopped early ({night.aborted}); " if night.aborted else ""
            raise TaskError(
                "failed",
                f"{prefix}{len(failed)} of {len(night.sources)} source(s) failed: {detail}",
                metadata=metadata,
                retryable=night.aborted is None,  # a refused key or exhausted credits will not mend itself
            )
        return metadata

    yield from run_guarded_days(context, guard, TASK_FIRECRAWL, work)


@dg.asset_check(
    asset=crawled_documents,
    blocking=False,
    description=(
        "Every page and PDF text the index says is stored has its markdown file with the recorded sha256, "
        "and no stored page, PDF link or PDF document is outside its source's allowed domains."
    ),
)
def crawled_documents_store_is_consistent(data_dir: DataDirResource, firecrawl: FirecrawlResource):
    from .store import SourceStore, content_hash

    try:
        sources = load_sources(firecrawl.sources_file)
    except SourcesError as error:
        return dg.AssetCheckResult(passed=False, metadata={"error": str(error)})
    problems: list[str] = []
    checked = 0
    for source in sources:
        store = SourceStore(data_dir.root, source)
        for url, row in store.index.items():
            if row.get("state") != "stored":
                continue
            checked += 1
            if not source.allows(url) or not source.allows(row.get("final_url")):
                problems.append(f"{source.name}: stored page outside the allowed domains: {url}")
                continue
            path = store.folder / str(row.get("file"))
            if not path.exists():
                problems.append(f"{source.name}: missing file {row.get('file')} for {url}")
            elif content_hash(path.read_text(encoding="utf-8")) != row.get("sha256"):
                problems.append(f"{source.name}: {row.get('file')} does not match its sha256")
        problems += [
            f"{source.name}: PDF link outside the allowed domains: {u}"
            for u in store.pdfs
            if not source.allows(u)
        ]
        for url, row in store.documents.items():  # PDF documents: text kept for stored (and removed) ones
            if not source.allows(url):
                problems.append(f"{source.name}: PDF document outside the allowed domains: {url}")
            if not row.get("file"):
                continue
            checked += 1
            path = store.folder / str(row.get("file"))
            if not path.exists():
                problems.append(f"{source.name}: missing text {row.get('file')} of the PDF {url}")
            elif content_hash(path.read_text(encoding="utf-8")) != row.get("sha256"):
                problems.append(f"{source.name}: {row.get('file')} does not match its sha256")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "pages_checked": dg.MetadataValue.int(checked),
            "problems": dg.MetadataValue.json(problems[:50]),
        },
    )
