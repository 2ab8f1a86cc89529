"""Teacher columns -> the data's label order: by label name, by integer value, or by a mapping the user gives;
never a silent guess. ``check_against_chance`` refuses a mapping under which the teacher is worse than chance on dev.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..data.readers import LabelMap
from ..errors import ConfigError, ModelError

HOW_NAME, HOW_VALUE, HOW_GIVEN = "by name", "by integer value", "as given"
TEACHER_LABELS_HELP = ("--teacher-labels neg,pos (the data's label of each teacher column, in column order) or a JSON "
                       "map such as '{\"0\": \"neg\", \"1\": \"pos\"}' (or a .json file)")


def parse_teacher_labels(spec) -> list[str] | dict[str, str] | None:
    """``neg,pos`` -> ["neg", "pos"]; a JSON object (inline or a .json file) -> {teacher column or name: label}."""
    if spec is None or isinstance(spec, (list, dict)):
        return spec
    text = str(spec).strip()
    if text in ("", "-"):  # "-": this teacher needs no mapping (when one is given per teacher)
        return None
    if text.endswith(".json") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--teacher-labels: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not all(isinstance(v, (str, int)) for v in data.values()):
            raise ConfigError("--teacher-labels: a JSON map must map teacher columns to label names")
        return {str(k): str(v) for k, v in data.items()}
    names = [part.strip() for part in text.split(",")]
    if not text or any(not n for n in names):
        raise ConfigError(f"--teacher-labels: expected comma-separated label names, got {spec!r}")
    return names


def _given_order(mapping, teacher_names, num_teacher_labels: int, labels: LabelMap, who: str) -> np.ndarray:
    if isinstance(mapping, list):
        if len(mapping) != num_teacher_labels:
            raise ConfigError(f"--teacher-labels for {who}: {len(mapping)} names for {num_teacher_labels} teacher "
                              f"columns")
        by_column = dict(enumerate(mapping))
    else:
        by_column = {}
        lowered = [n.lower() for n in teacher_names or []]
        for key, value in mapping.items():
            if key.isdigit() and int(key) < num_teacher_labels:
                column = int(key)
            elif key.lower() in lowered:
                column = lowered.index(key.lower())
            else:
                raise ConfigError(f"--teacher-labels for {who}: {key!r} is neither a column "
                                  f"(0..{num_teacher_labels - 1}) nor one of the teacher's label names")
            by_column[column] = value
        if len(by_column) != num_teacher_labels:
            raise ConfigError(f"--teacher-labels for {who}: maps {len(by_column)} of the teacher's "
                              f"{num_teacher_labels} columns; map every column")
    data = {n.lower(): i for i, n in enumerate(labels.names)}
    unknown = [v for v in by_column.values() if v.lower() not in data]
    if unknown:
        raise ConfigError(f"--teacher-labels for {who}: {', '.join(map(repr, unknown))} not among the data's labels "
                          f"({', '.join(labels.names)})")
    values = [by_column[c].lower() for c in range(num_teacher_labels)]
    if len(set(values)) != len(values):
        raise ConfigError(f"--teacher-labels for {who}: two teacher columns map to the same label")
    order = np.empty(len(labels), dtype=np.int64)
    for column, value in enumerate(values):
        order[data[value]] = column
    return order


def match_teacher_columns(teacher_names: list[str] | None, num_teacher_labels: int, labels: LabelMap, log=None,
                          mapping=None, who: str = "the teacher") -> tuple[np.ndarray, str]:
    """(column order, how it was found): column ``order[j]`` of the teacher is the data's class ``labels.names[j]``.

    A mapping the user gives wins. Else teacher label names (config id2label) are matched to the data's labels
    ignoring case. Else integer labels (and LABEL_0..) are matched to columns by value (0..C-1) or in numeric order;
    a named teacher matched that way is warned about. A named teacher whose names match nothing in non-integer data
    is an error, and so is an unnamed teacher with string labels: the user says which column is which.
    """
    if num_teacher_labels != len(labels):
        raise ModelError(
            f"{who} predicts {num_teacher_labels} classes but the training data has {len(labels)} "
            f"({', '.join(labels.names[:10])})"
        )
    mapping = parse_teacher_labels(mapping)
    if mapping is not None:
        return _given_order(mapping, teacher_names, num_teacher_labels, labels, who), HOW_GIVEN
    data = [n.lower() for n in labels.names]
    if teacher_names:
        named = [n.lower() for n in teacher_names]
        if sorted(named) == sorted(data):
            return np.array([named.index(name) for name in data]), HOW_NAME
    by_value = [n[len("label_"):] if n.startswith("label_") else n for n in data]
    integer = all(v.lstrip("-").isdigit() for v in by_value)
    if integer:
        values = [int(v) for v in by_value]
        if sorted(values) == list(range(num_teacher_labels)):
            order = np.array(values)
        else:  # e.g. 1-based star ratings: the teacher's columns in numeric order
            order = np.argsort(np.argsort(values, kind="stable"), kind="stable")
        if teacher_names and log is not None:
            used = ",".join(labels.names[int(np.flatnonzero(order == c)[0])] for c in range(num_teacher_labels))
            log(f"warning: {who}'s labels ({', '.join(teacher_names)}) do not match the data's "
                f"({', '.join(labels.names)}); matching its columns to the integer labels by value, as "
                f"--teacher-labels {used} would (give --teacher-labels with another order to say otherwise)")
        return order, HOW_VALUE
    if teacher_names:
        raise ModelError(f"{who}'s labels ({', '.join(teacher_names)}) do not match the data's "
                         f"({', '.join(labels.names)}); rename the labels in the data to the teacher's or give "
                         f"--teacher-labels")
    raise ModelError(f"{who}'s classes have no names and the data's labels are strings "
                     f"({', '.join(labels.names[:10])}): say which teacher column is which with {TEACHER_LABELS_HELP}, "
                     f"or name them in the teacher's config.json (id2label)")


def align_teacher(teacher_names: list[str] | None, num_teacher_labels: int, labels: LabelMap, log=None,
                  mapping=None, who: str = "the teacher") -> np.ndarray:
    """The column order of ``match_teacher_columns`` (teacher logits[:, order] are in the data's label order)."""
    return match_teacher_columns(teacher_names, num_teacher_labels, labels, log, mapping, who)[0]


def chance_accuracy(gold: np.ndarray, pred: np.ndarray, num_classes: int) -> float:
    """Accuracy expected of predictions independent of the gold labels, with the same marginals (Cohen's p_e)."""
    n = max(len(gold), 1)
    p_gold = np.bincount(gold, minlength=num_classes) / n
    p_pred = np.bincount(pred, minlength=num_classes) / n
    return float(p_gold @ p_pred)


def check_against_chance(gold: np.ndarray, pred: np.ndarray, num_classes: int, who: str, how: str, log=None) -> None:
    """Refuse a label mapping under which the teacher's dev accuracy is clearly (two standard errors) below chance:
    matched by integer value or as given, such a mapping is almost certainly wrong (swapped classes). Matched by
    name the mapping is certain, so a teacher that bad is only warned about (the strategies judge teachers)."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    if len(gold) < 10:
        return
    accuracy = float((gold == pred).mean())
    chance = chance_accuracy(gold, pred, num_classes)
    margin = 2 * math.sqrt(max(chance * (1 - chance), 1e-12) / len(gold))
    if accuracy < chance - margin:
        message = f"{who}: dev accuracy {accuracy:.3f} is worse than chance ({chance:.3f}) under its label mapping"
        if how == HOW_NAME:
            if log is not None:
                log(f"warning: {message} (its classes were matched by name; check that it was trained for this task)")
            return
        raise ModelError(f"{message}; its columns were matched to the labels {how}: give the right mapping with "
                         f"--teacher-labels")
