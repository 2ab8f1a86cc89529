"""``best``: the single teacher with the best dev accuracy (ties: the first given), distilled alone."""

from __future__ import annotations

import numpy as np

from .base import Strategy, StrategyInput, fixed_weights_objective, register


@register
class Best(Strategy):
    name = "best"
    tasks = ("single-label", "multi-label")
    description = "the teacher best on dev, alone"
    needs_dev = True

    def objective(self, inputs: StrategyInput):
        accuracy = inputs.dev_accuracy()
        best = int(np.argmax(accuracy))
        weights = np.zeros((inputs.logits.shape[1], inputs.num_teachers), np.float32)
        weights[:, best] = 1.0
        inputs.log(f"best teacher on dev: {inputs.names[best]} ({accuracy[best]:.4f})")
        return fixed_weights_objective(inputs, weights, self.name, {"chosen": inputs.names[best]}, space="logits")
