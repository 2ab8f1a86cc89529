"""The embedding teacher: a sentence encoder (all-MiniLM-L6-v2 offline; any sentence-transformers checkpoint) that
labels texts by similarity, for users with a few labelled examples or none.

- Zero-shot: each label has a description ("a positive movie review"; several are averaged); a text's logits are
  its cosine similarity to each description / ``temperature``.
- Few-shot: labelled examples per class fit a head on the embeddings: ``prototype`` (cosine to each class's mean
  example, over a temperature fitted to the examples by leave-one-out likelihood) or ``logistic`` (an L2-regularised
  softmax regression). ``auto`` takes the one measured better at that budget (``benchmarks/few_shot.py``): prototypes
  up to ``AUTO_LOGISTIC_FROM`` examples per class, the logistic head from there up. Descriptions given with examples
  count as one more example each.

The outputs are logits: a student learns the teacher's soft distribution, its uncertainty included. A spec file::

    {"kind": "embedding", "encoder": "path/to/all-MiniLM-L6-v2",
     "labels": {"pos": "a positive movie review", "neg": "a negative movie review"},
     "examples": "fewshot.tsv", "head": "auto"}

Embeddings of texts can be kept on disk (``embedding_cache``): heads and descriptions then change without encoding
the corpus again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError, ModelError
from .base import register_kind

HEADS = ("auto", "prototype", "logistic")
AUTO_LOGISTIC_FROM = 32  # examples per class from which the logistic head is the better one (measured)
DEFAULT_TEMPERATURE = 0.05


def _local_dir(source: str) -> Path | None:
    path = Path(source).expanduser()
    return path if path.is_dir() else None


def _pooling(folder: Path | None) -> str:
    """mean, cls or max, as the checkpoint's sentence-transformers pooling config says (mean when it says none)."""
    config = None if folder is None else folder / "1_Pooling" / "config.json"
    if config is None or not config.is_file():
        return "mean"
    data = json.loads(config.read_text(encoding="utf-8"))
    if data.get("pooling_mode_cls_token"):
        return "cls"
    if data.get("pooling_mode_max_tokens"):
        return "max"
    return "mean"


class Encoder:
    """A transformer and its pooling: texts -> L2-normalised float32 vectors (batched by length)."""

    def __init__(self, source: str, max_length: int = 128, batch_size: int = 64, device: str | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        from .huggingface import check_model_dir, fingerprint_dir, first_line, quiet_transformers

        folder = _local_dir(source)
        if folder is not None:
            check_model_dir(folder, "encoder directory")
        if device in (None, "auto"):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            with quiet_transformers():
                self.tokenizer = AutoTokenizer.from_pretrained(source)
                self.model = AutoModel.from_pretrained(source).to(device).eval()
        except Exception as exc:
            raise ModelError(f"encoder {source}: cannot be loaded ({first_line(exc)})") from None
        if not device.startswith("cuda"):
            self.model = self.model.float()
        self.source, self.device, self.pooling = source, device, _pooling(folder)
        self.max_length, self.batch_size = int(max_length), int(batch_size)
        self.dim = int(self.model.config.hidden_size)
        self.fingerprint = (fingerprint_dir(folder, self.max_length) if folder is not None else
                            hashlib.blake2b(f"{source}:{max_length}".encode(), digest_size=16).hexdigest())
        self.fingerprint = hashlib.blake2b(f"{self.fingerprint}:{self.pooling}".encode(), digest_size=16).hexdigest()

    def encode(self, texts: Sequence[str], progress: Any = False) -> np.ndarray:
        import torch

        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).float()
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                elif self.pooling == "max":
                    pooled = hidden.masked_fill(mask == 0, -1e9).max(1).values
                else:
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.cpu().numpy()
                if progress is not False and progress is not None and hasattr(progress, "update"):
                    progress.update(len(idx))
        return out


def _examples(examples, base_dir: Path | None, text_column=None, label_column=None) -> tuple[list[str], list[str]]:
    """(texts, labels) from a file, a list of {"text", "label"} / (text, label), or a TextDataset."""
    if examples is None:
        return [], []
    if isinstance(examples, (str, os.PathLike)):
        from ..data.readers import read_dataset

        path = Path(examples)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        ds = read_dataset(path, text=text_column, label=label_column, require_label=True)
        return list(ds.texts), [str(x) for x in ds.labels]
    if hasattr(examples, "texts") and hasattr(examples, "labels"):
        return list(examples.texts), [str(x) for x in examples.labels]
    texts, labels = [], []
    for i, item in enumerate(examples):
        if isinstance(item, dict):
            text, label = item.get("text"), item.get("label")
        else:
            text, label = item
        if not isinstance(text, str) or label is None:
            raise ConfigError(f"examples[{i}]: needs a text and a label")
        texts.append(text)
        labels.append(str(label))
    return texts, labels


