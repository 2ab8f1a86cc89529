"""The Student users hold: predict / predict_proba on raw text, save_pretrained / from_pretrained.

A saved student is a directory that numpy can run; torch is only needed to train one. Each student family
registers itself by name so ``Student.from_pretrained`` can load any of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, ClassVar, Sequence

import numpy as np

from ..data.readers import LabelMap
from ..errors import ConfigError, DataError, ModelError
from ..persistence import FORMAT_NAME, FORMAT_VERSION, read_json, write_dir_atomically, write_json
from ..registry import Registry
from ..tasks import get_task

# Help texts of the options families share (one text per option: --help shows each family's default after it).
EMBEDDING_HELP = "Embedding width (bilstm/cnn: the vectors' when not given)."
EMBEDDING_LR_HELP = ("Learning rate of the embedding table (dan: 1e-3 from ~20k transfer texts up, raised up to 0.03 "
                     "on fewer when not given).")

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


def check_threshold(threshold) -> float | None:
    """A decision threshold given at prediction time: a number in [0, 1], or None."""
    if threshold is None:
        return None
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ConfigError(f"threshold must be a number in [0, 1], not {threshold!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {value:g}")
    return value


class Student:
    """Base class: subclasses implement ``logits_batch``, ``_save_weights`` and ``_load``.

    The family interface: a runtime class registered here (``@register``) names its config dataclass (whose fields
    are its ``distill`` options), its training adapter (torch), and how it takes part in the rest of the toolkit:
    ``onnx_graph``/``onnx_feeds`` (export), ``featurizer_spec_body`` (the featurizer specification),
    ``auto_candidates`` (what ``auto`` tries), ``compressible``/``compressed`` (``compress``) and ``report_colour``.
    A family that does not implement one of them gets a one-line error from the command that needs it.
    """

    student_type: ClassVar[str] = ""
    default_batch_size: ClassVar[int] = 256
    # The family: its config dataclass (torch-free; fields map onto `distill` flags), its training adapter
    # ("module:Class" or the class; needs torch) and the loss its paper trains with.
    config_class: ClassVar[type | None] = None
    training_adapter: ClassVar[object] = None
    default_loss: ClassVar[str] = "kl"
    description: ClassVar[str] = ""
    auto_candidates: ClassVar[dict] = {}  # name -> config options of the candidates ``auto`` tries by default
    compressible: ClassVar[bool] = False  # ``compress`` applies (the family implements ``compressed``)
    report_colour: ClassVar[str] = "tab:gray"  # its points in report plots
    pair: bool = False  # classifies text pairs (set by a family that can)

    @classmethod
    def adapter_class(cls):
        """The training adapter of this family (imports torch)."""
        if cls.training_adapter is None:
            raise ModelError(f"student family {cls.student_type!r} cannot be trained (no training adapter)")
        return resolve(cls.training_adapter)

    def __init__(self, labels: LabelMap, metadata: dict | None = None):
        self.labels = labels
        self.metadata = metadata or {}
        self.task = get_task("single-label")  # set by training or loading: how outputs become answers
        self.decision: dict = {}  # what the task decides with (multi-label: per-label thresholds tuned on dev)

    @property
    def multi_label(self) -> bool:
        return self.task.name == "multi-label"

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

    def predict_with_known(self, texts, pairs=None, batch_size: int | None = None):
        """(logits, how many of each text's features the model knows, or None when the family cannot say): what
        ``predict`` needs to warn about texts answered by the prior alone."""
        known = getattr(self, "known_ngrams", None) or getattr(self, "known_words", None)
        logits = self.predict_logits(texts, pairs, batch_size)
        return logits, None if known is None else known(texts, pairs)

    def predict_proba(self, texts, pairs=None, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (softmax), or for a multi-label student each label's independent probability
        (sigmoid); columns in the order of ``classes_``."""
        return self.task.probabilities(self.predict_logits(texts, pairs, batch_size))

    def decide(self, logits: np.ndarray, threshold=None, at_least_one: bool | None = None) -> np.ndarray:
        """Raw outputs -> decisions: class ids, or a 0/1 matrix of labels (multi-label: the student's tuned
        thresholds, or one ``threshold`` for every label; ``at_least_one``: the most likely label when none
        passes)."""
        decision = dict(self.decision)
        value = check_threshold(threshold)
        if value is not None:
            decision["thresholds"] = None if not self.multi_label else [value] * len(self.labels)
        if at_least_one is not None:
            decision["at_least_one"] = bool(at_least_one)
        return self.task.decide(logits, decision)

    def predict(self, texts, pairs=None, batch_size: int | None = None, threshold=None,
                at_least_one: bool | None = None) -> list:
        """The predicted label (as named in the training data) of each text; for a multi-label student the list
        of its labels (possibly empty)."""
        logits = self.predict_logits(texts, pairs, batch_size)
        if threshold is None and at_least_one is None:  # the model's own decisions (no copy of them per call)
            return self.task.decode(self.labels.names, self.task.decide(logits, self.decision))
        return self.task.decode(self.labels.names, self.decide(logits, threshold, at_least_one))

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
                    **({"task": self.task.name, "decision": self.decision} if self.multi_label else {}),
                    "metadata": self.metadata,
                },
            )
            write_json(tmp / "labels.json", self.labels.to_dict())
            self._save_weights(tmp)
            if extra_files is not None:
                extra_files(tmp)

        return write_dir_atomically(path, write, overwrite=overwrite)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, mmap: bool = True, backend: str = "auto") -> "Student":
        """Load any saved student; the directory is validated and a problem is reported in one line.

        Weights are memory-mapped (``mmap=False`` reads them into memory instead, e.g. when the directory is about
        to be replaced by a file system that does not keep unlinked files alive). ``backend="numpy"`` loads it
        without the compiled kernels (nothing of numba is imported: the quickest start for a few texts)."""
        path = Path(path)
        if not path.exists():
            raise ModelError(f"no such model directory: {path}")
        if not path.is_dir():
            raise ModelError(f"{path}: not a directory")
        config = read_json(path / "config.json")
        if config.get("format") != FORMAT_NAME:
            raise ModelError(f"{path}: config.json is not a textdistill student (format={config.get('format')!r})")
        version = config.get("format_version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ModelError(f"{path}/config.json: format_version must be an integer, not {version!r}")
        if version > FORMAT_VERSION:
            raise ModelError(f"{path}: saved by a newer textdistill (format {version}); upgrade")
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

        task, decision = _task_of(path, config, len(labels))
        if "backend" in inspect.signature(target._load).parameters:
            student = target._load(path, config, labels, mmap=mmap, backend=backend)
        elif "mmap" in inspect.signature(target._load).parameters:
            student = target._load(path, config, labels, mmap=mmap)
        else:
            student = target._load(path, config, labels)  # a family that reads its files its own way
        student.task, student.decision = task, decision
        return student

    @classmethod
    def _load(cls, path: Path, config: dict, labels: LabelMap, mmap: bool = True) -> "Student":
        raise NotImplementedError

    # -- the family's part in export, specs, auto and compress (see the class docstring) -----------------------
    def onnx_graph(self, graph) -> None:
        """Build this student's ONNX graph with ``graph`` (``serving.onnx.Graph``): inputs, body and ``logits``."""
        raise ConfigError(f"the {self.student_type} family cannot be exported to ONNX (it defines no graph)")

    def onnx_feeds(self, texts, pairs=None) -> dict[str, np.ndarray]:
        """The ONNX graph's inputs for raw texts, from the student's own featurizer."""
        raise ConfigError(f"the {self.student_type} family cannot be exported to ONNX (it defines no inputs)")

    def featurizer_spec_body(self, texts: list[str]) -> dict:
        """How text becomes this student's inputs (the featurizer specification), with test vectors for ``texts``."""
        raise ConfigError(f"no featurizer specification for {self.student_type} students")

    def compressed(self, **options) -> "Student":
        raise ConfigError(f"compress works on {', '.join(n for n, c in FAMILIES.items() if c.compressible)} "
                          f"students (this one is {self.student_type})")


def _task_of(path: Path, config: dict, num_labels: int):
    """(task, decision) of a saved student: single-label unless config.json says otherwise; thresholds checked."""
    name = config.get("task", "single-label")
    try:
        task = get_task(name)
    except ConfigError:
        raise ModelError(f"{path}/config.json: unknown task {name!r}") from None
    decision = config.get("decision") or {}
    if not isinstance(decision, dict):
        raise ModelError(f"{path}/config.json: decision must be an object, not {type(decision).__name__}")
    thresholds = decision.get("thresholds")
    if thresholds is not None:
        ok = isinstance(thresholds, list) and len(thresholds) == num_labels and all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1 for t in thresholds)
        if not ok:
            raise ModelError(f"{path}/config.json: decision thresholds must be {num_labels} numbers in [0, 1]")
    return task, decision


def family(name: str):
    """The registered runtime class of student family ``name`` (a one-line error for an unknown one)."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown student {name!r} (choose from: {', '.join(FAMILIES.names())})")
    return FAMILIES.get(name)


def family_config(name: str, **options):
    """The config of student family ``name`` with options named as its ``distill`` flags or its fields (nested
    configs, such as the DAN's n-gram settings, take the options that name their fields). An option the family does
    not have is an error."""
    from ..config import build_config, collect_flags

    config_class = family(name).config_class
    flags = collect_flags([config_class])
    by_field = {path.rsplit(".", 1)[-1]: param for param, spec in flags.items() for _, path in spec.owners}
    values = {}
    for key, value in options.items():
        param = key if key in flags else by_field.get(key)
        if param is None:
            raise ConfigError(f"--{key.replace('_', '-')} does not apply to the {name} student")
        values[param] = value
    return build_config(config_class, values, flags)[0]
