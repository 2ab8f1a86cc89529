"""Training-side CNN student (Kim 2014): filter widths 3-5, ReLU, max-over-time pooling, a ReLU head."""

from __future__ import annotations

import torch
from torch import nn

from ...students.cnn import CNNConfig, CNNStudent
from .sequence import SequenceFamily, SequenceModule


class CNNModule(SequenceModule):
    def __init__(self, table, widths, filters, hidden, num_classes, dropout, pair):
        super().__init__(table, filters * len(widths), hidden, num_classes, dropout, pair)
        self.widths = tuple(widths)
        self.convs = nn.ModuleList(nn.Conv1d(table.shape[1], filters, w) for w in widths)

    def encode(self, ids, lengths):
        x = self.embedding(ids).transpose(1, 2)  # (batch, E, T), T >= the widest filter
        feats = []
        for conv, w in zip(self.convs, self.widths):
            a = conv(x)
            starts = torch.arange(a.shape[-1], device=a.device)
            valid = starts[None, :] <= (lengths.to(a.device) - w).clamp(min=0)[:, None]  # windows inside the text
            a = a.masked_fill(~valid[:, None, :], float("-inf"))
            feats.append(torch.relu(a.max(dim=-1).values))
        return torch.cat(feats, dim=-1)


class CNNFamily(SequenceFamily):
    name = "cnn"
    student_class = CNNStudent

    def __init__(self, config: CNNConfig | None = None):
        super().__init__(config or CNNConfig())
        self.min_width = max(self.config.widths)

    def build_module(self, num_classes):
        c = self.config
        return CNNModule(self.table, c.widths, c.filters, c.hidden_dim, num_classes, c.dropout, self.pair)

    def student_kwargs(self):
        return {"widths": self.config.widths}
