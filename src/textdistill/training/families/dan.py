"""Training-side DAN: the torch module (sparse EmbeddingBag) and its adapter for the trainer."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...data.readers import LabelMap
from ...featurizers.ngrams import NgramFeaturizer
from ...students.dan import DANConfig, DANStudent
from ..batching import RaggedRows
from ..head import classify


class DANModule(nn.Module):
    """EmbeddingBag(mean) -> dropout -> Linear -> ReLU -> dropout -> Linear."""

    def __init__(self, num_rows: int, dim: int, hidden: int, num_classes: int, dropout: float, pair: bool = False):
        super().__init__()
        self.pair = pair
        self.embedding = nn.EmbeddingBag(max(num_rows, 1), dim, mode="mean", sparse=True)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(dim * (4 if pair else 1), hidden)
        self.output = nn.Linear(hidden, num_classes)

    def forward(self, rows, offsets, rows2=None, offsets2=None, return_representation: bool = False):
        h2 = self.embedding(rows2, offsets2) if self.pair else None
        return classify(self.embedding(rows, offsets), h2, self.dropout, self.hidden, self.output,
                        return_representation)


class DANFamily:
    """What the trainer needs to know about DAN students."""

    name = "dan"

    def __init__(self, config: DANConfig | None = None):
        self.config = config or DANConfig()
        self.featurizer = NgramFeaturizer(self.config.ngrams)
        self.pair = False
        self.auto: dict = {}  # the settings chosen by the data size (left unset by the user)

    def fit(self, texts, pairs=None, progress: bool = True) -> None:
        texts = list(texts)
        self.pair = pairs is not None
        self.scale_to_data(len(texts))
        corpus = texts + (list(pairs) if pairs is not None else [])
        self.featurizer.fit(corpus, progress=progress)

    def scale_to_data(self, n_texts: int) -> None:
        """Fill in the embedding learning rate when it was left to the data: on large data (LARGE_DATA_TEXTS up)
        Sparse Distillation's 1e-3; on less, each n-gram's row is updated in fewer batches and must move further per
        update: 1e-3 x data_scale (up to 0.03 for a few hundred texts)."""
        import dataclasses

        from ...training.config import data_scale

        if self.config.embedding_lr is None:
            lr = float(f"{1e-3 * data_scale(n_texts):.3g}")
            self.config = dataclasses.replace(self.config, embedding_lr=lr)
            if lr != 1e-3:
                self.auto["embedding_lr"] = lr

    def describe(self) -> str:
        """The vocabulary's size and why it is that size (for the log)."""
        c, f = self.config.ngrams, self.featurizer
        why = []
        if f.distinct_ngrams_ is not None:
            why.append(f"of {f.distinct_ngrams_:,} distinct n-grams (1..{c.max_n})")
        if c.min_count > 1:
            why.append(f"seen at least {c.min_count} times (--min-count)")
        if f.vocab_size >= c.max_features:
            why.append(f"capped at --vocab-size {c.max_features:,}")
        auto = ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in self.auto.items())
        return (f"{f.vocab_size:,} n-grams " + ", ".join(why) + f"; training table {f.num_rows:,} x "
                f"{self.config.embedding_dim} float32 = {f.num_rows * self.config.embedding_dim * 4 / 1e6:,.0f} MB"
                + (f"; for this data size: {auto}" if auto else ""))

    def encode(self, texts, pairs=None, chunk: int = 4096):
        def ragged(items):
            parts = [self.featurizer.transform(items[i : i + chunk]) for i in range(0, len(items), chunk)]
            rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
            offs, base = [], 0
            for r, o in parts:
                offs.append(o + base)
                base += len(r)
            return RaggedRows(rows, np.concatenate(offs) if offs else np.zeros(0, dtype=np.int64))

        texts = list(texts)
        return (ragged(texts), ragged(list(pairs)) if pairs is not None else None)

    def batch(self, encoded, idx: np.ndarray) -> tuple:
        first, second = encoded
        rows, offsets = first.take(idx)
        if second is None:
            return (rows, offsets)
        return (rows, offsets, *second.take(idx))

    def build(self, num_classes: int) -> DANModule:
        c = self.config
        return DANModule(self.featurizer.num_rows, c.embedding_dim, c.hidden_dim, num_classes, c.dropout, self.pair)

    def optimizers(self, module: DANModule, lr: float, scale: float = 1.0) -> list:
        """SparseAdam for the table (only the rows in a batch move), Adam for the head; both scaled by ``scale``."""
        dense = [p for n, p in module.named_parameters() if not n.startswith("embedding.")]
        return [
            torch.optim.SparseAdam(list(module.embedding.parameters()), lr=self.config.embedding_lr * scale),
            torch.optim.Adam(dense, lr=lr * scale),
        ]

    def export(self, module: DANModule, labels: LabelMap, metadata: dict, raw: bool = False) -> DANStudent:
        """The numpy student, stored as the config's ``storage`` says (folded, pruned, float16/int8) unless ``raw``."""
        # views of the trained tensors, no copy: a 1M x 1000 table is 4 GB
        weights = {k: v.detach().cpu().numpy().astype(np.float32, copy=False) for k, v in module.state_dict().items()}
        weights["embedding"] = weights.pop("embedding.weight")[: self.featurizer.num_rows]
        student = DANStudent(self.featurizer, weights, labels, pair=self.pair, metadata=metadata)
        if raw:
            return student
        s = self.config.storage
        size = None if s.max_size in ("teacher", "none") else s.max_size  # "teacher" unresolved: no teacher known
        return student.compressed(dtype=s.dtype, max_rows=s.max_rows, max_size=size, prune_by=s.prune_by,
                                  fold=s.fold)
