"""Resources of the crawl domain, built from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import dagster as dg
from pydantic import Field

from ..settings import env_number
from .gateway import DEFAULT_API_URL, FirecrawlGateway, RetrySettings, make_client

SOURCES_ENV = "OCAPISTAINE_CRAWL_SOURCES"
#: Environment variables of the PDF settings: (variable, field, type).
PDF_ENV = (
    ("OCAPISTAINE_PDF_MAX_MB", "max_megabytes", False, "megabytes"),
    ("OCAPISTAINE_PDF_CONCURRENCY", "concurrency", True, "documents"),
    ("OCAPISTAINE_PDF_RATE", "requests_per_second_per_host", False, "requests per second"),
    ("OCAPISTAINE_PDF_EXTRACTION_TIMEOUT", "extraction_timeout_seconds", False, "seconds"),
    ("OCAPISTAINE_PDF_MAX_PER_NIGHT", "max_documents_per_night", True, "documents"),
)


class PdfSettings(dg.Config):
    """How the PDFs linked from stored pages are fetched and read (sources choose ``pdf_text``)."""

    max_megabytes: float = Field(default=50.0, description="size cap; a larger PDF is recorded `oversized`")
    concurrency: int = Field(default=2, description="documents at a time (downloads and extraction workers)")
    requests_per_second_per_host: float = Field(default=1.0, description="pace per host (0: no pace)")
    extraction_timeout_seconds: float = Field(
        default=120.0, description="a worker over it is killed: `timeout`"
    )
    extraction_memory_mb: int = Field(default=2048, description="address-space limit of an extraction worker")
    read_timeout_seconds: float = 60.0
    download_timeout_seconds: float = Field(default=300.0, description="whole download of one document")
    retries: int = Field(default=3, description="urllib3 Retry on 429/5xx/connection errors, per request")
    backoff_seconds: float = 1.0
    max_documents_per_night: int = Field(default=500, description="the rest waits for the next night")
    max_pages: int = Field(default=0, description="pages read per document (0: all)")
    firecrawl_parser_mode: str = Field(default="auto", description="PDFParser mode for pdf_text: firecrawl")


class FirecrawlResource(dg.ConfigurableResource):
    """Firecrawl (hosted with ``FIRECRAWL_API_KEY``, or self-hosted at ``FIRECRAWL_API_URL``) and the
    crawl's settings. With neither variable the crawl is skipped (``firecrawl_not_configured``)."""

    api_key: str | None = None
    api_url: str | None = None
    sources_file: str | None = Field(
        default=None, description="YAML/JSON sources file; default: the three audierne.bzh sources"
    )
    poll_interval_seconds: float = 2.0
    request_timeout_seconds: float = 120.0
    job_timeout_seconds: float = 3 * 3600
    batch_size: int = 100
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    retry_after_max_seconds: float = 300.0
    pdfs: PdfSettings = Field(default_factory=PdfSettings, description="linked PDFs: fetch, size, pace, time")

    @property
    def configured(self) -> bool:
        return bool(self.api_key or self.api_url)

    @property
    def base_url(self) -> str:
        """The API to call: the self-hosted URL, else the hosted one (the v2 SDK reads no env for it)."""
        return (self.api_url or DEFAULT_API_URL).rstrip("/")

    def gateway(self, check: Callable[[], None] = lambda: None) -> FirecrawlGateway:
        """A client for one run; ``check`` is called between calls, polls and pages (lost lock)."""
        client = make_client(self.api_key, self.base_url, self.request_timeout_seconds)
        return FirecrawlGateway(
            client,
            api_url=self.base_url,
            secret=self.api_key,
            poll_interval_seconds=self.poll_interval_seconds,
            job_timeout_seconds=self.job_timeout_seconds,
            batch_size=self.batch_size,
            retry=RetrySettings(
                max_attempts=self.max_attempts,
                backoff_seconds=self.backoff_seconds,
                backoff_max_seconds=self.backoff_max_seconds,
                retry_after_max_seconds=self.retry_after_max_seconds,
            ),
            check=check,
        )


def firecrawl_resource_from_env(environ: Mapping[str, str] | None = None) -> FirecrawlResource:
    """``FIRECRAWL_API_KEY`` and ``FIRECRAWL_API_URL`` (through ``dg.EnvVar``: the UI shows the names, not
    the key or a URL's credentials) and ``OCAPISTAINE_CRAWL_SOURCES``; plain values when ``environ`` is
    given."""
    env = os.environ if environ is None else environ
    kwargs: dict = {}
    if env.get("FIRECRAWL_API_KEY"):
        kwargs["api_key"] = dg.EnvVar("FIRECRAWL_API_KEY") if environ is None else env["FIRECRAWL_API_KEY"]
    if env.get("FIRECRAWL_API_URL"):  # may carry credentials (user:password@, ?token=): an EnvVar too
        kwargs["api_url"] = dg.EnvVar("FIRECRAWL_API_URL") if environ is None else env["FIRECRAWL_API_URL"]
    if env.get(SOURCES_ENV):
        kwargs["sources_file"] = env[SOURCES_ENV]
    pdfs = {
        name: env_number(
            env, variable, 0, integer=integer, positive=name != "requests_per_second_per_host", unit=unit
        )
        for variable, name, integer, unit in PDF_ENV
        if (env.get(variable) or "").strip()
    }
    if pdfs:
        kwargs["pdfs"] = PdfSettings(**pdfs)
    return FirecrawlResource(**kwargs)


def resources_from_env(environ: Mapping[str, str] | None = None) -> dict:
    return {"firecrawl": firecrawl_resource_from_env(environ)}
