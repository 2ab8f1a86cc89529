"""A student (and its teacher) scored on labelled data, as its task type scores: accuracy, macro-F1 and MCC for
single-label students; micro-, macro- and samples-F1, subset accuracy and Hamming loss for multi-label ones."""

from __future__ import annotations

import numpy as np

from ..data.readers import TextDataset
from ..errors import DataError


def gold_of(student, data: TextDataset, log=None) -> np.ndarray:
    """The gold labels of ``data`` in the student's label order (multi-label: labels training never saw are
    counted and ignored, with a warning)."""
    if data.labels is None:
        raise DataError(f"{data.source}: no label column found (name it with --label-column)")
    labels = data.labels
    if student.multi_label:
        labels = [v if isinstance(v, tuple) else (v,) for v in labels]
    elif data.multi_label:
        raise DataError(f"{data.source}: holds sets of labels but {student.student_type} student is single-label")
    return student.task.encode(student.labels.names, labels, data.source, log)


def score(student, gold: np.ndarray, logits: np.ndarray, teacher_logits: np.ndarray | None = None,
          per_label: bool = False, threshold=None) -> dict:
    """The student's metrics from its outputs (and agreement with the teacher's decisions, when given)."""
    task = student.task
    teacher_pred = None if teacher_logits is None else task.decide(teacher_logits)
    return task.metrics(gold, student.decide(logits, threshold), student.labels.names, teacher_pred, per_label)


def teacher_score(student, gold: np.ndarray, teacher_logits: np.ndarray, per_label: bool = False) -> dict:
    """The teacher's metrics on the same gold labels (its own decisions: argmax, or 0.5 per label)."""
    return student.task.metrics(gold, student.task.decide(teacher_logits), student.labels.names,
                                per_label=per_label)


def headline(metrics: dict | None) -> float | None:
    """The number a report leads with: accuracy, or micro-F1 for multi-label metrics."""
    if not metrics:
        return None
    return metrics.get("accuracy", metrics.get("micro_f1"))
