"""What the word-sequence families (BiLSTM, CNN) share on the training side: vocabulary, pretrained vectors,
ragged word ids, padded and length-bucketed batches, the optimizers and the export to a numpy student.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...data.readers import LabelMap
from ...featurizers.embeddings import initial_embeddings, vectors_dim
from ...featurizers.words import WordVocab, pad_batch
from ..batching import RaggedRows, bucketed_batches
from ..head import classify

RANDOM_DIM = 100  # embedding width when no pretrained vectors are used and none is given


class SequenceModule(nn.Module):
    """Embedding -> encoder (subclass) -> [pair features] -> dropout -> ReLU layer -> dropout -> logits."""

    def __init__(self, table: np.ndarray, features: int, hidden: int, num_classes: int, dropout: float, pair: bool):
        super().__init__()
        self.pair = pair
        self.embedding = nn.Embedding(table.shape[0], table.shape[1], padding_idx=0, sparse=True)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.from_numpy(table))
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(features * (4 if pair else 1), hidden)
        self.output = nn.Linear(hidden, num_classes)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, ids, lengths, ids2=None, lengths2=None, return_representation: bool = False):
        h2 = self.encode(ids2, lengths2) if self.pair else None
        return classify(self.encode(ids, lengths), h2, self.dropout, self.hidden, self.output, return_representation)


class SequenceFamily:
    """Trainer adapter shared by the sequence students; subclasses give ``build_module`` and ``student_class``."""

    name = ""
    min_width = 1

    def __init__(self, config):
        self.config = config
        self.vocab: WordVocab | None = None
        self.table: np.ndarray | None = None
        self.vectors_found = 0
        self.pair = False

    def fit(self, texts, pairs=None, progress: bool = True) -> None:
        self.pair = pairs is not None
        corpus = list(texts) + (list(pairs) if pairs is not None else [])
        self.vocab = WordVocab.build(corpus, self.config.words)
        dim = self.config.embedding_dim or vectors_dim(self.config.vectors) or RANDOM_DIM
        self.table, self.vectors_found = initial_embeddings(self.vocab.words, dim, self.config.vectors)

    def describe(self) -> str:
        return (f"{len(self.vocab):,} words, {self.vectors_found:,} with pretrained vectors "
                f"({self.config.vectors or 'random'})")

    def encode(self, texts, pairs=None, chunk: int = 20_000):
        def ragged(items):
            items = list(items)
            parts = [self.vocab.encode(items[i : i + chunk]) for i in range(0, len(items), chunk)]
            if not parts:
                return RaggedRows(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
            offs, base = [], 0
            for ids, o in parts:
                offs.append(o + base)
                base += len(ids)
            return RaggedRows(np.concatenate([p[0] for p in parts]), np.concatenate(offs))

        return ragged(texts), (ragged(pairs) if pairs is not None else None)

    def batch(self, encoded, idx: np.ndarray) -> tuple:
        out = []
        for side in encoded:
            if side is None:
                continue
            rows, offsets = side.take(idx)
            ids, lengths = pad_batch(rows.numpy(), offsets.numpy(), self.min_width)
            out += [torch.from_numpy(ids), torch.from_numpy(lengths)]
        return tuple(out)

    def epoch_batches(self, encoded, rows: np.ndarray, batch_size: int, rng) -> list:
        first, second = encoded
        lengths = first.lengths() if second is None else np.maximum(first.lengths(), second.lengths())
        return bucketed_batches(rows, lengths, batch_size, rng)

    def build_module(self, num_classes: int) -> SequenceModule:
        raise NotImplementedError

    def build(self, num_classes: int) -> SequenceModule:
        return self.build_module(num_classes)

    def optimizers(self, module: SequenceModule, lr: float, scale: float = 1.0) -> list:
        dense = [p for n, p in module.named_parameters() if not n.startswith("embedding.")]
        return [
            torch.optim.SparseAdam(list(module.embedding.parameters()), lr=self.config.embedding_lr * scale),
            torch.optim.Adam(dense, lr=lr * scale),
        ]

    def student_kwargs(self) -> dict:
        return {}

    def export(self, module: SequenceModule, labels: LabelMap, metadata: dict):
        weights = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}
        return self.student_class(self.vocab, weights, labels, pair=self.pair, metadata=metadata,
                                  **self.student_kwargs())
