"""What a rule finds: a ``Signal`` (rule, kind, weight, evidence), and a family's ``Finding``."""

from __future__ import annotations

from dataclasses import dataclass, field

from .weights import RULES


@dataclass
class Signal:
    """What one rule found in a contribution: the rule, its charter kind and weight, the evidence shown."""

    rule: str
    kind: str
    weight: float
    evidence: str


@dataclass
class Finding:
    """What one family of signals found: its signals (usually one) and its near misses."""

    signals: list[Signal] = field(default_factory=list)
    near_misses: list[str] = field(default_factory=list)


def signal(rule: str, evidence: str) -> Signal:
    """The signal of a rule of ``weights.RULES`` (a rule missing from the table is a KeyError)."""
    entry = RULES[rule]
    return Signal(rule, entry.kind, entry.weight, evidence)


def flag(rule: str, evidence: str) -> Finding:
    return Finding([signal(rule, evidence)])


def near_miss(description: str) -> Finding:
    return Finding([], [description])
