"""Training-side BiLSTM student (Tang et al. 2019): packed sequences, last hidden state of each direction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..embeddings import GLOVE
from ..errors import check
from ..students.bilstm import BiLSTMStudent
from ..words import WordConfig
from .sequence import SequenceFamily, SequenceModule, check_common


@dataclass
class BiLSTMConfig:
    """Architecture of a BiLSTM student. ``embedding_dim`` None = the vectors' width (50 for GloVe)."""

    vectors: str | None = GLOVE
    embedding_dim: int | None = None
    lstm_dim: int = 150
    hidden_dim: int = 200
    dropout: float = 0.1
    embedding_lr: float = 1e-3
    words: WordConfig = field(default_factory=WordConfig)

    def __post_init__(self):
        check_common(self)
        check(self.lstm_dim >= 1, f"lstm_dim must be >= 1, got {self.lstm_dim}")
        if isinstance(self.words, dict):
            self.words = WordConfig(**self.words)

    def to_dict(self) -> dict:
        return asdict(self)


class BiLSTMModule(SequenceModule):
    def __init__(self, table, lstm_dim, hidden, num_classes, dropout, pair):
        super().__init__(table, 2 * lstm_dim, hidden, num_classes, dropout, pair)
        self.lstm = nn.LSTM(table.shape[1], lstm_dim, batch_first=True, bidirectional=True)

    def encode(self, ids, lengths):
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # (2, batch, H), back in input order
        return torch.cat([h[0], h[1]], dim=-1)


class BiLSTMFamily(SequenceFamily):
    name = "bilstm"
    student_class = BiLSTMStudent

    def __init__(self, config: BiLSTMConfig | None = None):
        super().__init__(config or BiLSTMConfig())

    def build_module(self, num_classes):
        c = self.config
        return BiLSTMModule(self.table, c.lstm_dim, c.hidden_dim, num_classes, c.dropout, self.pair)
