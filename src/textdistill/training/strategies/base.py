"""The interface of a teacher strategy, its registry, and what the strategies share.

A strategy turns the teachers' signal on the transfer set (K teachers x N texts x C classes, in the data's label
order), the gold labels (-1 where a text has none) and the teachers' dev outputs into the ``Objective`` of the
distillation stage. It is one file in this folder::

    @dataclass
    class MyConfig:                       # its fields become `distill` flags (name them after the strategy)
        my_temperature: float = option(1.0, "my: ...")

    @register
    class MyStrategy(Strategy):
        name = "my"
        config_class = MyConfig
        def objective(self, inputs): return fixed_weights_objective(inputs, weights, "my")

Other packages register theirs through the entry point group ``textdistill.strategies``.

Two identities make fixed and per-instance weights cheap: with the KL loss, sum_k w_ik KL(p_ik || q_i) =
KL(sum_k w_ik p_ik || q_i) + const, so weighted teachers are one mixed target distribution; with MSE on logits,
sum_k w_ik ||z_ik - s_i||^2 = ||sum_k w_ik z_ik - s_i||^2 + const (weights summing to one).

Nothing here imports torch at module level: the command line reads the configs without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ...errors import ConfigError
from ...registry import Registry
from ..objectives import DistillObjective, Objective

STRATEGIES = Registry("teacher strategy", entry_point_group="textdistill.strategies")


def register(cls):
    """Class decorator: register a strategy under its ``name``."""
    return STRATEGIES.register(cls, name=cls.name)


@dataclass
class StrategyInput:
    """What a strategy decides from. ``logits``: (K, N, C) aligned teacher logits on the transfer set; ``gold``:
    (N,) label ids, -1 where a text has none; ``dev_logits`` (K, M, C) and ``dev_gold`` (M,) when there is a dev set."""

    names: list[str]
    logits: np.ndarray
    gold: np.ndarray
    class_names: list[str]
    loss: str = "kl"
    temperature: float = 1.0
    alpha: float = 0.0
    seed: int = 0
    epochs: int = 0  # of the distillation stage (0: unknown)
    dev_logits: np.ndarray | None = None
    dev_gold: np.ndarray | None = None
    log: object = print
    task: object = None  # the task type (None: single-label)
    task_config: object = None

    def __post_init__(self):
        from ...tasks import get_task

        self.task = get_task(self.task)

    @property
    def num_teachers(self) -> int:
        return self.logits.shape[0]

    @property
    def num_classes(self) -> int:
        return self.logits.shape[2]

    def dev_accuracy(self) -> np.ndarray | None:
        """Each teacher's dev score: accuracy (single-label) or the task's headline metric (micro-F1)."""
        if self.dev_logits is None or self.dev_gold is None or len(self.dev_gold) == 0:
            return None
        if self.task.name == "single-label":
            return (self.dev_logits.argmax(-1) == self.dev_gold[None, :]).mean(axis=1)
        return np.array([self.task.score(self.task.metrics(self.dev_gold, self.task.decide(z), self.class_names))
                         for z in self.dev_logits])

    def probs(self, temperature: float | None = None) -> np.ndarray:
        """(K, N, C) teacher distributions at ``temperature`` (default: the distillation temperature): softmax
        over classes, or independent sigmoids per label (multi-label)."""
        return self.task.target_probabilities(self.logits, temperature or self.temperature)


class Strategy:
    """A way of combining teachers. ``objective(inputs)`` returns the distillation stage's Objective."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type | None] = None
    description: ClassVar[str] = ""
    min_teachers: ClassVar[int] = 1
    max_teachers: ClassVar[int | None] = None
    needs_dev: ClassVar[bool] = False  # a dev set is required (e.g. to find the best teacher)
    tasks: ClassVar[tuple[str, ...]] = ("single-label",)  # the task types it can combine teachers for

    def __init__(self, config=None):
        if config is None and self.config_class is not None:
            config = self.config_class()
        self.config = config

    def check(self, num_teachers: int, has_dev: bool) -> None:
        """Fail in one line, before any labelling, when the strategy cannot run with these teachers."""
        if num_teachers < self.min_teachers:
            raise ConfigError(f"--teacher-strategy {self.name} needs at least {self.min_teachers} teachers, "
                              f"got {num_teachers}")
        if self.max_teachers is not None and num_teachers > self.max_teachers:
            raise ConfigError(f"--teacher-strategy {self.name} takes at most {self.max_teachers} teacher(s), got "
                              f"{num_teachers}; choose a strategy for several (e.g. mean-logits)")
        if self.needs_dev and not has_dev:
            raise ConfigError(f"--teacher-strategy {self.name} needs --dev")

    def check_task(self, task) -> None:
        """Fail in one line, before any labelling, when the strategy cannot combine teachers for this task type."""
        if task.name not in self.tasks:
            able = [n for n, c in STRATEGIES.items() if task.name in c.tasks]
            raise ConfigError(f"--teacher-strategy {self.name} works on {', '.join(self.tasks)} data, not "
                              f"{task.name} (choose from: {', '.join(able)})")

    def objective(self, inputs: StrategyInput) -> Objective:
        raise NotImplementedError

    def config_dict(self) -> dict:
        from dataclasses import asdict, is_dataclass

        return asdict(self.config) if is_dataclass(self.config) else {}


