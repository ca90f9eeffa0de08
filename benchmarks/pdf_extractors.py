"""PDF text: extractors side by side, and what a second night downloads and pays.

Part 1 (extractors): a corpus of generated French PDFs (default 200 files, ~2,000 pages: prose, two
columns drawn line by line across both columns, two columns drawn column by column, tables of votes)
read by pdfminer.six (the crawl's settings, ``ocapistaine_pipelines.crawl.pdf_text``), pypdf and
pypdfium2, each in its own child process (so peak memory is the library's own). Quality per layout:
``lines found`` (each expected line appears, accents included) and ``in order`` (consecutive expected
lines appear in reading order). The corpus uses seeds and layouts (line spacing, column position, words
per line, table sizes) other than the test documents the settings were chosen on.

Part 2 (nights): the real crawl (``crawl_sources``, real firecrawl-py SDK against the tests' loopback
Firecrawl, PDFs on a loopback web server): night 1 reads every PDF, night 2 comes after 1 % new
documents; downloads, bytes and credits, for ``pdf_text: local`` and ``pdf_text: firecrawl``.

    .venv/bin/python benchmarks/pdf_extractors.py [--files 200] [--nights-files 200]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIBRARIES = ("pdfminer.six", "pypdf", "pypdfium2")


# -- part 1: extractors --------------------------------------------------------------------------------
def make_corpus(folder: Path, files: int) -> list[dict]:
    from ocapistaine_pipelines_tests.crawl import pdf_factory as make

    rng = random.Random(20261201)
    corpus = []
    for i in range(files):
        kind = ("prose", "columns_interleaved", "columns_sequential", "table")[i % 4]
        seed = 1000 + i
        if kind == "prose":
            made = make.prose_pdf(rng.randint(10, 20), seed=seed, title=f"Arrêté n°{i}")
        elif kind == "table":
            made = make.table_pdf(seed=seed, rows_count=rng.randint(60, 160))
        else:
            made = make.two_column_pdf(
                rng.randint(6, 14),
                seed=seed,
                interleaved=kind == "columns_interleaved",
                leading=rng.uniform(11.5, 14.0),
                right=rng.uniform(295, 330),
                words=rng.choice([3, 4]),
            )
        path = folder / f"{i:04d}-{kind}.pdf"
        path.write_bytes(made.data)
        corpus.append({"path": str(path), "kind": kind, "lines": made.text.split("\n")})
    return corpus


def extract_all(library: str, paths: list[str], conn) -> None:
    """Child process: one library over the whole corpus; sends texts, pages, seconds, peak RSS."""
    if library == "pdfminer.six":
        from ocapistaine_pipelines.crawl.pdf_text import extract, warm_up

        warm_up()

        def read(path):
            result = extract(path)
            return result["page_texts"], result["pages"]
    elif library == "pypdf":
        from pypdf import PdfReader

        def read(path):
            pages = [page.extract_text() for page in PdfReader(path).pages]
            return pages, len(pages)
    else:
        import pypdfium2 as pdfium

        def read(path):
            document = pdfium.PdfDocument(path)
            pages = [page.get_textpage().get_text_bounded() for page in document]
            document.close()
            return pages, len(pages)

    texts, pages = [], 0
    started, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        page_texts, count = read(path)
        texts.append("\n".join(page_texts))
        pages += count
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.send((texts, pages, seconds, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def score(lines: list[str], text: str) -> tuple[float, float]:
    """(share of expected lines found, share of expected line pairs (i, i+1) read one right after the
    other): a page read across both columns scores near 0 on the second, whatever its words."""
    flat = re.sub(r"\s+", " ", text)
    found: list[tuple[int, int]] = []
    for index, line in enumerate(lines):
        at = flat.find(re.sub(r"\s+", " ", line))
        if at >= 0:
            found.append((at, index))
    sequence = [index for _, index in sorted(found)]
    following = {a: b for a, b in zip(sequence, sequence[1:])}
    pairs = len(lines) - 1
    adjacent = sum(1 for i in range(pairs) if following.get(i) == i + 1)
    return len(found) / len(lines) if lines else 1.0, adjacent / pairs if pairs > 0 else 1.0


def part_extractors(files: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="pdf-bench-"))
    t = time.perf_counter()
    corpus = make_corpus(folder, files)
    size = sum(Path(d["path"]).stat().st_size for d in corpus) / 1e6
    print(f"corpus: {files} PDFs, {size:.1f} MB, generated in {time.perf_counter() - t:.1f} s")
    context = mp.get_context("spawn")
    results = {}
    for library in LIBRARIES:
        here, there = context.Pipe()
        child = context.Process(target=extract_all, args=(library, [d["path"] for d in corpus], there))
        child.start()
        results[library] = here.recv()
        child.join()
    pages = results["pypdf"][1]
    print(f"pages: {pages}\n")
    kinds = ("prose", "columns_interleaved", "columns_sequential", "table")
    # CPU seconds of the child: on a shared machine, wall time measures the neighbours too
    header = f"{'library':14}{'pages/CPU s':>12}{'CPU s':>8}{'wall s':>8}{'peak RSS MB':>13}" + "".join(
        f"{k:>22}" for k in kinds
    )
    print(header + "\n" + " " * 55 + "".join(f"{'found / in order':>22}" for _ in kinds))
    base = results["pdfminer.six"][3]
    for library in LIBRARIES:
        texts, count, seconds, cpu, rss = results[library]
        cells = []
        for kind in kinds:
            scores = [score(d["lines"], text) for d, text in zip(corpus, texts) if d["kind"] == kind]
            found = sum(s[0] for s in scores) / len(scores)
            ordered = sum(s[1] for s in scores) / len(scores)
            cells.append(f"{found:>14.1%} / {ordered:>5.1%}")
        print(
            f"{library:14}{count / cpu:>12.0f}{cpu:>8.1f}{seconds:>8.1f}{rss:>13.0f}"
            + "".join(f"{c:>22}" for c in cells)
            + f"   CPU x{base / cpu:.1f} faster than pdfminer.six"
        )


# -- part 2: nights ------------------------------------------------------------------------------------
def part_nights(files: int, new_share: float) -> None:
    from ocapistaine_pipelines.crawl.crawler import crawl_sources
    from ocapistaine_pipelines.crawl.resources import FirecrawlResource, PdfSettings
    from ocapistaine_pipelines.crawl.sources import parse_sources
    from ocapistaine_pipelines_tests.crawl import pdf_factory as make
    from ocapistaine_pipelines_tests.crawl.fake_firecrawl import FakeFirecrawl, build_site
    from ocapistaine_pipelines_tests.crawl.pdf_server import PdfSite

    new = max(1, round(files * new_share))
    print(f"\nnights: {files} documents linked from {files} pages, then {new} new ({new_share:.0%})")
    for mode in ("local", "firecrawl"):
        fake, site = FakeFirecrawl(page_size=100), PdfSite()
        base = site.url("").rstrip("/")

        def publish(count: int, start: int, fake=fake, site=site, base=base) -> None:
            build_site(fake, base, count, start=start)
            for i in range(start, start + count):
                made = make.prose_pdf(1 + i % 5, seed=5000 + i, title=f"Arrêté n°{i}")
                url = site.put(f"/wp-content/uploads/2026/arretes-{i:05d}.pdf", made.data)
                fake.add_pdf(url, made.text, made.pages)

        publish(files, 0)
        sources = parse_sources(
            [
                {
                    "name": "mairie_arretes",
                    "url": f"{base}/arretes/",
                    "allowed_domains": ["127.0.0.1"],
                    "refresh_days": 30,
                    "pdf_text": mode,
                }
            ],
            "benchmark",
        )
        resource_ = FirecrawlResource(
            api_url=fake.url,
            poll_interval_seconds=0.05,
            batch_size=100,
            pdfs=PdfSettings(requests_per_second_per_host=0, concurrency=2),
        )
        root = Path(tempfile.mkdtemp(prefix="pdf-nights-"))
        rows = []
        for day in ("2026-03-01", "2026-03-02"):
            if day == "2026-03-02":
                publish(new, files)
            fake.credits = 0
            seen = len(site.seen)
            started = time.perf_counter()
            night = crawl_sources(sources, resource_.gateway(), root, day, pdf_settings=resource_.pdfs)
            report = night.sources[0]
            assert report.status == "success", report.error
            pdf = report.pdf
            asked = site.seen[seen:]
            rows.append(
                (
                    day,
                    pdf.new,
                    pdf.unchanged,
                    pdf.problems,
                    len(asked),
                    sum(1 for s in asked if s.status == 304),
                    pdf.downloads,
                    pdf.bytes,
                    pdf.credits,
                    report.credits,
                    fake.credits,
                    time.perf_counter() - started,
                )
            )
        fake.stop()
        site.stop()
        print(f"pdf_text: {mode}")
        print(
            f"  {'night':12}{'pdfs new':>9}{'unchanged':>10}{'problems':>9}{'requests':>9}{'304s':>6}"
            f"{'downloads':>10}{'bytes':>11}{'pdf credits':>12}{'all credits':>12}{'billed':>8}{'seconds':>8}"
        )
        for row in rows:
            print(
                f"  {row[0]:12}{row[1]:>9}{row[2]:>10}{row[3]:>9}{row[4]:>9}{row[5]:>6}"
                f"{row[6]:>10}{row[7]:>11}{row[8]:>12}{row[9]:>12}{row[10]:>8}{row[11]:>8.1f}"
            )
        one, two = rows
        print(
            f"  night 2 / night 1: downloads {two[6] / max(1, one[6]):.1%}, "
            f"bytes {two[7] / max(1, one[7]):.1%}, "
            f"pdf credits {two[8] / max(1, one[8]):.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200, help="PDFs in the extractor corpus")
    parser.add_argument("--nights-files", type=int, default=200, help="documents of the two-night run")
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--skip-extractors", action="store_true")
    parser.add_argument("--skip-nights", action="store_true")
    args = parser.parse_args()
    if not args.skip_extractors:
        part_extractors(args.files)
    if not args.skip_nights:
        part_nights(args.nights_files, args.new_share)


if __name__ == "__main__":
    main()
