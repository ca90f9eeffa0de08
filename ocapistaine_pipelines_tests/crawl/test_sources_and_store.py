"""Sources files, the refresh schedule, and the page store."""

from __future__ import annotations

import json

import pytest

from ocapistaine_pipelines.crawl.crawler import day_ordinal
from ocapistaine_pipelines.crawl.sources import SourcesError, is_allowed, load_sources, parse_sources
from ocapistaine_pipelines.crawl.store import Page, SourceStore, file_stem, pdf_links


def test_the_default_sources_are_the_three_audierne_sources():
    sources = load_sources()
    assert [s.name for s in sources] == ["mairie_arretes", "mairie_deliberations", "commission_controle"]
    assert [s.mode for s in sources] == ["crawl", "crawl", "scrape"]
    assert all(s.domains == ("audierne.bzh",) and s.refresh_days == 30 for s in sources)
    assert sources[0].scrape_options["only_main_content"] is True
    assert sources[0].scrape_options["exclude_tags"] == ["nav", "footer", "header", "aside"]


def test_yaml_and_json_files_are_read(tmp_path):
    (tmp_path / "s.yaml").write_text("- name: a\n  url: https://www.audierne.bzh/x/\n  refresh_days: 7\n")
    (tmp_path / "s.json").write_text(
        json.dumps({"sources": [{"name": "b", "url": "https://a.fr/", "mode": "scrape"}]})
    )
    assert load_sources(tmp_path / "s.yaml")[0].refresh_days == 7
    assert load_sources(tmp_path / "s.json")[0].domains == ("a.fr",)


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"name": "a", "url": "ftp://x"}, "absolute http(s) URL"),
        ({"name": "a", "url": "https://x.fr/", "mode": "spider"}, "mode must be one of"),
        ({"name": "a", "url": "https://x.fr/", "limit": 0}, "limit must be an integer >= 1"),
        ({"name": "a", "url": "https://x.fr/", "include_paths": ["("]}, "not a valid regex"),
        (
            {"name": "a", "url": "https://x.fr/", "allowed_domains": ["y.fr"]},
            "outside its own allowed_domains",
        ),
        (
            {"name": "a", "url": "https://x.fr/", "scrape_options": {"wait_for": "soon"}},
            "invalid scrape_options",
        ),
        ({"name": "a", "url": "https://x.fr/", "colour": "red"}, "unknown key"),
        ({"name": "../etc", "url": "https://x.fr/"}, "name must match"),
        ({"name": "a", "url": "https://x.fr/", "pdf_text": "ocr"}, "pdf_text must be one of"),
    ],
)
def test_bad_entries_are_refused_with_the_entry_named(entry, words):
    with pytest.raises(SourcesError, match="source #1") as caught:
        parse_sources([entry], "file.yaml")
    assert words in str(caught.value)


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(SourcesError, match="cannot read the crawl sources file"):
        load_sources(tmp_path / "nope.yaml")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SourcesError, match="not valid JSON"):
        load_sources(tmp_path / "bad.json")
    with pytest.raises(SourcesError, match="duplicate"):
        parse_sources([{"name": "a", "url": "https://x.fr/"}] * 2, "f")


def test_allowed_domains_match_hosts_and_subdomains_only():
    assert is_allowed("https://www.audierne.bzh/x.pdf", ["audierne.bzh"])
    assert is_allowed("https://audierne.bzh/", ["audierne.bzh"])
    assert not is_allowed("https://audierne.bzh.evil.example/", ["audierne.bzh"])
    assert not is_allowed("https://notaudierne.bzh/", ["audierne.bzh"])
    assert not is_allowed("javascript:alert(1)", ["audierne.bzh"])


def test_refresh_is_spread_over_the_cycle_and_each_page_refreshes_once_per_cycle():
    source = parse_sources([{"name": "a", "url": "https://x.fr/", "refresh_days": 30}], "f")[0]
    urls = [f"https://x.fr/doc-{i}/" for i in range(3000)]
    start = day_ordinal("2026-03-01")
    per_day = [sum(source.is_due(u, start + d) for u in urls) for d in range(30)]
    assert sum(per_day) == 3000  # every page exactly once in 30 days
    assert max(per_day) < 3000 / 30 * 1.5  # and no night takes much more than its share
    never = parse_sources([{"name": "a", "url": "https://x.fr/", "refresh_days": 0}], "f")[0]
    assert not any(never.is_due(u, start) for u in urls[:50])


def test_file_names_are_safe_short_and_distinct():
    names = {
        file_stem(u)
        for u in [
            "https://x.fr/a/b/",
            "https://x.fr/a/b/?p=2",
            "https://x.fr/../../etc/passwd",
            "https://x.fr/" + "é" * 300,
        ]
    }
    assert len(names) == 4
    assert all(len(n) <= 72 and "/" not in n and ".." not in n for n in names)


def test_pdf_links_keep_link_text_and_resolve_relative_urls():
    found = pdf_links(
        "[Arrêté 12]( /wp-content/a.pdf ) [x](https://o.org/b.PDF) [page](/c/)",
        ["/wp-content/d.pdf"],
        "https://www.audierne.bzh/p/",
    )
    assert found == {
        "https://www.audierne.bzh/wp-content/a.pdf": "Arrêté 12",
        "https://o.org/b.PDF": "x",
        "https://www.audierne.bzh/wp-content/d.pdf": "d.pdf",
    }


