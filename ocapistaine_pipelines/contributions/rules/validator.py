"""The rules validator: every family of signals on a contribution, then a verdict with its confidence."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Contribution, Verdict
from . import conduct, content
from .categories import category_scores, classify
from .confidence import FLAG_CONFIDENCE_MARGIN, calibrated_confidence, calibration_features
from .evidence import Signal
from .text import fold_text, without_headers
from .weights import FLAG_THRESHOLD, HARD_RULES

NAME = "rules"
MODEL = "rules-v4"


@dataclass
class Analysis:
    """Everything the families found in one contribution, and what the confidence and category read."""

    signals: list[Signal] = field(default_factory=list)
    near_misses: list[str] = field(default_factory=list)
    encouraged: list[str] = field(default_factory=list)
    local: bool = False  #: some tie to the commune or a municipal matter
    topical: float = 0.0  #: the best category's vocabulary score
    folded: str = ""
    scores: dict[str, float] = field(default_factory=dict)  #: vocabulary score of each category


def analyse(contribution: Contribution) -> Analysis:
    """Every charter signal, near miss and encouraged aspect found in the contribution."""
    raw = without_headers(contribution.text)
    text = fold_text(raw)
    scores = category_scores(text)
    local, topical = content.mentions_the_commune(text), max(scores.values())
    findings = [  # in this order in the reasoning
        conduct.shouting(raw),
        conduct.attack(text),
        conduct.discrimination(text),
        content.spam(text),
        conduct.veiled_attack(text),
        content.false_information(text),
        content.off_topic(text, local=local, topical=topical),
    ]
    return Analysis(
        signals=[s for f in findings for s in f.signals],
        near_misses=[n for f in findings for n in f.near_misses],
        encouraged=content.encouraged_aspects(text),
        local=local,
        topical=topical,
        folded=text,
        scores=scores,
    )


def hard_signals(text: str) -> list[Signal]:
    """The signals that are right whatever the context (``weights.HARD_RULES``), each checked on its own.

    For other validators (a learned one may take them as given): a slur, promotional wording with a
    contact, a shop's link, a contact beside selling wording. ``text`` is a contribution's text as
    written (``Contribution.text``); it is folded here.
    """
    folded = fold_text(without_headers(text))
    found = [s for s in [conduct.slur(folded)] if s]
    return found + [s for s in content.spam_rules(content.commercial(folded)) if s.rule in HARD_RULES]


class RulesValidator:
    """Charter checker and classifier for French contributions; the same input gives the same verdict."""

    name = NAME
    model = MODEL

    def validate(self, contribution: Contribution) -> Verdict:
        found = analyse(contribution)
        flagged = [s for s in found.signals if s.weight >= FLAG_THRESHOLD]
        category = classify(found.folded, contribution.category, found.scores)
        validator = f"{NAME}:{MODEL}"
        if flagged:
            kinds = list(dict.fromkeys(s.kind for s in sorted(flagged, key=lambda s: -s.weight)))
            confidence = min(
                calibrated_confidence(calibration_features(found, flagged)),
                max(s.weight for s in flagged) + FLAG_CONFIDENCE_MARGIN,
            )
            reasoning = "Non conforme à la charte : " + " ; ".join(s.evidence for s in flagged) + "."
            return Verdict(
                False, kinds, found.encouraged, reasoning, round(confidence, 3), category, validator
            )
        confidence = calibrated_confidence(calibration_features(found, []))
        aspects = ", ".join(found.encouraged) or "aucun aspect encouragé repéré"
        reasoning = f"Conforme à la charte ({aspects})."
        if found.near_misses:
            reasoning += " Points de vigilance : " + " ; ".join(found.near_misses) + "."
        return Verdict(True, [], found.encouraged, reasoning, round(confidence, 3), category, validator)

    def validate_many(self, contributions: list[Contribution], check=None) -> list[Verdict]:
        """``check``: the guard's stop hook (offline and fast: asked once)."""
        if check is not None:
            check()
        return [self.validate(c) for c in contributions]
