"""What a teacher is: anything that turns texts (or text pairs) into logits and can say who it is.

The pipeline, the cache and every multi-teacher strategy speak only this protocol, so a Hugging Face classifier
(``huggingface.Teacher``), a saved textdistill student (``student.StudentTeacher``) or a user's own object can
teach. ``load_teacher`` picks the implementation from what a directory holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import DataError, ModelError
from ..registry import Registry


@runtime_checkable
class Teacher(Protocol):
    """The teacher protocol.

    ``name``: short, for reports (the directory name by default). ``label_names``: the class of each logit column,
    or None when the teacher's classes have no names (then the user maps them). ``fingerprint``: changes whenever
    the outputs could change (weights, tokenizer, truncation); the output cache is keyed by it. ``source``: where
    it came from (a path). ``logits(texts, pairs, progress=...)``: float32 (N, num_labels) in input order;
    ``progress`` is False, True (own bar) or a tqdm bar to update.
    """

    name: str
    label_names: list[str] | None
    num_labels: int
    fingerprint: str
    source: str

    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, progress: Any = False
               ) -> np.ndarray: ...


class PartialOutputs(KeyboardInterrupt):
    """A Ctrl-C while a teacher labels texts, with the outputs of the batches it had finished: ``done`` (a boolean
    mask over the texts it was given) and ``logits`` (rows valid where ``done``). The cache keeps them."""

    def __init__(self, done: np.ndarray, logits: np.ndarray):
        super().__init__()
        self.done, self.logits = done, logits


def checked_inputs(texts, pairs) -> tuple[list[str], list[str] | None]:
    """A teacher's inputs as lists, checked: as many second segments as texts, every one a string."""
    texts = list(texts)
    if pairs is not None:
        pairs = list(pairs)
        if len(pairs) != len(texts):
            raise DataError(f"got {len(texts)} texts but {len(pairs)} second segments (pairs)")
    for seq in (texts, pairs or ()):
        bad = next((i for i, t in enumerate(seq) if not isinstance(t, str)), None)
        if bad is not None:
            raise DataError(f"text #{bad} is {type(seq[bad]).__name__}, not a string")
    return texts, pairs


def unanswered(n: int, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Outputs for n texts before any is answered: NaN rows, and a mask of the finished ones (none)."""
    return np.full((n, num_labels), np.nan, dtype=np.float32), np.zeros(n, dtype=bool)


def is_student_dir(path: Path) -> bool:
    """True for a directory holding a saved textdistill student (its config.json says so)."""
    from ..persistence import FORMAT_NAME

    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


# Teacher kinds described by a spec file (``{"kind": "embedding", ...}`` as JSON or YAML): kind -> class with
# ``from_spec(spec, base_dir, **options)``. Each kind is one file (teachers/embedding.py, prompt.py, endpoint.py);
# other packages add theirs through the entry point group ``textdistill.teachers``.
TEACHER_KINDS = Registry("teacher kind", entry_point_group="textdistill.teachers")
SPEC_SUFFIXES = (".json", ".yaml", ".yml")


def register_kind(cls):
    """Class decorator: register a teacher kind under its ``kind``."""
    return TEACHER_KINDS.register(cls, name=cls.kind)


def read_spec(path: Path) -> dict:
    """A teacher spec file (JSON, or YAML when PyYAML is installed) as a dict with a ``kind``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"teacher spec {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        if path.suffix == ".json":
            spec = json.loads(text)
        else:
            import yaml

            spec = yaml.safe_load(text)
    except ImportError:
        raise ModelError(f"teacher spec {path}: a YAML spec needs PyYAML (pip install pyyaml), or write it as "
                         f"JSON") from None
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise ModelError(f"teacher spec {path}: not valid {path.suffix[1:].upper()} "
                         f"({str(exc).splitlines()[0]})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        kinds = ", ".join(TEACHER_KINDS.names())
        raise ModelError(f"teacher spec {path}: needs a \"kind\" ({kinds}) and that kind's settings")
    return spec


def teacher_from_spec(path: Path, **options):
    """The teacher a spec file describes (its relative paths are relative to the file)."""
    from ..errors import ConfigError

    spec = read_spec(path)
    try:
        cls = TEACHER_KINDS.get(spec["kind"])
    except ConfigError as exc:
        raise ModelError(f"teacher spec {path}: {exc}") from None
    try:
        return cls.from_spec({k: v for k, v in spec.items() if k != "kind"}, path.parent, source=str(path),
                             **options)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith("teacher spec") else f"teacher spec {path}: {message}") \
            from None


def load_teacher(source, *, max_length: int | None = None, batch_size: int = 32, name: str | None = None,
                 device: str | None = None):
    """A teacher from a path (a Hugging Face classifier directory, a saved textdistill student, or a teacher spec
    file: .json/.yaml with a ``kind``), a hub id (when online), or a teacher object (returned as is). One-line
    ModelError for anything else. ``device``: where a torch teacher runs (``auto``/None: a GPU when there is
    one)."""
    if not isinstance(source, (str, os.PathLike)):
        missing = [a for a in ("fingerprint", "num_labels", "logits") if not hasattr(source, a)]
        if missing:
            raise ModelError(f"{type(source).__name__} is not a teacher (it has no {', '.join(missing)})")
        if name is not None:
            source.name = name
        elif not getattr(source, "name", None):
            source.name = Path(str(getattr(source, "source", "") or type(source).__name__)).name or "teacher"
        return source
    path = Path(os.fspath(source)).expanduser()
    if path.is_dir() and is_student_dir(path):
        from .student import StudentTeacher

        teacher = StudentTeacher.from_pretrained(path)
    elif path.suffix.lower() in SPEC_SUFFIXES and not path.is_dir():
        _load_builtin_kinds()
        if not path.is_file():
            raise ModelError(f"teacher spec {path}: no such file")
        teacher = teacher_from_spec(path, max_length=max_length, device=device)
    else:
        from .huggingface import Teacher as HFTeacher

        teacher = HFTeacher.from_pretrained(os.fspath(source), max_length=max_length, batch_size=batch_size,
                                            device=None if device in (None, "auto") else device)
    if name is not None:
        teacher.name = name
    return teacher


def _load_builtin_kinds() -> None:
    """Register the built-in teacher kinds (their modules import torch only when a teacher is built)."""
    from . import embedding, endpoint, prompt  # noqa: F401


def disk_bytes(teacher) -> int | None:
    """A teacher's size on disk (its weights and files): what a student is compared with; None when unknown (a
    served model)."""
    size = getattr(teacher, "disk_bytes", None)
    if size is not None:
        return int(size)
    source = Path(str(getattr(teacher, "source", "") or ""))
    if source.is_dir():
        return sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    return None


def load_teachers(sources, **kwargs) -> list:
    """``load_teacher`` for one source or a list of them; names are made unique (``name``, ``name-2``, ...)."""
    if sources is None:
        return []
    if isinstance(sources, (str, os.PathLike)) or not isinstance(sources, (list, tuple)):
        sources = [sources]
    teachers = [load_teacher(s, **kwargs) for s in sources]
    seen: dict[str, int] = {}
    for t in teachers:
        base = t.name
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            t.name = f"{base}-{seen[base]}"
    fingerprints = [t.fingerprint for t in teachers]
    for i, fp in enumerate(fingerprints):
        if fp in fingerprints[:i]:
            raise ModelError(f"teacher {teachers[i].source} is the same model as teacher "
                             f"{teachers[fingerprints.index(fp)].source} (same fingerprint); give each teacher once")
    return teachers
