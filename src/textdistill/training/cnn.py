"""Training-side CNN student (Kim 2014): filter widths 3-5, ReLU, max-over-time pooling, a ReLU head."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..embeddings import GLOVE
from ..errors import check
from ..students.cnn import CNNStudent
from ..words import WordConfig
from .sequence import SequenceFamily, SequenceModule, check_common


@dataclass
class CNNConfig:
    """Architecture of a CNN student. ``embedding_dim`` None = the vectors' width (50 for GloVe)."""

    vectors: str | None = GLOVE
    embedding_dim: int | None = None
    widths: tuple[int, ...] = (3, 4, 5)
    filters: int = 100
    hidden_dim: int = 200
    dropout: float = 0.5
    embedding_lr: float = 1e-3
    words: WordConfig = field(default_factory=WordConfig)

    def __post_init__(self):
        check_common(self)
        self.widths = tuple(int(w) for w in self.widths)
        check(len(self.widths) >= 1 and min(self.widths) >= 1, f"filter widths must be >= 1, got {self.widths}")
        check(self.filters >= 1, f"filters must be >= 1, got {self.filters}")
        if isinstance(self.words, dict):
            self.words = WordConfig(**self.words)

    def to_dict(self) -> dict:
        return asdict(self)


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
