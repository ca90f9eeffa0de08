"""The confidence of a verdict: P(verdict right) from a logistic model over the evidence.

Fitted offline (v4) with an L2 penalty and sign constraints on (a) the out-of-sample verdicts of v1 on
held-out sets 2 and 4 (they alone say how often a verdict is wrong) and (b) the in-sample verdicts of
v4 on the labelled set, held-out sets 1, 2, 4 and the fair-criticism set, weighted to count as much as
(a); a flag is then capped at its strongest signal's weight + FLAG_CONFIDENCE_MARGIN. Held-out sets 3
and 5 were not used by the fit. See docs/contributions.md for the figures.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .evidence import Signal
from .weights import FLAG_THRESHOLD

if TYPE_CHECKING:
    from .validator import Analysis

#: Logistic calibration of the confidence: P(verdict right) = sigmoid(coefficients · calibration_features).
#: Fitted (L2-penalised logistic regression, lambda = 1, bias not penalised) on the rows described in the
#: module docstring; held-out sets 3 and 5 measure it and were not used.
CALIBRATION_FEATURES = (
    "bias",
    "flagged",
    "flag_strength",
    "extra_flags",
    "encouraged",
    "near_misses",
    "local",
    "topical",
)
#: Each coefficient may only move the confidence the way its feature's meaning says (a stronger or a second
#: agreeing signal, encouraged aspects, a local tie, municipal vocabulary: up; near misses: down); near misses
#: and the local tie came out with the contrary sign, so they are fixed at 0 and the rest refitted.
CALIBRATION_COEFFICIENTS: tuple[float, ...] = (0.848, 1.415, 0.955, 0.146, 0.34, 0.0, 0.0, 0.7)
#: Share of right verdicts in the same (weighted) rows: the constant a predictor without evidence would say.
CALIBRATION_BASE_RATE = 0.824
#: A flag is never surer than its strongest signal's own weight plus this margin: one weak signal (0.6) gives
#: at most 0.70, whatever the fit says about flags in general (the fit's rows hold few weak flags).
FLAG_CONFIDENCE_MARGIN = 0.1


def calibration_features(found: Analysis, flagged: list[Signal]) -> tuple[float, ...]:
    """The evidence the confidence is computed from, each scaled to 0..1 (names in CALIBRATION_FEATURES).

    A flag: how strong its strongest signal is, and whether other signals agree. A valid verdict: how
    many encouraged aspects, how many near misses, whether the text is tied to the commune, and how
    much of the municipal themes' vocabulary it uses.
    """
    if flagged:
        top = max(s.weight for s in flagged)
        strength = (top - FLAG_THRESHOLD) / (1.0 - FLAG_THRESHOLD)
        return (1.0, 1.0, strength, min(len(flagged) - 1, 2) / 2, 0.0, 0.0, 0.0, 0.0)
    return (
        1.0,
        0.0,
        0.0,
        0.0,
        min(len(found.encouraged), 3) / 3,
        min(len(found.near_misses), 2) / 2,
        1.0 if found.local else 0.0,
        min(found.topical, 4.0) / 4,
    )


def calibrated_confidence(features: tuple[float, ...]) -> float:
    """P(the verdict is right) from the fitted model, kept within [0.5, 0.99] (a verdict is a choice)."""
    z = sum(c * x for c, x in zip(CALIBRATION_COEFFICIENTS, features))
    return min(0.99, max(0.5, 1.0 / (1.0 + math.exp(-z))))
