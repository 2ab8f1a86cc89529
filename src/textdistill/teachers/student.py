"""A saved textdistill student as a teacher: a cheap second opinion of another kind (numpy only, no torch).

Its fingerprint hashes the student's files (config, labels, weights), so retraining it into the same directory
gets a cache of its own; its label names are its classes, so its columns always align by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ModelError
from ..persistence import hash_files

FINGERPRINT_FILES_SUFFIXES = (".json", ".safetensors")


def fingerprint_student_dir(folder: Path) -> str:
    """Stable hex id of a student directory by content: every JSON and safetensors file, by name and bytes.

    Files written by training but not read by prediction (teachers.json, policy.safetensors: how the student was
    taught) are left out, so they never change the fingerprint.
    """
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(FINGERPRINT_FILES_SUFFIXES)
                   and p.name not in ("teachers.json", "policy.safetensors"))
    return hash_files(folder, names, b"textdistill-student-teacher-v1").hexdigest()


class StudentTeacher:
    """Wraps a ``Student`` so it satisfies the teacher protocol."""

    def __init__(self, student, *, fingerprint: str, source: str, name: str | None = None):
        self.student = student
        self.fingerprint = fingerprint
        self.source = source
        self.name = name or Path(source).name or "student"
        self.label_names: list[str] | None = list(student.classes_)
        self.num_labels: int = len(self.label_names)
        self.task = student.task.name

    def __repr__(self) -> str:
        return f"StudentTeacher({self.source!r}, {self.student.student_type}, fingerprint={self.fingerprint[:12]}...)"

    @classmethod
    def from_pretrained(cls, path: str | Path, name: str | None = None) -> "StudentTeacher":
        from ..students import Student

        path = Path(path)
        if not path.is_dir():
            raise ModelError(f"teacher {path}: no such directory")
        student = Student.from_pretrained(path)
        return cls(student, fingerprint=fingerprint_student_dir(path), source=str(path), name=name)

    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, progress: Any = False
               ) -> np.ndarray:
        texts = list(texts)
        out = np.empty((len(texts), self.num_labels), dtype=np.float32)
        step = 4096
        for start in range(0, len(texts), step):
            end = min(len(texts), start + step)
            out[start:end] = self.student.predict_logits(texts[start:end],
                                                         None if pairs is None else list(pairs[start:end]))
            if progress is not False and progress is not None and hasattr(progress, "update"):
                progress.update(end - start)
        return out
