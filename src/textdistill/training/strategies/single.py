"""``single``: one teacher, distilled as it is (the default with one teacher: exactly the one-teacher behaviour)."""

from __future__ import annotations

import numpy as np

from .base import Strategy, StrategyInput, fixed_weights_objective, register


@register
class Single(Strategy):
    name = "single"
    tasks = ("single-label", "multi-label")
    description = "one teacher (the default with one --teacher)"
    max_teachers = 1

    def objective(self, inputs: StrategyInput):
        return fixed_weights_objective(inputs, np.ones((inputs.logits.shape[1], 1), np.float32), self.name,
                                       space="logits")
