"""The learned validator: sentence embeddings + class-balanced logistic regression on the team's labels.

Training (``train``) needs scikit-learn; judging does not: the stored model is the fitted coefficients,
the training rows' embeddings (for the nearest labelled examples named in the reasoning) and the
metadata, in one ``.npz`` (no pickle), so a model file cannot run code when loaded and reads the same
with any scikit-learn version. The rules' hard signals (slurs, advertising with contact details,
insults with contempt) still flag on their own; otherwise P(invalid) from the classifier decides and
its probability is the confidence.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..io_utils import atomic_write
from .model import CATEGORIES, Contribution, Verdict

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .encoders import EmbeddingCache, Encoder

NAME = "learned"
#: Part of the model id: bump when training or features change.
TRAINING_VERSION = "v1"
#: Regularisation of the logistic regressions (scikit-learn's C); chosen before any held-out figure was read.
C = 1.0
CV_FOLDS = 5
NEAREST = 2
#: Violation kinds the labels split into "aggressive" (open) and "subtle" (needs reading between the lines).
AGGRESSIVE_KINDS = ("aggressive", "discrimination", "spam")
SUBTLE_KINDS = ("subtle_violation", "false_information", "off_topic")


@dataclass(frozen=True)
class LabelledRow:
    id: str
    title: str
    text: str
    is_valid: bool
    violations: tuple[str, ...]
    category: str | None
    provenance: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()


def deduplicate(rows: Iterable[LabelledRow]) -> tuple[list[LabelledRow], list[dict]]:
    """One row per content (first source wins); a later copy with another label is reported, not trained
    on."""
    kept: dict[str, LabelledRow] = {}
    dropped = []
    for row in rows:
        first = kept.get(row.content_hash)
        if first is None:
            kept[row.content_hash] = row
        elif first.is_valid != row.is_valid:
            dropped.append(
                {
                    "id": row.id,
                    "provenance": row.provenance,
                    "reason": f"same text as {first.provenance} with the opposite label (kept the first)",
                }
            )
        else:
            dropped.append(
                {"id": row.id, "provenance": row.provenance, "reason": f"duplicate of {first.provenance}"}
            )
    return list(kept.values()), dropped


def data_hash(rows: list[LabelledRow]) -> str:
    """What the model depends on: texts and labels, in a stable order (a re-ordered file is the same data)."""
    digest = hashlib.sha256()
    for item in sorted(
        f"{r.content_hash}:{int(r.is_valid)}:{','.join(r.violations)}:{r.category}" for r in rows
    ):
        digest.update(item.encode() + b"\n")
    return digest.hexdigest()


# -- the stored model ----------------------------------------------------------------------------------
@dataclass
class LearnedModel:
    encoder: str
    coef: np.ndarray  # (d,) weights of P(invalid)
    intercept: float
    category_coef: np.ndarray | None  # (k, d), or None when the vocabulary classifier stays
    category_intercept: np.ndarray | None
    category_classes: list[str]
    embeddings: np.ndarray  # (n, d) training rows, for the nearest examples
    ids: list[str]
    titles: list[str]
    labels: list[bool]
    kinds: list[str]  # each row's violations, comma-joined
    hashes: list[str]  # SHA-256 of each row's text: which texts the model was trained on
    categories_true: list[str]  # each row's labelled category ("" when none)
    metadata: dict = field(default_factory=dict)

    def p_invalid(self, vectors: np.ndarray) -> np.ndarray:
        import numpy as np

        return 1.0 / (1.0 + np.exp(-(vectors @ self.coef + self.intercept)))

    def categories(self, vectors: np.ndarray) -> list[str | None]:
        import numpy as np

        if self.category_coef is None:
            return [None] * len(vectors)
        scores = vectors @ self.category_coef.T + self.category_intercept
        return [self.category_classes[i] for i in np.argmax(scores, axis=1)]

    def to_bytes(self) -> bytes:
        import numpy as np

        buffer = io.BytesIO()
        arrays = dict(
            coef=self.coef,
            intercept=np.array([self.intercept]),
            embeddings=self.embeddings,
            ids=np.array(self.ids),
            titles=np.array(self.titles),
            labels=np.array(self.labels),
            kinds=np.array(self.kinds, dtype=str),
            hashes=np.array(self.hashes, dtype=str),
            categories_true=np.array(self.categories_true, dtype=str),
            category_classes=np.array(self.category_classes, dtype=str),
            metadata=np.array(json.dumps(self.metadata, ensure_ascii=True)),
            encoder=np.array(self.encoder),
        )
        if self.category_coef is not None:
            arrays.update(category_coef=self.category_coef, category_intercept=self.category_intercept)
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LearnedModel:
        import numpy as np

        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            has_category = "category_coef" in data.files
            return cls(
                encoder=str(data["encoder"]),
                coef=data["coef"],
                intercept=float(data["intercept"][0]),
                category_coef=data["category_coef"] if has_category else None,
                category_intercept=data["category_intercept"] if has_category else None,
                category_classes=data["category_classes"].tolist(),
                embeddings=data["embeddings"],
                ids=data["ids"].tolist(),
                titles=data["titles"].tolist(),
                labels=data["labels"].tolist(),
                kinds=data["kinds"].tolist(),
                hashes=data["hashes"].tolist(),
                categories_true=data["categories_true"].tolist(),
                metadata=json.loads(str(data["metadata"])),
            )


# -- training ----------------------------------------------------------------------------------------
def _require_sklearn() -> None:
    """Training and the out-of-fold view need scikit-learn (the ``learned`` extra); judging does not."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        install = "pip install 'ocapistaine-pipelines[learned]'"
        raise ValueError(f"scikit-learn is not installed: {install}") from None


