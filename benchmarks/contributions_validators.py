"""Contributions validators: rules throughput on 100,000 items, LLM wall time against a loopback server.

Run: .venv/bin/python benchmarks/contributions_validators.py [--n 100000] [--llm-n 200] [--delay 0.1]
     [--concurrency 4] [--only llm-calls] [--rules-baseline GIT_REV [--rounds 3]] [--patterns]
     (--llm-n 0 skips the LLM parts)

1. Rules: 100,000 synthetic French contributions (sentences of the labelled set recombined with
   random numbers and places, so no two are equal) judged by RulesValidator: contributions/s, peak
   memory (max RSS of the process, and its growth while validating), and the ratio to a baseline pass
   that only folds each text (the floor of any text checker in Python).
   With ``--rules-baseline main`` (any git revision), the validator of that revision and the current
   one judge the same contributions, interleaved, best of ``--rounds``, and must give the same verdicts:
   the ratio of their throughputs is measured side by side in one run. ``--patterns`` times each
   pattern of the rules on its own (a full scan of every folded text) to say which are slow.
2. LLM: 200 contributions through the real litellm against a loopback OpenAI-compatible server that
   answers in 100 ms. Ideal per the brief: 200 x 0.1 s / concurrency. Each contribution needs two calls
   (charter, then category), so the floor with the concurrency bound is twice that: both ratios printed.
3. LLM calls and tokens per contribution, one call (verdict + category) vs two (charter, then category),
   on the same contributions and the same answers; tokens are the server's ``usage`` (cl100k counts).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import random
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocapistaine_pipelines.contributions.model import Contribution  # noqa: E402
from ocapistaine_pipelines.contributions.rules import RulesValidator, fold_text  # noqa: E402

PLACES = [
    "Audierne",
    "Esquibien",
    "Poulgoazec",
    "Sainte-Évette",
    "Trescadec",
    "le Goyen",
    "le bourg",
    "le quai",
]


def synthetic(n: int, seed: int = 7) -> list[Contribution]:
    labelled = json.loads(
        (ROOT / "ocapistaine_pipelines" / "data" / "labelled_contributions.json").read_text()
    )["contributions"]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.choice(labelled), rng.choice(labelled)
        place, day, month = rng.choice(PLACES), rng.randint(1, 28), rng.randint(1, 12)
        constat = f"{a['constat_factuel']} Constaté à {place} le {day}/{month}."
        idees = f"{b['idees_ameliorations']} Coût estimé : {rng.randint(1, 900)} 000 euros."
        out.append(
            Contribution.from_record(
                {
                    "id": f"s{i}",
                    "constat_factuel": constat,
                    "idees_ameliorations": idees,
                    "category": a["category"],
                }
            )
        )
    return out


def bench_rules(n: int) -> dict:
    items = synthetic(n)
    started = time.perf_counter()
    for c in items:
        fold_text(c.text)
    baseline = time.perf_counter() - started

    validator = RulesValidator()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    verdicts = validator.validate_many(items)
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    flagged = sum(1 for v in verdicts if v.is_valid is False)
    return {
        "n": n,
        "seconds": elapsed,
        "per_second": n / elapsed,
        "baseline_seconds": baseline,
        "ratio_to_fold_only": elapsed / baseline,
        "peak_rss_mb": rss_after / 1024,
        "growth_mb": (rss_after - rss_before) / 1024,
        "flagged_share": flagged / n,
    }


def baseline_validator(revision: str, into: Path):
    """The RulesValidator of a git revision, imported from a copy of its package under another name."""
    archive = subprocess.run(
        ["git", "archive", revision, "ocapistaine_pipelines"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(into, filter="data")
    (into / "ocapistaine_pipelines").rename(into / "baseline_ocapistaine_pipelines")
    sys.path.insert(0, str(into))
    return importlib.import_module("baseline_ocapistaine_pipelines.contributions.rules").RulesValidator()


def bench_rules_side_by_side(n: int, revision: str, rounds: int) -> dict:
    items = synthetic(n)
    with tempfile.TemporaryDirectory() as tmp:
        validators = {revision: baseline_validator(revision, Path(tmp)), "current": RulesValidator()}
        best = dict.fromkeys(validators, float("inf"))
        verdicts = {}
        for _ in range(rounds):
            for name, validator in validators.items():
                started = time.perf_counter()
                verdicts[name] = validator.validate_many(items)
                best[name] = min(best[name], time.perf_counter() - started)
    same = sum(
        a.to_dict() | {"validator": ""} == b.to_dict() | {"validator": ""}
        for a, b in zip(verdicts[revision], verdicts["current"])
    )
    return {
        "n": n,
        "rounds": rounds,
        "per_second": {k: n / v for k, v in best.items()},
        "ratio": best["current"] / best[revision],
        "same_verdicts": same,
    }


def bench_patterns(n: int) -> list[tuple[str, float]]:
    """(pattern, seconds for a full scan of n folded texts), slowest first."""
    import re

    from ocapistaine_pipelines.contributions.rules import conduct, content

    texts = [fold_text(c.text) for c in synthetic(n)]
    timings = []
    for module in (conduct, content):
        for name, pattern in vars(module).items():
            if isinstance(pattern, re.Pattern) and not name.startswith("_"):
                started = time.perf_counter()
                for text in texts:
                    pattern.findall(text)
                timings.append((f"{module.__name__.rsplit('.', 1)[1]}.{name}", time.perf_counter() - started))
    return sorted(timings, key=lambda t: -t[1])


def llm_validator(server, concurrency: int, llm_calls: str):
    """The real LLM validator against the loopback server (``llm_calls``: one or two calls an item)."""
    from ocapistaine_pipelines.contributions.validators import ValidatorResource

    return ValidatorResource(
        backend="llm",
        models="openai/bench",
        api_base=f"{server.url}/v1",
        api_key="sk-bench",
        concurrency=concurrency,
        timeout_seconds=10,
        llm_calls=llm_calls,
    ).get_validator()


def bench_llm(n: int, delay: float, concurrency: int) -> dict:
    from ocapistaine_pipelines_tests.contributions.servers import FakeLLM

    server = FakeLLM(delay=delay)
    try:
        validator = llm_validator(server, concurrency, "two")  # the legacy pair: this section's floor
        items = synthetic(n, seed=11)
        validator.validate_many(items[:concurrency])  # warm-up: litellm's first call sets up its client
        server.requests.clear()
        started = time.perf_counter()
        verdicts = validator.validate_many(items)
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    ideal_brief = n * delay / concurrency
    ideal_two_calls = 2 * n * delay / concurrency
    return {
        "n": n,
        "delay": delay,
        "concurrency": concurrency,
        "seconds": elapsed,
        "requests": len(server.requests),
        "pending": sum(v.pending for v in verdicts),
        "ideal_brief": ideal_brief,
        "ratio_brief": elapsed / ideal_brief,
        "ideal_two_calls": ideal_two_calls,
        "ratio_two_calls": elapsed / ideal_two_calls,
    }


def bench_llm_calls(n: int, delay: float, concurrency: int) -> dict:
    from ocapistaine_pipelines_tests.contributions.servers import FakeLLM

    server = FakeLLM(delay=delay)
    out = {}
    try:
        items = synthetic(n, seed=13)
        for mode in ("one", "two"):
            validator = llm_validator(server, concurrency, mode)
            validator.validate_many(
                synthetic(concurrency, seed=17)
            )  # warm-up: litellm's client, the tokenizer
            validator.calls = validator.prompt_tokens = validator.completion_tokens = 0
            started = time.perf_counter()
            verdicts = validator.validate_many(items)
            out[mode] = {
                "seconds": time.perf_counter() - started,
                "calls": validator.calls / n,
                "prompt": validator.prompt_tokens / n,
                "completion": validator.completion_tokens / n,
                "pending": sum(v.pending for v in verdicts),
            }
    finally:
        server.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--llm-n", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--only", choices=["llm-calls"], default=None)
    parser.add_argument("--rules-baseline", metavar="GIT_REV", help="also time the rules of this revision")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--patterns", action="store_true", help="time each rules pattern on its own")
    args = parser.parse_args()

    calls = bench_llm_calls(args.llm_n, args.delay, args.concurrency) if args.llm_n > 0 else {}
    for mode, m in calls.items():
        total = m["prompt"] + m["completion"]
        print(
            f"llm {mode} call(s): per contribution {m['calls']:.2f} calls, {m['prompt']:.0f} prompt + "
            f"{m['completion']:.0f} completion = {total:.0f} tokens; {args.llm_n} in {m['seconds']:.2f} s; "
            f"pending {m['pending']}"
        )
    one, two = calls.get("one"), calls.get("two")
    if calls:
        print(
            f"one/two ratios: calls {one['calls'] / two['calls']:.2f}, prompt tokens "
            f"{one['prompt'] / two['prompt']:.2f}, "
            f"completion tokens {one['completion'] / two['completion']:.2f}, "
            f"total tokens {(one['prompt'] + one['completion']) / (two['prompt'] + two['completion']):.2f}, "
            f"wall {one['seconds'] / two['seconds']:.2f}"
        )
    if args.only:
        return

    r = bench_rules(args.n)
    print(
        f"rules: {r['n']:,} contributions in {r['seconds']:.1f} s = {r['per_second']:,.0f} contributions/s "
        f"(fold-only baseline {r['baseline_seconds']:.1f} s, ratio {r['ratio_to_fold_only']:.1f}x); peak RSS "
        f"{r['peak_rss_mb']:.0f} MB (+{r['growth_mb']:.0f} MB while validating, inputs already in memory); "
        f"{r['flagged_share']:.0%} flagged"
    )
    if args.rules_baseline:
        s = bench_rules_side_by_side(args.n, args.rules_baseline, args.rounds)
        rates = ", ".join(f"{name} {rate:,.0f}/s" for name, rate in s["per_second"].items())
        print(
            f"rules side by side on {s['n']:,} (best of {s['rounds']}, interleaved): {rates}; current "
            f"takes {s['ratio']:.2f}x the time of {args.rules_baseline}; "
            f"same verdicts {s['same_verdicts']:,}/{s['n']:,}"
        )
    if args.patterns:
        timings = bench_patterns(args.n)
        total = sum(t for _, t in timings)
        print(
            f"rules patterns, full scans of {args.n:,} texts: all {total:.2f} s "
            f"(a validation pass above took {r['seconds']:.2f} s); slowest:"
        )
        for name, seconds in timings[:8]:
            print(
                f"  {name}: {seconds:.2f} s ({seconds / total:.0%}), {seconds / args.n * 1e6:.0f} µs a text"
            )
    if args.llm_n <= 0:
        return
    for concurrency in sorted({args.concurrency, args.concurrency * 2}):
        llm = bench_llm(args.llm_n, args.delay, concurrency)
        print(
            f"llm: {llm['n']} contributions, {llm['requests']} requests, "
            f"server {llm['delay'] * 1000:.0f} ms, concurrency {llm['concurrency']}: {llm['seconds']:.2f} s; "
            f"ideal per brief {llm['ideal_brief']:.1f} s -> ratio {llm['ratio_brief']:.2f}; "
            f"two-call floor {llm['ideal_two_calls']:.1f} s -> ratio {llm['ratio_two_calls']:.2f}; "
            f"pending {llm['pending']}"
        )


if __name__ == "__main__":
    main()
