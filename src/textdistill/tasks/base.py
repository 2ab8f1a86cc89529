"""The interface of a task type and its registry.

A task says how the gold labels of a dataset are encoded (``encode``), what the student's raw outputs mean
(``probabilities``, ``decide``, ``decode``), how predictions are scored (``metrics``, ``score``) and which losses
train a student on it (``distill_loss``, ``gold_loss``; they import torch when called, so a prediction-only install
never does). Gold label arrays have one row per text; a row without a label is marked by ``empty_gold``.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np

from ..errors import ConfigError
from ..registry import Registry

TASKS = Registry("task type")


def register(cls):
    """Class decorator: register a task type under its ``name``."""
    return TASKS.register(cls, name=cls.name)


class Task:
    """A task type (stateless: one instance per type serves every model)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    select_metrics: ClassVar[tuple[str, ...]] = ()  # what --select-metric accepts
    default_select_metric: ClassVar[str] = ""
    headline: ClassVar[str] = ""  # the metric reports, bench and auto lead with
    losses: ClassVar[tuple[str, ...]] = ("kl", "mse", "ce")
    config_class: ClassVar[type | None] = None  # its options (fields become ``distill`` flags), if any

    # -- labels --------------------------------------------------------------------------------------------------
    def label_names(self, labels: Sequence) -> list[str]:
        """The classes found in a dataset's labels, in the order the model's outputs will have."""
        raise NotImplementedError

    def encode(self, names: Sequence[str], labels: Sequence, source: str = "", log=None) -> np.ndarray:
        """Gold labels as an array with one row per text (label ids in the order of ``names``)."""
        raise NotImplementedError

    def empty_gold(self, n: int, num_classes: int) -> np.ndarray:
        """``n`` rows that have no gold label (texts only a teacher labels)."""
        raise NotImplementedError

    def labelled(self, gold: np.ndarray) -> np.ndarray:
        """A boolean mask of the rows of ``gold`` that hold a gold label."""
        raise NotImplementedError

    def counts(self, gold: np.ndarray, num_classes: int) -> np.ndarray:
        """How many labelled rows carry each class."""
        raise NotImplementedError

    # -- outputs -------------------------------------------------------------------------------------------------
    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decide(self, logits: np.ndarray, decision: dict | None = None) -> np.ndarray:
        """Raw outputs -> predictions in the shape of gold labels (``decision``: a model's thresholds etc.)."""
        raise NotImplementedError

    def decode(self, names: Sequence[str], predictions: np.ndarray) -> list:
        """Predictions -> what users get: a label per text, or a list of labels per text."""
        raise NotImplementedError

    def metrics(self, gold, pred, names: Sequence[str], teacher_pred=None, per_label: bool = False) -> dict:
        raise NotImplementedError

    def score(self, metrics: dict) -> float:
        """The headline number of ``metrics``."""
        return float(metrics[self.headline])

    def fit_decision(self, logits: np.ndarray, gold: np.ndarray, **options) -> dict:
        """How outputs become decisions, learned from dev outputs (e.g. per-label thresholds); {} when fixed."""
        return {}

    # -- training (torch) ----------------------------------------------------------------------------------------
    def distill_loss(self, logits, targets, gold, *, loss: str, temperature: float, alpha: float,
                     target_kind: str = "logits"):
        raise NotImplementedError

    def gold_loss(self, logits, gold):
        raise NotImplementedError

    def target_probabilities(self, logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        """Teacher logits -> the distribution(s) a student learns at ``temperature`` (numpy)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<task {self.name}>"


def get_task(name) -> Task:
    """The task type by name (a Task instance is returned as is)."""
    if isinstance(name, Task):
        return name
    key = {"single": "single-label", "multi": "multi-label", "single_label": "single-label",
           "multi_label": "multi-label", None: "single-label"}.get(name, name)
    try:
        return TASKS.get(key)()
    except ConfigError:
        raise ConfigError(f"unknown task type {name!r} (choose from: {', '.join(TASKS.names())})") from None


def infer_task(labels: Sequence | None, forced: bool | None = None) -> Task:
    """Multi-label when ``forced`` says so or any row holds other than one label (a list, an empty set); else
    single-label. ``forced=False`` with multi-label rows is an error naming the first such row."""
    multi_rows = [] if labels is None else [i for i, v in enumerate(labels) if isinstance(v, (tuple, list))]
    if forced is False and multi_rows:
        raise ConfigError(f"row {multi_rows[0] + 1} holds a set of labels; this data is multi-label")
    if forced or (multi_rows and any(len(labels[i]) != 1 for i in multi_rows)):
        return get_task("multi-label")
    return get_task("single-label")
