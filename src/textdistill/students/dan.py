"""Deep Averaging Network over n-grams (Sparse Distillation): numpy inference of a saved DAN.

logits = W2 · ReLU(W1 · mean(E[ngram rows]) + b1) + b2. For sentence pairs each side is pooled separately and
the head reads [h1, h2, h1*h2, |h1-h2|]. Pooling runs torch's EmbeddingBag kernel when torch is installed and a
scipy sparse product otherwise (``pooling.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..config import option
from ..data.readers import LabelMap
from ..errors import DataError, ModelError, check
from ..featurizers.ngrams import NgramConfig, NgramFeaturizer
from ..persistence import load_tensors, save_tensors
from .pooling import mean_pool, resolve_backend
from .base import Student, register


@dataclass
class DANConfig:
    """Architecture and featurizer of a DAN student."""

    embedding_dim: int = option(512, "dan: width of the n-gram embedding table.")
    hidden_dim: int = option(512, "Width of the ReLU layer (dan 512, bilstm/cnn 200).")
    dropout: float = option(0.1, "Dropout (dan/bilstm 0.1, cnn 0.5).")
    embedding_lr: float = option(1e-3, "Learning rate of the embedding table.")
    ngrams: NgramConfig = option(default_factory=NgramConfig)

    def __post_init__(self):
        check(self.embedding_dim >= 1 and self.hidden_dim >= 1, "embedding_dim and hidden_dim must be >= 1")
        check(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")
        check(self.embedding_lr > 0, "embedding_lr must be > 0")
        if isinstance(self.ngrams, dict):
            self.ngrams = NgramConfig(**self.ngrams)

    def to_dict(self) -> dict:
        return asdict(self)


def pair_features(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    return np.concatenate([h1, h2, h1 * h2, np.abs(h1 - h2)], axis=-1)


@register
class DANStudent(Student):
    """A trained DAN: featurizer + embedding table + two-layer head, runnable with numpy alone."""

    student_type = "dan"
    default_batch_size = 256
    config_class = DANConfig
    training_adapter = "textdistill.training.families.dan:DANFamily"
    default_loss = "kl"  # Sparse Distillation: KL to the teacher's distribution
    description = "Deep Averaging Network over word n-grams (Sparse Distillation): the fast one"

    def __init__(self, featurizer: NgramFeaturizer, weights: dict[str, np.ndarray], labels: LabelMap,
                 pair: bool = False, metadata: dict | None = None, pooling: str = "auto"):
        super().__init__(labels, metadata)
        self.pooling = pooling
        self.featurizer = featurizer
        self.pair = pair
        self.embedding = weights["embedding"]
        self.w1, self.b1 = weights["hidden.weight"], weights["hidden.bias"]
        self.w2, self.b2 = weights["output.weight"], weights["output.bias"]
        self._w1t = np.ascontiguousarray(self.w1.T)
        self._w2t = np.ascontiguousarray(self.w2.T)

    @property
    def pooling(self) -> str:
        """The pooling kernel in use: ``torch`` or ``scipy`` (set ``auto``, ``torch`` or ``scipy``)."""
        return self._pooling

    @pooling.setter
    def pooling(self, backend: str) -> None:
        self._pooling = resolve_backend(backend)

    @property
    def embedding_dim(self) -> int:
        return self.embedding.shape[1]

    def featurize(self, texts, pairs=None):
        if self.pair and pairs is None:
            raise DataError("this student classifies text pairs, but the input has no second text (text_pair)")
        if not self.pair and pairs is not None:
            raise DataError("this student classifies single texts, but the input has text pairs")
        first = self.featurizer.transform(texts)
        return (first, self.featurizer.transform(pairs)) if self.pair else (first,)

    def logits_from_features(self, features) -> np.ndarray:
        h = mean_pool(self.embedding, *features[0], backend=self._pooling, threads=self.blas_threads)
        if self.pair:
            h = pair_features(h, mean_pool(self.embedding, *features[1], backend=self._pooling,
                                           threads=self.blas_threads))
        z = h @ self._w1t
        z += self.b1
        np.maximum(z, 0, out=z)
        out = z @ self._w2t
        out += self.b2
        return out

    # -- persistence -----------------------------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "featurizer": self.featurizer.config.to_dict(),
            "vocab_size": self.featurizer.vocab_size,
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.w1.shape[0],
            "num_classes": self.w2.shape[0],
            "pair": self.pair,
        }

    def _save_weights(self, path: Path) -> None:
        save_tensors(path / "vocab.safetensors", {"ngram_hashes": self.featurizer.ranked_hashes()})
        save_tensors(path / "model.safetensors", {
            "embedding": self.embedding, "hidden.weight": self.w1, "hidden.bias": self.b1,
            "output.weight": self.w2, "output.bias": self.b2,
        })

    @classmethod
    def _load(cls, path: Path, config: dict, labels: LabelMap) -> "DANStudent":
        try:
            fconf = NgramConfig(**config["featurizer"])
            vocab_size, dim = int(config["vocab_size"]), int(config["embedding_dim"])
            hidden, classes = int(config["hidden_dim"]), int(config["num_classes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}/config.json: incomplete DAN config ({exc})") from None
        if classes != len(labels):
            raise ModelError(f"{path}: {classes} output classes but labels.json names {len(labels)}")
        vocab = load_tensors(path / "vocab.safetensors", {"ngram_hashes": (vocab_size,)})["ngram_hashes"]
        head_in = dim * (4 if config.get("pair") else 1)
        weights = load_tensors(path / "model.safetensors", {
            "embedding": (vocab_size + fconf.buckets, dim), "hidden.weight": (hidden, head_in),
            "hidden.bias": (hidden,), "output.weight": (classes, hidden), "output.bias": (classes,),
        })
        featurizer = NgramFeaturizer(fconf)
        featurizer.set_vocabulary(vocab)
        return cls(featurizer, weights, labels, pair=bool(config.get("pair")), metadata=config.get("metadata", {}))
