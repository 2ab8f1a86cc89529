"""The Student users hold: predict / predict_proba on raw text, save_pretrained / from_pretrained.

A saved student is a directory that numpy can run; torch is only needed to train one. Each student family
registers itself by name so ``Student.from_pretrained`` can load any of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, ClassVar, Sequence

import numpy as np

from ..data.readers import LabelMap
from ..errors import DataError, ModelError
from ..persistence import FORMAT_NAME, FORMAT_VERSION, read_json, write_dir_atomically, write_json
from ..registry import Registry

# The one registry of student families: name -> runtime class. The runtime names its config dataclass (whose
# fields are the family's `distill` flags) and its training adapter (imported only to train: it needs torch).
FAMILIES = Registry("student family", entry_point_group="textdistill.students")


def register(cls):
    """Class decorator: register a student family under its ``student_type``."""
    return FAMILIES.register(cls, name=cls.student_type)


def resolve(ref):
    """A class given as itself or as ``"package.module:Name"`` (imported on first use)."""
    if not isinstance(ref, str):
        return ref
    import importlib

    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


class Student:
    """Base class: subclasses implement ``logits_batch``, ``_save_weights`` and ``_load``."""

    student_type: ClassVar[str] = ""
    default_batch_size: ClassVar[int] = 256
    # The family: its config dataclass (torch-free; fields map onto `distill` flags), its training adapter
    # ("module:Class" or the class; needs torch) and the loss its paper trains with.
    config_class: ClassVar[type | None] = None
    training_adapter: ClassVar[object] = None
    default_loss: ClassVar[str] = "kl"
    description: ClassVar[str] = ""

    @classmethod
    def adapter_class(cls):
        """The training adapter of this family (imports torch)."""
        if cls.training_adapter is None:
            raise ModelError(f"student family {cls.student_type!r} cannot be trained (no training adapter)")
        return resolve(cls.training_adapter)

    def __init__(self, labels: LabelMap, metadata: dict | None = None):
        self.labels = labels
        self.metadata = metadata or {}

    # -- prediction ------------------------------------------------------------------------------------------
    @property
    def classes_(self) -> list[str]:
        return list(self.labels.names)

    def featurize(self, texts: Sequence[str], pairs: Sequence[str] | None = None):
        """Raw text -> the model's input features (tokenisation and lookup: the part a benchmark can exclude)."""
        raise NotImplementedError

    def logits_from_features(self, features) -> np.ndarray:
        raise NotImplementedError

    def logits_batch(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        return self.logits_from_features(self.featurize(texts, pairs))

    def predict_logits(self, texts, pairs=None, batch_size: int | None = None) -> np.ndarray:
        """Raw scores (n_texts, n_classes), columns in the order of ``classes_``.

        Thread-safe: a call keeps its scratch state to itself and changes no process-wide setting (thread counts,
        BLAS limits), so one loaded student can serve many threads at once.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if isinstance(pairs, str):
            pairs = [pairs]
        if pairs is not None:
            pairs = list(pairs)
            if len(pairs) != len(texts):
                raise DataError(f"got {len(texts)} texts but {len(pairs)} pairs")
        for seq in (texts, pairs or ()):
            bad = next((i for i, t in enumerate(seq) if not isinstance(t, str)), None)
            if bad is not None:
                raise DataError(f"text #{bad} is {type(seq[bad]).__name__}, not a string")
        bs = batch_size or self.default_batch_size
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        out = [
            self.logits_batch(texts[i : i + bs], None if pairs is None else pairs[i : i + bs])
            for i in range(0, len(texts), bs)
        ]
        return np.concatenate(out, axis=0)

    def predict_proba(self, texts, pairs=None, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return softmax(self.predict_logits(texts, pairs, batch_size))

    def predict(self, texts, pairs=None, batch_size: int | None = None) -> list[str]:
        """The predicted label (as named in the training data) of each text."""
        ids = self.predict_logits(texts, pairs, batch_size).argmax(axis=-1)
        return self.labels.decode(ids)

    # -- persistence -----------------------------------------------------------------------------------------
    def config(self) -> dict:
        raise NotImplementedError

    def _save_weights(self, path: Path) -> None:
        raise NotImplementedError

    def save_pretrained(self, path: str | Path, overwrite: bool = True,
                        extra_files: Callable[[Path], None] | None = None) -> Path:
        """Save atomically: a crash half-way leaves any previous model at ``path`` intact.

        ``extra_files(tmp_dir)`` writes more files into the same directory before it is swapped in (e.g. how the
        student was taught: ``teachers.json``, ``policy.safetensors``); loading never needs them.
        """

        def write(tmp: Path) -> None:
            write_json(
                tmp / "config.json",
                {
                    "format": FORMAT_NAME,
                    "format_version": FORMAT_VERSION,
                    "student_type": self.student_type,
                    **self.config(),
                    "metadata": self.metadata,
                },
            )
            write_json(tmp / "labels.json", self.labels.to_dict())
            self._save_weights(tmp)
            if extra_files is not None:
                extra_files(tmp)

        return write_dir_atomically(path, write, overwrite=overwrite)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, mmap: bool = True) -> "Student":
        """Load any saved student; the directory is validated and a problem is reported in one line.

        Weights are memory-mapped (``mmap=False`` reads them into memory instead, e.g. when the directory is about
        to be replaced by a file system that does not keep unlinked files alive)."""
        path = Path(path)
        if not path.exists():
            raise ModelError(f"no such model directory: {path}")
        if not path.is_dir():
            raise ModelError(f"{path}: not a directory")
        config = read_json(path / "config.json")
        if config.get("format") != FORMAT_NAME:
            raise ModelError(f"{path}: config.json is not a textdistill student (format={config.get('format')!r})")
        if config.get("format_version", 0) > FORMAT_VERSION:
            raise ModelError(f"{path}: saved by a newer textdistill (format {config['format_version']}); upgrade")
        kind = config.get("student_type")
        if not isinstance(kind, str) or kind not in FAMILIES:
            raise ModelError(f"{path}: unknown student type {kind!r} (known: {', '.join(FAMILIES.names())})")
        target = FAMILIES.get(kind)
        if cls is not Student and not issubclass(target, cls):
            raise ModelError(f"{path}: is a {kind!r} student, not {cls.__name__}")
        try:
            labels = LabelMap.from_dict(read_json(path / "labels.json"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}/labels.json: corrupt label map ({exc})") from None
        import inspect

        if "mmap" in inspect.signature(target._load).parameters:
            return target._load(path, config, labels, mmap=mmap)
        return target._load(path, config, labels)  # a family that reads its files its own way

    @classmethod
    def _load(cls, path: Path, config: dict, labels: LabelMap, mmap: bool = True) -> "Student":
        raise NotImplementedError
