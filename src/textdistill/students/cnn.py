"""CNN student (Kim 2014) in numpy: convolutions of several widths over word vectors, ReLU, max over time.

A window may start at any position from which it fits in the text; a text shorter than the widest filter is
zero-padded to that width (the torch module does exactly the same), so both agree to float precision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..config import option
from ..errors import check
from ..featurizers.embeddings import GLOVE
from ..featurizers.words import WordConfig
from .base import register
from .sequence import EMBEDDING_HELP, EMBEDDING_LR_HELP, VECTORS_HELP, SequenceStudent, check_common


@dataclass
class CNNConfig:
    """Architecture of a CNN student. ``embedding_dim`` None = the vectors' width (50 for GloVe)."""

    vectors: str | None = option(GLOVE, VECTORS_HELP)
    embedding_dim: int | None = option(None, EMBEDDING_HELP)
    widths: tuple[int, ...] = option((3, 4, 5), "cnn: filter widths, comma-separated.")
    filters: int = option(100, "cnn: filters per width.")
    hidden_dim: int = option(200, "Width of the ReLU layer.")
    dropout: float = option(0.5, "Dropout.")
    embedding_lr: float = option(1e-3, EMBEDDING_LR_HELP)
    words: WordConfig = option(default_factory=WordConfig)

    def __post_init__(self):
        check_common(self)
        self.widths = tuple(int(w) for w in self.widths)
        check(len(self.widths) >= 1 and min(self.widths) >= 1, f"filter widths must be >= 1, got {self.widths}")
        check(self.filters >= 1, f"filters must be >= 1, got {self.filters}")

    def to_dict(self) -> dict:
        return asdict(self)


