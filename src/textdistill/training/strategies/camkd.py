"""``ca-mkd``: confidence-aware multi-teacher distillation (Zhang, Chen, Wang; ICASSP 2022), its logit part.

On a text with a gold label y: w_k = (1 - softmax_k(CE_k)) / (K - 1), CE_k = -log p_k(y): teachers that are right
(low CE) weigh more, and the weights sum to one. Departures from the paper: its intermediate-feature term is left
out (our students share no layers with the teachers), and texts without a gold label (unlabeled transfer text,
augmentation), where the paper has nothing to say, use the same formula with CE_k taken against the mean of the
teachers' distributions (``--camkd-unlabeled pseudo``, the default) or equal weights (``mean``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import option
from ...errors import check
from .base import Strategy, StrategyInput, fixed_weights_objective, gold_cross_entropy, register, softmax


@dataclass
class CAMKDConfig:
    camkd_unlabeled: str = option("pseudo", "ca-mkd: texts without gold: pseudo (CE against the teachers' mean "
                                            "distribution) or mean (equal weights).")

    def __post_init__(self):
        check(self.camkd_unlabeled in ("pseudo", "mean"), "camkd_unlabeled must be pseudo or mean")


def camkd_weights(ce: np.ndarray) -> np.ndarray:
    """(N, K) weights from (K, N) cross-entropies."""
    k = ce.shape[0]
    if k == 1:
        return np.ones((ce.shape[1], 1), np.float32)
    return ((1.0 - softmax(ce, axis=0)) / (k - 1)).T.astype(np.float32)


@register
class CAMKD(Strategy):
    name = "ca-mkd"
    config_class = CAMKDConfig
    description = "per-text weights from each teacher's cross-entropy on the gold label (Zhang et al. 2022)"

    def objective(self, inputs: StrategyInput):
        gold = inputs.gold
        has = gold >= 0
        ce = gold_cross_entropy(inputs.logits, gold)
        weights = camkd_weights(ce)
        if (~has).any():
            k = inputs.num_teachers
            if self.config.camkd_unlabeled == "mean":
                weights[~has] = 1.0 / k
            else:
                probs = inputs.probs(1.0)[:, ~has]  # (K, U, C)
                mean = probs.mean(0, keepdims=True)
                pseudo_ce = -(mean * np.log(np.clip(probs, 1e-12, None))).sum(-1)
                weights[~has] = camkd_weights(np.minimum(pseudo_ce, 10.0))
        return fixed_weights_objective(inputs, weights, self.name,
                                       {"rows_with_gold": int(has.sum()), "rows_without_gold": int((~has).sum())})