def test_store_counts_new_changed_unchanged_failed_and_survives_a_reload(tmp_path):
    source = parse_sources([{"name": "a", "url": "https://x.fr/"}], "f")[0]
    store = SourceStore(tmp_path, source)
    page = Page(
        url="https://x.fr/1/",
        final_url="https://x.fr/1/",
        title="t",
        status_code=200,
        markdown="# one",
        links=[],
    )
    assert store.save(page, "2026-03-01", "t") == "new"
    store.flush()
    reloaded = SourceStore(tmp_path, source)
    assert reloaded.save(page, "2026-03-02", "t") == "unchanged"
    page.markdown = "# one, amended"
    assert reloaded.save(page, "2026-03-02", "t") == "changed"
    gone = Page(
        url="https://x.fr/2/", final_url="https://x.fr/2/", title="", status_code=404, markdown="x", links=[]
    )
    assert reloaded.save(gone, "2026-03-02", "t") == "failed"
    reloaded.flush()
    final = SourceStore(tmp_path, source)
    assert final.index["https://x.fr/1/"]["first_seen"] == "2026-03-01"
    assert final.index["https://x.fr/1/"]["crawl_date"] == "2026-03-02"
    assert (
        final.index["https://x.fr/2/"]["state"] == "failed"
        and final.index["https://x.fr/2/"]["error"] == "HTTP 404"
    )
    assert final.document_count() == 1
    assert "https://x.fr/2/" in final.due(day_ordinal("2026-03-03"), force=False)  # failed: retried
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files


def test_an_unreadable_index_is_set_aside_and_rebuilt_from_the_sidecars(tmp_path):
    source = parse_sources([{"name": "a", "url": "https://x.fr/"}], "f")[0]
    store = SourceStore(tmp_path, source)
    for i in range(3):
        store.save(
            Page(
                url=f"https://x.fr/{i}/",
                final_url=f"https://x.fr/{i}/",
                title=str(i),
                status_code=200,
                markdown=f"# {i}",
                links=[],
            ),
            "2026-03-01",
            "t",
        )
    store.flush()
    store.index_path.write_bytes(b"PAR1 garbage")
    # sidecars that cannot say which page they are for are passed over, not a crash of the night
    for name, body in [
        ("broken", b"{not json"),
        ("list", b"[1, 2]"),
        ("no-url", b'{"title": "x"}'),
        ("number-url", b'{"url": 7}'),
        ("latin1", '{"url": "é"}'.encode("latin-1")),
    ]:
        (store.pages_folder / f"{name}.json").write_bytes(body)
    again = SourceStore(tmp_path, source)
    assert again.document_count() == 3 and "index rebuilt from 3 sidecars" in again.notes
    assert list(again.folder.glob("index.parquet.unreadable-*"))  # the bad file is kept, not deleted
    page = Page(
        url="https://x.fr/1/",
        final_url="https://x.fr/1/",
        title="1",
        status_code=200,
        markdown="# 1",
        links=[],
    )
    assert again.save(page, "2026-03-02", "t") == "unchanged"
    again.flush()
    assert SourceStore(tmp_path, source).document_count() == 3


def test_pdf_rows_share_the_index_apart_from_the_pages_and_are_rebuilt_from_their_sidecars(tmp_path):
    """A PDF's row (kind pdf) never enters the page planning, survives a reload, and an unreadable index
    is rebuilt with the PDF texts too, so a stored document is not downloaded again."""
    source = parse_sources([{"name": "a", "url": "https://x.fr/", "refresh_days": 1}], "f")[0]
    store = SourceStore(tmp_path, source)
    store.save(
        Page(
            url="https://x.fr/1/",
            final_url="https://x.fr/1/",
            title="1",
            status_code=200,
            markdown="# 1 [PDF](/doc.pdf)",
            links=[],
        ),
        "2026-03-01",
        "t",
    )
    url = "https://x.fr/doc.pdf"
    file, digest = store.write_pdf_text(
        url,
        "# Arrêté\n\ntexte",
        {"url": url, "sha256": "ab" * 32, "pages": 2, "linked_from": "https://x.fr/1/"},
    )
    store.put_pdf_row(
        {
            "url": url,
            "state": "stored",
            "file": file,
            "sha256": digest,
            "pages": 2,
            "pdf_sha256": "ab" * 32,
            "etag": '"e1"',
        }
    )
    store.flush()
    again = SourceStore(tmp_path, source)
    assert set(again.index) == {"https://x.fr/1/"} and set(again.documents) == {url}
    assert url not in again.due(day_ordinal("2026-03-02"), force=True)  # pages only
    assert again.document_count() == 1 and again.pdf_counts() == {"stored": 1, "no_text_layer": 0, "known": 1}
    assert again.documents[url]["etag"] == '"e1"' and again.documents[url]["pages"] == 2
    again.index_path.write_bytes(b"PAR1 garbage")
    rebuilt = SourceStore(tmp_path, source)
    row = rebuilt.documents[url]
    assert (row["state"], row["file"], row["sha256"], row["pdf_sha256"]) == (
        "stored",
        file,
        digest,
        "ab" * 32,
    )
    assert row["source_page"] == "https://x.fr/1/" and set(rebuilt.index) == {"https://x.fr/1/"}
