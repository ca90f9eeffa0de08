"""Where crawled pages live: ``{data_dir}/documents/{source}/``.

- ``pages/{slug}-{hash}.md``: the page's markdown; ``pages/{slug}-{hash}.json``: its sidecar
  (url, final url, title, status code, crawl date, sha256 of the content, source, first seen).
- ``index.parquet``: one row per known page (stored or failed), the memory of the incremental crawl.
- ``pdf_links.parquet``: PDF links found in pages (allowed domains only), with the first-seen day.
- ``pdfs/{slug}-{hash}.md`` + ``.json``: the text of a linked PDF and its sidecar (``pdf_documents``);
  its row in ``index.parquet`` has ``kind = pdf`` and the PDF's own columns (pages, characters, ...).

Every file is written atomically (``io_utils.atomic_write``: a temporary file moved into place, or one
whole-object upload on S3), so a reader (or a crash) never sees half a file. A page whose content hash
has not changed is not rewritten.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from ..io_utils import DataPath, atomic_write, data_path, move, read_parquet
from .sources import CrawlSource, normalize_url

INDEX_COLUMNS = [
    "url",
    "final_url",
    "title",
    "status_code",
    "state",
    "sha256",
    "file",
    "source",
    "first_seen",
    "crawl_date",
    "last_checked",
    "attempts",
    "error",
    # PDF documents (kind = pdf); empty for pages
    "kind",
    "source_page",
    "pages",
    "characters",
    "bytes",
    "pdf_sha256",
    "etag",
    "last_modified",
    "extractor",
    "fetched_at",
]
INT_COLUMNS = ("status_code", "attempts", "pages", "characters", "bytes")
PDF_COLUMNS = ["url", "title", "source_page", "first_seen", "source"]
#: What a PDF's sidecar gives its index row under the same name (a rebuilt index reads them back).
PDF_SIDECAR_FIELDS = ("pages", "characters", "bytes", "etag", "last_modified", "extractor", "fetched_at")
#: A page that failed this many nights in a row waits for its refresh slot instead of every night.
MAX_DAILY_RETRIES = 3

MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def file_stem(url: str) -> str:
    """A safe, stable file name for a URL: a readable slug of its path plus a short hash."""
    parts = urlsplit(url)
    readable = unquote(parts.path + ("-" + parts.query if parts.query else "")).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", readable).strip("-")[-60:].strip("-") or "index"
    return f"{slug}-{hashlib.sha1(url.encode('utf-8')).hexdigest()[:10]}"


def content_hash(markdown: str) -> str:
    return hashlib.sha256(markdown.encode("utf-8")).hexdigest()


def pdf_links(markdown: str, links: Iterable[str], page_url: str) -> dict[str, str]:
    """PDF URLs of a page (markdown links keep their text as title; bare links their file name)."""
    found: dict[str, str] = {}
    for text, target in MARKDOWN_LINK.findall(markdown or ""):
        url = normalize_url(urljoin(page_url, target))
        if urlsplit(url).path.lower().endswith(".pdf"):
            title = text.strip()
            if title or url not in found:
                found[url] = title
    for link in links or []:
        if not isinstance(link, str):
            continue
        url = normalize_url(urljoin(page_url, link))
        if urlsplit(url).path.lower().endswith(".pdf") and url not in found:
            found[url] = ""
    return {url: title or unquote(urlsplit(url).path.rsplit("/", 1)[-1]) for url, title in found.items()}


@dataclass
class Page:
    """One scraped page, as the crawl hands it to the store (SDK-independent)."""

    url: str
    final_url: str
    title: str
    status_code: int | None
    markdown: str
    links: list[str]
    error: str | None = None
    content_type: str | None = None

    @classmethod
    def from_document(cls, document: Any, requested: str | None = None) -> Page:
        """From an SDK ``Document``: ``sourceURL`` is the URL asked for, ``url`` where it landed."""
        meta = document.metadata
        get = (lambda name: getattr(meta, name, None)) if meta is not None else (lambda name: None)
        source_url = get("source_url") or requested or get("url") or ""
        final_url = get("url") or source_url
        title = get("title") or get("og_title") or ""
        if isinstance(title, list):
            title = title[0] if title else ""
        status = get("status_code")
        return cls(
            url=normalize_url(str(source_url)),
            final_url=normalize_url(str(final_url)),
            title=str(title),
            status_code=int(status) if isinstance(status, int) else None,
            markdown=document.markdown or "",
            links=list(document.links or []),
            error=get("error"),
            content_type=get("content_type"),
        )

    @property
    def failure(self) -> str | None:
        """Why this page cannot be stored, or None."""
        parts = []
        if self.status_code is not None and self.status_code >= 400:
            parts.append(f"HTTP {self.status_code}")
        if self.error:
            parts.append(str(self.error))
        if parts:
            return ": ".join(parts)
        if not self.markdown.strip():
            return "empty content"
        return None


class SourceStore:
    """The stored pages of one source; ``flush()`` writes the index and PDF table."""

    def __init__(self, root: DataPath, source: CrawlSource):
        self.source = source
        self.folder = data_path(root) / "documents" / source.name
        self.pages_folder = self.folder / "pages"
        self.index_path = self.folder / "index.parquet"
        self.pdf_path = self.folder / "pdf_links.parquet"
        self.notes: list[str] = []
        self._dirty = False
        self.pdfs_folder = self.folder / "pdfs"
        try:
            rows = _read_rows(self.index_path, INDEX_COLUMNS, "url")
        except Exception as error:  # noqa: BLE001 - an unreadable index is set aside and rebuilt
            rows = self._rebuild_index(self._quarantine(self.index_path, error))
        #: pages (the planning of the page crawl reads only these) and PDF documents, one index file
        self.index: dict[str, dict[str, Any]] = {u: r for u, r in rows.items() if r.get("kind") != "pdf"}
        self.documents: dict[str, dict[str, Any]] = {u: r for u, r in rows.items() if r.get("kind") == "pdf"}
        try:
            self.pdfs: dict[str, dict[str, Any]] = _read_rows(self.pdf_path, PDF_COLUMNS, "url")
        except Exception as error:  # noqa: BLE001 - PDF links are found again as pages are scraped
            self._quarantine(self.pdf_path, error)
            self.pdfs = {}

    def _quarantine(self, path: Path, error: BaseException) -> Path:
        """Move an unreadable file aside (never delete data) and say so."""
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        move(path, aside)
        self.notes.append(f"{path.name} was unreadable ({type(error).__name__}); moved to {aside.name}")
        self._dirty = True
        return aside

    def _rebuild_index(self, aside: Path) -> dict[str, dict[str, Any]]:
        """The index from the sidecars: every stored page is known again, so nothing is paid twice."""
        rows: dict[str, dict[str, Any]] = {}
        for sidecar, meta in _sidecars(self.pages_folder):
            first_seen = meta.get("first_seen") or meta.get("crawl_date")
            rows[meta["url"]] = self._stored_row(sidecar, meta, meta.get("status_code"), "sha256", first_seen)
        for sidecar, meta in _sidecars(self.pdfs_folder):
            rows[meta["url"]] = {
                **self._stored_row(sidecar, meta, 200, "text_sha256", meta.get("first_seen")),
                "kind": "pdf",
                "source_page": meta.get("linked_from"),
                "pdf_sha256": meta.get("sha256"),
                **{name: meta.get(name) for name in PDF_SIDECAR_FIELDS},
            }
        self.notes.append(f"index rebuilt from {len(rows)} sidecars")
        return rows

    def _stored_row(
        self, sidecar: Path, meta: dict[str, Any], status_code: Any, sha_field: str, first_seen: Any
    ) -> dict[str, Any]:
        """An index row for a stored file, rebuilt from its sidecar (pages and PDFs alike)."""
        url = meta["url"]
        return {
            "url": url,
            "final_url": meta.get("final_url") or url,
            "title": meta.get("title"),
            "status_code": status_code,
            "state": "stored",
            "sha256": meta.get(sha_field),
            "file": f"{sidecar.parent.name}/{sidecar.stem}.md",
            "source": self.source.name,
            "first_seen": first_seen,
            "crawl_date": meta.get("crawl_date"),
            "last_checked": meta.get("crawl_date"),
            "attempts": 0,
            "error": None,
        }

    # -- planning ---------------------------------------------------------------------------------------
    @property
    def stored_urls(self) -> set[str]:
        return {url for url, row in self.index.items() if row.get("state") == "stored"}

    def is_empty(self) -> bool:
        return not self.stored_urls

    def due(self, day_ordinal: int, force: bool) -> list[str]:
        """Known pages to scrape again today: all when forced, else those whose refresh slot is
        today, plus recently failed pages (retried nightly a few times, then on their slot)."""
        due = []
        for url, row in self.index.items():
            if force or self.source.is_due(url, day_ordinal):
                due.append(url)
            elif row.get("state") == "failed" and int(row.get("attempts") or 0) < MAX_DAILY_RETRIES:
                due.append(url)
        return sorted(due)

    def document_count(self) -> int:
        return len(self.stored_urls)

    # -- writing ------------------------------------------------------------------------------------------
    def save(self, page: Page, partition_key: str, crawled_at: str) -> str:
        """Store one page; returns ``new``, ``changed``, ``unchanged``, ``failed`` or ``foreign``.

        Nothing of a page outside the allowed domains is written; a page of ours that redirects
        outside them is remembered (state ``foreign``, no content) so it is not paid for nightly.
        """
        if not self.source.allows(page.url):
            return "foreign"
        row = self.index.get(page.url)
        if not self.source.allows(page.final_url):
            self._dirty = True
            self.index[page.url] = {
                "url": page.url,
                "final_url": page.final_url,
                "title": None,
                "status_code": page.status_code,
                "state": "foreign",
                "sha256": None,
                "file": None,
                "source": self.source.name,
                "first_seen": (row or {}).get("first_seen") or partition_key,
                "crawl_date": None,
                "last_checked": partition_key,
                "attempts": 0,
                "error": f"redirected outside the allowed domains {list(self.source.domains)}",
            }
            return "foreign"
        failure = page.failure
        if failure:
            self._record_failure(
                page.url, failure, partition_key, title=page.title, status_code=page.status_code
            )
            return "failed"
        digest = content_hash(page.markdown)
        stem = file_stem(page.url)
        self._dirty = True
        self._collect_pdfs(page, partition_key)
        if row is not None and row.get("state") == "stored" and row.get("sha256") == digest:
            row.update(last_checked=partition_key, attempts=0, error=None, status_code=page.status_code)
            return "unchanged"
        outcome = "changed" if row is not None and row.get("state") == "stored" else "new"
        first_seen = (row or {}).get("first_seen") or partition_key
        sidecar = {
            "url": page.url,
            "final_url": page.final_url,
            "title": page.title,
            "status_code": page.status_code,
            "crawl_date": partition_key,
            "crawled_at": crawled_at,
            "sha256": digest,
            "source": self.source.name,
            "first_seen": first_seen,
            "content_type": page.content_type,
        }
        atomic_write(self.pages_folder / f"{stem}.md", page.markdown.encode("utf-8"))
        atomic_write(
            self.pages_folder / f"{stem}.json",
            json.dumps(sidecar, ensure_ascii=False, indent=2).encode("utf-8"),
        )
        self.index[page.url] = {
            "url": page.url,
            "final_url": page.final_url,
            "title": page.title,
            "status_code": page.status_code,
            "state": "stored",
            "sha256": digest,
            "file": f"pages/{stem}.md",
            "source": self.source.name,
            "first_seen": first_seen,
            "crawl_date": partition_key,
            "last_checked": partition_key,
            "attempts": 0,
            "error": None,
        }
        return outcome

    def record_failure(self, url: str, error: str, partition_key: str) -> None:
        self._record_failure(normalize_url(url), error, partition_key)

    def _record_failure(
        self, url: str, error: str, partition_key: str, title: str = "", status_code: int | None = None
    ) -> None:
        """A failed page keeps its stored copy (if any); a new one is remembered to be retried."""
        self._dirty = True
        row = self.index.get(url)
        if row is not None and row.get("state") == "stored":
            row.update(last_checked=partition_key, error=error, attempts=int(row.get("attempts") or 0) + 1)
            return
        attempts = int((row or {}).get("attempts") or 0) + 1
        self.index[url] = {
            "url": url,
            "final_url": url,
            "title": title,
            "status_code": status_code,
            "state": "failed",
            "sha256": None,
            "file": None,
            "source": self.source.name,
            "first_seen": (row or {}).get("first_seen") or partition_key,
            "crawl_date": None,
            "last_checked": partition_key,
            "attempts": attempts,
            "error": error[:500],
        }

    def _collect_pdfs(self, page: Page, partition_key: str) -> None:
        for url, title in pdf_links(page.markdown, page.links, page.final_url or page.url).items():
            if url in self.pdfs or not self.source.allows(url):
                continue
            self.pdfs[url] = {
                "url": url,
                "title": title,
                "source_page": page.url,
                "first_seen": partition_key,
                "source": self.source.name,
            }

    # -- PDF documents ----------------------------------------------------------------------------------
    def pdf_row(self, url: str) -> dict[str, Any] | None:
        return self.documents.get(url)

    def put_pdf_row(self, row: dict[str, Any]) -> None:
        """Insert or replace a PDF document's index row (``kind = pdf``)."""
        self._dirty = True
        self.documents[row["url"]] = {
            **{c: None for c in INDEX_COLUMNS},
            **row,
            "kind": "pdf",
            "source": self.source.name,
        }

    def write_pdf_text(self, url: str, markdown: str, sidecar: dict[str, Any]) -> tuple[str, str]:
        """The text and sidecar of a PDF, atomically; returns (file relative to the source folder, sha256)."""
        stem = file_stem(url)
        digest = content_hash(markdown)
        atomic_write(self.pdfs_folder / f"{stem}.md", markdown.encode("utf-8"))
        atomic_write(
            self.pdfs_folder / f"{stem}.json",
            json.dumps({**sidecar, "text_sha256": digest}, ensure_ascii=False, indent=2).encode("utf-8"),
        )
        return f"pdfs/{stem}.md", digest

    def pdf_counts(self) -> dict[str, int]:
        states = [row.get("state") for row in self.documents.values()]
        return {
            "stored": states.count("stored"),
            "no_text_layer": states.count("no_text_layer"),
            "known": len(states),
        }

    def flush(self) -> None:
        """Write the index and the PDF table (atomically), if anything changed since the last flush."""
        if not self._dirty:
            return
        pages = [{**row, "kind": row.get("kind") or "page"} for row in self.index.values()]
        _write_rows(self.index_path, pages + list(self.documents.values()), INDEX_COLUMNS)
        _write_rows(self.pdf_path, self.pdfs.values(), PDF_COLUMNS)
        self._dirty = False


def _sidecars(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every readable JSON sidecar of a folder that names its URL, by file name; others are passed over."""
    for sidecar in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and isinstance(meta.get("url"), str):
            yield sidecar, meta


def _read_rows(path: Path, columns: list[str], key: str) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}

    frame = read_parquet(path)
    for column in columns:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[columns].astype(object).where(frame[columns].notna(), None)
    return {row[key]: row for row in frame.to_dict(orient="records")}


def _write_rows(path: Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    import io

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.DataFrame(list(rows), columns=columns)
    schema = pa.schema([(c, pa.int64() if c in INT_COLUMNS else pa.string()) for c in columns])
    for column in columns:
        if column in INT_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        else:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    atomic_write(path, buffer.getvalue())
