"""``weighted``: fixed teacher weights, given (``--teacher-weights 0.5,0.3,0.2``) or from dev accuracy
(softmax of accuracy / ``--weight-temperature``: 0.05 gives a teacher 5 points better e times the weight)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import option
from ...errors import ConfigError, check
from .base import Strategy, StrategyInput, fixed_weights_objective, register, softmax


@dataclass
class WeightedConfig:
    teacher_weights: str | None = option(None, "weighted: one weight per --teacher, comma-separated (normalised "
                                               "to sum to one); default: from dev accuracy.")
    weight_temperature: float = option(0.05, "weighted: weights from dev accuracy are softmax(accuracy / this).")

    def __post_init__(self):
        check(self.weight_temperature > 0, "weight_temperature must be > 0")
        if self.teacher_weights is not None:
            self.parsed()

    def parsed(self) -> list[float] | None:
        if self.teacher_weights is None:
            return None
        try:
            values = [float(v) for v in str(self.teacher_weights).split(",")]
        except ValueError:
            raise ConfigError(f"--teacher-weights must be comma-separated numbers, not "
                              f"{self.teacher_weights!r}") from None
        check(all(v >= 0 for v in values) and sum(values) > 0, "--teacher-weights must be >= 0 with a positive sum")
        return values


@register
class Weighted(Strategy):
    name = "weighted"
    tasks = ("single-label", "multi-label")
    config_class = WeightedConfig
    description = "fixed weights: given, or from dev accuracy"

    def check(self, num_teachers: int, has_dev: bool) -> None:
        given = self.config.parsed()
        if given is None and not has_dev:
            raise ConfigError("--teacher-strategy weighted needs --teacher-weights or --dev (for weights from dev "
                              "accuracy)")
        if given is not None and len(given) != num_teachers:
            raise ConfigError(f"--teacher-weights has {len(given)} values for {num_teachers} teachers")
        super().check(num_teachers, has_dev)

    def objective(self, inputs: StrategyInput):
        given = self.config.parsed()
        if given is not None:
            w = np.asarray(given, np.float64) / sum(given)
            source = "given"
        else:
            w = softmax(inputs.dev_accuracy() / self.config.weight_temperature)
            source = "dev accuracy"
        inputs.log("teacher weights (" + source + "): " + ", ".join(f"{n} {v:.3f}" for n, v in zip(inputs.names, w)))
        weights = np.repeat(w[None, :].astype(np.float32), inputs.logits.shape[1], axis=0)
        return fixed_weights_objective(inputs, weights, self.name, {"weights_from": source})
