"""Training-side BiLSTM student (Tang et al. 2019): packed sequences, last hidden state of each direction."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ...students.bilstm import BiLSTMConfig, BiLSTMStudent
from .sequence import SequenceFamily, SequenceModule


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
