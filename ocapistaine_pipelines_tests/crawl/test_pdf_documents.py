"""The PDFs linked from crawled pages: downloaded from a loopback site, read in worker processes,
stored with their sidecars, every bad document with a state and a reason; the real firecrawl-py SDK
against the loopback Firecrawl for the pages and for ``pdf_text: firecrawl``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ocapistaine_pipelines.crawl.resources import PdfSettings
from ocapistaine_pipelines.guard.contract import FORCE_TAG

from . import pdf_factory as make
from .conftest import day_record, firecrawl_resource, materialize, write_sources
from .pdf_server import PdfSite

DAY1, DAY2, DAY3 = "2026-03-01", "2026-03-02", "2026-03-03"
CAP = 1024 * 1024


@pytest.fixture
def site():
    server = PdfSite()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def corpus():
    """The documents, made once for the module (reportlab)."""
    long = make.prose_pdf(35, seed=5, title="Règlement intérieur")
    return {
        "prose": make.prose_pdf(2, seed=4, title="Délibération n°2026-014"),
        "columns": make.two_column_pdf(1, seed=6, interleaved=True),
        "table": make.table_pdf(seed=7),
        "long": long,
        "scan": make.image_only_pdf(3),
        "locked": make.encrypted_pdf(),
        "cut": make.truncated(long.data),
        "huge": make.prose_pdf(1, seed=8).data + b"%" + b"x" * (2 * CAP),  # a valid start, 2 MB over the cap
    }


def _publish(site: PdfSite, corpus) -> dict[str, str]:
    """Every kind of document the town's site may serve, at /wp-content/uploads/."""
    u = "/wp-content/uploads/2026/"
    return {
        "prose": site.put(u + "deliberation-2026-014.pdf", corpus["prose"].data),
        "columns": site.put(u + "bulletin.pdf", corpus["columns"].data),
        "table": site.put(u + "votes.pdf", corpus["table"].data),
        "long": site.put(u + "reglement.pdf", corpus["long"].data),
        "scan": site.put(u + "scan.pdf", corpus["scan"].data),
        "locked": site.put(u + "protege.pdf", corpus["locked"].data),
        "cut": site.put(u + "coupe.pdf", corpus["cut"]),
        "huge": site.put(u + "enorme.pdf", corpus["huge"]),
        "huge_chunked": site.put(u + "enorme-flux.pdf", corpus["huge"], chunked=True),
        "html": site.put(u + "page.pdf", b"<!DOCTYPE html><html>Erreur</html>", content_type="text/html"),
        "html_as_pdf": site.put(u + "menteur.pdf", b"<!DOCTYPE html><html>Erreur</html>"),
        "missing": site.url(u + "disparu.pdf"),
    }


def _pages(fake, site, urls: dict[str, str], listing: str) -> None:
    """A listing page linking every document, and one that links a PDF on another host."""
    links = "\n".join(f"- [{name.replace('_', ' ').title()}]({url})" for name, url in urls.items())
    fake.add_page(listing, title="Documents", markdown=f"# Documents\n\n{links}\n")
    fake.add_page(
        listing + "ailleurs/",
        title="Ailleurs",
        markdown=f"[Autre commune]({site.url('/wp-content/uploads/2026/prose.pdf', host='localhost')})",
    )


def _resources(base_resources, fake, sources_file, **pdfs):
    settings = dict(
        max_megabytes=CAP / 1024 / 1024,
        concurrency=2,
        requests_per_second_per_host=0,
        extraction_timeout_seconds=60,
        retries=1,
        backoff_seconds=0,
    )
    settings.update(pdfs)
    return {
        **base_resources,
        "firecrawl": firecrawl_resource(fake, sources_file, pdfs=PdfSettings(**settings)),
    }


def _index(data_dir, source="docs"):
    frame = pd.read_parquet(Path(data_dir.root) / "documents" / source / "index.parquet")
    return frame[frame["kind"] == "pdf"].set_index("url")


