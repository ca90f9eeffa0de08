"""The rules validator's verdicts on every labelled set, pinned in ``rules_golden.json``.

``test_rules_golden.py`` compares what the validator says now with the pinned file, item by item
(verdict, violations in order, encouraged aspects, category, confidence, reasoning). A refactor must
leave it unchanged. Regenerating it is a reviewed decision, never a way to make the test pass: the
diff of ``rules_golden.json`` is the list of verdicts that change, and the commit that regenerates it
must say why each one changes.

Regenerate (from the repository root)::

    .venv/bin/python -m ocapistaine_pipelines_tests.contributions.rules_golden --write

Pinned: every item of ``ocapistaine_pipelines/data/*.json`` and of
``ocapistaine_pipelines_tests/contributions/*_contributions.json``, as recorded (with its category),
plus every sentence of those items on its own, without a category (each signal family alone, and the
classifier without the source's prior). A set added later is pinned only once someone regenerates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

from ocapistaine_pipelines.contributions.model import Contribution, Verdict
from ocapistaine_pipelines.contributions.rules import RulesValidator

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "rules_golden.json"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def labelled_set_files() -> list[Path]:
    """Every labelled set in the repository, in a stable order (paths relative to ROOT in the fixture)."""
    return sorted((ROOT / "ocapistaine_pipelines" / "data").glob("*.json")) + sorted(
        (ROOT / "ocapistaine_pipelines_tests" / "contributions").glob("*_contributions.json")
    )


def set_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def records(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["contributions"]


def sentence_records(items: list[dict]) -> list[dict]:
    """Each sentence of each item's two form fields as a contribution of its own, without a category."""
    out = []
    for item in items:
        for field in ("constat_factuel", "idees_ameliorations"):
            parts = [p.strip() for p in _SENTENCE_END.split(item.get(field) or "") if p.strip()]
            for k, sentence in enumerate(parts):
                key = f"{item['id']}/{field}/{k}"
                out.append({"id": key, "constat_factuel": sentence, "idees_ameliorations": ""})
    return out


def pinned(verdict: Verdict) -> dict:
    """What the golden file keeps of a verdict (the confidence rounded to 6 decimals: floats, not text)."""
    return {
        "is_valid": verdict.is_valid,
        "violations": list(verdict.violations),
        "encouraged": list(verdict.encouraged_aspects),
        "category": verdict.category,
        "confidence": round(float(verdict.confidence), 6),
        "reasoning": verdict.reasoning,
    }


def verdicts(items: list[dict]) -> dict[str, dict]:
    validator = RulesValidator()
    contributions = [Contribution.from_record(r) for r in items]
    return {c.id: pinned(v) for c, v in zip(contributions, validator.validate_many(contributions))}


def current(paths: list[Path] | None = None) -> dict:
    """The golden document for the validator as it is now."""
    sets = {}
    for path in paths or labelled_set_files():
        items = records(path)
        sets[set_name(path)] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "items": verdicts(items),
            "sentences": verdicts(sentence_records(items)),
        }
    return {"validator": f"{RulesValidator.name}:{RulesValidator.model}", "sets": sets}


def write(document: dict, path: Path = GOLDEN) -> None:
    """One verdict per line, so a regenerated file's diff reads item by item."""
    lines = ["{", f'  "validator": {json.dumps(document["validator"])},', '  "sets": {']
    set_blocks = []
    for name, pinned_set in document["sets"].items():
        block = [f"    {json.dumps(name)}: {{", f'      "sha256": {json.dumps(pinned_set["sha256"])},']
        parts = []
        for part in ("items", "sentences"):
            rows = [
                f"        {json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"
                for key, value in pinned_set[part].items()
            ]
            parts.append(f'      "{part}": {{\n' + ",\n".join(rows) + "\n      }")
        block.append(",\n".join(parts))
        block.append("    }")
        set_blocks.append("\n".join(block))
    lines.append(",\n".join(set_blocks))
    lines += ["  }", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {GOLDEN.name} (a reviewed decision)")
    args = parser.parse_args()
    document = current()
    if args.write:
        write(document)
        count = sum(len(s["items"]) + len(s["sentences"]) for s in document["sets"].values())
        print(f"wrote {count} verdicts on {len(document['sets'])} sets to {GOLDEN}")
    else:
        print(json.dumps(document, ensure_ascii=False, indent=1)[:2000])
        print("... (pass --write to rewrite the golden file)")


if __name__ == "__main__":
    main()
