"""The offline validator: a charter checker for French text and a category classifier by vocabulary.

Deterministic and fast (no model, no network). Every rule is a general French pattern, never a
particular sentence, and asks for positive evidence: blunt but fair criticism of a project stays valid.

Where things are (docs/contributions.md, "Changing the rules validator", says how to change each):

- ``lexicon.py``: the words of every charter signal, as data (insults, groups and exclusion wording,
  promotional wording, people and roles, irony, hearsay, certainties, sources, places ...);
  ``category_words.py``: the words of the seven categories;
- ``weights.py``: every rule with its charter kind and weight, in one table, and where each comes from;
- ``conduct.py``: how a text treats people, one function per family (shouting, insults and contempt,
  discrimination, veiled attacks); ``content.py``: what it says (spam, false information, off topic,
  encouraged aspects); each returns its signals and near misses;
- ``confidence.py``: P(verdict right) from a logistic model over the evidence; ``categories.py``;
- ``validator.py``: ``analyse`` runs every family, ``RulesValidator`` turns the analysis into a verdict;
  ``hard_signals`` gives other validators the signals that hold whatever the context.
"""

from .categories import category_scores, classify
from .confidence import (
    CALIBRATION_BASE_RATE,
    CALIBRATION_COEFFICIENTS,
    CALIBRATION_FEATURES,
    FLAG_CONFIDENCE_MARGIN,
    calibrated_confidence,
    calibration_features,
)
from .evidence import Finding, Signal
from .text import fold_text
from .validator import MODEL, NAME, Analysis, RulesValidator, analyse, hard_signals
from .weights import FLAG_THRESHOLD, HARD_RULES, RULES, Rule

__all__ = [
    "CALIBRATION_BASE_RATE",
    "CALIBRATION_COEFFICIENTS",
    "CALIBRATION_FEATURES",
    "FLAG_CONFIDENCE_MARGIN",
    "FLAG_THRESHOLD",
    "HARD_RULES",
    "MODEL",
    "NAME",
    "RULES",
    "Analysis",
    "Finding",
    "Rule",
    "RulesValidator",
    "Signal",
    "analyse",
    "calibrated_confidence",
    "calibration_features",
    "category_scores",
    "classify",
    "fold_text",
    "hard_signals",
]
