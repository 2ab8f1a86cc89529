"""``confidence``: label-free weights per instance (after Kwon et al., ICASSP 2020): a teacher counts more on a text
where it is sure (low entropy) and where the other teachers agree with it.

score_ik = -H(p_ik) / log C (``entropy``), or the fraction of the other teachers with the same argmax
(``agreement``), or their sum (``both``, the default); w_i = softmax_k(score_ik / ``--confidence-temperature``).
Uses no gold label, so it weighs unlabeled transfer text as well as labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import option
from ...errors import check
from .base import Strategy, StrategyInput, disagreement, entropy, fixed_weights_objective, register, softmax

MEASURES = ("entropy", "agreement", "both")


@dataclass
class ConfidenceConfig:
    confidence_by: str = option("both", "confidence: weigh teachers per text by entropy, agreement or both.")
    confidence_temperature: float = option(0.5, "confidence: softmax temperature of the per-text scores.")

    def __post_init__(self):
        check(self.confidence_by in MEASURES, f"confidence_by must be one of {', '.join(MEASURES)}")
        check(self.confidence_temperature > 0, "confidence_temperature must be > 0")


def confidence_scores(logits: np.ndarray, by: str = "both") -> np.ndarray:
    """(K, N) scores: higher = more trusted on that text."""
    score = np.zeros(logits.shape[:2], dtype=np.float64)
    if by in ("entropy", "both"):
        score -= entropy(softmax(logits))
    if by in ("agreement", "both"):
        score += 1.0 - disagreement(logits)
    return score


@register
class Confidence(Strategy):
    name = "confidence"
    config_class = ConfidenceConfig
    description = "per-text weights from teacher confidence and agreement (label-free)"

    def objective(self, inputs: StrategyInput):
        scores = confidence_scores(inputs.logits, self.config.confidence_by)
        weights = softmax(scores / self.config.confidence_temperature, axis=0).T  # (N, K)
        return fixed_weights_objective(inputs, weights, self.name)
