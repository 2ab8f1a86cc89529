"""Teacher strategies: how the signal of several teachers becomes the distillation target (one file each).

Importing this package registers the built-in ones; ``STRATEGIES`` is the registry (``--teacher-strategy``).
"""

from . import best, camkd, confidence, mean_logits, mean_probs, rl, rl_weights, single, weighted  # noqa: F401
from .base import STRATEGIES, Strategy, StrategyInput, fixed_weights_objective, make_strategy, register

__all__ = ["STRATEGIES", "Strategy", "StrategyInput", "fixed_weights_objective", "make_strategy", "register"]
