"""Crawl credits and cost: a first night of 2,000 pages, then a night with 20 new pages.

Runs the real crawl code (``crawl_sources``, the real firecrawl-py SDK) against the loopback Firecrawl
v2 server of the tests, which runs in a child process so the memory measured is the crawl's own.
Prints both nights side by side and the ratios (goal: night 2 credits < 5% of night 1).

    .venv/bin/python benchmarks/crawl_credits.py [--pages 2000] [--new 20]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SITE = "https://www.audierne.bzh"


def serve(conn, pages: int) -> None:
    """The fake Firecrawl in its own process, driven through a pipe."""
    from ocapistaine_pipelines_tests.crawl.fake_firecrawl import FakeFirecrawl, build_site

    fake = FakeFirecrawl(page_size=100)
    build_site(fake, SITE, pages)
    conn.send(fake.url)
    while True:
        command, *args = conn.recv()
        if command == "add":
            build_site(fake, SITE, args[0], start=args[1])
            conn.send(None)
        elif command == "billed":
            billed, fake.credits = fake.credits, 0
            conn.send(billed)
        else:
            fake.stop()
            conn.send(None)
            return


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--new", type=int, default=20)
    parser.add_argument("--refresh-days", type=int, default=30)
    args = parser.parse_args()

    context = mp.get_context("spawn")
    here, there = context.Pipe()
    server = context.Process(target=serve, args=(there, args.pages), daemon=True)
    server.start()
    api_url = here.recv()

    # imported before the baseline so library code is not counted as crawl memory
    import firecrawl  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from ocapistaine_pipelines.crawl.crawler import crawl_sources
    from ocapistaine_pipelines.crawl.resources import FirecrawlResource
    from ocapistaine_pipelines.crawl.sources import parse_sources

    sources = parse_sources(
        [
            {
                "name": "mairie_arretes",
                "url": f"{SITE}/arretes/",
                "mode": "crawl",
                "discovery": "listing",
                "allowed_domains": ["audierne.bzh"],
                "refresh_days": args.refresh_days,
                "limit": 10_000,
            }
        ],
        "benchmark",
    )
    settings = FirecrawlResource(api_url=api_url, poll_interval_seconds=0.2, batch_size=100)
    data_root = Path(tempfile.mkdtemp(prefix="crawl-bench-"))

    def night(day: str, root: Path = data_root):
        gateway = settings.gateway()
        before = rss_mb()
        started = time.perf_counter()
        report = crawl_sources(sources, gateway, root, day)
        seconds = time.perf_counter() - started
        here.send(("billed",))
        billed = here.recv()
        return report, seconds, billed, rss_mb() - before

    baseline = rss_mb()
    first, t1, billed1, _ = night("2026-03-01")
    peak1 = rss_mb() - baseline
    # the same first night again on an empty store, under tracemalloc (slower, so timed apart)
    import tracemalloc

    tracemalloc.start()
    night("2026-03-01", Path(tempfile.mkdtemp(prefix="crawl-bench-heap-")))
    heap_peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    here.send(("add", args.new, args.pages))
    here.recv()
    second, t2, billed2, _ = night("2026-03-02")
    here.send(("stop",))
    here.recv()
    server.join(timeout=5)

    s1, s2 = first.sources[0], second.sources[0]
    assert s1.status == s2.status == "success", (s1.error, s2.error)
    print(f"crawl benchmark: {args.pages} pages, then {args.new} new (refresh_days={args.refresh_days})")
    print(f"{'':28}{'night 1 (first crawl)':>26}{'night 2 (+' + str(args.new) + ' new)':>32}{'ratio':>10}")
    rows = [
        ("plan", s1.plan, s2.plan, None),
        ("pages received", s1.pages, s2.pages, s2.pages / s1.pages),
        (
            "new / changed / unchanged",
            f"{s1.new}/{s1.changed}/{s1.unchanged}",
            f"{s2.new}/{s2.changed}/{s2.unchanged}",
            None,
        ),
        ("credits recorded", s1.credits, s2.credits, s2.credits / s1.credits),
        ("credits billed by server", billed1, billed2, billed2 / billed1),
        ("wall time (s)", f"{t1:.2f}", f"{t2:.2f}", t2 / t1),
    ]
    for name, a, b, ratio in rows:
        print(f"{name:28}{str(a):>26}{str(b):>32}{'' if ratio is None else f'{ratio:.1%}':>10}")
    print(
        f"peak memory of night 1: Python heap {heap_peak:.1f} MB (tracemalloc); RSS growth {peak1:.1f} MB "
        f"(over a {baseline:.0f} MB baseline after imports; includes lazy imports and allocator pools)"
    )
    print(
        f"stored documents after night 2: {s2.documents}; files: "
        f"{sum(1 for _ in (data_root / 'documents').rglob('*.md'))} markdown"
    )
    goal = s2.credits / s1.credits < 0.05
    print(
        f"goal credits(night 2) < 5% of night 1: {'met' if goal else 'NOT met'} "
        f"({s2.credits / s1.credits:.1%})"
    )


if __name__ == "__main__":
    main()