def _classifier(seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)


def _folds(labels: list, seed: int = 0):
    from sklearn.model_selection import StratifiedKFold

    smallest = min(labels.count(value) for value in set(labels))
    return StratifiedKFold(n_splits=max(2, min(CV_FOLDS, smallest)), shuffle=True, random_state=seed)


def out_of_fold_p_invalid(vectors: np.ndarray, invalid: list[int]) -> np.ndarray:
    """P(invalid) for each row from a model that did not see it (stratified k-fold): the honest
    training score."""
    from sklearn.model_selection import cross_val_predict

    return cross_val_predict(_classifier(), vectors, invalid, cv=_folds(invalid), method="predict_proba")[
        :, 1
    ]


def _category_model(vectors: np.ndarray, rows: list[LabelledRow]) -> dict | None:
    """The category classifier when it beats the vocabulary one out of fold on the labelled categories."""
    from sklearn.model_selection import cross_val_predict

    from .rules import classify, fold_text
    from .rules.text import without_headers

    index = [i for i, r in enumerate(rows) if r.category in CATEGORIES]
    labels = [rows[i].category for i in index]
    counts = {c: labels.count(c) for c in set(labels)}
    if len(counts) < 2 or min(counts.values()) < 2:
        return {"used": False, "reason": "fewer than two labelled rows in some category", "rows": len(index)}
    x = vectors[index]
    learned = cross_val_predict(_classifier(), x, labels, cv=_folds(labels))
    vocabulary = [classify(fold_text(without_headers(rows[i].text))) for i in index]
    learned_accuracy = sum(a == b for a, b in zip(learned, labels)) / len(labels)
    vocabulary_accuracy = sum(a == b for a, b in zip(vocabulary, labels)) / len(labels)
    summary = {
        "rows": len(index),
        "cv_accuracy_learned": round(learned_accuracy, 4),
        "accuracy_vocabulary": round(vocabulary_accuracy, 4),
        "used": learned_accuracy > vocabulary_accuracy,
    }
    if summary["used"]:
        fitted = _classifier().fit(x, labels)
        summary["fitted"] = fitted
    return summary


