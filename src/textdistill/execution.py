"""Where the heavy steps of a run happen: teacher labelling, and fitting and encoding the student's inputs.

``LocalExecution`` does them in this process; ``textdistill.distributed.RayExecution`` does them on Ray (the same
results: the cache is the same files, the vocabulary and encoding the same ids). The pipeline asks its plan for one
and calls the same methods either way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Encoded:
    """A fitted family, its encoded transfer set, and what to clean up once the student is saved."""

    family: object
    inputs: object

    def cleanup(self) -> None:
        """Nothing to remove for inputs held in memory."""


class LocalExecution:
    """Labelling and encoding in this process."""

    name = "local"

    def label(self, aligned: list, texts, pairs, cache_root, progress=True, log=None):
        """Every teacher's aligned outputs for the texts, through the cache (a ``TeacherSignal``)."""
        from .teachers.signal import label_teachers

        return label_teachers(aligned, texts, pairs, cache_root, progress, log)

    def fit_and_encode(self, family, texts, pairs, progress=True, log=None) -> Encoded:
        """The family's vocabulary fitted on the transfer set, and the set encoded."""
        family.fit(texts, pairs, progress=progress)
        if log is not None and hasattr(family, "describe"):
            log(f"{family.name} student: {family.describe()}")
        return Encoded(family, family.encode(texts, pairs))
