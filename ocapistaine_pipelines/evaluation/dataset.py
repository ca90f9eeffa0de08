"""The labelled set the validator is evaluated on.

The team's export format (``{"generated_at", "count", "contributions": [...]}``) where
``expected_valid`` is the charter label and ``category`` the expected category. Items without
``expected_valid`` are left out and counted; a record that cannot be read is rejected with a reason
(listed in the asset's metadata), never a crash of the whole day.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

#: The labelled set shipped in the package (written by the contributions domain).
PACKAGED_DATASET = "labelled_contributions.json"
_TRUE = {"true", "1", "yes", "valid"}
_FALSE = {"false", "0", "no", "invalid"}


class DatasetError(ValueError):
    """The labelled set cannot be used at all (missing file, not JSON, no labelled item)."""


@dataclass(frozen=True)
class LabelledItem:
    """One contribution with its labels; ``contribution`` is the validator's input."""

    id: str
    expected_valid: bool
    expected_category: str | None
    violations_injected: tuple[str, ...]
    contribution: Any  # contributions.model.Contribution

    @property
    def opik_item_id(self) -> str:
        return opik_item_id(self.id)

    def opik_item(self) -> dict[str, Any]:
        """The dataset item sent to Opik: the validator's input and the labels."""
        c = self.contribution
        return {
            "id": self.opik_item_id,
            "contribution_id": self.id,
            "title": c.title,
            "body": c.body,
            "expected_valid": self.expected_valid,
            "expected_category": self.expected_category,
            "violations_injected": list(self.violations_injected),
        }


@dataclass
class LabelledSet:
    source: str
    items: list[LabelledItem] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)  # ids of records without expected_valid
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (id or #index, reason)
    warnings: list[str] = field(default_factory=list)


def opik_item_id(contribution_id: str) -> str:
    """A stable UUID v7-shaped id per contribution, so re-uploads update items instead of adding copies.

    Opik stores item ids as UUIDs (version 7 for new ids); the 48-bit time field is fixed and the
    rest comes from a hash of the contribution id.
    """
    digest = uuid.uuid5(uuid.NAMESPACE_URL, f"ocapistaine:forseti_validation:{contribution_id}").bytes
    millis = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    raw = bytearray(millis.to_bytes(6, "big") + digest[6:16])
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def packaged_dataset_path() -> Path:
    return Path(str(resources.files("ocapistaine_pipelines") / "data" / PACKAGED_DATASET))


def _parse_expected_valid(value: Any) -> bool | None:
    """``True``/``False`` (also "true"/"false", 1/0); ``None`` when unlabelled; ValueError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected_valid must be true or false, got {value!r}")


def _parse_violations(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"violations_injected must be a list of strings, got {value!r}")
    return tuple(v.strip() for v in value if v.strip())


def read_records(path: Path) -> list[Any]:
    """The ``contributions`` list of an export file (a bare list is accepted too)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"labelled set not found: {path}") from None
    except OSError as error:
        raise DatasetError(f"cannot read the labelled set {path}: {error}") from None
    try:
        document = json.loads(text)
    except ValueError as error:  # JSONDecodeError, or an integer of more than 4,300 digits
        raise DatasetError(f"labelled set {path} is not valid JSON: {str(error)[:200]}") from None
    if isinstance(document, dict):
        records = document.get("contributions")
        if not isinstance(records, list):
            raise DatasetError(
                f"labelled set {path} has no 'contributions' list (expected the export format)"
            )
        return records
    if isinstance(document, list):
        return document
    raise DatasetError(
        f"labelled set {path} must be a JSON object with 'contributions', got {type(document).__name__}"
    )


def load_labelled_set(path: str | Path | None = None) -> LabelledSet:
    """Read and check the labelled set (``path`` or the packaged one)."""
    source = Path(path).expanduser() if path else packaged_dataset_path()
    return labelled_set_from_records(read_records(source), str(source))


def labelled_set_from_records(records: list[Any], source: str) -> LabelledSet:
    """Check labelled records (a file's, or the Opik dataset's items) into a ``LabelledSet``."""
    from ..contributions.model import VIOLATION_KINDS, Contribution, normalize_category

    labelled = LabelledSet(source=source)
    seen: set[str] = set()
    for index, record in enumerate(records):
        where = f"#{index}"
        if not isinstance(record, dict):
            labelled.rejected.append((where, f"not an object ({type(record).__name__})"))
            continue
        raw_id = record.get("id")
        if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
            labelled.rejected.append((where, "no id"))
            continue
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            labelled.rejected.append((where, f"id is {type(raw_id).__name__}, expected text or integer"))
            continue
        item_id = str(raw_id).strip()
        if item_id in seen:
            labelled.rejected.append((item_id, "duplicate id (the first one is kept)"))
            continue
        seen.add(item_id)
        try:
            expected = _parse_expected_valid(record.get("expected_valid"))
            violations = _parse_violations(record.get("violations_injected"))
        except ValueError as error:
            labelled.rejected.append((item_id, str(error)))
            continue
        if expected is None:
            labelled.unlabelled.append(item_id)
            continue
        try:
            contribution = Contribution.from_record(record)
        except ValueError as error:  # from_record says what is wrong (bad dates included)
            labelled.rejected.append((item_id, f"not a contribution: {error}"))
            continue
        except Exception as error:  # noqa: BLE001 - one odd record is rejected, it never costs the whole set
            labelled.rejected.append((item_id, f"not a contribution: {type(error).__name__}: {error}"))
            continue
        raw_category = record.get("category")
        category = normalize_category(raw_category)
        if category is None and isinstance(raw_category, str) and raw_category.strip():
            labelled.warnings.append(
                f"{item_id}: unknown category {raw_category!r}, not scored for category accuracy"
            )
        # The expected category is the answer key: the validator must classify without it.
        hidden = {"category": None}
        if hasattr(contribution, "category_raw"):
            hidden["category_raw"] = None
        contribution = dataclasses.replace(contribution, **hidden)
        unknown = [kind for kind in violations if kind not in VIOLATION_KINDS]
        if unknown:
            labelled.warnings.append(f"{item_id}: unknown violation kind(s) {', '.join(unknown)}")
        if expected and violations:
            labelled.warnings.append(
                f"{item_id}: labelled valid but lists violations {', '.join(violations)}"
            )
        labelled.items.append(
            LabelledItem(
                id=item_id,
                expected_valid=expected,
                expected_category=category,
                violations_injected=violations,
                contribution=contribution,
            )
        )
    if not labelled.items:
        raise DatasetError(
            f"labelled set {source} has no usable labelled item "
            f"({len(labelled.unlabelled)} unlabelled, {len(labelled.rejected)} rejected)"
        )
    return labelled