def scores(truth_valid: list[bool], predicted_valid: list[bool]) -> dict:
    """Accuracy, balanced accuracy, precision/recall on "invalid", and the confusion matrix (rows = truth)."""
    pairs = list(zip(truth_valid, predicted_valid))
    tp = sum(1 for t, p in pairs if not t and not p)  # invalid caught
    fn = sum(1 for t, p in pairs if not t and p)
    fp = sum(1 for t, p in pairs if t and not p)
    tn = sum(1 for t, p in pairs if t and p)
    recall_invalid = tp / (tp + fn) if tp + fn else float("nan")
    recall_valid = tn / (tn + fp) if tn + fp else float("nan")
    return {
        "n": len(pairs),
        "accuracy": (tp + tn) / len(pairs) if pairs else float("nan"),
        "balanced_accuracy": (recall_invalid + recall_valid) / 2,
        "precision_invalid": tp / (tp + fp) if tp + fp else float("nan"),
        "recall_invalid": recall_invalid,
        "confusion": {
            "valid_judged_valid": tn,
            "valid_judged_invalid": fp,
            "invalid_judged_valid": fn,
            "invalid_judged_invalid": tp,
        },
    }


def train(rows: list[LabelledRow], encoder: Encoder, cache: EmbeddingCache | None = None) -> LearnedModel:
    """Fit on every row; the metadata carries the out-of-fold (cross-validated) scores, never
    training-set ones."""
    _require_sklearn()
    import numpy as np
    import sklearn

    from .encoders import EmbeddingCache

    if not rows:
        raise ValueError("no labelled contributions to train on")
    invalid = [0 if r.is_valid else 1 for r in rows]
    if len(set(invalid)) < 2 or min(invalid.count(0), invalid.count(1)) < 2:
        raise ValueError(
            f"need at least two valid and two invalid labelled contributions, "
            f"got {invalid.count(0)} valid and {invalid.count(1)} invalid"
        )
    started = time.perf_counter()
    vectors = (cache or EmbeddingCache(None)).encode(encoder, [r.text for r in rows])
    embedded = time.perf_counter()
    oof = out_of_fold_p_invalid(vectors, invalid)
    cv = scores([r.is_valid for r in rows], [bool(p < 0.5) for p in oof])
    by_kind = {}
    for group, kinds in (("aggressive", AGGRESSIVE_KINDS), ("subtle", SUBTLE_KINDS)):
        caught = [
            bool(p >= 0.5) for r, p in zip(rows, oof) if not r.is_valid and set(r.violations) & set(kinds)
        ]
        by_kind[f"recall_{group}"] = round(sum(caught) / len(caught), 4) if caught else None
    classifier = _classifier().fit(vectors, invalid)
    category = _category_model(vectors, rows)
    fitted = category.pop("fitted", None) if category else None
    trained = time.perf_counter()
    metadata = {
        "training_version": TRAINING_VERSION,
        "encoder": encoder.name,
        "data_hash": data_hash(rows),
        "rows": len(rows),
        "classes": {"valid": invalid.count(0), "invalid": invalid.count(1)},
        "cv_folds": _folds(invalid).get_n_splits(),
        "cv": {k: _round(v) for k, v in cv.items()},
        "cv_by_kind": by_kind,
        "category_model": category,
        "C": C,
        "class_weight": "balanced",
        "library_versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        "embedding_seconds": round(embedded - started, 3),
        "training_seconds": round(trained - embedded, 3),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return LearnedModel(
        encoder=encoder.name,
        coef=classifier.coef_[0].astype(np.float32),
        intercept=float(classifier.intercept_[0]),
        category_coef=fitted.coef_.astype(np.float32) if fitted is not None else None,
        category_intercept=fitted.intercept_.astype(np.float32) if fitted is not None else None,
        category_classes=[str(c) for c in fitted.classes_] if fitted is not None else [],
        embeddings=vectors.astype(np.float32),
        ids=[r.id for r in rows],
        titles=[r.title[:80] for r in rows],
        labels=[r.is_valid for r in rows],
        kinds=[",".join(r.violations) for r in rows],
        hashes=[r.content_hash for r in rows],
        categories_true=[r.category or "" for r in rows],
        metadata=metadata,
    )


def _round(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


# -- storage: one folder per model id, a pointer to the current one ----------------------------------------
def model_id(rows_hash: str, encoder_name: str) -> str:
    return hashlib.sha256(f"{TRAINING_VERSION}\x1f{encoder_name}\x1f{C}\x1f{rows_hash}".encode()).hexdigest()[
        :16
    ]


class ModelStore:
    """``{folder}/{model_id}/model.npz`` + ``metadata.json`` (with the file's SHA-256), ``current.json``.

    Whole-file reads and atomic writes only (``io_utils``), so the folder may be on the object store."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, ident: str) -> Path:
        return self.folder / ident / "model.npz"

    def has(self, ident: str) -> bool:
        return self.path(ident).is_file() and (self.folder / ident / "metadata.json").is_file()

    def save(self, ident: str, model: LearnedModel) -> dict:
        data = model.to_bytes()
        atomic_write(self.path(ident), data)
        record = {
            **model.metadata,
            "model_id": ident,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }
        atomic_write(
            self.folder / ident / "metadata.json", json.dumps(record, indent=1, default=str).encode()
        )
        return record

    def make_current(self, ident: str) -> None:
        atomic_write(self.folder / "current.json", json.dumps({"model_id": ident}).encode())

    def metadata(self, ident: str) -> dict:
        return json.loads((self.folder / ident / "metadata.json").read_text())

    def current(self) -> tuple[str, LearnedModel]:
        """The current model, its file checked against the recorded hash (a truncated copy is refused)."""
        pointer = self.folder / "current.json"
        if not pointer.is_file():
            raise FileNotFoundError(
                f"no trained validator model in {self.folder}: materialize `validator_model` first"
            )
        ident = json.loads(pointer.read_text())["model_id"]
        raw, record = self.path(ident).read_bytes(), self.metadata(ident)
        if hashlib.sha256(raw).hexdigest() != record["sha256"]:
            raise ValueError(f"validator model {ident}: file does not match its recorded SHA-256")
        return ident, LearnedModel.from_bytes(raw)


# -- judging -------------------------------------------------------------------------------------------
def hard_signals(contribution: Contribution) -> list:
    """The rules' signals that hold whatever the context (``rules.hard_signals``: a slur, promotional
    wording with a contact, a shop's link, a contact beside selling wording): they flag on their own."""
    from .rules import hard_signals as rules_hard_signals

    return list(rules_hard_signals(contribution.text))


class LearnedValidator:
    """Classifier probability as confidence; rules' hard signals flag on their own; category from the best
    classifier (learned when it beat the vocabulary out of fold); the reasoning names the nearest labelled
    examples."""

    name = NAME

    def __init__(
        self,
        model: LearnedModel,
        encoder: Encoder,
        model_id: str = "",
        threshold: float = 0.5,
        cache: EmbeddingCache | None = None,
    ):
        if encoder.name != model.encoder:
            raise ValueError(
                f"the model was trained with encoder {model.encoder}, the configured one is {encoder.name}"
            )
        self.learned = model
        self.encoder = encoder
        self.model = f"{model_id or 'unsaved'}:{model.encoder}"
        self.threshold = threshold
        self.cache = cache  # embeddings by encoder + text hash: the labelled set is embedded once
        #: text hash -> (P(invalid), category) from a model fitted without that text (``for_evaluation``)
        self.out_of_fold: dict[str, tuple[float, str | None]] = {}

    def for_evaluation(self) -> LearnedValidator:
        """The same validator, except that a text the model was trained on is judged by a model fitted
        without it (the stratified folds of the training metadata): an evaluation on the training rows
        then measures cross-validated quality, never the training-set score. Needs scikit-learn."""
        _require_sklearn()
        from sklearn.model_selection import cross_val_predict

        m = self.learned
        invalid = [0 if valid else 1 for valid in m.labels]
        p = out_of_fold_p_invalid(m.embeddings, invalid)
        categories: list[str | None] = [None] * len(m.labels)
        if m.category_coef is not None:
            index = [i for i, c in enumerate(m.categories_true) if c in m.category_classes]
            labels = [m.categories_true[i] for i in index]
            predicted = cross_val_predict(_classifier(), m.embeddings[index], labels, cv=_folds(labels))
            for i, category in zip(index, predicted):
                categories[i] = str(category)
        view = LearnedValidator(m, self.encoder, self.model.split(":", 1)[0], self.threshold, self.cache)
        view.model = self.model + " (out of fold on its training rows)"
        view.out_of_fold = {h: (float(p[i]), categories[i]) for i, h in enumerate(m.hashes)}
        return view

    def validate_many(self, contributions: list[Contribution], check=None) -> list[Verdict]:
        """``check``: the guard's stop hook, asked before the texts are encoded (maybe remotely)."""
        import numpy as np

        from .rules import RulesValidator

        if not contributions:
            return []
        if check is not None:
            check()
        texts = [c.text for c in contributions]
        vectors = self.cache.encode(self.encoder, texts) if self.cache else self.encoder.encode(texts)
        p_invalid = self.learned.p_invalid(vectors)
        learned_categories = self.learned.categories(vectors)
        similarity = vectors @ self.learned.embeddings.T
        if self.out_of_fold:
            from .encoders import text_hash

            trained = {h: j for j, h in enumerate(self.learned.hashes)}
            for i, text in enumerate(texts):
                key = text_hash(text)
                if key in self.out_of_fold:
                    p_invalid[i], category = self.out_of_fold[key]
                    learned_categories[i] = category
                    similarity[i, trained[key]] = -2.0  # never name the row itself as its nearest example
        rules = RulesValidator()
        out = []
        for i, contribution in enumerate(contributions):
            ruled = rules.validate(contribution)
            hard = hard_signals(contribution)
            nearest = np.argsort(-similarity[i])[:NEAREST]
            examples = "; ".join(
                f"« {self.learned.titles[j]} » ({'conforme' if self.learned.labels[j] else 'non conforme'}, "
                f"similarité {similarity[i, j]:.2f})"
                for j in nearest
            )
            p = float(p_invalid[i])
            category = learned_categories[i] or ruled.category
            validator = f"{NAME}:{self.model}"
            if hard:
                kinds = list(dict.fromkeys(s.kind for s in hard))
                reasoning = (
                    "Non conforme à la charte (signal sûr des règles) : "
                    + " ; ".join(s.evidence for s in hard)
                    + f". Exemples proches : {examples}."
                )
                out.append(
                    Verdict(
                        False,
                        kinds,
                        ruled.encouraged_aspects,
                        reasoning,
                        round(max(p, max(s.weight for s in hard)), 3),
                        category,
                        validator,
                    )
                )
            elif p >= self.threshold:
                # the kinds: the rules' own flags when they agree, else the nearest invalid example's
                kinds = list(ruled.violations) or self._nearest_kinds(similarity[i]) or ["subtle_violation"]
                reasoning = (
                    f"Non conforme à la charte selon le modèle appris (probabilité {p:.2f}). "
                    f"Exemples proches : {examples}."
                )
                out.append(
                    Verdict(
                        False, kinds, ruled.encouraged_aspects, reasoning, round(p, 3), category, validator
                    )
                )
            else:
                reasoning = (
                    f"Conforme à la charte selon le modèle appris (probabilité de violation {p:.2f}). "
                    f"Exemples proches : {examples}."
                )
                out.append(
                    Verdict(
                        True, [], ruled.encouraged_aspects, reasoning, round(1.0 - p, 3), category, validator
                    )
                )
        return out

    def _nearest_kinds(self, similarity_row) -> list[str]:
        import numpy as np

        for j in np.argsort(-similarity_row):
            if not self.learned.labels[j] and self.learned.kinds[j]:
                return self.learned.kinds[j].split(",")
        return []
