"""Deep Averaging Network over n-grams (Sparse Distillation): the numpy runtime of a saved DAN.

logits = W2 · ReLU(W1 · mean(E[ngram rows]) + b1) + b2. For a single-text student the first layer is folded into
the table at save time (E' = E · W1ᵀ, exact: both are linear and dropout is off at inference), so predicting is a
mean of rows of E', a ReLU and a tiny output layer. Tables are stored as float32, float16 or int8 with one scale
per row, and are memory-mapped at load: loading costs milliseconds and a process pays only for the rows it reads.

Prediction runs the compiled kernels (numba) when they are installed, else numpy; neither changes a process-wide
setting, and one loaded student can serve many threads at once. For sentence pairs each side is pooled separately
and the head reads [h1, h2, h1*h2, |h1-h2|] (no folding).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..config import option
from ..data.readers import LabelMap
from ..errors import ConfigError, DataError, ModelError, check
from ..featurizers.ngrams import FEATURIZER_VERSION, NgramConfig, NgramFeaturizer
from ..persistence import load_tensors, save_tensors
from .base import EMBEDDING_HELP, EMBEDDING_LR_HELP, Student, register
from .pooling import half_lut, kernel_table, mean_pool

DTYPES = ("float32", "float16", "int8")
PRUNE_BY = ("frequency", "norm")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)


def parse_size(text: str | int | None) -> int | None:
    """'50MB' -> 50,000,000 bytes ('MiB' = 2**20; a bare number is bytes)."""
    if text is None or isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ConfigError(f"size {text!r}: expected a number of bytes or e.g. 50MB, 1.5GB, 800KiB")
    value, unit = float(m.group(1)), (m.group(2) or "b").lower()
    scale = {"b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
             "kib": 2**10, "ki": 2**10, "mib": 2**20, "mi": 2**20, "gib": 2**30, "gi": 2**30}[unit]
    return int(value * scale)


@dataclass
class StorageConfig:
    """How a DAN's table is stored (at distill time, or later with ``textdistill compress``)."""

    dtype: str = option("int8", "dan: table storage: int8 (one scale per row; as accurate as float32 in every "
                                "benchmark here), float16 or float32.")
    max_rows: int | None = option(None, "dan: keep at most this many n-gram rows (drop the rest, see --prune-by).")
    max_size: str | None = option("teacher", "dan: keep as many rows as fit in this size on disk (50MB); teacher: no "
                                             "larger than the largest teacher on disk (no limit without one); none: "
                                             "every row.")
    prune_by: str = option("norm", "dan: rows to drop first: norm (the rows that move a prediction least) or "
                                   "frequency (the n-grams rarest in training).")
    fold: bool = option(True, "dan: fold the first layer into the table (single-text students; exact).")

    def __post_init__(self):
        check(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")
        check(self.prune_by in PRUNE_BY, f"prune_by must be frequency or norm, not {self.prune_by!r}")
        check(self.max_rows is None or self.max_rows >= 1, f"max_rows must be >= 1, got {self.max_rows}")
        if str(self.max_size).lower() in ("teacher", "none"):
            self.max_size = str(self.max_size).lower()
        else:
            parse_size(self.max_size)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DANConfig:
    """Architecture, featurizer and storage of a DAN student."""

    embedding_dim: int = option(256, EMBEDDING_HELP)
    hidden_dim: int = option(128, "Width of the ReLU layer.")
    dropout: float = option(0.1, "Dropout.")
    embedding_lr: float | None = option(None, EMBEDDING_LR_HELP)
    ngrams: NgramConfig = option(default_factory=NgramConfig)  # min_count 1: on small data n-grams seen once help
    storage: StorageConfig = option(default_factory=StorageConfig)

    def __post_init__(self):
        check(self.embedding_dim >= 1 and self.hidden_dim >= 1, "embedding_dim and hidden_dim must be >= 1")
        check(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")
        check(self.embedding_lr is None or self.embedding_lr > 0, "embedding_lr must be > 0")
        if isinstance(self.ngrams, dict):
            self.ngrams = NgramConfig(**self.ngrams)
        if isinstance(self.storage, dict):
            self.storage = StorageConfig(**self.storage)

    def to_dict(self) -> dict:
        return asdict(self)


def pair_features(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    return np.concatenate([h1, h2, h1 * h2, np.abs(h1 - h2)], axis=-1)


def quantize_int8(table: np.ndarray, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: q = round(row / scale), scale = max|row| / 127 (a zero row keeps scale 1)."""
    q = np.empty(table.shape, dtype=np.int8)
    scale = np.empty(table.shape[0], dtype=np.float32)
    for start in range(0, table.shape[0], chunk):
        block = np.asarray(table[start : start + chunk], dtype=np.float32)
        s = np.abs(block).max(axis=1) / 127.0
        s[s == 0] = 1.0
        q[start : start + chunk] = np.clip(np.rint(block / s[:, None]), -127, 127)
        scale[start : start + chunk] = s
    return q, scale


def dequantize(table: np.ndarray, scales: np.ndarray | None) -> np.ndarray:
    out = np.asarray(table, dtype=np.float32)
    return out * scales[:, None] if scales is not None else out


@register
class DANStudent(Student):
    """A trained DAN: featurizer + embedding table + head, runnable with numpy alone (numba makes it fast)."""

    student_type = "dan"
    default_batch_size = 256
    config_class = DANConfig
    training_adapter = "textdistill.training.families.dan:DANFamily"
    default_loss = "kl"  # Sparse Distillation: KL to the teacher's distribution
    description = "Deep Averaging Network over word n-grams (Sparse Distillation): the fast one"
    auto_candidates = {"dan-64": {"embedding_dim": 64, "hidden_dim": 64},
                       "dan-128": {"embedding_dim": 128, "hidden_dim": 128},
                       "dan-256": {"embedding_dim": 256, "hidden_dim": 128}}
    compressible = True
    report_colour = "tab:blue"

    @classmethod
    def size_for_teachers(cls, config: DANConfig, teacher_bytes: int | None, log=None) -> DANConfig:
        """The config with ``--max-size teacher`` (the default) made a size: the largest teacher's on disk, or no
        limit without a teacher of known size; ``none`` is no limit."""
        import dataclasses

        size = config.storage.max_size
        if size not in ("teacher", "none"):
            return config
        budget = teacher_bytes if size == "teacher" and teacher_bytes else None
        if budget and log is not None:
            log(f"the student is fitted to its teacher's size on disk ({budget / 1e6:,.1f} MB: --max-size teacher, "
                f"the default; --max-size none keeps every n-gram)")
        return dataclasses.replace(config, storage=dataclasses.replace(config.storage, max_size=budget))

    @classmethod
    def check_storage(cls, config: DANConfig, num_classes: int = 2) -> None:
        """A --max-size that cannot hold even one row (with the smallest head) fails before any work."""
        if config.storage.max_size in ("teacher", "none"):
            return
        size = parse_size(config.storage.max_size)
        if size is None:
            return
        width = config.hidden_dim if config.storage.fold else config.embedding_dim
        item = {"float32": 4, "float16": 2, "int8": 1}[config.storage.dtype]
        per_row = width * item + (4 if config.storage.dtype == "int8" else 0) + 8
        head = 4 * (config.hidden_dim * (num_classes + 1 + (0 if config.storage.fold else config.embedding_dim))
                    + num_classes)
        fixed = head + config.ngrams.buckets * (per_row - 8) + 16_384
        if size < fixed + per_row:
            raise ConfigError(f"--max-size {config.storage.max_size}: not even one n-gram row fits (the head and "
                              f"files alone take {fixed:,} bytes)")

    def __init__(self, featurizer: NgramFeaturizer, weights: dict[str, np.ndarray], labels: LabelMap,
                 pair: bool = False, metadata: dict | None = None, folded: bool = False):
        super().__init__(labels, metadata)
        self.featurizer = featurizer
        self.pair = pair
        self.folded = folded
        self.embedding = weights["embedding"]
        self.scales = weights.get("embedding.scale")
        if self.embedding.dtype not in (np.float32, np.float16, np.int8):
            raise ModelError(f"DAN table of dtype {self.embedding.dtype} (expected float32, float16 or int8)")
        if (self.embedding.dtype == np.int8) != (self.scales is not None):
            raise ModelError("an int8 DAN table needs its per-row scales (embedding.scale), and only it has them")
        self.w1 = None if folded else np.asarray(weights["hidden.weight"], dtype=np.float32)
        self.b1 = np.ascontiguousarray(weights["hidden.bias"], dtype=np.float32)
        self.w2 = np.ascontiguousarray(weights["output.weight"], dtype=np.float32)
        self.b2 = np.ascontiguousarray(weights["output.bias"], dtype=np.float32)
        self._w1t = None if folded else np.ascontiguousarray(self.w1.T)
        self._w2t = np.ascontiguousarray(self.w2.T)
        self._ktable = kernel_table(self.embedding)
        self._kscales = self.scales if self.scales is not None else np.ones(1, dtype=np.float32)
        self._pool_compiled: bool | None = None if featurizer.backend != "numpy" else False
        self._bound = None  # the compiled kernels with this model's constants (``_bind``)
        self._fused = None

    def set_backend(self, backend: str) -> "DANStudent":
        """``auto`` (compiled kernels when numba is installed) or ``numpy`` (the pure-numpy path, same ids)."""
        check(backend in ("auto", "numpy"), f"backend must be auto or numpy, not {backend!r}")
        self.featurizer = self.featurizer.with_backend(backend)
        self._pool_compiled = None if backend == "auto" else False
        self._bound = self._fused = None
        return self

    @property
    def embedding_dim(self) -> int:
        return self.embedding.shape[1]

    @property
    def hidden_dim(self) -> int:
        return self.b1.shape[0]

    @property
    def table_dtype(self) -> str:
        return str(self.embedding.dtype)

    @property
    def compiled(self) -> bool:
        """True when predictions run the compiled kernels."""
        return self.featurizer.compiled

    # -- prediction ------------------------------------------------------------------------------------------
    def _check_pairs(self, pairs) -> None:
        if self.pair and pairs is None:
            raise DataError("this student classifies text pairs, but the input has no second text (text_pair)")
        if not self.pair and pairs is not None:
            raise DataError("this student classifies single texts, but the input has text pairs")

    def featurize(self, texts, pairs=None):
        self._check_pairs(pairs)
        first = self.featurizer.transform(texts)
        return (first, self.featurizer.transform(pairs)) if self.pair else (first,)

    def _pool(self, rows, offsets) -> np.ndarray:
        return mean_pool(self.embedding, rows, offsets, self.scales, compiled=self._pool_compiled)

    def _head(self, h: np.ndarray) -> np.ndarray:
        if self.folded:
            if self.compiled:
                if self._bound is None:
                    self._bind()
                return self._bound[1](h)
            z = h + self.b1
        else:
            z = h @ self._w1t
            z += self.b1
        np.maximum(z, 0, out=z)
        out = z @ self._w2t
        out += self.b2
        return out

    def logits_from_features(self, features) -> np.ndarray:
        h = self._pool(*features[0])
        if self.pair:
            h = pair_features(h, self._pool(*features[1]))
        return self._head(h)

    def pooled(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """(mean row of each text, number of known n-grams of each text): one compiled pass over the bytes."""
        if self._bound is None:
            self._bind()
        pool, _ = self._bound
        return pool(*self.featurizer.tokenizer.encode(texts))

    def _bind(self) -> None:
        """The compiled pooling and head with the model's constants bound once (a call converts only the texts)."""
        from ..featurizers.ngrams import bind_kernel

        f = self.featurizer
        c, idx, k = f.config, f.index_, f.tokenizer.kernels
        constants = (f.tokenizer.classes, c.min_n, c.max_n, idx.table, idx.shift, c.buckets, f.vocab_size,
                     self._ktable, self._kscales, half_lut())
        pool = bind_kernel(k, "pool_texts", None, None, *constants)
        head = bind_kernel(k, "folded_head", None, self.b1, self.w2, self.b2) if self.folded else None
        # texts -> (logits, known counts) in one compiled call: pooling and the folded head fused
        fused = (bind_kernel(k, "predict_folded", None, None, *constants, self.b1, self.w2, self.b2)
                 if self.folded else None)
        self._encode = f.tokenizer.encode
        self._fused = fused
        self._bound = (pool, head)  # last: another thread that sees it sees the others

    def predict_logits(self, texts, pairs=None, batch_size: int | None = None) -> np.ndarray:
        """Raw scores (n_texts, n_classes); a list of at most a batch of single texts takes a short path (one
        compiled pass, no batching): what a request of one text costs."""
        if pairs is None and not self.pair and type(texts) is list and 0 < len(texts) <= (
                batch_size or self.default_batch_size) and self.compiled and all(type(t) is str for t in texts):
            if self._bound is None:
                self._bind()
            if self._fused is not None:
                return self._fused(*self._encode(texts))[0]
            h, _ = self.pooled(texts)
            return self._head(h)
        return super().predict_logits(texts, pairs, batch_size)

    def logits_batch(self, texts, pairs=None) -> np.ndarray:
        if self.compiled and not self.pair and pairs is None:
            if self._bound is None:
                self._bind()
            if self._fused is not None:
                return self._fused(*self._encode(texts))[0]
            return self._head(self.pooled(texts)[0])
        return self.logits_from_features(self.featurize(texts, pairs))

    def predict_with_known(self, texts, pairs=None, batch_size: int | None = None):
        """Logits and each text's known n-gram count from one pass over the texts (compiled, single texts)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not (self.compiled and not self.pair and pairs is None) or not texts:
            return super().predict_with_known(texts, pairs, batch_size)
        bs = batch_size or self.default_batch_size
        logits, known = [], []
        if self._bound is None:
            self._bind()
        for start in range(0, len(texts), bs):
            if self._fused is not None:
                out, counts = self._fused(*self._encode(texts[start:start + bs]))
            else:
                h, counts = self.pooled(texts[start:start + bs])
                out = self._head(h)
            logits.append(out)
            known.append(counts)
        return np.concatenate(logits), np.concatenate(known)

    def known_ngrams(self, texts, pairs=None) -> np.ndarray:
        """How many of each text's n-grams the vocabulary knows (0: the prediction is the model's prior)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        self._check_pairs(pairs)
        if self.compiled and not self.pair:
            return self.pooled(texts)[1] if texts else np.zeros(0, dtype=np.int64)
        counts = []
        for side in [texts] + ([list(pairs)] if pairs is not None else []):
            rows, offsets = self.featurizer.transform(side)
            counts.append(np.diff(np.append(offsets, len(rows))))
        return np.sum(counts, axis=0) if counts else np.zeros(0, dtype=np.int64)

    # -- export ----------------------------------------------------------------------------------------------
    def onnx_graph(self, g) -> str:
        """Inputs ``rows``/``offsets`` (and ``_pair``), the pooled rows, the head; returns the graph's doc."""
        table = np.asarray(self.embedding)
        t = g.const(table, "embedding")
        s = None if self.scales is None else g.const(np.asarray(self.scales, dtype=np.float32), "embedding.scale")
        sides = [("rows", "offsets")] + ([("rows_pair", "offsets_pair")] if self.pair else [])
        pooled = []
        for rows_name, offsets_name in sides:
            g.input(rows_name, g.INT64, ["n_rows" if rows_name == "rows" else "n_rows_pair"])
            g.input(offsets_name, g.INT64, ["batch"])
            pooled.append(onnx_pool(g, rows_name, offsets_name, t, s, str(table.dtype)))
        h = g.pair_features(*pooled) if self.pair else pooled[0]
        g.head(h, self.head_weights(), folded=self.folded)
        return ("textdistill DAN. Inputs: rows int64 [N] (table rows of every text's known n-grams, concatenated), "
                "offsets int64 [B] (start of each text in rows)" + (", rows_pair, offsets_pair (the second texts)"
                                                                    if self.pair else "")
                + ". Output: logits float32 [B, classes]. The rows come from the featurizer: see the "
                "featurizer specification (.featurizer.json).")

    def onnx_feeds(self, texts, pairs=None) -> dict[str, np.ndarray]:
        feeds = {}
        for (a, b), (rows, offsets) in zip([("rows", "offsets"), ("rows_pair", "offsets_pair")],
                                           self.featurize(texts, pairs)):
            feeds[a], feeds[b] = np.asarray(rows, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
        return feeds

    def featurizer_spec_body(self, texts) -> dict:
        from ..featurizers.spec import ngram_spec

        return ngram_spec(self.featurizer, texts, self.pair)

    # -- size ------------------------------------------------------------------------------------------------
    def head_weights(self) -> dict[str, np.ndarray]:
        head = {"hidden.bias": self.b1, "output.weight": self.w2, "output.bias": self.b2}
        if not self.folded:
            head["hidden.weight"] = self.w1
        return head

    def folded_copy(self) -> "DANStudent":
        """The same model with the first layer folded into the table (single-text students only)."""
        if self.folded or self.pair:
            return self
        table = dequantize(self.embedding, self.scales)
        folded = np.empty((table.shape[0], self.hidden_dim), dtype=np.float32)
        for start in range(0, table.shape[0], 1 << 16):
            np.matmul(table[start : start + (1 << 16)], self._w1t, out=folded[start : start + (1 << 16)])
        weights = {"embedding": folded, "hidden.bias": self.b1, "output.weight": self.w2, "output.bias": self.b2}
        return DANStudent(self.featurizer, weights, self.labels, self.pair, dict(self.metadata), folded=True)

    def compressed(self, dtype: str | None = None, max_rows: int | None = None, max_size=None,
                   prune_by: str = "norm", fold: bool = True) -> "DANStudent":
        """A smaller copy: folded (where exact), rows pruned to a budget, the table stored as float16 or int8.

        ``max_size`` (bytes or '50MB') sets the row budget from what one row costs on disk. Pruning by norm (the
        default) keeps the rows that move a prediction most (measured on SST-2: it loses far less than pruning by
        frequency, which keeps the n-grams seen most in training; rows are ranked so). Hash-bucket rows are kept.
        """
        dtype = dtype or self.table_dtype
        check(dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        check(max_rows is None or (isinstance(max_rows, int) and max_rows >= 1),
              f"max_rows must be an integer >= 1, got {max_rows}")
        check(prune_by in PRUNE_BY, f"prune_by must be frequency or norm, not {prune_by!r}")
        model = self.folded_copy() if fold else self
        table = model.embedding
        scales = model.scales
        vocab = self.featurizer.vocab_size
        budget = vocab if max_rows is None else min(vocab, int(max_rows))
        if max_size in ("teacher", "none"):
            check(max_size == "none", "max_size teacher needs a teacher: give a size (e.g. 50MB) to compress")
            max_size = None
        size = parse_size(max_size)
        if size is not None:
            per_row = table.shape[1] * np.dtype(dtype).itemsize + (4 if dtype == "int8" else 0) + 8
            fixed = sum(v.nbytes for v in model.head_weights().values()) + (table.shape[0] - vocab) * (per_row - 8)
            fit = (size - fixed - 16_384) // per_row  # ~16 KB for the JSON files and safetensors headers
            if fit < 1:
                raise ConfigError(f"max_size {max_size}: not even one row fits (the head alone is {fixed:,} bytes)")
            budget = min(budget, int(fit))
        keep = np.arange(vocab)
        if budget < vocab:
            if prune_by == "frequency":
                keep = keep[:budget]
            else:
                norms = np.empty(vocab, dtype=np.float32)
                for start in range(0, vocab, 1 << 16):
                    block = dequantize(table[start : start + (1 << 16)],
                                       None if scales is None else scales[start : start + (1 << 16)])
                    norms[start : start + len(block)] = np.linalg.norm(block, axis=1)
                keep = np.sort(np.argsort(-norms[:vocab], kind="stable")[:budget])
        rows = np.concatenate([keep, np.arange(vocab, table.shape[0])])  # bucket rows stay
        kept = dequantize(table[rows], None if scales is None else scales[rows])
        weights = dict(model.head_weights())
        if dtype == "int8":
            weights["embedding"], weights["embedding.scale"] = quantize_int8(kept)
        else:
            weights["embedding"] = kept.astype(dtype)
        featurizer = NgramFeaturizer(self.featurizer.config, backend=self.featurizer.backend)
        counts = self.featurizer.counts_
        featurizer.set_vocabulary(self.featurizer.ranked_hashes()[keep], None if counts is None else counts[keep])
        meta = dict(self.metadata)
        meta["storage"] = {"dtype": dtype, "rows": int(len(keep)), "rows_before": int(vocab), "prune_by": prune_by,
                           "folded": model.folded}
        return DANStudent(featurizer, weights, self.labels, self.pair, meta, folded=model.folded)

    def nbytes(self) -> int:
        """Bytes of the weights and the vocabulary (what the directory holds, less its JSON)."""
        return (self.embedding.nbytes + (0 if self.scales is None else self.scales.nbytes)
                + sum(v.nbytes for v in self.head_weights().values()) + 8 * self.featurizer.vocab_size)

    def describe(self) -> str:
        return (f"{self.featurizer.vocab_size:,} n-grams x {self.embedding_dim} {self.table_dtype}"
                f"{' (first layer folded in)' if self.folded else ''}, {self.nbytes() / 1e6:,.1f} MB")

    # -- persistence -----------------------------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "featurizer": self.featurizer.config.to_dict(),
            "vocab_size": self.featurizer.vocab_size,
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.hidden_dim,
            "num_classes": self.w2.shape[0],
            "pair": self.pair,
            "folded": self.folded,
            "table_dtype": self.table_dtype,
        }

    def _save_weights(self, path: Path) -> None:
        save_tensors(path / "vocab.safetensors", {"ngram_hashes": self.featurizer.ranked_hashes()})
        tensors = {"embedding": self.embedding, **self.head_weights()}
        if self.scales is not None:
            tensors["embedding.scale"] = self.scales
        save_tensors(path / "model.safetensors", tensors)

    @classmethod
    def _load(cls, path: Path, config: dict, labels: LabelMap, mmap: bool = True,
              backend: str = "auto") -> "DANStudent":
        try:
            fdict = dict(config["featurizer"])
            fdict.setdefault("version", 1)  # saved before featurizer versions existed
            if fdict["version"] > FEATURIZER_VERSION:
                raise ModelError(f"{path}: featurizer version {fdict['version']} is newer than this textdistill's "
                                 f"({FEATURIZER_VERSION}); upgrade textdistill")
            fconf = NgramConfig(**fdict)
            featurizer = NgramFeaturizer(fconf, backend=backend)
            vocab_size, dim = int(config["vocab_size"]), int(config["embedding_dim"])
            hidden, classes = int(config["hidden_dim"]), int(config["num_classes"])
            folded, pair = bool(config.get("folded", False)), bool(config.get("pair", False))
            dtype = str(config.get("table_dtype", "float32"))
        except ConfigError as exc:
            raise ModelError(f"{path}/config.json: bad featurizer settings ({exc})") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}/config.json: incomplete DAN config ({exc})") from None
        if classes != len(labels):
            raise ModelError(f"{path}: {classes} output classes but labels.json names {len(labels)}")
        if dtype not in DTYPES:
            raise ModelError(f"{path}/config.json: unknown table_dtype {dtype!r}")
        if folded and pair:
            raise ModelError(f"{path}/config.json: a pair DAN cannot be folded")
        vocab = load_tensors(path / "vocab.safetensors", {"ngram_hashes": (vocab_size,)}, mmap=mmap)["ngram_hashes"]
        if vocab.dtype != np.uint64:
            raise ModelError(f"{path}/vocab.safetensors: n-gram hashes are {vocab.dtype}, expected uint64")
        head_in = dim * (4 if pair else 1)
        expected = {"embedding": (vocab_size + fconf.buckets, dim), "hidden.bias": (hidden,),
                    "output.weight": (classes, hidden), "output.bias": (classes,)}
        if not folded:
            expected["hidden.weight"] = (hidden, head_in)
        if dtype == "int8":
            expected["embedding.scale"] = (vocab_size + fconf.buckets,)
        weights = load_tensors(path / "model.safetensors", expected, mmap=mmap)
        weights = {k: v.view(np.ndarray) for k, v in weights.items()}  # plain views of the maps
        if weights["embedding"].dtype != np.dtype(dtype):
            raise ModelError(f"{path}/model.safetensors: the table is {weights['embedding'].dtype}, config.json says "
                             f"{dtype}")
        for name in expected:
            if name != "embedding" and not np.isfinite(weights[name]).all():
                raise ModelError(f"{path}/model.safetensors: tensor {name!r} holds NaN or infinite values")
        try:
            featurizer.set_vocabulary(vocab)
        except ValueError:
            raise ModelError(f"{path}/vocab.safetensors: duplicate n-gram hashes (a corrupt vocabulary)") from None
        try:
            return cls(featurizer, weights, labels, pair=pair, metadata=config.get("metadata", {}), folded=folded)
        except ModelError as exc:
            raise ModelError(f"{path}: {exc}") from None


def onnx_pool(g, rows: str, offsets: str, table: str, scales: str | None, dtype: str) -> str:
    """Mean of each text's table rows: one Gather of all rows, a segment sum (ScatterND with add, segment ids from
    a cumulative sum of the text starts), then divide by the counts. Linear in the number of rows: no padding to the
    longest text (3.5x faster than a padded [texts, longest] layout on IMDB reviews)."""
    i64 = np.int64
    n = g.op("Shape", rows)  # [1]
    batch = g.op("Shape", offsets)  # [1]
    vectors = g.op("Gather", table, rows, axis=0)  # [N, D]
    if dtype != "float32":
        vectors = g.op("Cast", vectors, to=g.FLOAT)
    if scales is not None:
        vectors = g.op("Mul", vectors, g.op("Unsqueeze", g.op("Gather", scales, rows, axis=0),
                                            g.const([1], dtype=i64)))
    # segment id of each row: marks[offsets[b]] += 1, cumulative sum, minus one (empty texts are skipped over)
    zero = g.const(np.zeros(1, dtype=i64))
    marks = g.filled(g.op("Add", n, g.const([1], dtype=i64)), 0, i64)
    ones = g.filled(batch, 1, i64)
    marks = g.op("ScatterElements", marks, offsets, ones, axis=0, reduction="add")
    segment = g.op("Sub", g.op("CumSum", marks, g.const(0, dtype=i64)), g.const(1, dtype=i64))
    segment = g.op("Unsqueeze", g.op("Slice", segment, zero, n), g.const([1], dtype=i64))  # [N, 1]
    dim = g.op("Slice", g.op("Shape", table), g.const([1], dtype=i64), g.const([2], dtype=i64))
    sums = g.filled(g.op("Concat", batch, dim, axis=0), 0.0, np.float32)
    sums = g.op("ScatterND", sums, segment, vectors, reduction="add")  # [B, D]
    ends = g.op("Concat", g.op("Slice", offsets, g.const([1], dtype=i64), g.const([np.iinfo(i64).max], dtype=i64)),
                n, axis=0)
    counts = g.op("Max", g.op("Sub", ends, offsets), g.const(1, dtype=i64))
    divisor = g.op("Unsqueeze", g.op("Cast", counts, to=g.FLOAT), g.const([1], dtype=i64))
    return g.op("Div", sums, divisor)
