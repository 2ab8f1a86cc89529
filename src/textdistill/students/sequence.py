"""Shared runtime of the word-sequence students (BiLSTM, CNN): word ids in, numpy out.

Each side of a text pair is encoded by the same (siamese) encoder; the head reads h, or [h1, h2, h1*h2, |h1-h2|]
for pairs, through a ReLU layer to the logits. Subclasses say how word ids become h: over the ragged batch with the
compiled kernels (``kernels.py``, when numba is installed: no padding, no Python per step), or over a padded batch
with numpy (the fallback, and the reference the kernels are tested against).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.readers import LabelMap
from ..errors import DataError, ModelError, check
from ..persistence import load_tensors, save_tensors
from ..featurizers.words import MASK, WordConfig, WordVocab, pad_batch
from .base import EMBEDDING_HELP, EMBEDDING_LR_HELP, Student  # noqa: F401  (re-exported for the families)
from ..featurizers.ngrams import kernels
from .dan import pair_features


def check_common(config) -> None:
    """Checks every sequence-student config shares."""
    check(config.embedding_dim is None or config.embedding_dim >= 1, "embedding_dim must be >= 1")
    check(config.hidden_dim >= 1, f"hidden_dim must be >= 1, got {config.hidden_dim}")
    check(0 <= config.dropout < 1, f"dropout must be in [0, 1), got {config.dropout}")
    check(config.embedding_lr > 0, "embedding_lr must be > 0")
    if isinstance(config.words, dict):
        config.words = WordConfig(**config.words)


VECTORS_HELP = ("bilstm/cnn: word vectors: glove (GloVe 6B 50d, default), a GloVe/word2vec text file, or none "
                "(random).")


class SequenceStudent(Student):
    """Word vocabulary + embedding + encoder (subclass) + ReLU head; runs with numpy alone."""

    default_batch_size = 128
    default_loss = "mse"  # Tang et al.: MSE on logits, no gold CE (alpha = 0)
    min_width = 1  # shortest padded width the encoder accepts (a CNN needs its widest filter)

    def __init__(self, vocab: WordVocab, weights: dict[str, np.ndarray], labels: LabelMap, pair: bool = False,
                 metadata: dict | None = None):
        super().__init__(labels, metadata)
        self.vocab = vocab
        self.pair = pair
        self.weights = weights
        self.embedding = weights["embedding.weight"]
        self._hidden_t = np.ascontiguousarray(weights["hidden.weight"].T)
        self._output_t = np.ascontiguousarray(weights["output.weight"].T)

        self.backend = "auto"

    def set_backend(self, backend: str) -> "SequenceStudent":
        """``auto`` (compiled kernels when numba is installed) or ``numpy`` (padded batches, same numbers)."""
        check(backend in ("auto", "numpy"), f"backend must be auto or numpy, not {backend!r}")
        self.backend = backend
        return self

    @property
    def compiled(self) -> bool:
        return self.backend == "auto" and kernels() is not None

    def featurize(self, texts, pairs=None):
        """Ragged word ids and offsets of each side."""
        if self.pair and pairs is None:
            raise DataError("this student classifies text pairs, but the input has no second text (text_pair)")
        if not self.pair and pairs is not None:
            raise DataError("this student classifies single texts, but the input has text pairs")
        sides = [texts] if not self.pair else [texts, pairs]
        return tuple(self.vocab.encode(side) for side in sides)

    def known_words(self, texts, pairs=None) -> np.ndarray:
        """How many of each text's words are in the vocabulary (0: the prediction is the model's prior)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        total = np.zeros(len(texts), dtype=np.int64)
        for ids, offsets in self.featurize(texts, pairs):
            owner = np.repeat(np.arange(len(offsets)), np.diff(np.append(offsets, len(ids))))
            np.add.at(total, owner, (ids > MASK).astype(np.int64))
        return total

    def encode(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(batch, width) padded word ids -> (batch, features): the numpy path."""
        raise NotImplementedError

    def encode_ragged(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Ragged word ids -> (batch, features): the compiled path."""
        raise NotImplementedError

    def _encode_side(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        if self.compiled:
            return self.encode_ragged(ids, offsets)
        return self.encode(*pad_batch(ids, offsets, min_width=self.min_width))

    def logits_from_features(self, features) -> np.ndarray:
        h = self._encode_side(*features[0])
        if self.pair:
            h = pair_features(h, self._encode_side(*features[1]))
        z = h @ self._hidden_t
        z += self.weights["hidden.bias"]
        np.maximum(z, 0, out=z)
        out = z @ self._output_t
        out += self.weights["output.bias"]
        return out

    # -- export ----------------------------------------------------------------------------------------------
    def onnx_encoder(self, g, ids: str, lengths: str) -> str:
        """The encoder's part of the ONNX graph: padded ids and lengths -> (batch, features)."""
        raise NotImplementedError

    def onnx_graph(self, g) -> str:
        sides = [("ids", "lengths")] + ([("ids_pair", "lengths_pair")] if self.pair else [])
        encoded = []
        for ids, lengths in sides:
            suffix = "" if ids == "ids" else "_pair"
            g.input(ids, g.INT64, ["batch", f"width{suffix}"])
            g.input(lengths, g.INT64, ["batch"])
            encoded.append(self.onnx_encoder(g, ids, lengths))
        h = g.pair_features(*encoded) if self.pair else encoded[0]
        g.head(h, self.weights)
        return (f"textdistill {self.student_type}. Inputs: ids int64 [B, T] (word ids padded with 0), lengths int64 "
                f"[B]" + (", ids_pair, lengths_pair" if self.pair else "")
                + ". Output: logits float32 [B, classes]. Word ids: see the featurizer specification.")

    def onnx_feeds(self, texts, pairs=None) -> dict[str, np.ndarray]:
        feeds = {}
        for (a, b), (ids, offsets) in zip([("ids", "lengths"), ("ids_pair", "lengths_pair")],
                                          self.featurize(texts, pairs)):
            padded, lengths = pad_batch(ids, offsets)
            feeds[a], feeds[b] = padded, lengths.astype(np.int64)
        return feeds

    def featurizer_spec_body(self, texts) -> dict:
        from ..featurizers.spec import words_spec

        return words_spec(self.vocab, texts, self.pair)

    # -- persistence -----------------------------------------------------------------------------------------
    def architecture(self) -> dict:
        raise NotImplementedError

    def config(self) -> dict:
        return {"words": self.vocab.config.to_dict(), "vocab_size": len(self.vocab),
                "embedding_dim": int(self.embedding.shape[1]), "num_classes": int(self.weights["output.bias"].shape[0]),
                "pair": self.pair, **self.architecture()}

    def _save_weights(self, path: Path) -> None:
        (path / "vocab.json").write_text(json.dumps(self.vocab.words, ensure_ascii=False), encoding="utf-8")
        save_tensors(path / "model.safetensors", self.weights)

    @classmethod
    def expected_shapes(cls, config: dict, vocab_size: int, dim: int, classes: int) -> dict[str, tuple]:
        raise NotImplementedError

    @classmethod
    def _load(cls, path: Path, config: dict, labels: LabelMap, mmap: bool = True, backend: str = "auto"):
        try:
            wdict = dict(config["words"])
            wdict.setdefault("version", 1)  # saved before tokenizer versions existed
            wconf = WordConfig(**wdict)
            vocab_size, dim = int(config["vocab_size"]), int(config["embedding_dim"])
            classes = int(config["num_classes"])
            shapes = cls.expected_shapes(config, vocab_size, dim, classes)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}/config.json: incomplete {cls.student_type} config ({exc})") from None
        if classes != len(labels):
            raise ModelError(f"{path}: {classes} output classes but labels.json names {len(labels)}")
        vocab_file = path / "vocab.json"
        if not vocab_file.is_file():
            raise ModelError(f"{path}: vocab.json is missing")
        try:
            words = json.loads(vocab_file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"{vocab_file}: corrupt word list ({exc})") from None
        if not isinstance(words, list) or len(words) != vocab_size or not all(isinstance(w, str) for w in words):
            raise ModelError(f"{vocab_file}: expected a list of {vocab_size} words")
        weights = load_tensors(path / "model.safetensors", shapes, mmap=mmap)
        weights = {k: np.asarray(v) for k, v in weights.items()}
        student = cls(WordVocab(words, wconf), weights, labels, pair=bool(config.get("pair")),
                      metadata=config.get("metadata", {}), **cls.init_options(config))
        return student.set_backend(backend)

    @classmethod
    def init_options(cls, config: dict) -> dict:
        return {}
