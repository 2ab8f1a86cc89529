"""``mean-probs``: the mean of the teachers' distributions (at the distillation temperature) as one target.

With ``--loss kl`` this equals averaging the per-teacher KL losses; an MSE student regresses onto the centred log
of the mean distribution.
"""

from __future__ import annotations

import numpy as np

from .base import Strategy, StrategyInput, fixed_weights_objective, register


@register
class MeanProbs(Strategy):
    name = "mean-probs"
    tasks = ("single-label", "multi-label")
    description = "equal weights on the teachers' probabilities"

    def objective(self, inputs: StrategyInput):
        k = inputs.num_teachers
        weights = np.full((inputs.logits.shape[1], k), 1.0 / k, np.float32)
        objective = fixed_weights_objective(inputs, weights, self.name)
        if inputs.loss == "mse":  # mix in probability space whatever the loss
            import torch

            objective.targets = torch.from_numpy(inputs.task.probabilities_as_logits(inputs.probs().mean(0)))
        return objective
