"""BiLSTM student (Tang et al. 2019) in numpy: the last hidden state of each direction, concatenated.

Gate order and biases follow torch.nn.LSTM (i, f, g, o), so a trained torch module's state dict loads as is.
Padded steps leave the state untouched, which is what packed sequences compute in torch.
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
class BiLSTMConfig:
    """Architecture of a BiLSTM student. ``embedding_dim`` None = the vectors' width (50 for GloVe)."""

    vectors: str | None = option(GLOVE, VECTORS_HELP)
    embedding_dim: int | None = option(None, EMBEDDING_HELP)
    lstm_dim: int = option(150, "bilstm: LSTM units per direction.")
    hidden_dim: int = option(200, "Width of the ReLU layer.")
    dropout: float = option(0.1, "Dropout.")
    embedding_lr: float = option(1e-3, EMBEDDING_LR_HELP)
    words: WordConfig = option(default_factory=WordConfig)

    def __post_init__(self):
        check_common(self)
        check(self.lstm_dim >= 1, f"lstm_dim must be >= 1, got {self.lstm_dim}")

    def to_dict(self) -> dict:
        return asdict(self)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@register
class BiLSTMStudent(SequenceStudent):
    student_type = "bilstm"
    auto_candidates = {"bilstm": {}}
    report_colour = "tab:orange"
    config_class = BiLSTMConfig
    training_adapter = "textdistill.training.families.bilstm:BiLSTMFamily"
    description = "one-layer BiLSTM over word vectors (Tang et al. 2019); siamese for pairs"

    def __init__(self, vocab, weights, labels, pair=False, metadata=None):
        super().__init__(vocab, weights, labels, pair, metadata)
        w = weights
        self.lstm_dim = w["lstm.weight_hh_l0"].shape[1]
        # both directions' input projections in one matmul: (E, 8H)
        self._w_ih = np.ascontiguousarray(np.concatenate([w["lstm.weight_ih_l0"], w["lstm.weight_ih_l0_reverse"]]).T)
        self._b = np.concatenate([w["lstm.bias_ih_l0"] + w["lstm.bias_hh_l0"],
                                  w["lstm.bias_ih_l0_reverse"] + w["lstm.bias_hh_l0_reverse"]]).astype(np.float32)
        self._w_hh = [np.ascontiguousarray(w["lstm.weight_hh_l0"].T), np.ascontiguousarray(w["lstm.weight_hh_l0_reverse"].T)]
        # the compiled path: [W_ih; W_hh] per direction, so [x_t, h_t-1] times it gives the gates
        H4 = 4 * self.lstm_dim
        self._wx_f = np.ascontiguousarray(np.concatenate([self._w_ih[:, :H4], self._w_hh[0]]), dtype=np.float32)
        self._wx_b = np.ascontiguousarray(np.concatenate([self._w_ih[:, H4:], self._w_hh[1]]), dtype=np.float32)
        self._bias_f, self._bias_b = np.ascontiguousarray(self._b[:H4]), np.ascontiguousarray(self._b[H4:])

    def encode_ragged(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        from .kernels import bilstm_encode

        lengths = np.diff(np.append(offsets, len(ids)))
        return bilstm_encode(ids, offsets, lengths, self.embedding, self._wx_f, self._bias_f, self._wx_b, self._bias_b)

    def encode(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        batch, width = ids.shape
        H = self.lstm_dim
        x = self.embedding[ids]  # (B, T, E)
        gates_in = x.reshape(batch * width, -1) @ self._w_ih
        gates_in += self._b
        gates_in = gates_in.reshape(batch, width, 8 * H)
        out = []
        for direction, steps in ((0, range(width)), (1, range(width - 1, -1, -1))):
            h = np.zeros((batch, H), dtype=np.float32)
            c = np.zeros((batch, H), dtype=np.float32)
            w_hh = self._w_hh[direction]
            cols = slice(direction * 4 * H, (direction + 1) * 4 * H)
            for t in steps:
                live = lengths > t
                if not live.any():
                    continue
                g = gates_in[:, t, cols] + h @ w_hh
                i, f = _sigmoid(g[:, :H]), _sigmoid(g[:, H : 2 * H])
                cand, o = np.tanh(g[:, 2 * H : 3 * H]), _sigmoid(g[:, 3 * H :])
                c_new = f * c + i * cand
                h_new = o * np.tanh(c_new)
                if live.all():
                    h, c = h_new, c_new
                else:
                    m = live[:, None]
                    h, c = np.where(m, h_new, h), np.where(m, c_new, c)
            out.append(h)
        return np.concatenate(out, axis=-1)

    def onnx_encoder(self, g, ids: str, lengths: str) -> str:
        return onnx_encoder(g, self, ids, lengths)

    def architecture(self) -> dict:
        return {"lstm_dim": int(self.lstm_dim), "hidden_dim": int(self.weights["hidden.bias"].shape[0])}

    @classmethod
    def expected_shapes(cls, config, vocab_size, dim, classes):
        H, hidden = int(config["lstm_dim"]), int(config["hidden_dim"])
        head_in = 2 * H * (4 if config.get("pair") else 1)
        shapes = {"embedding.weight": (vocab_size, dim), "hidden.weight": (hidden, head_in), "hidden.bias": (hidden,),
                  "output.weight": (classes, hidden), "output.bias": (classes,)}
        for suffix in ("", "_reverse"):
            shapes.update({f"lstm.weight_ih_l0{suffix}": (4 * H, dim), f"lstm.weight_hh_l0{suffix}": (4 * H, H),
                           f"lstm.bias_ih_l0{suffix}": (4 * H,), f"lstm.bias_hh_l0{suffix}": (4 * H,)})
        return shapes


# -- the ONNX graph (serving.onnx.Graph builds it) --------------------------------------------------------------
def _lstm_gates(w: np.ndarray) -> np.ndarray:
    """torch's gate blocks (i, f, g, o) in ONNX's order (i, o, f, c) along the first axis."""
    i, f, c, o = np.split(np.asarray(w, dtype=np.float32), 4, axis=0)
    return np.concatenate([i, o, f, c], axis=0)


def onnx_encoder(g, student, ids: str, lengths: str) -> str:
    i64 = np.int64
    w = student.weights
    emb = g.const(np.asarray(w["embedding.weight"], dtype=np.float32), "embedding.weight")
    W = g.const(np.stack([_lstm_gates(w["lstm.weight_ih_l0"]), _lstm_gates(w["lstm.weight_ih_l0_reverse"])]), "lstm.W")
    R = g.const(np.stack([_lstm_gates(w["lstm.weight_hh_l0"]), _lstm_gates(w["lstm.weight_hh_l0_reverse"])]), "lstm.R")
    B = g.const(np.stack([np.concatenate([_lstm_gates(w["lstm.bias_ih_l0"]), _lstm_gates(w["lstm.bias_hh_l0"])]),
                          np.concatenate([_lstm_gates(w["lstm.bias_ih_l0_reverse"]),
                                          _lstm_gates(w["lstm.bias_hh_l0_reverse"])])]), "lstm.B")
    x = g.op("Transpose", g.op("Gather", emb, ids, axis=0), perm=[1, 0, 2])  # [T, B, E]
    seq = g.op("Cast", lengths, to=g.INT32)
    _, y_h, _ = g.ops("LSTM", [x, W, R, B, seq], 3, direction="bidirectional", hidden_size=student.lstm_dim)
    h = g.op("Transpose", y_h, perm=[1, 0, 2])  # [B, 2, H]: forward, backward
    return g.op("Reshape", h, g.const([0, 2 * student.lstm_dim], dtype=i64))
