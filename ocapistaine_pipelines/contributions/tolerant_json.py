"""JSON documents whose bad items cost only themselves.

``json.loads`` refuses a whole document for one item that is nested too deep (``RecursionError``) or
holds an integer of more than 4,300 digits (Python's int-digits limit). An export or a page of the
webhook is a list of independent items, so: integers too long become ``OversizedNumber`` (text,
quarantined by the model with its size), and when the document is too deep, its list of records is
read item by item, a too-deep item becoming ``Unparseable`` (quarantined with its reason) while its
neighbours are read as usual.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

#: Python's default limit of ``int(str)`` digits.
MAX_INT_DIGITS = 4300


class OversizedNumber(str):
    """An integer literal too long for ``int()``: kept as its digits, refused where a number is needed."""

    def describe(self) -> str:
        return f"an integer of {len(self.lstrip('-')):,} digits"


class Unparseable:
    """An item of a list that could not be decoded on its own (e.g. nested too deep)."""

    def __init__(self, reason: str, preview: str):
        self.reason = reason
        self.preview = preview

    def __repr__(self) -> str:
        return f"<unparseable: {self.reason}: {self.preview}>"


def _parse_int(text: str) -> Any:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return OversizedNumber(text)
    return int(text)


#: ``strict=False``: a raw control character inside a string (a careless exporter) costs nothing.
_DECODER = json.JSONDecoder(parse_int=_parse_int, strict=False)
_PLAIN = json.JSONDecoder(strict=False)
_WS = re.compile(r"[ \t\n\r]*")
_STRUCTURE = re.compile(r'"|[\[{]+|[\]}]+')
_STRING_END = re.compile(r'(?:[^"\\]|\\.)*"', re.S)


def loads(text: str, records_key: str | None = None) -> Any:
    """``json.loads`` with oversized integers kept as ``OversizedNumber``; when the document is too deep
    for the decoder, the records (the top-level list, or the list under ``records_key`` of a top-level
    object) are decoded one by one. Other syntax errors raise ``ValueError`` as ``json.loads`` does."""
    try:
        return _PLAIN.decode(text)  # the common case, at the stdlib's speed (no Python hook per integer)
    except RecursionError:
        return _loads_item_by_item(text, records_key)
    except ValueError as error:
        if "integer string conversion" not in str(error):
            raise
    try:
        return _DECODER.decode(text)
    except RecursionError:
        return _loads_item_by_item(text, records_key)


def _skip_value(text: str, pos: int) -> int:
    """The index just after the JSON value starting at ``pos``, found without decoding it (so without
    recursion): brackets are counted outside strings, a run of them at a time."""
    depth = 0
    while True:
        match = _STRUCTURE.search(text, pos)
        if match is None:
            raise ValueError("unterminated JSON value")
        token, pos = match.group(), match.end()
        if token == '"':
            end = _STRING_END.match(text, pos)
            if end is None:
                raise ValueError("unterminated JSON string")
            pos = end.end()
            if depth == 0:
                return pos
        elif token[0] in "[{":
            depth += len(token)
        elif len(token) >= depth:
            return match.start() + depth
        else:
            depth -= len(token)


def _value(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except RecursionError:
        end = _skip_value(text, pos)
        preview = text[pos : pos + 60]
        depth_hint = f"nested deeper than Python can read (limit {sys.getrecursionlimit():,})"
        return Unparseable(depth_hint, preview), end


def _list(text: str, pos: int) -> tuple[list, int]:
    """The list starting at ``pos`` (``[``), item by item."""
    items: list = []
    pos = _WS.match(text, pos + 1).end()
    if text.startswith("]", pos):
        return items, pos + 1
    while True:
        value, pos = _value(text, _WS.match(text, pos).end())
        items.append(value)
        pos = _WS.match(text, pos).end()
        if text.startswith(",", pos):
            pos += 1
        elif text.startswith("]", pos):
            return items, pos + 1
        else:
            raise ValueError(f"expected ',' or ']' at char {pos}")


def _loads_item_by_item(text: str, records_key: str | None) -> Any:
    pos = _WS.match(text, 0).end()
    if text.startswith("[", pos):
        value, pos = _list(text, pos)
    elif text.startswith("{", pos):
        value, pos = {}, _WS.match(text, pos + 1).end()
        while not text.startswith("}", pos):
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _WS.match(text, pos).end()
            if not text.startswith(":", pos):
                raise ValueError(f"expected ':' at char {pos}")
            pos = _WS.match(text, pos + 1).end()
            if key == records_key and text.startswith("[", pos):
                value[key], pos = _list(text, pos)
            else:
                value[key], pos = _value(text, pos)
            pos = _WS.match(text, pos).end()
            if text.startswith(",", pos):
                pos = _WS.match(text, pos + 1).end()
            elif not text.startswith("}", pos):
                raise ValueError(f"expected ',' or '}}' at char {pos}")
        pos += 1
    else:
        raise ValueError("too deep and neither a list nor an object")
    if _WS.match(text, pos).end() != len(text):
        raise ValueError(f"extra data at char {pos}")
    return value
