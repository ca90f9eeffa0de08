"""The category of a contribution, by the vocabulary of each theme (``category_words.py``)."""

from __future__ import annotations

import re
from functools import lru_cache

from ..model import CATEGORIES
from .category_words import CATEGORY_VOCABULARY, EXACT_WORDS

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@lru_cache(maxsize=65536)
def _categories_of(token: str) -> tuple[str, ...]:
    """The categories whose vocabulary has this word (a stem it starts with, or the word itself)."""
    hits = []
    for category, stems in CATEGORY_VOCABULARY.items():
        for stem in stems:
            if " " in stem:
                continue
            if (token == stem) if (stem in EXACT_WORDS or len(stem) <= 3) else token.startswith(stem):
                hits.append(category)
                break
    return tuple(hits)


def _phrases(entries: list[str]) -> re.Pattern:
    """The phrases of a category, longest first, any spacing between their words."""
    longest_first = sorted((e.replace(" ", r"\s+") for e in entries), key=len, reverse=True)
    return re.compile(rf"\b(?:{'|'.join(longest_first)})")


_PHRASES = {
    category: _phrases([s for s in stems if " " in s])
    for category, stems in CATEGORY_VOCABULARY.items()
    if any(" " in s for s in stems)
}


def category_scores(folded: str) -> dict[str, float]:
    """Vocabulary hits per category (each distinct word counted once; phrases count double)."""
    scores = dict.fromkeys(CATEGORIES, 0.0)
    for token in set(_WORD.findall(folded)):
        for category in _categories_of(token):
            scores[category] += 1.0
    for category, pattern in _PHRASES.items():
        scores[category] += 2.0 * len(set(pattern.findall(folded)))
    return scores


def classify(folded: str, given: str | None = None, scores: dict[str, float] | None = None) -> str:
    """The category. The given category is a small prior (+1.5): the text wins when it is clear."""
    scores = dict(scores) if scores is not None else category_scores(folded)
    if given in scores:
        scores[given] += 1.5
    ranked = sorted(CATEGORIES, key=lambda c: (-scores[c], CATEGORIES.index(c)))
    if scores[ranked[0]] <= 0:
        return given if given in CATEGORIES else "economie"
    return ranked[0]