@pytest.mark.slow
def test_a_night_reads_every_linked_pdf_and_the_next_night_downloads_nothing(
    fake, site, corpus, base_resources, data_dir, app_db, tmp_path
):
    listing = site.url("/documents/")
    urls = _publish(site, corpus)
    _pages(fake, site, urls, listing)
    sources = write_sources(
        tmp_path,
        [
            {
                "name": "docs",
                "url": listing,
                "mode": "crawl",
                "refresh_days": 0,
                "allowed_domains": ["127.0.0.1"],
                "pdf_text": "local",
            }
        ],
    )
    resources = _resources(base_resources, fake, sources)

    first = materialize(resources, DAY1)
    assert first.success  # bad documents never fail the night
    assert r"\.[pP][dD][fF]$" in fake.calls("POST", "/v2/crawl")[0]["excludePaths"]  # not paid twice
    _, meta = day_record(first, DAY1)
    index = _index(data_dir)
    states = {name: index.loc[url, "state"] for name, url in urls.items()}
    assert states == {
        "prose": "stored",
        "columns": "stored",
        "table": "stored",
        "long": "stored",
        "scan": "no_text_layer",
        "locked": "encrypted",
        "cut": "truncated",
        "huge": "oversized",
        "huge_chunked": "oversized",
        "html": "wrong_content_type",
        "html_as_pdf": "wrong_content_type",
        "missing": "removed",
    }
    reasons = index["error"].to_dict()
    assert "3 pages" in reasons[urls["scan"]] and index.loc[urls["scan"], "pages"] == 3
    assert "password" in reasons[urls["locked"]] and "%%EOF" in reasons[urls["cut"]]
    assert "over the 1048576-byte cap (not downloaded)" in reasons[urls["huge"]]
    assert "while downloading" in reasons[urls["huge_chunked"]]
    assert "text/html" in reasons[urls["html"]] and "not a PDF" in reasons[urls["html_as_pdf"]]
    assert "HTTP 404" in reasons[urls["missing"]]

    # the text: accents intact, two columns in reading order, table rows together, all 35 pages
    folder = Path(data_dir.root) / "documents" / "docs"
    text = {
        name: (folder / index.loc[urls[name], "file"]).read_text(encoding="utf-8")
        for name in ("prose", "columns", "table", "long")
    }
    assert corpus["prose"].text.split("\n")[1] in text["prose"] and "é" in text["prose"]
    expected = corpus["columns"].text.split("\n")
    positions = [text["columns"].index(line) for line in expected]
    assert positions == sorted(positions)  # the whole left column, then the right one
    for row in corpus["table"].text.split("\n")[1:4]:
        assert " ".join(row.split()[:2]) in " ".join(text["table"].split())
    assert text["long"].count("<!-- page ") == 35 and "Règlement intérieur page 35" in text["long"]
    sidecar = json.loads(
        (folder / index.loc[urls["long"], "file"]).with_suffix(".json").read_text(encoding="utf-8")
    )
    import hashlib

    assert sidecar["sha256"] == hashlib.sha256(corpus["long"].data).hexdigest()
    assert sidecar["bytes"] == len(corpus["long"].data) and sidecar["pages"] == 35
    assert sidecar["characters"] == index.loc[urls["long"], "characters"] > 100_000
    assert sidecar["extractor"].startswith("pdfminer.six ") and sidecar["linked_from"] == listing
    assert sidecar["url"] == urls["long"] and sidecar["fetched_at"].startswith("20")
    assert sidecar["title"] == "Long"

    # never a request to another host; only GETs, a User-Agent naming the project
    assert {seen.host for seen in site.seen} == {f"127.0.0.1:{site.port}"}
    assert all("ocapistaine-pipelines/" in seen.headers.get("User-Agent", "") for seen in site.seen)
    assert "localhost" not in json.dumps(index.index.tolist())
    readable = sum(
        len(corpus[n].data) for n in ("prose", "columns", "table", "long", "scan", "locked")
    ) + len(corpus["cut"])
    assert (
        readable < meta["pdf_bytes"] <= readable + CAP + 2 * 64 * 1024
    )  # the huge files: never past the cap

    # the metadata: the night's new documents, the counts, crawl:{source}
    table = {row["url"]: row for row in meta["new_documents"]}
    assert table[urls["long"]]["pages"] == 35 and table[urls["long"]]["state"] == "stored"
    assert table[urls["scan"]]["state"] == "no_text_layer" and table[urls["scan"]]["characters"] == 0
    assert meta["pdfs_new"] == 4 and meta["pdfs_stored"] == 4 and meta["pdf_problems"] == 8
    assert meta["pdf_downloads"] >= 6 and meta["pdf_bytes"] > len(corpus["long"].data)
    status = app_db.hgetall("crawl:docs")
    assert (status["pdfs"], status["pdfs_new"], status["pdfs_without_text"]) == ("4", "4", "1")
    assert any("encrypted" in warning for warning in json.dumps(meta["warnings"]).split("\\n"))

    # night 2: no new link, refresh_days 0: not one request for a PDF
    before = len(site.seen)
    second = materialize(resources, DAY2)
    _, meta2 = day_record(second, DAY2)
    assert second.success and len(site.seen) == before
    assert (meta2["pdfs_new"], meta2["pdf_downloads"], meta2["pdf_bytes"]) == (0, 0, 0)
    assert app_db.hget("crawl:docs", "pdfs_new") == "0" and app_db.hget("crawl:docs", "pdfs") == "4"

    # a forced night asks again, conditionally: unchanged documents cost a 304, no body
    site.files["/wp-content/uploads/2026/deliberation-2026-014.pdf"].status = 410  # removed from the site
    forced = materialize(resources, DAY3, tags={FORCE_TAG: "true"})
    _, meta3 = day_record(forced, DAY3)
    fresh = site.seen[before:]
    assert {
        s.status for s in fresh if s.path.endswith(("reglement.pdf", "votes.pdf", "scan.pdf", "protege.pdf"))
    } == {304}
    assert all(s.headers.get("If-None-Match") for s in fresh if s.status == 304)
    assert meta3["pdfs_new"] == 0 and meta3["pdfs_unchanged"] >= 7
    index = _index(data_dir)
    assert index.loc[urls["prose"], "state"] == "removed" and "HTTP 410" in index.loc[urls["prose"], "error"]
    assert (folder / index.loc[urls["prose"], "file"]).exists()  # the text of a removed document is kept
    from ocapistaine_pipelines.crawl.assets import crawled_documents_store_is_consistent as check

    assert check(data_dir=data_dir, firecrawl=resources["firecrawl"]).passed


