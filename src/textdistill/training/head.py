"""The classifier head every student shares: h, or [h1, h2, h1*h2, |h1-h2|] for pairs, -> ReLU layer -> logits.

A function rather than a module, so each student keeps its ``hidden`` / ``output`` layers (and saved weight names).
With ``return_representation`` it also returns the head's input: the student's representation of the text (what a
teacher-selection policy reads).
"""

from __future__ import annotations

import torch
from torch import nn


def classify(h: torch.Tensor, h2: torch.Tensor | None, dropout: nn.Module, hidden: nn.Linear,
             output: nn.Linear, return_representation: bool = False):
    if h2 is not None:
        h = torch.cat([h, h2, h * h2, (h - h2).abs()], dim=-1)
    logits = output(dropout(torch.relu(hidden(dropout(h)))))
    return (logits, h) if return_representation else logits
