"""What the student minimises, batch by batch. The training loop only ever calls an objective; which teacher (or
mix of teachers) a batch learns from is the objective's business, so no loss or strategy name appears in the loop.

An objective is built by the pipeline (from the teacher strategy, ``training/strategies/``) for each stage:
``DistillObjective`` for one fixed target per text (one teacher's logits, a fixed mix of logits, or a mixed
distribution), ``GoldObjective`` for the gold-label fine-tune. Strategies that decide per instance while the student
trains (reinforced selection) subclass ``Objective`` and use the hooks:

- ``start_epoch(EpochContext)`` / ``end_epoch(EpochContext)``: around each epoch; the context can run the (fixed)
  student over any rows of the transfer set and evaluate it on dev;
- ``loss(logits, idx, representation)``: the loss of a batch;
- ``after_step(StepContext)``: after the optimiser step; ``StepContext.forward()`` re-runs the batch with the updated
  weights and the same dropout masks, so a before/after difference isolates what the update did.

This module imports torch only when an objective computes something, so strategy files (and the command line that
reads their configs) load without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..tasks.single_label import centred_log  # noqa: F401  (re-exported)


@dataclass
class StepContext:
    """One optimisation step, for objectives that learn from its outcome (``after_step``)."""

    module: object  # torch.nn.Module
    inputs: tuple
    idx: np.ndarray
    logits: object  # before the update, detached
    representation: object | None
    stage: str
    step: int
    rng_state: object = None  # torch's RNG state before the step's forward pass (its dropout masks)
    evaluate: Callable[[], float | None] | None = None

    def forward(self):
        """(logits, representation) of the same batch with the updated weights (no gradient), with the dropout
        masks of the step's own forward pass."""
        import torch

        with torch.no_grad():
            if self.rng_state is None:
                return self.module(*self.inputs, return_representation=True)
            now = torch.get_rng_state()
            torch.set_rng_state(self.rng_state)
            try:
                return self.module(*self.inputs, return_representation=True)
            finally:
                torch.set_rng_state(now)


@dataclass
class EpochContext:
    """The start or end of an epoch: which one, the dev metric, and read-only passes of the student over rows."""

    stage: str
    epoch: int  # 1-based
    rows: np.ndarray  # the stage's rows of the transfer set
    evaluate: Callable[[], float | None]
    batches: Callable[..., Iterator[tuple]]  # batches(rows, batch_size) -> (idx, logits, representation), no grad


class Objective:
    """The loss of a batch of transfer-set rows ``idx`` given the student's logits (and representation)."""

    needs_representation = False  # pass the student's pooled representation of each text to ``loss``
    uses_teacher = True
    # Whether an interrupted run can resume exactly. None: yes if the objective has none of the hooks below (it
    # learns and counts nothing outside the student); one with hooks sets True and keeps what they gather in
    # ``resume_state()`` / ``load_resume_state(state)`` (JSON), or leaves None: such a run restarts from the start.
    resumable: bool | None = None

    def loss(self, logits, idx: np.ndarray, representation=None):
        raise NotImplementedError

    def start_epoch(self, context: EpochContext) -> None:
        """Called before each epoch (a policy can pre-train on the fixed student here)."""

    def after_step(self, context: StepContext) -> None:
        """Called after each optimiser step (a policy can learn from what the step did)."""

    def end_epoch(self, context: EpochContext) -> None:
        """Called after each epoch; ``context.evaluate()`` gives the current dev metric (None without a dev set)."""

    def summary(self) -> dict:
        """What to save with the model about how the teachers were used (JSON)."""
        return {}

    def state_tensors(self) -> dict[str, np.ndarray]:
        """Arrays to save with the model (a policy's weights)."""
        return {}


def _task(task):
    from ..tasks import get_task

    return get_task(task)


def gold_tensor(gold: np.ndarray, task):
    """Gold labels as the task's loss reads them: int64 ids (single-label) or float32 0/1 rows (multi-label)."""
    import torch

    dtype = np.int64 if np.asarray(gold).ndim == 1 else np.float32
    return torch.from_numpy(np.ascontiguousarray(gold, dtype=dtype))


def positive_weight(task, task_config, gold: np.ndarray):
    """The per-label positive weights the task config asks for (multi-label ``--pos-weight``), else None."""
    weights = getattr(task_config, "positive_weights", None)
    if weights is None:
        return None
    import torch

    values = weights(gold)
    return None if values is None else torch.from_numpy(values)


class GoldObjective(Objective):
    """The task's loss on the gold labels (rows without one contribute nothing): cross-entropy for single-label
    data, binary cross-entropy for multi-label data."""

    uses_teacher = False

    def __init__(self, gold: np.ndarray, task=None, task_config=None):
        self.task = _task(task)
        self.gold = gold_tensor(gold, self.task)
        self.pos_weight = positive_weight(self.task, task_config, gold)

    def loss(self, logits, idx, representation=None):
        if self.pos_weight is None:
            return self.task.gold_loss(logits, self.gold[idx])
        return self.task.gold_loss(logits, self.gold[idx], self.pos_weight.to(logits.device))

    def to(self, device):
        self.gold = self.gold.to(device)
        return self





class DistillObjective(Objective):
    """Distillation towards one fixed target per text, optionally mixed with alpha * CE(gold).

    ``target_kind="logits"``: the targets are logits (one teacher's, or a fixed mix of several): KL to their
    softmax at the temperature, or MSE. ``"probs"``: the targets are distributions (a mix of teachers'
    probabilities): KL to them; an MSE student regresses onto their centred log.
    """

    def __init__(self, targets: np.ndarray, gold: np.ndarray, *, loss: str = "kl", temperature: float = 1.0,
                 alpha: float = 0.0, target_kind: str = "logits", task=None):
        import torch

        if target_kind not in ("logits", "probs"):
            raise ValueError(f"target_kind must be logits or probs, not {target_kind!r}")
        self.task = _task(task)
        if target_kind == "probs" and loss == "mse":
            targets, target_kind = self.task.probabilities_as_logits(targets), "logits"
        self.targets = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
        self.gold = gold_tensor(gold, self.task)
        self.kind, self.temperature, self.alpha, self.target_kind = loss, temperature, alpha, target_kind

    def loss(self, logits, idx, representation=None):
        return self.task.distill_loss(logits, self.targets[idx], self.gold[idx], loss=self.kind,
                                      temperature=self.temperature, alpha=self.alpha, target_kind=self.target_kind)

    def to(self, device):
        self.targets, self.gold = self.targets.to(device), self.gold.to(device)
        return self
