"""``mean-logits``: the mean of the teachers' logits as one target (TextBrewer's MultiTeacherDistiller)."""

from __future__ import annotations

import numpy as np

from .base import Strategy, StrategyInput, fixed_weights_objective, register


@register
class MeanLogits(Strategy):
    name = "mean-logits"
    tasks = ("single-label", "multi-label")
    description = "equal weights on the teachers' logits (the default with several teachers)"

    def objective(self, inputs: StrategyInput):
        k = inputs.num_teachers
        return fixed_weights_objective(inputs, np.full((inputs.logits.shape[1], k), 1.0 / k, np.float32), self.name,
                                       space="logits")
