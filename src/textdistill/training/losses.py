"""Distillation losses. The KD term is (1 - alpha) * KD + alpha * CE(gold), CE only where a gold label exists."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import LOSSES  # noqa: F401  (re-exported)


def kl_to_teacher(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher_T || student_T) * T^2 (Hinton et al.): the T^2 keeps gradient size independent of T."""
    t = temperature
    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / t, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * (t * t)


def mse_to_teacher(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Squared error between logits (Tang et al. 2019), summed over classes, averaged over the batch."""
    return (student_logits - teacher_logits).pow(2).sum(dim=-1).mean()


def gold_cross_entropy(student_logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the examples that have a gold label (gold >= 0); zero when none do."""
    mask = gold >= 0
    if not bool(mask.any()):
        return student_logits.sum() * 0.0
    return F.cross_entropy(student_logits[mask], gold[mask])


def distillation_loss(student_logits, teacher_logits, gold, *, loss: str, temperature: float = 1.0,
                      alpha: float = 0.0) -> torch.Tensor:
    """The training objective of one batch.

    loss="ce" ignores the teacher (gold-label training); "kl"/"mse" mix the teacher term with alpha * CE.
    """
    if loss == "ce" or teacher_logits is None:
        return gold_cross_entropy(student_logits, gold)
    if loss == "kl":
        kd = kl_to_teacher(student_logits, teacher_logits, temperature)
    elif loss == "mse":
        kd = mse_to_teacher(student_logits, teacher_logits)
    else:
        raise ValueError(f"unknown loss {loss!r} (choose from {', '.join(LOSSES)})")
    if alpha <= 0:
        return kd
    return (1.0 - alpha) * kd + alpha * gold_cross_entropy(student_logits, gold)


# -- per-row losses (reduction none), for objectives that weigh or select per text -------------------------------
def kl_rows(student_logits: torch.Tensor, target_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(target || student_T) * T^2 per row, for a target given as a distribution (0 log 0 = 0)."""
    t = temperature
    log_q = F.log_softmax(student_logits / t, dim=-1)
    return (torch.xlogy(target_probs, target_probs) - target_probs * log_q).sum(dim=-1) * (t * t)


def mse_rows(student_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    return (student_logits - target_logits).pow(2).sum(dim=-1)


def ce_rows(student_logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per row; 0 where there is no gold label (gold < 0)."""
    safe = gold.clamp_min(0)
    ce = F.cross_entropy(student_logits, safe, reduction="none")
    return torch.where(gold >= 0, ce, torch.zeros_like(ce))


def kl_to_distribution(student_logits, target_probs, temperature: float) -> torch.Tensor:
    """Batch mean of ``kl_rows``: what KL to a mixture of teacher distributions costs."""
    return kl_rows(student_logits, target_probs, temperature).mean()
