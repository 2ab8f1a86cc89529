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


# -- multi-label ---------------------------------------------------------------------------------------------------
def _f1(tp, fp, fn):
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(denom), where=denom > 0)


def multilabel_metrics(gold, pred, label_names=None, teacher_pred=None, per_label: bool = False) -> dict:
    """Micro-, macro- and samples-F1, subset accuracy and Hamming loss of 0/1 label matrices (N, C).

    Macro-F1 averages the labels that occur in ``gold`` or ``pred`` (a label absent from both has no F1); samples-F1
    counts a text with no gold and no predicted label as 1 (the empty answer was right). ``per_label`` adds
    precision, recall, F1 and support of every label; ``teacher_pred`` adds per-label agreement with the teacher and
    the teacher's decisions as the reference (``teacher_micro_f1``).
    """
    gold = np.asarray(gold) > 0.5
    pred = np.asarray(pred) > 0.5
    n, c = gold.shape if gold.ndim == 2 else (0, 0)
    tp = (gold & pred).sum(0)
    fp = (~gold & pred).sum(0)
    fn = (gold & ~pred).sum(0)
    f1 = _f1(tp, fp, fn)
    present = (gold.sum(0) + pred.sum(0)) > 0
    row_tp, row_fp, row_fn = (gold & pred).sum(1), (~gold & pred).sum(1), (gold & ~pred).sum(1)
    row_f1 = np.where(row_tp + row_fp + row_fn == 0, 1.0, _f1(row_tp, row_fp, row_fn))
    out = {
        "n": int(n),
        "micro_f1": float(_f1(tp.sum(), fp.sum(), fn.sum())),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "samples_f1": float(row_f1.mean()) if n else 0.0,
        "subset_accuracy": float((gold == pred).all(1).mean()) if n else 0.0,
        "hamming_loss": float((gold != pred).mean()) if n and c else 0.0,
        "labels_per_text": float(pred.sum(1).mean()) if n else 0.0,
        "gold_labels_per_text": float(gold.sum(1).mean()) if n else 0.0,
    }
    if teacher_pred is not None:
        teacher = np.asarray(teacher_pred) > 0.5
        out["teacher_agreement"] = float((teacher == pred).mean()) if n and c else 0.0
        ttp, tfp, tfn = (teacher & pred).sum(), (~teacher & pred).sum(), (teacher & ~pred).sum()
        out["teacher_micro_f1"] = float(_f1(ttp, tfp, tfn))
    if per_label:
        names = list(label_names) if label_names is not None else [str(i) for i in range(c)]
        precision = np.divide(tp, tp + fp, out=np.zeros(c), where=(tp + fp) > 0)
        recall = np.divide(tp, tp + fn, out=np.zeros(c), where=(tp + fn) > 0)
        out["per_label"] = {names[j]: {"precision": float(precision[j]), "recall": float(recall[j]),
                                       "f1": float(f1[j]), "support": int(gold[:, j].sum())} for j in range(c)}
    return out
