"""The training loop shared by every student family and every teacher strategy.

A family (``training/families/``) supplies encode/batch/build/optimizers/export; an objective
(``training/objectives.py``) supplies the loss of a batch. The loop runs stages (distillation on the transfer set,
then an optional fine-tune on gold labels: the paper's KD+FT), selects the best checkpoint on dev across all
stages, stops at the first non-finite loss, and on Ctrl-C keeps the best checkpoint so far.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import TextdistillError
from ..evaluation.metrics import classification_metrics
from .config import TrainConfig  # noqa: F401  (re-exported: the Python API's home of TrainConfig)
from .objectives import EpochContext, Objective, StepContext


class TrainingDiverged(TextdistillError):
    """The loss became NaN or infinite: nothing is saved."""


@dataclass
class TrainingSet:
    """Encoded texts and their gold label ids (-1 where unlabeled); ``rows`` restricts to some of them."""

    encoded: object
    gold: np.ndarray
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.gold) if self.rows is None else len(self.rows)


@dataclass
class Stage:
    """Epochs over some rows of the transfer set with one objective, at a scaled learning rate."""

    name: str
    objective: Objective
    rows: np.ndarray
    epochs: int
    lr_scale: float = 1.0


def predict_logits(family, module, encoded, n: int, batch_size: int = 1024) -> np.ndarray:
    module.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            out.append(module(*family.batch(encoded, idx)).float().numpy())
    module.train()
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


class Trainer:
    """Runs the stages and keeps the best module state by dev metric."""

    def __init__(self, family, config: TrainConfig, num_classes: int, progress: bool = True, log=print):
        self.family, self.config, self.num_classes = family, config, num_classes
        self.progress, self.log = progress, log
        self.history: list[dict] = []
        self.best_score = -np.inf
        self.best_state = None
        self.best_where = ""
        self.interrupted = False
        self.train_seconds = 0.0

    def evaluate(self, module, dev: TrainingSet | None) -> float | None:
        if dev is None or len(dev) == 0:
            return None
        logits = predict_logits(self.family, module, dev.encoded, len(dev))
        metrics = classification_metrics(dev.gold, logits.argmax(-1), self.num_classes)
        return metrics[self.config.select_metric]

    def _consider(self, module, score: float | None, where: str) -> None:
        self.history.append({"where": where, f"dev_{self.config.select_metric}": score})
        if score is None:
            self.best_state, self.best_where = None, where  # no dev set: the last state wins
            return
        if score > self.best_score:
            self.best_score, self.best_where = score, where
            if self.best_state is None:  # allocated once; later improvements copy in place (the table can be GBs)
                self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                for k, v in module.state_dict().items():
                    self.best_state[k].copy_(v)

    def _passes(self, module, encoded):
        """batches(rows, batch_size): the student over any rows, in eval mode and without gradient."""

        def batches(rows: np.ndarray, batch_size: int = 1024):
            try:
                for start in range(0, len(rows), batch_size):
                    idx = rows[start : start + batch_size]
                    module.eval()
                    with torch.no_grad():  # not around the yield: the caller may need gradients (a policy's)
                        logits, representation = module(*self.family.batch(encoded, idx), return_representation=True)
                    yield idx, logits, representation
            finally:
                module.train()

        return batches

    def _batches(self, encoded, rows: np.ndarray, rng):
        bucketed = getattr(self.family, "epoch_batches", None)  # sequence students batch similar lengths
        if bucketed is not None:
            return bucketed(encoded, rows, self.config.batch_size, rng)
        order = rows[rng.permutation(len(rows))]
        bs = self.config.batch_size
        return [order[start : start + bs] for start in range(0, len(order), bs)]

    def _run_stage(self, module, encoded, stage: Stage, dev, rng) -> None:
        c = self.config
        objective = stage.objective
        optimizers = self.family.optimizers(module, c.lr, stage.lr_scale)
        steps_per_epoch = (len(stage.rows) + c.batch_size - 1) // c.batch_size
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=stage.epochs * steps_per_epoch, desc=stage.name, unit="batch", dynamic_ncols=True)
        step, running = 0, None
        module.train()
        wants_repr = objective.needs_representation
        evaluate = lambda: self.evaluate(module, dev)  # noqa: E731
        passes = self._passes(module, encoded)
        try:
            for epoch in range(stage.epochs):
                objective.start_epoch(EpochContext(stage.name, epoch + 1, stage.rows, evaluate, passes))
                for idx in self._batches(encoded, stage.rows, rng):
                    inputs = self.family.batch(encoded, idx)
                    rng_state = torch.get_rng_state()  # this forward's dropout masks, for StepContext.forward()
                    if wants_repr:
                        logits, representation = module(*inputs, return_representation=True)
                    else:
                        logits, representation = module(*inputs), None
                    value = objective.loss(logits, idx, representation)
                    loss = value.item()
                    if not math.isfinite(loss):
                        raise TrainingDiverged(
                            f"training diverged at {stage.name} step {step + 1} (loss {loss}); lower --lr "
                            f"(now {c.lr * stage.lr_scale:g}) or the family's --embedding-lr; nothing was saved")
                    for opt in optimizers:
                        opt.zero_grad(set_to_none=True)
                    value.backward()
                    for opt in optimizers:
                        opt.step()
                    step += 1
                    objective.after_step(StepContext(module, inputs, idx, logits.detach(),
                                                     None if representation is None else representation.detach(),
                                                     stage.name, step, rng_state, evaluate))
                    running = loss if running is None else 0.98 * running + 0.02 * loss
                    if c.eval_every and step % c.eval_every == 0:
                        self._consider(module, self.evaluate(module, dev), f"{stage.name} step {step}")
                    if bar is not None:
                        bar.update(1)
                        if step % 20 == 0:
                            bar.set_postfix(loss=f"{running:.4f}", best=self._best_text())
                self._consider(module, self.evaluate(module, dev), f"{stage.name} epoch {epoch + 1}")
                objective.end_epoch(EpochContext(stage.name, epoch + 1, stage.rows, evaluate, passes))
                if bar is not None:
                    bar.set_postfix(loss=f"{running:.4f}", best=self._best_text())
        finally:
            if bar is not None:
                bar.close()

    def _best_text(self) -> str:
        return "-" if self.best_score == -np.inf else f"{self.best_score:.4f}"

    def fit(self, encoded, stages: list[Stage], dev: TrainingSet | None):
        """Train through ``stages`` and return the module holding the best dev state.

        Ctrl-C stops early and keeps the best state so far (``interrupted`` is set); a non-finite loss raises
        ``TrainingDiverged``.
        """
        c = self.config
        torch.manual_seed(c.seed)
        rng = np.random.default_rng(c.seed)
        module = self.family.build(self.num_classes)
        self.family.optimizers(module, c.lr)  # the first optimizer imports torch's compiler stack (~1 s): not training
        started = time.perf_counter()
        try:
            for stage in stages:
                if len(stage.rows) and stage.epochs > 0:
                    self._run_stage(module, encoded, stage, dev, rng)
        except KeyboardInterrupt:
            self.interrupted = True
            self.log("interrupted: keeping the best checkpoint so far")
        finally:
            self.train_seconds = time.perf_counter() - started
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
            self.best_state = None
        module.eval()
        return module