def _descriptions(labels) -> dict[str, list[str]]:
    if labels is None:
        return {}
    if isinstance(labels, (list, tuple)):
        raise ConfigError("labels: map each label to its description (or a list of descriptions), e.g. "
                          "{\"pos\": \"a positive movie review\"}")
    out = {}
    for name, text in labels.items():
        items = [text] if isinstance(text, str) else list(text or [])
        if not items or not all(isinstance(t, str) and t.strip() for t in items):
            raise ConfigError(f"labels: {name!r} needs a description (a non-empty string or list of strings)")
        out[str(name)] = items
    return out


@register_kind
class EmbeddingTeacher:
    """Zero-shot (label descriptions) or few-shot (labelled examples) classification with a sentence encoder."""

    kind = "embedding"
    task = "single-label"

    def __init__(self, encoder: str, labels: dict | None = None, examples=None, *, head: str = "auto",
                 temperature: float | None = None, max_length: int = 128, batch_size: int = 64,
                 device: str | None = None, name: str | None = None, embedding_cache: str | os.PathLike | None = None,
                 source: str | None = None, base_dir: Path | None = None, text_column=None, label_column=None):
        if head not in HEADS:
            raise ConfigError(f"head must be one of {', '.join(HEADS)}, not {head!r}")
        if temperature is not None and not temperature > 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        descriptions = _descriptions(labels)
        ex_texts, ex_labels = _examples(examples, base_dir, text_column, label_column)
        if not descriptions and not ex_texts:
            raise ConfigError("an embedding teacher needs label descriptions (zero-shot) or labelled examples "
                              "(few-shot), or both")
        names = sorted(set(descriptions) | set(ex_labels), key=_label_order(set(descriptions) | set(ex_labels)))
        if len(names) < 2:
            raise ConfigError(f"an embedding teacher needs at least two labels, got {names}")
        missing = [n for n in names if n not in descriptions and n not in ex_labels]
        if missing:
            raise ConfigError(f"label {missing[0]!r} has neither a description nor an example")
        self.encoder = Encoder(str(encoder), max_length=max_length, batch_size=batch_size, device=device)
        self.label_names = names
        self.num_labels = len(names)
        self.source = source or str(encoder)
        self.name = name or (Path(source).stem if source else "embedding-teacher")
        self.embedding_cache = None if embedding_cache is None else Path(embedding_cache)
        self.descriptions, self.examples = descriptions, (ex_texts, ex_labels)
        per_class = min((ex_labels.count(n) for n in names), default=0) if ex_texts else 0
        self.head = head if head != "auto" else ("logistic" if per_class >= AUTO_LOGISTIC_FROM else "prototype")
        if self.head == "logistic" and per_class < 2:
            raise ConfigError("head logistic needs at least 2 labelled examples of every label")
        self._fit(temperature)
        self.fingerprint = self._fingerprint()
        folder = _local_dir(self.encoder.source)
        self.disk_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder else None

    @classmethod
    def from_spec(cls, spec: dict, base_dir: Path, source: str, max_length: int | None = None, device=None,
                  **_):
        spec = dict(spec)
        encoder = spec.pop("encoder", None)
        if not encoder:
            raise ConfigError(f"teacher spec {source}: an embedding teacher needs \"encoder\" (a sentence encoder "
                              f"directory or hub id)")
        local = Path(encoder).expanduser()
        if not local.is_absolute() and (base_dir / local).exists():
            encoder = str(base_dir / local)
        cache = spec.pop("embedding_cache", None)
        if cache is not None and not Path(cache).is_absolute():
            cache = base_dir / cache
        if max_length is not None:
            spec["max_length"] = max_length
        try:
            return cls(encoder, spec.pop("labels", None), spec.pop("examples", None), device=device, source=source,
                       base_dir=base_dir, embedding_cache=cache, **spec)
        except TypeError as exc:
            raise ConfigError(f"teacher spec {source}: {exc}".replace("__init__() ", "")) from None

    # -- the head -------------------------------------------------------------------------------------------------
    def _fit(self, temperature: float | None) -> None:
        names = self.label_names
        ex_texts, ex_labels = self.examples
        index = {n: i for i, n in enumerate(names)}
        vectors, classes = [], []
        if ex_texts:
            vectors.append(self.encoder.encode(ex_texts))
            classes += [index[x] for x in ex_labels]
        for name, items in self.descriptions.items():
            emb = self.encoder.encode(items).mean(0, keepdims=True)
            vectors.append(emb / max(float(np.linalg.norm(emb)), 1e-9))
            classes.append(index[name])
        x, y = np.concatenate(vectors), np.asarray(classes)
        if self.head == "logistic":
            self.weight, self.bias = _logistic(x, y, len(names))
            self.temperature = None
            return
        centroids = np.stack([x[y == c].mean(0) for c in range(len(names))])
        self.prototypes = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-9)
        if temperature is not None:
            self.temperature = float(temperature)
        elif ex_texts and len(ex_texts) >= 2 * len(names):
            self.temperature = _fit_temperature(x, y, len(names))
        else:
            self.temperature = DEFAULT_TEMPERATURE

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        if self.head == "logistic":
            return (embeddings @ self.weight.T + self.bias).astype(np.float32)
        return (embeddings @ self.prototypes.T / self.temperature).astype(np.float32)

    def _fingerprint(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        spec = {"kind": self.kind, "encoder": self.encoder.fingerprint, "labels": self.label_names,
                "descriptions": self.descriptions, "head": self.head, "temperature": self.temperature}
        h.update(json.dumps(spec, sort_keys=True).encode())
        for text, label in zip(*self.examples):
            h.update(f"{len(text)}:{text}\x00{label}\x01".encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    # -- the teacher protocol ---------------------------------------------------------------------------------------
    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, progress: Any = False
               ) -> np.ndarray:
        if pairs is not None:
            raise DataError("an embedding teacher classifies single texts, not text pairs")
        texts = list(texts)
        return self.scores(self.embeddings(texts, progress))

    def embeddings(self, texts: list[str], progress: Any = False) -> np.ndarray:
        """The encoder's vectors of ``texts``, read from the embedding cache where it has them."""
        if self.embedding_cache is None:
            return self.encoder.encode(texts, progress)
        from .cache import label_with_cache

        return label_with_cache(_EncoderAsTeacher(self.encoder), texts, cache_root=self.embedding_cache,
                                progress=bool(progress))

    def __repr__(self) -> str:
        return (f"EmbeddingTeacher({self.encoder.source!r}, labels={self.label_names}, head={self.head}, "
                f"fingerprint={self.fingerprint[:12]}...)")


class _EncoderAsTeacher:
    """An encoder seen by the output cache: its 'logits' are the embeddings (keyed by the encoder's fingerprint)."""

    def __init__(self, encoder: Encoder):
        self.encoder, self.num_labels = encoder, encoder.dim
        self.fingerprint = "embeddings-" + encoder.fingerprint
        self.name = "encoder"

    def logits(self, texts, pairs=None, *, progress=False):
        return self.encoder.encode(texts, progress)


def _label_order(names):
    from ..data.readers import LabelMap

    order = LabelMap.from_labels(list(names)).names
    return lambda n: order.index(n)


def _fit_temperature(x: np.ndarray, y: np.ndarray, num_classes: int) -> float:
    """The temperature under which leave-one-out prototypes give the examples the highest likelihood."""
    sums = np.stack([x[y == c].sum(0) for c in range(num_classes)])
    counts = np.bincount(y, minlength=num_classes).astype(np.float32)
    sims = np.empty((len(x), num_classes), dtype=np.float32)
    for c in range(num_classes):
        own = y == c
        protos = np.repeat(sums[c][None], len(x), 0)
        n = np.full(len(x), counts[c])
        protos[own] -= x[own]
        n[own] -= 1
        protos /= np.maximum(n, 1)[:, None]
        protos /= np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-9)
        sims[:, c] = (x * protos).sum(1)
    best, best_nll = DEFAULT_TEMPERATURE, np.inf
    for t in np.geomspace(0.005, 1.0, 60):
        z = sims / t
        z -= z.max(1, keepdims=True)
        nll = -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean()
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def _logistic(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float = 1e-2, steps: int = 200):
    """Softmax regression on the embeddings, L2-regularised, fitted with L-BFGS (torch)."""
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    w = torch.zeros(num_classes, x.shape[1], requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w.T + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy().astype(np.float32), b.detach().numpy().astype(np.float32)
