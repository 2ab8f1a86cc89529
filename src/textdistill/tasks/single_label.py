"""Single-label classification: one class per text; softmax outputs, argmax decisions, accuracy."""

from __future__ import annotations

import numpy as np

from ..metrics import classification_metrics
from .base import Task, register


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.array(logits, dtype=np.float32, copy=True)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def centred_log(probs: np.ndarray) -> np.ndarray:
    """log p minus its mean over classes: a distribution as logits (for MSE students)."""
    log_p = np.log(np.clip(probs, 1e-8, None))
    return (log_p - log_p.mean(-1, keepdims=True)).astype(np.float32)


# -- losses (torch is imported when one is computed: a prediction-only install never does) --------------------------
def kl_to_teacher(student_logits, teacher_logits, temperature: float):
    """KL(teacher_T || student_T) * T^2 (Hinton et al.): the T^2 keeps gradient size independent of T."""
    import torch.nn.functional as F

    t = temperature
    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / t, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * (t * t)


def mse_to_teacher(student_logits, teacher_logits):
    """Squared error between logits (Tang et al. 2019), summed over classes, averaged over the batch."""
    return (student_logits - teacher_logits).pow(2).sum(dim=-1).mean()


def gold_cross_entropy(student_logits, gold):
    """Cross-entropy on the examples that have a gold label (gold >= 0); zero when none do."""
    import torch.nn.functional as F

    mask = gold >= 0
    if not bool(mask.any()):
        return student_logits.sum() * 0.0
    return F.cross_entropy(student_logits[mask], gold[mask])


def distillation_loss(student_logits, teacher_logits, gold, *, loss: str, temperature: float = 1.0,
                      alpha: float = 0.0):
    """The training objective of one batch: loss="ce" ignores the teacher (gold-label training); "kl"/"mse" mix the
    teacher term with alpha * CE."""
    if loss == "ce" or teacher_logits is None:
        return gold_cross_entropy(student_logits, gold)
    if loss == "kl":
        kd = kl_to_teacher(student_logits, teacher_logits, temperature)
    elif loss == "mse":
        kd = mse_to_teacher(student_logits, teacher_logits)
    else:
        raise ValueError(f"unknown loss {loss!r} (choose from kl, mse, ce)")
    if alpha <= 0:
        return kd
    return (1.0 - alpha) * kd + alpha * gold_cross_entropy(student_logits, gold)


def kl_rows(student_logits, target_probs, temperature: float):
    """KL(target || student_T) * T^2 per row, for a target given as a distribution (0 log 0 = 0)."""
    import torch
    import torch.nn.functional as F

    t = temperature
    log_q = F.log_softmax(student_logits / t, dim=-1)
    return (torch.xlogy(target_probs, target_probs) - target_probs * log_q).sum(dim=-1) * (t * t)


def kl_to_distribution(student_logits, target_probs, temperature: float):
    """Batch mean of ``kl_rows``: what KL to a mixture of teacher distributions costs."""
    return kl_rows(student_logits, target_probs, temperature).mean()


@register
class SingleLabel(Task):
    name = "single-label"
    description = "one class per text"
    select_metrics = ("accuracy", "macro_f1", "mcc")
    default_select_metric = "accuracy"
    headline = "accuracy"

    def label_names(self, labels):
        from ..data.readers import LabelMap

        return LabelMap.from_labels(labels).names

    def encode(self, names, labels, source="", log=None):
        from ..data.readers import LabelMap

        return LabelMap(names).encode(labels, source=source)

    def empty_gold(self, n, num_classes):
        return np.full(n, -1, dtype=np.int64)

    def labelled(self, gold):
        return np.asarray(gold) >= 0

    def counts(self, gold, num_classes):
        gold = np.asarray(gold)
        return np.bincount(gold[gold >= 0], minlength=num_classes)

    def probabilities(self, logits):
        return softmax(logits)

    def decide(self, logits, decision=None):
        return np.asarray(logits).argmax(axis=-1)

    def decode(self, names, predictions):
        ids = np.asarray(predictions).reshape(-1).tolist()
        if ids and (min(ids) < 0 or max(ids) >= len(names)):
            bad = next(i for i in ids if not 0 <= i < len(names))
            raise ValueError(f"label id {bad} out of range for {len(names)} classes")
        return [names[i] for i in ids]

    def metrics(self, gold, pred, names, teacher_pred=None, per_label=False):
        return classification_metrics(gold, pred, len(names), teacher_pred)

    def distill_loss(self, logits, targets, gold, *, loss, temperature, alpha, target_kind="logits"):
        if target_kind == "logits":
            return distillation_loss(logits, targets, gold, loss=loss, temperature=temperature, alpha=alpha)
        kd = kl_to_distribution(logits, targets, temperature)
        if alpha <= 0:
            return kd
        return (1.0 - alpha) * kd + alpha * gold_cross_entropy(logits, gold)

    def gold_loss(self, logits, gold):
        return gold_cross_entropy(logits, gold)

    def target_probabilities(self, logits, temperature=1.0):
        return softmax(np.asarray(logits) / temperature)

    def probabilities_as_logits(self, probs):
        return centred_log(probs)

    def rows_class(self, gold, probs):
        """The class each row counts under in per-class statistics: its gold label, else the most likely one."""
        return np.where(gold >= 0, gold, probs.argmax(-1))
