"""Crawl sources: what to fetch, how, and which domains may be stored.

Read from ``OCAPISTAINE_CRAWL_SOURCES`` (YAML or JSON); without it, the three audierne.bzh sources
the legacy task crawled (``ocapistaine_pipelines/data/crawl_sources.yaml``). A bad file fails with a
message naming the file and the entry, never with a stack trace from deep inside the crawl.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

DEFAULT_SOURCES_FILE = Path(__file__).resolve().parent.parent / "data" / "crawl_sources.yaml"

#: The scrape options the legacy task used (snake_case, as the SDK's ``ScrapeOptions`` takes them).
#: ``links`` is added so PDF links can be collected without parsing HTML.
DEFAULT_SCRAPE_OPTIONS: dict[str, Any] = {
    "formats": ["markdown", "links"],
    "only_main_content": True,
    "include_tags": ["article", "main", "div.content"],
    "exclude_tags": ["nav", "footer", "header", "aside"],
    "wait_for": 2000,
}

MODES = ("crawl", "scrape")
PDF_TEXT = ("local", "firecrawl", "off")
DISCOVERY = ("listing", "map")
DEFAULT_LIMIT = 10_000
DEFAULT_REFRESH_DAYS = 30
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_KNOWN_KEYS = {
    "name",
    "url",
    "mode",
    "limit",
    "include_paths",
    "exclude_paths",
    "max_discovery_depth",
    "scrape_options",
    "allowed_domains",
    "refresh_days",
    "discovery",
    "crawl_entire_domain",
    "pdf_text",
}


class SourcesError(ValueError):
    """The sources file cannot be used; the message says which file and which entry."""


@dataclass(frozen=True)
class CrawlSource:
    """One crawl source.

    ``mode``: ``crawl`` discovers the site's pages (a Firecrawl crawl job the first night, then a
    cheap discovery plus a batch scrape of what is new or due), ``scrape`` reads the one page every run.
    ``discovery`` (nightly, crawl mode): ``listing`` scrapes the source page (1 credit) and follows
    its links, scoped by construction; ``map`` asks Firecrawl's map (1 credit) for the whole site,
    so scope it with ``include_paths``.
    ``refresh_days``: a stored page is scraped again once per cycle (0 = only when forced).
    """

    name: str
    url: str
    mode: str = "crawl"
    limit: int = DEFAULT_LIMIT
    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    max_discovery_depth: int | None = None
    scrape_options: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_SCRAPE_OPTIONS))
    allowed_domains: tuple[str, ...] = ()
    refresh_days: int = DEFAULT_REFRESH_DAYS
    discovery: str = "listing"
    #: Firecrawl's crawl only follows paths under the start URL unless this is set; documents of a
    #: WordPress listing usually live elsewhere, so scope with max_discovery_depth instead.
    crawl_entire_domain: bool = False
    #: How the text of linked PDFs is obtained: ``local`` (download + pdfminer.six), ``firecrawl``
    #: (its PDF parser, paid per page) or ``off`` (links only).
    pdf_text: str = "local"

    @property
    def domains(self) -> tuple[str, ...]:
        """The allowed domains; by default the source URL's host."""
        return self.allowed_domains or (host_of(self.url),)

    def allows(self, url: str | None) -> bool:
        return is_allowed(url, self.domains)

    def selects(self, url: str) -> bool:
        """Firecrawl's include/exclude semantics: regexes matched against the URL's path."""
        path = urlsplit(url).path or "/"
        if self.exclude_paths and any(re.search(p, path) for p in self.exclude_paths):
            return False
        if self.include_paths and not any(re.search(p, path) for p in self.include_paths):
            return False
        return True

    def is_due(self, url: str, day_ordinal: int) -> bool:
        """Whether a stored page is refreshed on this day: once per cycle, spread by URL hash.

        Deterministic (the partition day, not the clock) so a re-run of a day plans the same work,
        and spread so ~1/refresh_days of the pages refresh each night instead of all at once.
        """
        if self.refresh_days <= 0:
            return False
        return (url_slot(url) + day_ordinal) % self.refresh_days == 0


def url_slot(url: str) -> int:
    return int(hashlib.sha1(url.encode("utf-8")).hexdigest()[:8], 16)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def is_allowed(url: str | None, domains: Iterable[str]) -> bool:
    """An http(s) URL whose host is one of ``domains`` or a sub-domain of one."""
    if not url:
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    host = (parts.hostname or "").lower().rstrip(".")
    for domain in domains:
        domain = domain.lower().strip().lstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def normalize_url(url: str) -> str:
    """The URL without its fragment and surrounding space (the key of a stored page)."""
    return urldefrag(url.strip())[0]


