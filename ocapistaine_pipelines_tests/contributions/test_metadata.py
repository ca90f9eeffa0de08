"""The analysis metadata helpers on generated inputs: the short reason and the clutter filter."""

import dagster as dg
from hypothesis import given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines.contributions import assets as A

from ..budget import examples


@given(st.one_of(st.none(), st.text(max_size=600)), st.integers(min_value=10, max_value=200))
@settings(max_examples=examples(400), deadline=None)
def test_the_short_reason_is_one_line_within_the_limit_and_never_empty(reasoning, limit):
    short = A.short_reason(reasoning, limit)
    assert short and len(short) <= limit
    assert "\n" not in short and "\r" not in short
    words = " ".join((reasoning or "").split())
    assert short == "-" if not words else short.rstrip(".…") in words or words.startswith(short.rstrip(".…"))


def test_a_long_reasoning_is_cut_at_a_word_with_an_ellipsis():
    text = (
        "Le texte vise nommément une personne et lui prête des intentions malveillantes sans aucun fait. "
        "Suite."
    )
    assert A.short_reason(text, 40) == "Le texte vise nommément une personne et…"
    assert A.short_reason("Hors sujet. Le reste.") == "Hors sujet."


@given(
    st.dictionaries(
        st.text(max_size=5),
        st.one_of(
            st.integers(),
            st.text(max_size=5),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
            st.lists(st.integers(), max_size=2).map(dg.MetadataValue.json),
        ),
        max_size=8,
    )
)
@settings(max_examples=examples(200), deadline=None)
def test_without_empty_drops_only_empty_lists_and_mappings(metadata):
    kept = A.without_empty(metadata)
    for key, value in metadata.items():
        raw = value.value if isinstance(value, dg.JsonMetadataValue) else value
        assert (key in kept) == (not isinstance(raw, (list, dict)) or bool(raw))
