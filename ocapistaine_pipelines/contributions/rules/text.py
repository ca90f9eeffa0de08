"""Reading a contribution: folding French text, and turning lexicon lists into patterns."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: The form's section headers ("**Constat factuel:**"), which every contribution carries: not its words.
_HEADERS = re.compile(r"\*\*\s*(constat factuel|id[ée]es d'am[ée]liorations?)\s*:?\s*\*\*", re.I)
#: A sentence: what a veiled attack must hold in one piece (a person and what is said about them).
_SENTENCE = re.compile(r"[^.!?;:\n]+[.!?;:]*")
#: Every lexicon pattern starts with a letter or a digit: this one-letter lookahead lets ``re`` skip
#: spaces and punctuation quickly (about 1.5x on the long lists) and changes no match.
_STARTS_A_WORD = "(?=[a-z0-9])"
#: Escapes that lower case would turn into others (``\S`` into ``\s``): a lexicon entry must not use them.
_UPPER_ESCAPES = re.compile(r"\\[A-Z]")


def _fold_char(code: int) -> str:
    decomposed = unicodedata.normalize("NFKD", chr(code))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


#: Accented Latin letters to plain ones and apostrophes to spaces, as one ``str.translate`` table.
_FOLD_TABLE = {code: _fold_char(code) for code in range(0xC0, 0x250) if _fold_char(code) != chr(code)}
_FOLD_TABLE.update({ord(q): " " for q in "’'`´"})
_FOLD_TABLE.update({0x153: "oe", 0x152: "oe", 0xE6: "ae", 0xC6: "ae"})


def fold_text(text: str) -> str:
    """Lower case without accents, apostrophes as spaces: what the patterns match against."""
    folded = text.lower().translate(_FOLD_TABLE)
    if folded.isascii():
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)  # rare: letters outside Latin-1/Extended-A
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def without_headers(text: str) -> str:
    return _HEADERS.sub(" ", text)


def sentences(folded: str) -> list[str]:
    return _SENTENCE.findall(folded)


def _folded_entries(entries: Iterable[str]) -> list[str]:
    """The entries as the text is folded (an entry may be written with accents and apostrophes)."""
    folded = []
    for entry in entries:
        if _UPPER_ESCAPES.search(entry):
            raise ValueError(f"lexicon entry {entry!r}: upper-case escapes such as \\S are not allowed")
        if not re.match(r"[a-z0-9(]|\\d", fold_text(entry)):
            raise ValueError(f"lexicon entry {entry!r} must start with a letter, a digit, \\d or '('")
        folded.append(fold_text(entry))
    return folded


def alternatives(entries: Iterable[str]) -> str:
    """A lexicon list as a regex group, entries folded, tried in order: for patterns with a grammar."""
    return "(?:" + "|".join(_folded_entries(entries)) + ")"


def phrases(entries: Iterable[str], *, ends_a_word: bool = True) -> re.Pattern:
    """One pattern for a lexicon list: any entry, from the start of a word, tried in order.

    With ``ends_a_word=False`` an entry may end inside a word ("selon le" also finds "selon leur").
    """
    return re.compile(rf"{_STARTS_A_WORD}\b{alternatives(entries)}" + (r"\b" if ends_a_word else ""))


def words(entries: Iterable[str]) -> re.Pattern:
    """One pattern for a list of plain words: whole words, a plural "s" allowed, any spacing between words."""
    body = "|".join(entry.replace(" ", r"\s+") for entry in _folded_entries(entries))
    return re.compile(rf"{_STARTS_A_WORD}\b(?:{body})s?\b")


def first(pattern: re.Pattern, text: str) -> str | None:
    """The first match's text (the evidence shown), or ``None``."""
    match = pattern.search(text)
    return match.group(0) if match else None


def found(pattern: re.Pattern, text: str) -> list[str]:
    """Every distinct match, sorted (so that the evidence shown does not depend on where it was written)."""
    return sorted(set(m.group(0) for m in pattern.finditer(text)))
