"""The labelled contributions the learned validator trains on, from every configured source.

Sources, in order (the first copy of a text wins): the packaged labelled set, the operator's files
or folders (``OCAPISTAINE_LABELLED_DATA``, separated by ``:`` or ``,``), and the Opik validation
dataset when Opik is configured. Each file is read by ``evaluation.dataset.load_labelled_set`` (one
reader of the export format); rows are deduplicated by content with their provenance kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..contributions.learned import LabelledRow, deduplicate
from ..evaluation.dataset import DatasetError, LabelledSet, load_labelled_set, packaged_dataset_path


@dataclass
class LabelledData:
    rows: list[LabelledRow] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # unreadable or unlabelled records, duplicates
    sources: dict[str, int] = field(default_factory=dict)  # source -> rows read from it


def rows_of(labelled: LabelledSet, provenance: str) -> list[LabelledRow]:
    return [
        LabelledRow(
            item.id,
            item.contribution.title,
            item.contribution.text,
            item.expected_valid,
            tuple(item.violations_injected),
            item.expected_category,
            f"{provenance}#{item.id}",
        )
        for item in labelled.items
    ]


def label_files(spec: str) -> list[Path]:
    """The files named by ``OCAPISTAINE_LABELLED_DATA``: files, or folders (their ``*.json``, sorted)."""
    paths: list[Path] = []
    for part in (p.strip() for p in re.split(r"[:,]", spec or "") if p.strip()):
        path = Path(part).expanduser()
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise DatasetError(f"OCAPISTAINE_LABELLED_DATA: folder {path} holds no .json file")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise DatasetError(f"OCAPISTAINE_LABELLED_DATA: {path} does not exist")
    return paths


def collect(
    files: Iterable[Path] = (), extra_sets: Iterable[tuple[str, LabelledSet]] = (), packaged: bool = True
) -> LabelledData:
    data = LabelledData()
    everything: list[LabelledRow] = []
    sets: list[tuple[str, LabelledSet]] = []
    if packaged:
        sets.append(("packaged:" + packaged_dataset_path().name, load_labelled_set(None)))
    sets.extend((f"file:{path.name}", load_labelled_set(path)) for path in files)
    sets.extend(extra_sets)
    for provenance, labelled in sets:
        rows = rows_of(labelled, provenance)
        data.sources[provenance] = len(rows)
        everything.extend(rows)
        data.rejected.extend(
            {"id": ident, "provenance": provenance, "reason": reason} for ident, reason in labelled.rejected
        )
    data.rows, dropped = deduplicate(everything)
    data.rejected.extend(dropped)
    return data


def training_pool_files(tests_folder: Path | None = None) -> list[Path]:
    """The repository's labelled sets the rules were tuned on (held-out 1-4, fair criticism): training
    material for the learned model. Held-out 5 is never in it (it measures every validator)."""
    folder = (
        tests_folder or Path(__file__).resolve().parents[2] / "ocapistaine_pipelines_tests" / "contributions"
    )
    names = [
        "heldout_contributions.json",
        "heldout2_contributions.json",
        "heldout3_contributions.json",
        "heldout4_contributions.json",
        "fair_criticism_contributions.json",
    ]
    return [folder / name for name in names]
