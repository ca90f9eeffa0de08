"""Contributions validators: rules throughput on 100,000 contributions, LLM wall time against a loopback server.

Run: .venv/bin/python benchmarks/contributions_validators.py [--n 100000] [--llm-n 200] [--delay 0.1] [--concurrency 4]
     [--only llm-calls]

1. Rules: 100,000 synthetic French contributions (sentences of the labelled set recombined with
   random numbers and places, so no two are equal) judged by RulesValidator: contributions/s, peak
   memory (max RSS of the process, and its growth while validating), and the ratio to a baseline pass that only folds each text (the floor of any
   text checker in Python).
2. LLM: 200 contributions through the real litellm against a loopback OpenAI-compatible server that
   answers in 100 ms. Ideal per the brief: 200 x 0.1 s / concurrency. Each contribution needs two calls
   (charter, then category), so the floor with the concurrency bound is twice that: both ratios printed.
3. LLM calls and tokens per contribution, one call (verdict + category) vs two (charter, then category),
   on the same contributions and the same answers; tokens are the server's ``usage`` (cl100k counts).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocapistaine_pipelines.contributions.model import Contribution  # noqa: E402
from ocapistaine_pipelines.contributions.rules import RulesValidator, fold_text  # noqa: E402

PLACES = ["Audierne", "Esquibien", "Poulgoazec", "Sainte-Évette", "Trescadec", "le Goyen", "le bourg", "le quai"]


def synthetic(n: int, seed: int = 7) -> list[Contribution]:
    labelled = json.loads((ROOT / "ocapistaine_pipelines" / "data" / "labelled_contributions.json").read_text())["contributions"]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.choice(labelled), rng.choice(labelled)
        constat = f"{a['constat_factuel']} Constaté à {rng.choice(PLACES)} le {rng.randint(1, 28)}/{rng.randint(1, 12)}."
        idees = f"{b['idees_ameliorations']} Coût estimé : {rng.randint(1, 900)} 000 euros."
        out.append(Contribution.from_record({"id": f"s{i}", "constat_factuel": constat, "idees_ameliorations": idees,
                                             "category": a["category"]}))
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
    return {"n": n, "seconds": elapsed, "per_second": n / elapsed, "baseline_seconds": baseline,
            "ratio_to_fold_only": elapsed / baseline, "peak_rss_mb": rss_after / 1024,
            "growth_mb": (rss_after - rss_before) / 1024, "flagged_share": flagged / n}


def bench_llm(n: int, delay: float, concurrency: int) -> dict:
    from ocapistaine_pipelines.contributions.validators import ValidatorResource
    from ocapistaine_pipelines_tests.contributions.servers import FakeLLM

    server = FakeLLM(delay=delay)
    try:
        validator = ValidatorResource(backend="llm", models="openai/bench", api_base=f"{server.url}/v1",
                                      api_key="sk-bench", concurrency=concurrency, timeout_seconds=10).get_validator()
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
    return {"n": n, "delay": delay, "concurrency": concurrency, "seconds": elapsed, "requests": len(server.requests),
            "pending": sum(v.pending for v in verdicts), "ideal_brief": ideal_brief, "ratio_brief": elapsed / ideal_brief,
            "ideal_two_calls": ideal_two_calls, "ratio_two_calls": elapsed / ideal_two_calls}


def bench_llm_calls(n: int, delay: float, concurrency: int) -> dict:
    from ocapistaine_pipelines.contributions.validators import ValidatorResource
    from ocapistaine_pipelines_tests.contributions.servers import FakeLLM

    server = FakeLLM(delay=delay)
    out = {}
    try:
        items = synthetic(n, seed=13)
        for mode in ("one", "two"):
            validator = ValidatorResource(backend="llm", models="openai/bench", api_base=f"{server.url}/v1",
                                          api_key="sk-bench", concurrency=concurrency, timeout_seconds=10,
                                          llm_calls=mode).get_validator()
            validator.validate_many(synthetic(concurrency, seed=17))  # warm-up: litellm's client, the tokenizer
            validator.calls = validator.prompt_tokens = validator.completion_tokens = 0
            started = time.perf_counter()
            verdicts = validator.validate_many(items)
            out[mode] = {"seconds": time.perf_counter() - started, "calls": validator.calls / n,
                         "prompt": validator.prompt_tokens / n, "completion": validator.completion_tokens / n,
                         "pending": sum(v.pending for v in verdicts)}
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
    args = parser.parse_args()

    calls = bench_llm_calls(args.llm_n, args.delay, args.concurrency)
    for mode, m in calls.items():
        total = m["prompt"] + m["completion"]
        print(f"llm {mode} call(s): per contribution {m['calls']:.2f} calls, {m['prompt']:.0f} prompt + "
              f"{m['completion']:.0f} completion = {total:.0f} tokens; {args.llm_n} in {m['seconds']:.2f} s; "
              f"pending {m['pending']}")
    one, two = calls["one"], calls["two"]
    print(f"one/two ratios: calls {one['calls'] / two['calls']:.2f}, prompt tokens {one['prompt'] / two['prompt']:.2f}, "
          f"completion tokens {one['completion'] / two['completion']:.2f}, "
          f"total tokens {(one['prompt'] + one['completion']) / (two['prompt'] + two['completion']):.2f}, "
          f"wall {one['seconds'] / two['seconds']:.2f}")
    if args.only:
        return

    r = bench_rules(args.n)
    print(f"rules: {r['n']:,} contributions in {r['seconds']:.1f} s = {r['per_second']:,.0f} contributions/s "
          f"(fold-only baseline {r['baseline_seconds']:.1f} s, ratio {r['ratio_to_fold_only']:.1f}x); "
          f"peak RSS {r['peak_rss_mb']:.0f} MB (+{r['growth_mb']:.0f} MB while validating, inputs already in memory); "
          f"{r['flagged_share']:.0%} flagged")
    for concurrency in sorted({args.concurrency, args.concurrency * 2}):
        l = bench_llm(args.llm_n, args.delay, concurrency)
        print(f"llm: {l['n']} contributions, {l['requests']} requests, server {l['delay'] * 1000:.0f} ms, concurrency "
              f"{l['concurrency']}: {l['seconds']:.2f} s; ideal per brief {l['ideal_brief']:.1f} s -> ratio "
              f"{l['ratio_brief']:.2f}; two-call floor {l['ideal_two_calls']:.1f} s -> ratio {l['ratio_two_calls']:.2f}; "
              f"pending {l['pending']}")


if __name__ == "__main__":
    main()