def make_strategy(name: str, config=None) -> Strategy:
    """The registered strategy ``name`` with ``config`` (its config dataclass, a dict of its fields, or None)."""
    from ...config import from_dict

    cls = STRATEGIES.get(name)
    if isinstance(config, dict):
        if cls.config_class is None:
            raise ConfigError(f"--teacher-strategy {name} has no settings")
        try:
            config = from_dict(cls.config_class, config)
        except TypeError as exc:
            raise ConfigError(f"--teacher-strategy {name}: {exc}") from None
    if config is not None and cls.config_class is not None and not isinstance(config, cls.config_class):
        raise ConfigError(f"--teacher-strategy {name} takes a {cls.config_class.__name__}, "
                          f"not {type(config).__name__}")
    return cls(config)


# -- numerics shared by the strategies ----------------------------------------------------------------------------
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy over the last axis, normalised to [0, 1] by log C."""
    c = probs.shape[-1]
    h = -(probs * np.log(np.clip(probs, 1e-12, None))).sum(-1)
    return h / np.log(c) if c > 1 else h


def disagreement(logits: np.ndarray) -> np.ndarray:
    """(K, N): the fraction of the other teachers whose argmax differs from teacher k's (0 with one teacher)."""
    pred = logits.argmax(-1)
    k = pred.shape[0]
    if k < 2:
        return np.zeros(pred.shape, dtype=np.float32)
    same = (pred[:, None, :] == pred[None, :, :]).sum(1) - 1  # other teachers agreeing with k
    return (1.0 - same / (k - 1)).astype(np.float32)


def gold_cross_entropy(logits: np.ndarray, gold: np.ndarray, clip: float = 10.0) -> np.ndarray:
    """(K, N): each teacher's cross-entropy on the gold label (clipped), 0 where there is none."""
    log_p = logits - logits.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    safe = np.clip(gold, 0, None)
    ce = -np.take_along_axis(log_p, safe[None, :, None].repeat(logits.shape[0], 0), axis=-1)[..., 0]
    return np.where(gold[None, :] >= 0, np.minimum(ce, clip), 0.0).astype(np.float32)


def classes_of_rows(inputs: StrategyInput) -> np.ndarray:
    """The class each transfer-set row counts under in per-class statistics: its gold label, or where it has
    none, the argmax of the teachers' mean distribution."""
    return inputs.task.rows_class(inputs.gold, inputs.probs(1.0).mean(0))


def mixed_target(inputs: StrategyInput, weights: np.ndarray) -> tuple[np.ndarray, str]:
    """(targets, kind) for per-row teacher weights (N, K) summing to one: with KL the mixture of the teachers'
    distributions at the temperature ("probs"), with MSE the weighted mean of their logits ("logits")."""
    w = weights.T[:, :, None].astype(np.float32)  # (K, N, 1)
    if inputs.loss == "kl":
        return (w * inputs.probs()).sum(0).astype(np.float32), "probs"
    return (w * inputs.logits).sum(0).astype(np.float32), "logits"


