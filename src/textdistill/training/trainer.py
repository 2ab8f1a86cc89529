"""The training loop shared by every student family: stages of epochs, dev-set model selection, progress.

A family (see ``training/dan.py``) supplies fit/encode/batch/build/optimizers/export; the loop does not change
when a new student is added. Stages: knowledge distillation on the transfer set (teacher logits), then an
optional fine-tune on the gold labels (the paper's KD+FT). The best dev checkpoint across all stages is kept.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..evaluation import classification_metrics
from ..errors import check
from .losses import LOSSES, distillation_loss


@dataclass
class TrainConfig:
    """Optimisation settings; every CLI flag of ``distill`` maps onto one field."""

    epochs: int = 3
    finetune_epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-3
    loss: str = "kl"
    temperature: float = 1.0
    alpha: float = 0.0
    finetune_lr_scale: float = 0.1  # gold fine-tuning at full rate undoes what distillation taught
    eval_every: int = 0
    select_metric: str = "accuracy"
    seed: int = 0

    def __post_init__(self):
        check(self.epochs >= 1 and self.finetune_epochs >= 0, "epochs must be >= 1 and finetune_epochs >= 0")
        check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        check(self.lr > 0 and self.finetune_lr_scale > 0, "learning rates must be > 0")
        check(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        check(0 <= self.alpha <= 1, f"alpha must be in [0, 1], got {self.alpha}")
        check(self.eval_every >= 0, "eval_every must be >= 0")
        check(self.select_metric in ("accuracy", "macro_f1", "mcc"),
              f"select_metric must be accuracy, macro_f1 or mcc, not {self.select_metric!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainingSet:
    """Encoded texts with teacher logits (or None) and gold label ids (-1 where unlabeled).

    ``rows`` restricts training to some examples (e.g. the gold-labeled ones for fine-tuning) without encoding
    them again.
    """

    encoded: object
    teacher_logits: np.ndarray | None
    gold: np.ndarray
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.gold) if self.rows is None else len(self.rows)


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

    def _evaluate(self, module, dev: TrainingSet | None) -> float | None:
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

    def _run_stage(self, module, name: str, data: TrainingSet, epochs: int, loss: str, lr_scale: float, dev, rng):
        c = self.config
        optimizers = self.family.optimizers(module, c.lr, lr_scale)
        teacher = None if data.teacher_logits is None else torch.from_numpy(data.teacher_logits.astype(np.float32))
        gold = torch.from_numpy(data.gold.astype(np.int64))
        n = len(data)
        rows = np.arange(n) if data.rows is None else data.rows
        steps_per_epoch = (n + c.batch_size - 1) // c.batch_size
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs * steps_per_epoch, desc=name, unit="batch", dynamic_ncols=True)
        step, running = 0, None
        module.train()
        bucketed = getattr(self.family, "epoch_batches", None)  # sequence students batch similar lengths
        for epoch in range(epochs):
            if bucketed is not None:
                batches = bucketed(data.encoded, rows, c.batch_size, rng)
            else:
                order = rows[rng.permutation(n)]
                batches = (order[start : start + c.batch_size] for start in range(0, n, c.batch_size))
            for idx in batches:
                logits = module(*self.family.batch(data.encoded, idx))
                t = None if teacher is None else teacher[idx]
                value = distillation_loss(logits, t, gold[idx], loss=loss, temperature=c.temperature, alpha=c.alpha)
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                value.backward()
                for opt in optimizers:
                    opt.step()
                step += 1
                running = value.item() if running is None else 0.98 * running + 0.02 * value.item()
                if c.eval_every and step % c.eval_every == 0:
                    self._consider(module, self._evaluate(module, dev), f"{name} step {step}")
                if bar is not None:
                    bar.update(1)
                    if step % 20 == 0:
                        bar.set_postfix(loss=f"{running:.4f}", best=self._best_text())
            self._consider(module, self._evaluate(module, dev), f"{name} epoch {epoch + 1}")
            if bar is not None:
                bar.set_postfix(loss=f"{running:.4f}", best=self._best_text())
        if bar is not None:
            bar.close()

    def _best_text(self) -> str:
        return "-" if self.best_score == -np.inf else f"{self.best_score:.4f}"

    def fit(self, transfer: TrainingSet, gold_set: TrainingSet | None, dev: TrainingSet | None):
        """Train and return the module holding the best dev state. Ctrl-C stops early and keeps the best so far."""
        c = self.config
        torch.manual_seed(c.seed)
        rng = np.random.default_rng(c.seed)
        module = self.family.build(self.num_classes)
        started = time.perf_counter()
        try:
            if c.loss == "ce" or transfer.teacher_logits is None:
                self._run_stage(module, "train (gold)", transfer, c.epochs, "ce", 1.0, dev, rng)
            else:
                self._run_stage(module, "distill", transfer, c.epochs, c.loss, 1.0, dev, rng)
                if c.finetune_epochs > 0 and gold_set is not None and len(gold_set):
                    self._run_stage(module, "fine-tune (gold)", gold_set, c.finetune_epochs, "ce",
                                    c.finetune_lr_scale, dev, rng)
        except KeyboardInterrupt:
            self.interrupted = True
            self.log("interrupted: keeping the best checkpoint so far")
        self.train_seconds = time.perf_counter() - started
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
            self.best_state = None
        module.eval()
        return module
