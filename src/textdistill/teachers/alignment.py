"""Teacher columns -> the data's label order: by label name, or by integer value; never a silent guess."""

from __future__ import annotations

import numpy as np

from ..data.readers import LabelMap
from ..errors import ModelError


def align_teacher(teacher_names: list[str] | None, num_teacher_labels: int, labels: LabelMap, log=None) -> np.ndarray:
    """Column order that puts the teacher's logits in the order of ``labels``; never a silent guess.

    Teacher label names (config id2label) are matched to the data's labels ignoring case. Integer labels 0..C-1
    (and LABEL_0..LABEL_{C-1}) are matched to teacher columns by value. A named teacher whose names match
    nothing in the data is an error; an unnamed teacher with string labels is taken in the label map's sorted
    order, with a warning.
    """
    if num_teacher_labels != len(labels):
        raise ModelError(
            f"the teacher predicts {num_teacher_labels} classes but the training data has {len(labels)} "
            f"({', '.join(labels.names[:10])})"
        )
    data = [n.lower() for n in labels.names]
    if teacher_names:
        named = [n.lower() for n in teacher_names]
        if sorted(named) == sorted(data):
            return np.array([named.index(name) for name in data])
    by_value = [n[len("label_"):] if n.startswith("label_") else n for n in data]
    if all(v.isdigit() for v in by_value) and sorted(int(v) for v in by_value) == list(range(num_teacher_labels)):
        return np.array([int(v) for v in by_value])
    if teacher_names:
        raise ModelError(f"the teacher's labels ({', '.join(teacher_names)}) do not match the data's "
                         f"({', '.join(labels.names)}); rename the labels in the data to the teacher's")
    if log is not None:
        log(f"warning: the teacher's classes have no names; assuming its columns are in the order "
            f"{', '.join(labels.names)}")
    return np.arange(num_teacher_labels)