def _as_tuple(value: Any, what: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SourcesError(f"{where}: {what} must be a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def _int(value: Any, what: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SourcesError(f"{where}: {what} must be an integer >= {minimum}, got {value!r}")
    return value


def _bool(value: Any, what: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise SourcesError(f"{where}: {what} must be true or false, got {value!r}")
    return value


def source_from_mapping(entry: Any, where: str) -> CrawlSource:
    """One entry of the file, validated; every problem names the entry."""
    if not isinstance(entry, Mapping):
        raise SourcesError(f"{where}: each source must be a mapping, got {type(entry).__name__}")
    unknown = set(entry) - _KNOWN_KEYS
    if unknown:
        raise SourcesError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_KNOWN_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SourcesError(
            f"{where}: name must match {_NAME.pattern} (it names a folder and a Redis key), got {name!r}"
        )
    where = f"{where} ({name})"
    url = entry.get("url")
    if not isinstance(url, str) or urlsplit(url.strip()).scheme not in ("http", "https") or not host_of(url):
        raise SourcesError(f"{where}: url must be an absolute http(s) URL, got {url!r}")
    url = normalize_url(url)
    mode = entry.get("mode", "crawl")
    if mode not in MODES:
        raise SourcesError(f"{where}: mode must be one of {MODES}, got {mode!r}")
    include = _as_tuple(entry.get("include_paths"), "include_paths", where)
    exclude = _as_tuple(entry.get("exclude_paths"), "exclude_paths", where)
    for pattern in include + exclude:
        try:
            re.compile(pattern)
        except re.error as error:
            raise SourcesError(f"{where}: path pattern {pattern!r} is not a valid regex: {error}") from None
    discovery = entry.get("discovery", "listing")
    if discovery not in DISCOVERY:
        raise SourcesError(f"{where}: discovery must be one of {DISCOVERY}, got {discovery!r}")
    pdf_text = entry.get("pdf_text", "local")
    if pdf_text not in PDF_TEXT:
        raise SourcesError(f"{where}: pdf_text must be one of {PDF_TEXT}, got {pdf_text!r}")
    depth = entry.get("max_discovery_depth")
    if depth is not None:
        depth = _int(depth, "max_discovery_depth", where, 0)
    options = entry.get("scrape_options")
    if options is None:
        options = dict(DEFAULT_SCRAPE_OPTIONS)
    elif not isinstance(options, Mapping):
        raise SourcesError(f"{where}: scrape_options must be a mapping, got {options!r}")
    else:
        options = dict(options)
        _check_scrape_options(options, where)
    domains = tuple(d.lower() for d in _as_tuple(entry.get("allowed_domains"), "allowed_domains", where))
    source = CrawlSource(
        name=name,
        url=url,
        mode=mode,
        limit=_int(entry.get("limit", DEFAULT_LIMIT), "limit", where, 1),
        include_paths=include,
        exclude_paths=exclude,
        max_discovery_depth=depth,
        scrape_options=options,
        allowed_domains=domains,
        refresh_days=_int(entry.get("refresh_days", DEFAULT_REFRESH_DAYS), "refresh_days", where, 0),
        discovery=discovery,
        crawl_entire_domain=_bool(entry.get("crawl_entire_domain", False), "crawl_entire_domain", where),
        pdf_text=pdf_text,
    )
    if not source.allows(source.url):
        raise SourcesError(
            f"{where}: the source url {url} is outside its own allowed_domains {list(domains)}"
        )
    return source


def _check_scrape_options(options: dict, where: str) -> None:
    """Validate against the SDK's own model (imported here: the SDK is slow to import)."""
    from firecrawl.v2.types import ScrapeOptions
    from pydantic import ValidationError

    try:
        ScrapeOptions(**options)
    except (ValidationError, TypeError) as error:
        raise SourcesError(f"{where}: invalid scrape_options: {error}") from None


def parse_sources(data: Any, origin: str) -> list[CrawlSource]:
    """The sources of a parsed file: a list, or a mapping with a ``sources`` list."""
    if isinstance(data, Mapping):
        data = data.get("sources")
    if not isinstance(data, list) or not data:
        raise SourcesError(f"{origin}: expected a non-empty list of sources (or a mapping with 'sources:')")
    sources = [source_from_mapping(entry, f"{origin}: source #{i + 1}") for i, entry in enumerate(data)]
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SourcesError(f"{origin}: duplicate source name(s) {duplicates}")
    return sources


SOURCES_VARIABLE = "OCAPISTAINE_CRAWL_SOURCES"


def load_sources(path: str | Path | None = None) -> list[CrawlSource]:
    """Sources from a YAML or JSON file (``.json`` is read as JSON, anything else as YAML).

    Any problem with the file (unreadable, not UTF-8, not YAML/JSON, invalid entries) is one
    ``SourcesError`` naming the file and the variable that chose it: a configuration error is final,
    the task does not retry it.
    """
    file = Path(path).expanduser() if path else DEFAULT_SOURCES_FILE
    named = f"{file} ({SOURCES_VARIABLE})" if path else f"{file} (the default; {SOURCES_VARIABLE} is not set)"
    try:
        text = file.read_bytes().decode("utf-8")
    except OSError as error:
        raise SourcesError(f"cannot read the crawl sources file {named}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise SourcesError(
            f"the crawl sources file {named} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
            f"offset {error.start}): save it as UTF-8"
        ) from None
    kind = "JSON" if file.suffix.lower() == ".json" else "YAML"
    try:
        if kind == "JSON":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as error:  # noqa: BLE001 - any parse error becomes one clear message
        raise SourcesError(f"{named}: not valid {kind}: {_short_error(error)}") from None
    try:
        return parse_sources(data, named)
    except SourcesError:
        raise
    except Exception as error:  # noqa: BLE001 - a shape no check foresaw is still a bad file
        raise SourcesError(
            f"{named}: unusable sources ({type(error).__name__}: {_short_error(error)})"
        ) from None


def _short_error(error: BaseException) -> str:
    text = str(error)
    return text if len(text) <= 300 else text[:300] + "..."
