"""What the student minimises, batch by batch. The training loop only ever calls an objective; which teacher (or
mix of teachers) a batch learns from is the objective's business, so no loss or strategy name appears in the loop.

An objective is built by the pipeline (from the teacher strategy) for each stage: ``DistillObjective`` for one
fixed target per text (one teacher, or a fixed mix), ``GoldObjective`` for the gold-label fine-tune. Strategies
that decide per instance while the student trains (reinforced selection) subclass ``Objective`` and use the hooks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .losses import distillation_loss, gold_cross_entropy


@dataclass
class StepContext:
    """One optimisation step, for objectives that learn from its outcome (``after_step``)."""

    module: torch.nn.Module
    inputs: tuple
    idx: np.ndarray
    logits: torch.Tensor  # before the update, detached
    representation: torch.Tensor | None
    stage: str
    step: int

    def forward(self):
        """(logits, representation) of the same batch with the updated weights (no gradient)."""
        with torch.no_grad():
            return self.module(*self.inputs, return_representation=True)


class Objective:
    """The loss of a batch of transfer-set rows ``idx`` given the student's logits (and representation)."""

    needs_representation = False  # pass the student's pooled representation of each text to ``loss``
    uses_teacher = True

    def loss(self, logits: torch.Tensor, idx: np.ndarray, representation: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, context: StepContext) -> None:
        """Called after each optimiser step (a policy can learn from what the step did)."""

    def end_epoch(self, stage: str, epoch: int, evaluate) -> None:
        """Called after each epoch; ``evaluate()`` gives the current dev metric (None without a dev set)."""

    def summary(self) -> dict:
        """What to save with the model about how the teachers were used (JSON)."""
        return {}

    def state_tensors(self) -> dict[str, np.ndarray]:
        """Arrays to save with the model (a policy's weights, per-teacher statistics)."""
        return {}


class GoldObjective(Objective):
    """Cross-entropy on the gold labels (rows without one, gold = -1, contribute nothing)."""

    uses_teacher = False

    def __init__(self, gold: np.ndarray):
        self.gold = torch.from_numpy(np.asarray(gold, dtype=np.int64))

    def loss(self, logits, idx, representation=None):
        return gold_cross_entropy(logits, self.gold[idx])


class DistillObjective(Objective):
    """Distillation towards one fixed target per text (teacher logits), optionally mixed with alpha * CE(gold)."""

    def __init__(self, targets: np.ndarray, gold: np.ndarray, *, loss: str = "kl", temperature: float = 1.0,
                 alpha: float = 0.0):
        self.targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
        self.gold = torch.from_numpy(np.asarray(gold, dtype=np.int64))
        self.kind, self.temperature, self.alpha = loss, temperature, alpha

    def loss(self, logits, idx, representation=None):
        return distillation_loss(logits, self.targets[idx], self.gold[idx], loss=self.kind,
                                 temperature=self.temperature, alpha=self.alpha)
