"""Multi-label classification: any number of labels per text (none included); independent sigmoid outputs,
per-label thresholds tuned on dev, micro-F1.

Distillation: ``kl`` is the per-label binary KL to the teacher's probabilities at temperature T (the same gradient as
binary cross-entropy against them), ``mse`` squared error on logits; gold labels train with binary cross-entropy,
optionally with more weight on each label's positives (``pos_weight``, for rare labels).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from ..config import option
from ..errors import ConfigError, check
from ..metrics import multilabel_metrics
from .base import Task, register

_INT = re.compile(r"[+-]?\d+")
GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)  # candidate thresholds
MIN_POSITIVES = 5  # a label with fewer positives on dev keeps the global threshold (its own would be noise)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float32)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _sort_key(names):
    return (lambda x: (int(x), x)) if names and all(_INT.fullmatch(x) for x in names) else None


def _f1(tp, fp, fn):
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros(np.shape(denom), dtype=float), where=denom > 0)


THRESHOLDS = ("per-label", "global")


@dataclass
class MultiLabelConfig:
    """How a multi-label student learns rare labels and decides (options of ``distill`` on multi-label data)."""

    pos_weight: str | None = option(None, "multi-label: more weight on each label's positives in the gold loss: "
                                          "balanced (negatives / positives of the label, at most 10) or a number.")
    thresholds: str = option("per-label", "multi-label: decision thresholds tuned on dev: per-label (a label with "
                                          "fewer than 5 positives on dev keeps the global one) or global; 0.5 "
                                          "without --dev.")
    threshold_metric: str = option("micro_f1", "multi-label: what the thresholds maximise on dev: micro_f1 or "
                                               "macro_f1.")
    at_least_one: bool = option(False, "multi-label: answer the most likely label when none passes its threshold.")

    def __post_init__(self):
        check(self.thresholds in THRESHOLDS, f"thresholds must be per-label or global, not {self.thresholds!r}")
        check(self.threshold_metric in ("micro_f1", "macro_f1"),
              f"threshold_metric must be micro_f1 or macro_f1, not {self.threshold_metric!r}")
        if self.pos_weight is not None and str(self.pos_weight) != "balanced":
            try:
                value = float(self.pos_weight)
            except ValueError:
                raise ConfigError(f"pos_weight must be balanced or a number, not {self.pos_weight!r}") from None
            check(value > 0, f"pos_weight must be > 0, got {value:g}")

    def decision_options(self) -> dict:
        return {"per_label": self.thresholds == "per-label", "at_least_one": self.at_least_one,
                "metric": self.threshold_metric}

    def positive_weights(self, gold: np.ndarray) -> np.ndarray | None:
        if self.pos_weight is None:
            return None
        if str(self.pos_weight) == "balanced":
            return positive_weights(gold)
        return np.full(np.asarray(gold).shape[1], float(self.pos_weight), dtype=np.float32)

    def to_dict(self) -> dict:
        return asdict(self)


@register
class MultiLabel(Task):
    name = "multi-label"
    description = "any number of labels per text"
    config_class = MultiLabelConfig
    select_metrics = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy")
    default_select_metric = "micro_f1"
    headline = "micro_f1"

    def label_names(self, labels):
        names = {str(x) for row in labels for x in row}
        return sorted(names, key=_sort_key(list(names)))

    def encode(self, names, labels, source="", log=None):
        index = {n: j for j, n in enumerate(names)}
        gold = np.zeros((len(labels), len(names)), dtype=np.float32)
        unseen: dict[str, int] = {}
        for i, row in enumerate(labels):
            if not isinstance(row, (list, tuple)):
                row = (row,)
            for x in row:
                j = index.get(str(x))
                if j is None:
                    unseen[str(x)] = unseen.get(str(x), 0) + 1
                else:
                    gold[i, j] = 1.0
        if unseen and log is not None:
            shown = ", ".join(repr(k) for k in list(unseen)[:5]) + (" ..." if len(unseen) > 5 else "")
            log(f"warning: {source + ': ' if source else ''}{sum(unseen.values()):,} labels of {len(unseen)} kind(s) "
                f"never seen in training ({shown}) are ignored")
        return gold

    def empty_gold(self, n, num_classes):
        return np.full((n, num_classes), -1.0, dtype=np.float32)

    def labelled(self, gold):
        gold = np.asarray(gold)
        return gold[:, 0] >= 0 if gold.ndim == 2 and gold.shape[1] else np.zeros(len(gold), dtype=bool)

    def counts(self, gold, num_classes):
        gold = np.asarray(gold)
        return (gold[self.labelled(gold)] > 0.5).sum(0)

    def probabilities(self, logits):
        return sigmoid(logits)

    def decide(self, logits, decision=None):
        decision = decision or {}
        probs = sigmoid(logits)
        thresholds = decision.get("thresholds")
        t = 0.5 if thresholds is None else np.asarray(thresholds, dtype=np.float32)
        pred = probs >= t
        if decision.get("at_least_one") and len(pred):
            none = ~pred.any(1)
            pred[none, probs[none].argmax(1)] = True
        return pred

    def decode(self, names, predictions):
        return [[names[j] for j in np.flatnonzero(row)] for row in np.asarray(predictions)]

    def metrics(self, gold, pred, names, teacher_pred=None, per_label=False):
        return multilabel_metrics(gold, pred, names, teacher_pred, per_label)

    def fit_decision(self, logits, gold, per_label: bool = True, at_least_one: bool = False,
                     metric: str = "micro_f1") -> dict:
        """Thresholds from dev outputs: one global threshold that maximises micro-F1 (macro-F1 with
        ``metric="macro_f1"``), then, with ``per_label``, each label with at least MIN_POSITIVES positives on dev
        gets the threshold that maximises its own F1 (ties: the one nearest the global)."""
        if logits is None:  # no dev set: 0.5 for every label
            return {"thresholds": None, "at_least_one": bool(at_least_one)}
        probs = sigmoid(logits)
        gold = np.asarray(gold) > 0.5
        c = gold.shape[1]
        scores = []
        for t in GRID:
            pred = probs >= t
            tp, fp, fn = (gold & pred).sum(0), (~gold & pred).sum(0), (gold & ~pred).sum(0)
            if metric == "macro_f1":
                present = (gold.sum(0) + pred.sum(0)) > 0
                scores.append(float(_f1(tp, fp, fn)[present].mean()) if present.any() else 0.0)
            else:
                scores.append(float(_f1(tp.sum(), fp.sum(), fn.sum())))
        scores = np.asarray(scores)
        top = np.flatnonzero(scores >= scores.max() - 1e-12)
        best = float(GRID[top[np.argmin(np.abs(GRID[top] - 0.5))]])  # ties: the one nearest 0.5
        thresholds = np.full(c, best, dtype=np.float32)
        if per_label:
            for j in np.flatnonzero(gold.sum(0) >= MIN_POSITIVES):
                pred = probs[:, j][:, None] >= GRID[None, :]
                g = gold[:, j][:, None]
                f1 = _f1((g & pred).sum(0), (~g & pred).sum(0), (g & ~pred).sum(0))
                top = np.flatnonzero(f1 >= f1.max() - 1e-12)
                thresholds[j] = GRID[top[np.argmin(np.abs(GRID[top] - best))]]
        return {"thresholds": [round(float(t), 4) for t in thresholds], "global_threshold": best,
                "at_least_one": bool(at_least_one), "tuned_on": int(len(gold))}

    def target_probabilities(self, logits, temperature=1.0):
        return sigmoid(np.asarray(logits) / temperature)

    def probabilities_as_logits(self, probs):
        p = np.clip(np.asarray(probs, dtype=np.float32), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p)).astype(np.float32)

    def rows_class(self, gold, probs):
        """The label each row counts under in per-label statistics: its first gold label, else the most likely."""
        gold = np.asarray(gold)
        labelled = (gold[:, 0] >= 0) & (gold > 0.5).any(1)
        return np.where(labelled, gold.argmax(1), probs.argmax(-1))

    # -- losses ------------------------------------------------------------------------------------------------
    def distill_loss(self, logits, targets, gold, *, loss, temperature, alpha, target_kind="logits",
                     pos_weight=None):
        if loss == "ce" or targets is None:
            return self.gold_loss(logits, gold, pos_weight)
        if loss == "mse":
            kd = (logits - targets).pow(2).sum(-1).mean()
        else:
            kd = binary_kl(logits, targets, temperature, target_kind)
        if alpha <= 0:
            return kd
        return (1.0 - alpha) * kd + alpha * self.gold_loss(logits, gold, pos_weight)

    def gold_loss(self, logits, gold, pos_weight=None):
        """Binary cross-entropy on the rows that have gold labels, summed over labels, mean over rows."""
        import torch.nn.functional as F

        mask = gold[:, 0] >= 0
        if not bool(mask.any()):
            return logits.sum() * 0.0
        bce = F.binary_cross_entropy_with_logits(logits[mask], gold[mask], pos_weight=pos_weight, reduction="none")
        return bce.sum(-1).mean()


def binary_kl(logits, targets, temperature: float, target_kind: str = "logits"):
    """Per-label binary KL(teacher_T || student_T) * T^2, summed over labels, mean over the batch (its gradient is
    that of binary cross-entropy against the teacher's probabilities)."""
    import torch
    import torch.nn.functional as F

    t = temperature
    p = torch.sigmoid(targets / t) if target_kind == "logits" else targets
    bce = F.binary_cross_entropy_with_logits(logits / t, p, reduction="none")
    entropy = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))
    return (bce - entropy).sum(-1).mean() * (t * t)


def positive_weights(gold: np.ndarray, cap: float = 10.0) -> np.ndarray:
    """'balanced' positive weights: negatives / positives of each label on the labelled rows, in [1, cap]."""
    gold = np.asarray(gold)
    rows = gold[gold[:, 0] >= 0] > 0.5
    pos = rows.sum(0).astype(float)
    neg = len(rows) - pos
    return np.clip(np.divide(neg, pos, out=np.full(len(pos), cap), where=pos > 0), 1.0, cap).astype(np.float32)