@dataclass
class WeightStatistics:
    """Mean weight (or selection rate) per teacher, overall, per class and per epoch: what ``teachers.json``
    records and ``teacher report`` shows."""

    names: list[str]
    class_names: list[str]
    measure: str = "mean weight"
    history: list = field(default_factory=list)
    _sum: np.ndarray | None = None
    _class_sum: np.ndarray | None = None
    _class_count: np.ndarray | None = None
    _epoch_sum: np.ndarray | None = None
    _epoch_count: int = 0

    def __post_init__(self):
        k, c = len(self.names), len(self.class_names)
        self._sum, self._count = np.zeros(k), 0
        self._class_sum, self._class_count = np.zeros((c, k)), np.zeros(c)
        self._epoch_sum, self._epoch_count = np.zeros(k), 0

    def add(self, values: np.ndarray, classes: np.ndarray) -> None:
        """values (B, K): the weights (or 0/1 selections) of B rows; classes (B,)."""
        values = np.asarray(values, dtype=np.float64)
        self._sum += values.sum(0)
        self._count += len(values)
        c = len(self.class_names)
        self._class_count += np.bincount(classes, minlength=c)
        for k in range(values.shape[1]):
            self._class_sum[:, k] += np.bincount(classes, weights=values[:, k], minlength=c)
        self._epoch_sum += values.sum(0)
        self._epoch_count += len(values)

    def end_epoch(self, stage: str, epoch: int, phase: str, **extra) -> None:
        if self._epoch_count:
            values = self._epoch_sum / self._epoch_count
            self.history.append({"stage": stage, "epoch": epoch, "phase": phase,
                                 "values": {n: round(float(v), 6) for n, v in zip(self.names, values)}, **extra})
        self._epoch_sum[:] = 0
        self._epoch_count = 0

    def to_dict(self) -> dict:
        overall = self._sum / max(self._count, 1)
        per_class = {}
        for c, name in enumerate(self.class_names):
            if self._class_count[c]:
                per_class[name] = {n: round(float(v), 6)
                                   for n, v in zip(self.names, self._class_sum[c] / self._class_count[c])}
        return {"measure": self.measure, "rows_counted": int(self._count),
                "overall": {n: round(float(v), 6) for n, v in zip(self.names, overall)},
                "per_class": per_class, "history": self.history}


class FixedWeightsObjective(DistillObjective):
    """Distillation towards a fixed per-row mix of teachers, with the weights' statistics for ``teachers.json``."""

    resumable = True  # its only hook records the (fixed) weights per epoch: resume_state keeps that record

    def __init__(self, targets, inputs: StrategyInput, weights: np.ndarray, target_kind: str, strategy: str,
                 extra: dict | None = None):
        super().__init__(targets, inputs.gold, loss=inputs.loss, temperature=inputs.temperature,
                         alpha=inputs.alpha, target_kind=target_kind, task=inputs.task)
        self.strategy, self.extra = strategy, extra or {}
        self.stats = WeightStatistics(inputs.names, inputs.class_names)
        self.stats.add(weights, classes_of_rows(inputs))
        self.weights_overall = self.stats.to_dict()
        self._per_row_mean = weights.mean(0)

    def end_epoch(self, context) -> None:
        # fixed weights: every epoch uses the same ones (recorded so the report can plot any strategy alike)
        self.stats.history.append({"stage": context.stage, "epoch": context.epoch, "phase": "fixed",
                                   "values": {n: round(float(v), 6)
                                              for n, v in zip(self.stats.names, self._per_row_mean)}})

    def summary(self) -> dict:
        out = self.stats.to_dict()
        out.update(self.extra)
        return out

    def resume_state(self) -> dict:
        return {"history": self.stats.history}

    def load_resume_state(self, state: dict) -> None:
        self.stats.history = list(state.get("history", []))


def fixed_weights_objective(inputs: StrategyInput, weights: np.ndarray, strategy: str, extra: dict | None = None,
                            space: str | None = None) -> FixedWeightsObjective:
    """The objective of per-row weights (N, K) (rows summing to one). ``space="logits"`` mixes logits whatever the
    loss (mean-logits); by default the loss decides (``mixed_target``)."""
    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape != (inputs.logits.shape[1], inputs.num_teachers):
        raise ValueError(f"weights of shape {weights.shape}, expected {(inputs.logits.shape[1], inputs.num_teachers)}")
    if space == "logits":
        targets = (weights.T[:, :, None] * inputs.logits).sum(0).astype(np.float32)
        kind = "logits"
    else:
        targets, kind = mixed_target(inputs, weights)
    return FixedWeightsObjective(targets, inputs, weights, kind, strategy, extra)
