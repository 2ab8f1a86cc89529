"""Accuracy, macro-F1, Matthews correlation and agreement, computed with numpy alone."""

from __future__ import annotations

import numpy as np


def confusion(gold: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    gold = np.asarray(gold, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    return np.bincount(gold * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, -1)


def macro_f1(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros_like(tp), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros_like(tp), where=cm.sum(1) > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (cm.sum(0) + cm.sum(1)) > 0
    return float(f1[present].mean()) if present.any() else 0.0


def matthews(cm: np.ndarray) -> float:
    """Multi-class Matthews correlation (Gorodkin's R_K); equals the usual MCC for two classes."""
    cm = cm.astype(float)
    t, p, c, s = cm.sum(1), cm.sum(0), np.trace(cm), cm.sum()
    cov_tp = c * s - t @ p
    denom = np.sqrt(s * s - p @ p) * np.sqrt(s * s - t @ t)
    return float(cov_tp / denom) if denom > 0 else 0.0


def classification_metrics(gold, pred, num_classes: int, teacher_pred=None) -> dict:
    """Accuracy, macro-F1 and MCC of ``pred`` against ``gold``; agreement with the teacher when given."""
    gold = np.asarray(gold)
    pred = np.asarray(pred)
    cm = confusion(gold, pred, num_classes)
    out = {
        "n": int(len(gold)),
        "accuracy": float((gold == pred).mean()) if len(gold) else 0.0,
        "macro_f1": macro_f1(cm),
        "mcc": matthews(cm),
    }
    if num_classes == 2:
        out["f1"] = f1_of_class(cm, 1)  # F1 of class 1, as GLUE reports for MRPC
    if teacher_pred is not None:
        out["teacher_agreement"] = float((np.asarray(teacher_pred) == pred).mean()) if len(pred) else 0.0
    return out


def f1_of_class(cm: np.ndarray, k: int) -> float:
    tp = cm[k, k]
    fp = cm[:, k].sum() - tp
    fn = cm[k, :].sum() - tp
    return float(2 * tp / (2 * tp + fp + fn)) if (2 * tp + fp + fn) else 0.0
