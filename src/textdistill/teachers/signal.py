"""Several teachers' outputs on one set of texts: a (teachers x texts x classes) float32 array in the data's label
order. Each teacher is labelled through the output cache on its own (its own fingerprint), so adding a teacher
never relabels the others, and its columns are aligned to the data's labels on their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..data.readers import LabelMap
from .alignment import check_against_chance, match_teacher_columns


@dataclass
class AlignedTeacher:
    """A teacher with the column order that puts its logits in the data's label order (and how it was found)."""

    teacher: object
    order: np.ndarray
    how: str

    @property
    def name(self) -> str:
        return self.teacher.name


def align_teachers(teachers: list, labels: LabelMap, teacher_labels=None, log=None, task=None) -> list[AlignedTeacher]:
    """Match each teacher's columns to ``labels`` before any labelling (a mismatch fails in seconds).

    ``teacher_labels``: None, one mapping for every teacher, or a list with one (or None) per teacher. A teacher of
    another task type than the data's (a softmax classifier on multi-label data, or the reverse) is an error.
    """
    if task is not None:
        for t in teachers:
            kind = getattr(t, "task", None)
            if kind is not None and kind != task.name:
                from ..errors import ModelError

                raise ModelError(f"teacher {t.name} is a {kind} classifier but the data is {task.name}; "
                                 f"{'fine-tune a multi-label teacher (teacher finetune on this data)' if task.name == 'multi-label' else 'use a single-label teacher'}")
    shared = teacher_labels is None or isinstance(teacher_labels, (str, dict)) or len(teacher_labels) == 1
    if shared:
        one = teacher_labels[0] if isinstance(teacher_labels, (list, tuple)) else teacher_labels
        per_teacher = [one] * len(teachers)
    else:
        per_teacher = list(teacher_labels)
        if len(per_teacher) != len(teachers):
            from ..errors import ConfigError

            raise ConfigError(f"--teacher-labels given {len(per_teacher)} times for {len(teachers)} teachers (give it "
                              f"once for all, or once per --teacher)")
    out = []
    data = sorted(n.lower() for n in labels.names)
    for t, mapping in zip(teachers, per_teacher):
        names = getattr(t, "label_names", None)
        if shared and len(teachers) > 1 and names and sorted(n.lower() for n in names) == data:
            mapping = None  # one mapping for all teachers is for those whose classes do not name the data's labels
        order, how = match_teacher_columns(names, int(t.num_labels), labels, log, mapping, who=f"teacher {t.name}")
        out.append(AlignedTeacher(t, order, how))
    return out


@dataclass
class TeacherSignal:
    """Aligned logits of K teachers on N texts: ``logits[k, i]`` is teacher k's (C,) score vector for text i."""

    names: list[str]
    logits: np.ndarray  # (K, N, C) float32
    seconds: list[float] = field(default_factory=list)

    @property
    def num_teachers(self) -> int:
        return self.logits.shape[0]

    def predictions(self) -> np.ndarray:
        return self.logits.argmax(-1)

    def subset(self, rows: np.ndarray) -> "TeacherSignal":
        return TeacherSignal(self.names, self.logits[:, rows], self.seconds)


def label_teachers(aligned: list[AlignedTeacher], texts, pairs, cache_root, progress=True, log=None) -> TeacherSignal:
    """Every teacher's aligned logits for ``texts`` through the cache (texts it has seen cost nothing)."""
    from .cache import label_with_cache

    blocks, seconds = [], []
    for a in aligned:
        started = time.perf_counter()
        logits = label_with_cache(a.teacher, texts, pairs, cache_root=cache_root, progress=progress)
        blocks.append(np.ascontiguousarray(logits[:, a.order], dtype=np.float32))
        seconds.append(time.perf_counter() - started)
        if log is not None and progress:
            log(f"teacher {a.name}: outputs for {len(texts):,} texts in {seconds[-1]:.1f}s "
                f"(cached texts cost nothing; fingerprint {a.teacher.fingerprint[:12]})")
    num_classes = blocks[0].shape[1] if blocks else 0
    stacked = np.stack(blocks) if blocks else np.zeros((0, len(texts), num_classes), dtype=np.float32)
    return TeacherSignal([a.name for a in aligned], stacked, seconds)


def teacher_statistics(aligned: list[AlignedTeacher], dev: TeacherSignal | None, dev_gold: np.ndarray | None,
                       train: TeacherSignal, task, names, log=None) -> list[dict]:
    """Per teacher: name, path, fingerprint, how its columns were matched, dev metrics (``dev_score``: the task's
    headline metric), and its agreement with each other teacher on dev (on the transfer set without dev): the share
    of texts (single-label) or of text-label decisions (multi-label) on which the two decide alike. Refuses a
    single-label teacher worse than chance on dev."""
    where = dev if dev is not None else train
    preds = [task.decide(where.logits[k]) for k in range(where.num_teachers)]
    stats = []
    for k, a in enumerate(aligned):
        entry = {"name": a.name, "path": str(getattr(a.teacher, "source", "")), "fingerprint": a.teacher.fingerprint,
                 "kind": type(a.teacher).__name__, "columns_matched": a.how,
                 "dev": None, "dev_score": None, "dev_accuracy": None}
        if dev is not None and dev_gold is not None:
            if task.name == "single-label":
                check_against_chance(dev_gold, preds[k], len(names), f"teacher {a.name}", a.how, log)
            entry["dev"] = task.metrics(dev_gold, preds[k], names)
            entry["dev_score"] = task.score(entry["dev"])
            entry["dev_accuracy"] = entry["dev"].get("accuracy", entry["dev_score"])
        entry["agreement_on"] = "dev" if dev is not None else "transfer set"
        entry["agreement"] = {aligned[j].name: float((preds[k] == preds[j]).mean()) if preds[k].size else 0.0
                              for j in range(len(aligned)) if j != k}
        stats.append(entry)
    return stats


def label_texts(teacher, texts, pairs, labels: LabelMap, cache_root, progress=True, teacher_labels=None):
    """One teacher's outputs for ``texts`` through the cache, its columns in the order of ``labels`` (a
    ``TeacherSignal`` of one teacher; ``.logits[0]`` is the (N, C) array)."""
    aligned = align_teachers([teacher], labels, teacher_labels)
    return label_teachers(aligned, texts, pairs, cache_root, progress=progress)
