"""The classifier head every student shares: h, or [h1, h2, h1*h2, |h1-h2|] for pairs, -> ReLU layer -> logits.

A function rather than a module, so each student keeps its ``hidden`` / ``output`` layers (and saved weight names).
With ``return_representation`` it also returns the head's input: the student's representation of the text (what a
teacher-selection policy reads).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def classify(h: torch.Tensor, h2: torch.Tensor | None, dropout: nn.Module, hidden: nn.Linear,
             output: nn.Linear, return_representation: bool = False):
    if h2 is not None:
        h = torch.cat([h, h2, h * h2, (h - h2).abs()], dim=-1)
    logits = output(dropout(torch.relu(hidden(dropout(h)))))
    return (logits, h) if return_representation else logits


def start_at_the_prior(bias: torch.Tensor, prior) -> bool:
    """A new multi-label output layer starts by answering each label's frequency: its bias is log(p / (1 - p)) (Lin
    et al. 2017, "Focal loss", section 4.1). From zero every sigmoid starts at 0.5, and the first hundreds of steps
    only learn that most labels are absent (with 90 rare labels the loss starts at ~62 per text instead of ~3); the
    positives are learned late. Returns whether the shapes matched (a bias of another size is left as it is)."""
    p = np.clip(np.asarray(prior, dtype=np.float64), 1e-4, 1 - 1e-4)
    if bias is None or tuple(bias.shape) != p.shape:
        return False
    with torch.no_grad():
        bias.copy_(torch.from_numpy(np.log(p / (1 - p))).to(bias.dtype))
    return True
