"""Distillation losses. The batch losses of each task type live with the task (``textdistill.tasks``); this module
re-exports the single-label ones and adds the per-row losses that strategies weigh or select per text."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tasks.single_label import (distillation_loss, gold_cross_entropy, kl_rows, kl_to_distribution,  # noqa: F401
                                  kl_to_teacher, mse_to_teacher)
from .config import LOSSES  # noqa: F401  (re-exported)


def mse_rows(student_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    return (student_logits - target_logits).pow(2).sum(dim=-1)


def ce_rows(student_logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per row; 0 where there is no gold label (gold < 0)."""
    safe = gold.clamp_min(0)
    ce = F.cross_entropy(student_logits, safe, reduction="none")
    return torch.where(gold >= 0, ce, torch.zeros_like(ce))
