"""Every verdict of the rules validator on every labelled set, as pinned in ``rules_golden.json``.

A change to the rules must not change a verdict by accident. When a change is meant, regenerate the
file (see ``rules_golden.py``) and list each changed verdict, with the reason, in the commit message.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from . import rules_golden

GOLDEN = json.loads(rules_golden.GOLDEN.read_text(encoding="utf-8"))


def test_the_golden_file_pins_every_labelled_set_of_the_repository():
    """A new set is pinned by regenerating; a pinned set that vanished is a mistake either way."""
    assert GOLDEN["validator"] == "rules:rules-v4"
    in_repo = sorted(rules_golden.set_name(p) for p in rules_golden.labelled_set_files())
    assert sorted(GOLDEN["sets"]) == in_repo, (
        "the labelled sets are not the pinned ones: regenerate rules_golden.json (see rules_golden.py)"
    )


@pytest.mark.parametrize("name", sorted(GOLDEN["sets"]))
def test_verdicts_match_the_golden_file(name):
    path = rules_golden.ROOT / name
    pinned = GOLDEN["sets"][name]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == pinned["sha256"], (
        f"{name} changed since the golden file was written: regenerate it in a commit of its own"
    )
    now = rules_golden.current([path])["sets"][name]
    for part in ("items", "sentences"):
        assert list(now[part]) == list(pinned[part]), f"{name}: the {part} are not the pinned ones"
        changed = [
            (key, pinned[part][key], verdict)
            for key, verdict in now[part].items()
            if verdict != pinned[part][key]
        ]
        report = "\n".join(f"{key}:\n  pinned {was}\n  now    {is_}" for key, was, is_ in changed[:10])
        assert not changed, f"{name}: {len(changed)} {part} changed verdict (first 10):\n{report}"