@register
class CNNStudent(SequenceStudent):
    student_type = "cnn"
    auto_candidates = {"cnn": {}}
    report_colour = "tab:green"
    config_class = CNNConfig
    training_adapter = "textdistill.training.families.cnn:CNNFamily"
    description = "convolutions of widths 3-5 over word vectors with max-over-time pooling (Kim 2014)"

    def __init__(self, vocab, weights, labels, pair=False, metadata=None, widths=(3, 4, 5)):
        super().__init__(vocab, weights, labels, pair, metadata)
        self.widths = tuple(int(w) for w in widths)
        self.min_width = max(self.widths)
        # conv weight (F, E, w) -> per tap k an (E, F) matrix, all taps stacked as (E, w*F) for one matmul
        self._taps = []
        for j, w in enumerate(self.widths):
            kernel = weights[f"convs.{j}.weight"]
            self._taps.append(np.ascontiguousarray(np.concatenate([kernel[:, :, k].T for k in range(w)], axis=1)))
        # the compiled path: one projection for all widths, each width's taps side by side
        self._all_taps = np.ascontiguousarray(np.concatenate(self._taps, axis=1))
        self._widths_arr = np.array(self.widths, dtype=np.int64)
        filters = self._taps[0].shape[1] // self.widths[0]
        self._cols = np.concatenate([[0], np.cumsum(self._widths_arr * filters)[:-1]]).astype(np.int64)
        self._biases = np.stack([weights[f"convs.{j}.bias"] for j in range(len(self.widths))]).astype(np.float32)

    def encode_ragged(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        from .kernels import cnn_encode

        lengths = np.diff(np.append(offsets, len(ids)))
        proj = self.embedding[ids] @ self._all_taps  # one product over the batch's tokens (K = 50: BLAS wins here)
        return cnn_encode(proj, offsets, lengths, self._widths_arr, self._cols, self._biases)

    def encode(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        batch, width = ids.shape
        x = self.embedding[ids].reshape(batch * width, -1)
        feats = []
        for j, w in enumerate(self.widths):
            filters = self._taps[j].shape[1] // w
            proj = (x @ self._taps[j]).reshape(batch, width, w, filters)
            n = width - w + 1
            acc = proj[:, :n, 0, :].copy()
            for k in range(1, w):
                acc += proj[:, k : k + n, k, :]
            acc += self.weights[f"convs.{j}.bias"]
            valid = np.arange(n)[None, :] <= np.maximum(lengths - w, 0)[:, None]  # windows inside the text
            acc[~valid] = -np.inf
            pooled = acc.max(axis=1)
            np.maximum(pooled, 0, out=pooled)  # ReLU after max == max after ReLU
            feats.append(pooled)
        return np.concatenate(feats, axis=-1)

    def onnx_encoder(self, g, ids: str, lengths: str) -> str:
        return onnx_encoder(g, self, ids, lengths)

    def architecture(self) -> dict:
        return {"widths": list(self.widths), "filters": int(self.weights["convs.0.bias"].shape[0]),
                "hidden_dim": int(self.weights["hidden.bias"].shape[0])}

    @classmethod
    def init_options(cls, config):
        return {"widths": tuple(int(w) for w in config["widths"])}

    @classmethod
    def expected_shapes(cls, config, vocab_size, dim, classes):
        widths, filters, hidden = [int(w) for w in config["widths"]], int(config["filters"]), int(config["hidden_dim"])
        head_in = filters * len(widths) * (4 if config.get("pair") else 1)
        shapes = {"embedding.weight": (vocab_size, dim), "hidden.weight": (hidden, head_in), "hidden.bias": (hidden,),
                  "output.weight": (classes, hidden), "output.bias": (classes,)}
        for j, w in enumerate(widths):
            shapes.update({f"convs.{j}.weight": (filters, dim, w), f"convs.{j}.bias": (filters,)})
        return shapes


# -- the ONNX graph (serving.onnx.Graph builds it) --------------------------------------------------------------
def onnx_encoder(g, student, ids: str, lengths: str) -> str:
    i64 = np.int64
    w = student.weights
    emb = g.const(np.asarray(w["embedding.weight"], dtype=np.float32), "embedding.weight")
    x = g.op("Gather", emb, ids, axis=0)  # [B, T, E]
    width = g.scalar_dim(ids, 1)
    steps = g.op("Unsqueeze", g.op("Range", g.const(0, dtype=i64), width, g.const(1, dtype=i64)),
                 g.const([0], dtype=i64))  # [1, T]
    lengths_col = g.op("Unsqueeze", lengths, g.const([1], dtype=i64))  # [B, 1]
    inside = g.op("Cast", g.op("Less", steps, lengths_col), to=g.FLOAT)
    x = g.op("Mul", x, g.op("Unsqueeze", inside, g.const([2], dtype=i64)))  # taps past the end read zeros
    widest = max(student.widths)
    missing = g.op("Max", g.op("Sub", g.const(widest, dtype=i64), width), g.const(0, dtype=i64))
    pads = g.op("Concat", g.const([0, 0, 0, 0], dtype=i64), g.op("Unsqueeze", missing, g.const([0], dtype=i64)),
                g.const([0], dtype=i64), axis=0)
    x = g.op("Transpose", g.op("Pad", x, pads), perm=[0, 2, 1])  # [B, E, max(T, widest)]
    padded_width = g.scalar_dim(x, 2)
    features = []
    for j, k in enumerate(student.widths):
        conv = g.op("Conv", x, g.const(np.asarray(w[f"convs.{j}.weight"], dtype=np.float32), f"convs.{j}.weight"),
                    g.const(np.asarray(w[f"convs.{j}.bias"], dtype=np.float32), f"convs.{j}.bias"),
                    kernel_shape=[k])  # [B, F, W - k + 1]
        n_windows = g.op("Sub", padded_width, g.const(k - 1, dtype=i64))
        starts = g.op("Unsqueeze", g.op("Range", g.const(0, dtype=i64), n_windows, g.const(1, dtype=i64)),
                      g.const([0], dtype=i64))  # [1, windows]
        last = g.op("Max", g.op("Sub", lengths_col, g.const(k, dtype=i64)), g.const(0, dtype=i64))  # [B, 1]
        valid = g.op("Unsqueeze", g.op("LessOrEqual", starts, last), g.const([1], dtype=i64))  # [B, 1, windows]
        masked = g.op("Where", valid, conv, g.const(np.float32(-np.inf)))
        features.append(g.op("Relu", g.op("ReduceMax", masked, axes=[2], keepdims=0)))
    return g.op("Concat", *features, axis=1) if len(features) > 1 else features[0]
