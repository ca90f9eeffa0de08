"""Hostile exports: what tolerance costs, side by side, and the accounting property on many examples.

    .venv/bin/python benchmarks/hostile_exports.py [--items 20000] [--examples 3000]

1. Reading: ``json.loads`` (the stdlib, which refuses the hostile file whole) against
   ``tolerant_json.loads`` on a clean export, and on the same export with one item nested 100,000
   levels and one 5,000-digit id (read item by item, only those two quarantined).
2. Splitting: ``split_by_day`` on the clean and on the hostile export (items/s).
3. The property test of tests (``fetched = kept + quarantined + other days``) with ``--examples``
   generated exports instead of CI's 200.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocapistaine_pipelines.contributions import tolerant_json  # noqa: E402
from ocapistaine_pipelines.contributions.sources import RawItem, split_by_day  # noqa: E402

GOOD = "Le parking du port d'Audierne est saturé tous les samedis matin pendant le marché."
NOW = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)


def export_text(items: int, hostile: bool) -> str:
    records = [
        json.dumps(
            {
                "id": f"c-{i}",
                "constat_factuel": GOOD,
                "idees_ameliorations": "Une navette.",
                "category": "economie",
                "created_at": f"2026-03-0{1 + i % 3}T10:00:00Z",
            },
            ensure_ascii=False,
        )
        for i in range(items)
    ]
    if hostile:
        records[items // 3] = (
            '{"id": "deep", "constat_factuel": "x", "junk": ' + "[" * 100_000 + "]" * 100_000 + "}"
        )
        records[2 * items // 3] = '{"id": ' + "7" * 5000 + ', "constat_factuel": "x"}'
    return '{"generated_at": "2026-03-02T08:00:00Z", "contributions": [' + ",".join(records) + "]}"


def best(function, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--examples", type=int, default=3000)
    args = parser.parse_args()
    clean, hostile = export_text(args.items, False), export_text(args.items, True)

    stdlib_clean = best(lambda: json.loads(clean))
    tolerant_clean = best(lambda: tolerant_json.loads(clean, "contributions"))
    try:
        json.loads(hostile)
        stdlib_hostile = "read"
    except (RecursionError, ValueError) as error:
        stdlib_hostile = f"refused whole ({type(error).__name__})"
    tolerant_hostile = best(lambda: tolerant_json.loads(hostile, "contributions"))
    print(f"{args.items:,} items, {len(clean) / 1e6:.1f} MB clean, {len(hostile) / 1e6:.1f} MB hostile")
    print(
        f"read clean:   json.loads {stdlib_clean * 1000:.0f} ms, tolerant {tolerant_clean * 1000:.0f} ms "
        f"({tolerant_clean / stdlib_clean:.2f}x)"
    )
    print(
        f"read hostile: json.loads {stdlib_hostile}; tolerant {tolerant_hostile * 1000:.0f} ms "
        f"({tolerant_hostile / stdlib_clean:.2f}x json.loads on the clean file)"
    )

    def split(text: str):
        document = tolerant_json.loads(text, "contributions")
        items = [
            RawItem(r, "export", "bench.json", document["generated_at"]) for r in document["contributions"]
        ]
        return split_by_day(items, ["2026-03-02"], now=NOW)

    split_clean, split_hostile = best(lambda: split(clean)), best(lambda: split(hostile))
    accounting = split(hostile).accounting
    print(
        f"split clean:   {args.items / split_clean:,.0f} items/s; hostile {args.items / split_hostile:,.0f} "
        f"items/s ({split_hostile / split_clean:.2f}x the time); hostile accounting: {accounting.sentence()}"
    )

    if args.examples <= 0:
        return
    started = time.monotonic()
    test = (
        "ocapistaine_pipelines_tests/contributions/test_hostile_input.py"
        "::test_every_item_of_any_export_is_accounted_for"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", test],
        env={**os.environ, "OCAPISTAINE_HYPOTHESIS_EXAMPLES": str(args.examples)},
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    )
    last = (done.stdout.strip().splitlines() or ["?"])[-1]
    print(f"property test, {args.examples:,} generated exports: {last} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
