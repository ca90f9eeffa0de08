"""How many examples a property test generates: its full number in CI (``scripts/test``), a fifth (at
least 10) in the fast loop (``scripts/test --fast`` sets ``OCAPISTAINE_TEST_FAST=1``), so a coding loop
stays short while CI keeps the whole search."""

from __future__ import annotations

import os

FAST = os.environ.get("OCAPISTAINE_TEST_FAST") == "1"


def examples(full: int) -> int:
    return max(10, full // 5) if FAST else full