def test_pdf_text_firecrawl_pays_per_page_only_for_documents_worth_it(
    fake, site, corpus, base_resources, data_dir, tmp_path
):
    listing = site.url("/documents/")
    good = site.put("/files/rapport.pdf", corpus["prose"].data)
    huge = site.put("/files/enorme.pdf", corpus["huge"])
    missing = site.url("/files/disparu.pdf")
    fake.add_pdf(good, "# Rapport\n\nLa commission de contrôle a examiné le budget.", pages=2)
    fake.add_pdf(huge, "never asked", pages=400)
    fake.add_pdf(missing, "", pages=0, status_code=404)
    fake.add_page(
        listing, title="Documents", markdown=f"[Rapport]({good}) [Énorme]({huge}) [Disparu]({missing})"
    )
    sources = write_sources(
        tmp_path,
        [
            {
                "name": "docs",
                "url": listing,
                "mode": "scrape",
                "pdf_text": "firecrawl",
                "allowed_domains": ["127.0.0.1"],
            }
        ],
    )
    resources = _resources(base_resources, fake, sources)

    first = materialize(resources, DAY1)
    assert first.success
    _, meta = day_record(first, DAY1)
    bodies = [b for b in fake.calls("POST", "/v2/scrape") if b["url"] != listing]
    assert [b["url"] for b in bodies] == [good] or sorted(b["url"] for b in bodies) == sorted([good])
    assert bodies[0]["parsers"] == [{"type": "pdf", "mode": "auto"}] and bodies[0]["formats"] == ["markdown"]
    assert meta["pdf_credits"] == 2 and meta["credits_used"] == 1 + 2  # the listing, then 2 pages of PDF
    assert {s.method for s in site.seen} == {"HEAD"}  # Firecrawl downloads; we only checked type and size
    index = _index(data_dir)
    assert index.loc[good, "state"] == "stored" and index.loc[huge, "state"] == "oversized"
    assert index.loc[missing, "state"] == "removed"
    text = (Path(data_dir.root) / "documents/docs" / index.loc[good, "file"]).read_text(encoding="utf-8")
    assert "commission de contrôle" in text
    sidecar = json.loads(
        (Path(data_dir.root) / "documents/docs" / index.loc[good, "file"])
        .with_suffix(".json")
        .read_text(encoding="utf-8")
    )
    assert (
        sidecar["extractor"] == "firecrawl pdf parser (auto)"
        and sidecar["pages"] == 2
        and sidecar["credits"] == 2
    )

    # a forced night: the HEAD says unchanged (304), so nothing is paid again
    forced = materialize(resources, DAY2, tags={FORCE_TAG: "true"})
    _, meta2 = day_record(forced, DAY2)
    assert meta2["pdf_credits"] == 0 and meta2["pdfs_unchanged"] >= 2
    assert len([b for b in fake.calls("POST", "/v2/scrape") if b["url"] == good]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("head_status", [405, 501])
def test_pdf_text_firecrawl_asks_firecrawl_when_the_server_refuses_head(
    fake, site, corpus, base_resources, data_dir, tmp_path, head_status
):
    """A server that does not answer HEAD does not keep its documents unread: the check is skipped and
    Firecrawl is asked (it downloads the document itself); a 404 on HEAD still means removed."""
    listing = site.url("/documents/")
    good = site.put("/files/rapport.pdf", corpus["prose"].data, head_status=head_status)
    gone = site.url("/files/disparu.pdf")
    fake.add_pdf(good, "# Rapport\n\nLe conseil a voté le budget du port.", pages=2)
    fake.add_page(listing, title="Documents", markdown=f"[Rapport]({good}) [Disparu]({gone})")
    sources = write_sources(
        tmp_path,
        [
            {
                "name": "docs",
                "url": listing,
                "mode": "scrape",
                "pdf_text": "firecrawl",
                "allowed_domains": ["127.0.0.1"],
            }
        ],
    )
    result = materialize(_resources(base_resources, fake, sources), DAY1)
    assert result.success
    _, meta = day_record(result, DAY1)
    assert [b["url"] for b in fake.calls("POST", "/v2/scrape") if b["url"] != listing] == [good]
    assert meta["pdf_credits"] == 2
    assert [(s.method, s.status) for s in site.requests(status=head_status)] == [("HEAD", head_status)]
    index = _index(data_dir)
    assert index.loc[good, "state"] == "stored" and index.loc[gone, "state"] == "removed"


def test_pdf_text_off_keeps_only_the_links(fake, site, corpus, base_resources, data_dir, tmp_path):
    listing = site.url("/documents/")
    fake.add_page(
        listing, title="Documents", markdown=f"[Rapport]({site.put('/r.pdf', corpus['prose'].data)})"
    )
    sources = write_sources(
        tmp_path,
        [
            {
                "name": "docs",
                "url": listing,
                "mode": "scrape",
                "pdf_text": "off",
                "allowed_domains": ["127.0.0.1"],
            }
        ],
    )
    result = materialize(_resources(base_resources, fake, sources), DAY1)
    assert result.success and not site.seen
    assert len(pd.read_parquet(Path(data_dir.root) / "documents/docs/pdf_links.parquet")) == 1
