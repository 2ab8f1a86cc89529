"""A run of ``distill`` as one frozen, validated plan.

``Plan.build(**options)`` is the only way a run is described: the command line passes the flags the user gave, the
Python API its keyword arguments (the same names: ``epochs=3``, ``embedding_dim=64``, ``teacher=[...]``) or config
objects (``train_config=TrainConfig(...)``: the fields that differ from the defaults count as given). Every check of
the settings happens here, once, before any data is read or any teacher is loaded, so both paths accept and reject
the same things with the same one-line messages and the same defaults (the teacher-output cache included).

What can only be checked against the data (the task type, a dev set's labels) is checked by the pipeline's first
step, still before any labelling or training.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Flag, build_config, changed_options, collect_flags
from .data.augment import AugmentConfig
from .data.readers import LabelFormat, TextDataset
from .distributed.config import RayConfig, ShardConfig
from .errors import ConfigError
from .students import FAMILIES
from .tasks import TASKS
from .training.config import TrainConfig
from .training.strategies import STRATEGIES, make_strategy

# Options with their own parameters (not generated from a config): (name, help).
FIXED = {
    "train": "Labelled training file (its texts are part of the transfer set). Optional with a teacher whose classes "
             "have names: it then labels --unlabeled alone (zero-shot and prompted teachers).",
    "out": "Directory to save the student to.",
    "teacher": "Teacher: a Hugging Face classifier directory, a saved textdistill student or a teacher spec (.json); "
               "repeatable (several teachers). Without one the student learns gold labels only.",
    "teacher_strategy": "How several teachers are combined. Default: single for one teacher, mean-logits for several.",
    "teacher_labels": "For a teacher whose classes have no names: the data's label of each of its columns (neg,pos) "
                      "or a JSON map ('{\"0\": \"neg\"}' or a .json file); once for all teachers or once per "
                      "--teacher (- for a teacher that needs none).",
    "dev": "Labelled dev file: selects the checkpoint (and tunes multi-label thresholds).",
    "unlabeled": "Extra transfer texts labelled by the teacher; repeatable.",
    "student": "Student family.",
    "augment": "Add augmented training texts (masking, POS-guided replacement, n-gram sampling) to the transfer "
               "set; needs --teacher.",
    "cache": "Teacher-output cache directory (default $TEXTDISTILL_CACHE or ~/.cache/textdistill/teacher-outputs).",
    "max_length": "Teacher truncation in tokens (default: the teacher card's).",
    "teacher_batch_size": "Texts per teacher forward pass when labelling (default 32 on a CPU; on a GPU batches are "
                          "sized by tokens).",
    "device": "Where teachers run and students train: auto (a GPU when there is one), cpu, cuda or cuda:N.",
    "overwrite": "Replace a non-empty output directory.",
    "text_column": "Text column: name or 0-based index (auto-detected).",
    "pair_column": "Second text of a pair: name or index (auto-detected).",
    "label_column": "Label column: name or index (auto-detected).",
    "label_sep": "Multi-label: labels separated in one cell by this string (GoEmotions' \"3,17\": --label-sep ,).",
    "label_columns": "Multi-label: one 0/1 column per label, comma-separated names (toxic,insult,...).",
    "label_names": "A file naming the classes, one per line (label k is line k), e.g. GoEmotions' emotions.txt.",
    "multi_label": "Treat the data as multi-label (default: inferred, any row with other than one label).",
}
# The config objects the Python API may pass instead of (or besides) flat options.
CONFIG_OBJECTS = ("student_config", "train_config", "strategy_config", "shards", "task_config")
DEFAULT_TEACHER_BATCH = 32
DEVICES_HELP = "auto, cpu, cuda or cuda:N"


def strategy_configs() -> list[type]:
    return list(dict.fromkeys(c.config_class for _, c in STRATEGIES.items() if c.config_class is not None))


def family_configs() -> list[type]:
    return list(dict.fromkeys(c.config_class for _, c in FAMILIES.items() if getattr(c, "config_class", None)))


def task_configs() -> list[type]:
    return list(dict.fromkeys(c.config_class for _, c in TASKS.items() if getattr(c, "config_class", None)))


def option_panels() -> dict[type, str]:
    """The --help group of each config's options."""
    panels = {TrainConfig: "Training", AugmentConfig: "Augmentation (--augment)", RayConfig: "Ray (--ray)",
              ShardConfig: "Ray (--ray)"}
    for name, cls in FAMILIES.items():
        if getattr(cls, "config_class", None):
            panels.setdefault(cls.config_class, f"Student: {name}")
    for name, cls in STRATEGIES.items():
        if cls.config_class is not None:
            panels.setdefault(cls.config_class, f"Teacher strategy: {name}")
    for name, cls in TASKS.items():
        if getattr(cls, "config_class", None):
            panels.setdefault(cls.config_class, f"Task: {name}")
    return panels


def distill_flags() -> dict[str, Flag]:
    """Every generated option of ``distill`` by name (families, strategies and task types as registered now)."""
    configs = [TrainConfig, AugmentConfig, *family_configs(), *strategy_configs(), *task_configs(), RayConfig,
               ShardConfig]
    flags = collect_flags(configs, taken=set(FIXED), panels=option_panels())
    strategies = set(strategy_configs())
    for spec in flags.values():  # a strategy's option is its own: the value would go to both
        owners = {cls for cls, _ in spec.owners}
        if owners & strategies and owners - strategies:
            names = ", ".join(sorted(c.__name__ for c in owners))
            raise TypeError(f"option {spec.flag} is defined by {names}: a strategy's fields must not share a name "
                            f"with a training, augmentation or student option (prefix them with the strategy's name)")
    return flags


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how its columns and labels are read."""

    train: Any  # a path or a TextDataset
    dev: Any = None
    unlabeled: tuple = ()
    text_column: Any = None
    pair_column: Any = None
    label_column: Any = None
    labels: LabelFormat = LabelFormat()


@dataclass(frozen=True)
class TeacherSpec:
    """The teachers (paths, hub ids or teacher objects) and how they are loaded, aligned and cached."""

    sources: tuple = ()
    labels: Any = None  # --teacher-labels: None, one mapping, or one per teacher
    max_length: int | None = None
    batch_size: int = DEFAULT_TEACHER_BATCH
    cache: Path | None = None


@dataclass(frozen=True)
class Plan:
    """Everything one ``distill`` run does, validated. Build it with ``Plan.build(**options)``."""

    data: DataSpec
    teachers: TeacherSpec
    strategy: Any  # a Strategy (None without teachers)
    student: str
    student_config: Any
    train_config: TrainConfig
    task_config: Any = None  # the settings of a task type (multi-label thresholds, positive weights), if given
    augment: AugmentConfig | None = None
    ray: RayConfig | None = None
    shards: ShardConfig | None = None
    device: str = "auto"
    out: Path | None = None
    overwrite: bool = False
    notes: tuple = ()  # what the run says first (options that are ignored, with why)
    given: tuple = ()  # the options the user gave, as given

    @property
    def has_teacher(self) -> bool:
        return bool(self.teachers.sources)

    @property
    def runtime(self):
        """The registered runtime class of the student family."""
        return FAMILIES.get(self.student)

    def family(self):
        """A new training adapter of the student family with this plan's config (imports torch)."""
        return self.runtime.adapter_class()(self.student_config)

    def execution(self):
        """Where labelling and encoding run: this process, or Ray (``textdistill.distributed``)."""
        if self.ray is None:
            from .execution import LocalExecution

            return LocalExecution()
        from .distributed.execution import RayExecution

        return RayExecution(self.ray, self.shards)

    def to_dict(self) -> dict:
        """What the run was asked to do, for the run log and the model's metadata."""
        return {"student": self.student, "teachers": [str(getattr(t, "source", t)) for t in self.teachers.sources],
                "strategy": None if self.strategy is None else self.strategy.name, "device": self.device,
                "ray": None if self.ray is None else self.ray.address, "given": list(self.given)}

    @classmethod
    def build(cls, train=None, **options) -> "Plan":
        """The validated plan of a run from flat options (the flags' names) and/or config objects."""
        return _build(train, options)


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, os.PathLike, TextDataset)) or not isinstance(value, (list, tuple)):
        return (value,)
    return tuple(value)


def _flat(options: dict, flags: dict[str, Flag]) -> dict:
    """Config objects -> the flat options they change; flat options given alongside win."""
    values = {}
    for key in CONFIG_OBJECTS:
        obj = options.pop(key, None)
        if obj is None:
            continue
        if isinstance(obj, dict):
            values.update(obj)
        elif dataclasses.is_dataclass(obj):
            values.update(changed_options(obj, flags))
        else:
            raise ConfigError(f"{key} must be a config dataclass or a dict, not {type(obj).__name__}")
    augment = options.get("augment")
    if isinstance(augment, AugmentConfig):
        values.update(changed_options(augment, flags))
        options["augment"] = True
    ray = options.get("ray")
    if isinstance(ray, RayConfig):
        values.update(changed_options(ray, flags))
        options.pop("ray")
    values.update({k: v for k, v in options.items() if k in flags and v is not None})
    return values


def _build(train, options: dict) -> Plan:
    options = dict(options)
    flags = distill_flags()
    unknown = sorted(k for k in options if k not in FIXED and k not in flags and k not in CONFIG_OBJECTS)
    if unknown:
        raise ConfigError(f"unknown option{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join('--' + k.replace('_', '-') for k in unknown)}")
    if train is None and not options.get("teacher"):
        raise ConfigError("--train is required (the labelled training file), unless a --teacher labels --unlabeled "
                          "texts")
    if train is None and not options.get("unlabeled"):
        raise ConfigError("without --train, give --unlabeled texts for the teacher to label (the transfer set)")
    values = _flat(options, flags)
    given = set(values)
    student = options.get("student") or "dan"
    if student not in FAMILIES:
        raise ConfigError(f"unknown student {student!r} (choose from: {', '.join(FAMILIES.names())})")
    runtime = FAMILIES.get(student)
    teachers = _as_tuple(options.get("teacher"))
    has_dev = options.get("dev") is not None

    student_config, used = build_config(runtime.config_class, values, flags)
    train_config, used_train = build_config(TrainConfig, values, flags)
    augment_config, used_aug = build_config(AugmentConfig, values, flags)
    strategy_name = options.get("teacher_strategy") or ("single" if len(teachers) <= 1 else "mean-logits")
    strategy_cls = STRATEGIES.get(strategy_name)
    strategy_config, used_strategy = (None, set())
    if strategy_cls.config_class is not None:
        strategy_config, used_strategy = build_config(strategy_cls.config_class, values, flags)
    ray, shards, used_ray = _ray_settings(values, flags)
    task_config, used_task = _task_settings(values, flags)
    _refuse_unused(given - used - used_train - used_aug - used_strategy - used_ray - used_task, flags, student,
                   strategy_name)
    check_training_flags(used_train, train_config, runtime.default_loss, bool(teachers), has_dev)
    notes = _teacher_notes(options, teachers)
    strategy = None
    if teachers:
        strategy = make_strategy(strategy_name, strategy_config)
        strategy.check(len(teachers), has_dev)
    elif used_strategy or options.get("teacher_strategy"):
        raise ConfigError("--teacher-strategy and its flags need --teacher")
    augment = bool(options.get("augment"))
    if augment and train is None:
        raise ConfigError("--augment needs --train (it makes copies of the training texts)")
    if not augment and used_aug:
        raise ConfigError(f"{', '.join(flags[p].flag for p in sorted(used_aug))} needs --augment")
    if augment and not teachers:
        raise ConfigError("--augment needs --teacher: the augmented texts have no labels but the teacher's")
    _check_student_files(student_config)
    device = check_device(options.get("device"))
    out = None if options.get("out") is None else Path(options["out"])
    overwrite = bool(options.get("overwrite"))
    if out is not None:
        _check_out(out, overwrite)
    check_size_budget(runtime, student_config)
    data = DataSpec(train, options.get("dev"), _as_tuple(options.get("unlabeled")), options.get("text_column"),
                    options.get("pair_column"), options.get("label_column"),
                    LabelFormat.of(sep=options.get("label_sep"), columns=options.get("label_columns"),
                                   names=options.get("label_names"), multi_label=options.get("multi_label")))
    teacher_spec = TeacherSpec(teachers, options.get("teacher_labels") or None, options.get("max_length"),
                               int(options.get("teacher_batch_size") or DEFAULT_TEACHER_BATCH),
                               _cache_root(options.get("cache")) if teachers else None)
    _check_teacher_options(teacher_spec)
    return Plan(data=data, teachers=teacher_spec, strategy=strategy, student=student, student_config=student_config,
                train_config=train_config, task_config=task_config,
                augment=dataclasses.replace(augment_config, seed=train_config.seed) if augment else None,
                ray=ray, shards=shards, device=device, out=out, overwrite=overwrite, notes=tuple(notes),
                given=tuple(sorted(given | {k for k, v in options.items() if v not in (None, False, (), [])})))


def _ray_settings(values: dict, flags: dict) -> tuple:
    """(RayConfig or None, ShardConfig or None, options used); a Ray option without --ray is an error; with it,
    Ray must be installed and a remote address must answer (before any work)."""
    ray, used = build_config(RayConfig, values, flags)
    shards, used_shards = build_config(ShardConfig, values, flags)
    used |= used_shards
    if ray.address is None:
        if used:
            raise ConfigError(f"{', '.join(flags[p].flag for p in sorted(used))} needs --ray")
        return None, None, used
    from .distributed.cluster import preflight

    preflight(ray)
    return ray, shards, used


def _task_settings(values: dict, flags: dict) -> tuple:
    """The config of the task type whose options were given (checked against the data's type later)."""
    for _, cls in TASKS.items():
        config_class = getattr(cls, "config_class", None)
        if config_class is not None:
            config, used = build_config(config_class, values, flags)
            if used:
                return config, used
    return None, set()


def _refuse_unused(unused: set, flags: dict, student: str, strategy_name: str) -> None:
    """An option that belongs to no config in use: say which family, strategy or switch it belongs to."""
    strategy_owned = set(strategy_configs())
    for param in sorted(unused):
        spec = flags[param]
        if any(owner is AugmentConfig for owner, _ in spec.owners):
            raise ConfigError(f"{spec.flag} needs --augment")
        if any(owner in strategy_owned for owner, _ in spec.owners):
            users = [n for n, c in STRATEGIES.items() if any(o is c.config_class for o, _ in spec.owners)]
            raise ConfigError(f"{spec.flag} applies to --teacher-strategy {' or '.join(users)}, not {strategy_name}")
        families = [n for n, c in FAMILIES.items() if any(o is getattr(c, "config_class", None) for o, _ in spec.owners)]
        if families:
            raise ConfigError(f"{spec.flag} does not apply to the {student} student (it is an option of "
                              f"{', '.join(families)})")
        raise ConfigError(f"{spec.flag} does not apply to this run")


def check_training_flags(given: set[str], config: TrainConfig, family_loss: str, has_teacher: bool,
                         has_dev: bool) -> None:
    """A training option that cannot change anything in this run is an error, before any work: the user expects
    it to do something (a KD setting without a teacher, a selection setting without a dev set, ...)."""
    loss = config.loss or family_loss
    if not has_teacher:
        if "loss" in given and loss != "ce":
            raise ConfigError(f"--loss {loss} needs --teacher (without one the student learns the gold labels: ce)")
        for name in ("temperature", "alpha", "finetune_epochs", "finetune_lr_scale"):
            if name in given and not (name == "finetune_epochs" and config.finetune_epochs == 0):  # 0 = as it is
                raise ConfigError(f"--{name.replace('_', '-')} needs --teacher (without one the student learns the "
                                  f"gold labels only, in one stage)")
    elif loss == "ce":
        for name in ("temperature", "alpha"):
            if name in given:
                raise ConfigError(f"--{name} does nothing with --loss ce (gold labels only; the teacher is not used)")
    elif "temperature" in given and loss != "kl":
        raise ConfigError(f"--temperature applies to --loss kl, not {loss} (the loss on logits has no temperature)")
    if has_teacher and "finetune_lr_scale" in given and config.finetune_epochs == 0:
        raise ConfigError("--finetune-lr-scale does nothing with --finetune-epochs 0")
    if not has_dev:
        for name in ("select_metric", "eval_every"):
            if name in given:
                raise ConfigError(f"--{name.replace('_', '-')} needs --dev (without a dev set nothing is selected: "
                                  f"the last epoch's model is kept)")


def _teacher_notes(options: dict, teachers: tuple) -> list[str]:
    if teachers:
        return []
    plumbing = {"--cache": options.get("cache"), "--max-length": options.get("max_length"),
                "--teacher-batch-size": options.get("teacher_batch_size"),
                "--teacher-labels": options.get("teacher_labels") or None}
    unused = [k for k, v in plumbing.items() if v is not None]
    notes = []
    if unused:
        notes.append(f"note: {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} only used with --teacher; "
                     f"ignored")
    if options.get("unlabeled"):
        notes.append("note: unlabeled data is ignored when training on gold labels only (no --teacher)")
    return notes


def _check_teacher_options(spec: TeacherSpec) -> None:
    if spec.max_length is not None and (not isinstance(spec.max_length, int) or spec.max_length < 2):
        raise ConfigError(f"--max-length must be an integer >= 2, got {spec.max_length!r}")
    if spec.batch_size < 1:
        raise ConfigError(f"--teacher-batch-size must be >= 1, got {spec.batch_size}")


def _check_student_files(student_config) -> None:
    vectors = getattr(student_config, "vectors", None)
    if vectors not in (None, "glove", "none", "random") and not Path(vectors).is_file():
        raise ConfigError(f"--vectors: no such file: {vectors}")


def check_device(device) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (one-line error otherwise; a CUDA device that is not there too)."""
    device = "auto" if device in (None, "") else str(device).strip().lower()
    if device in ("auto", "cpu"):
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        try:
            import torch
        except ImportError:
            raise ConfigError(f"--device {device} needs torch (pip install 'textdistill[train]')") from None
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: no CUDA device here (torch {torch.__version__} sees none); use "
                              f"--device cpu or auto")
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise ConfigError(f"--device must be {DEVICES_HELP}, not {device!r}")


def check_size_budget(runtime, student_config) -> None:
    """A storage budget that cannot hold even one row fails now, not after training (the family says)."""
    check = getattr(runtime, "check_storage", None)
    if check is not None:
        check(student_config)


def _check_out(out: Path, overwrite: bool) -> None:
    from .persistence import check_can_write, is_interrupted_model
    from .training.resume import resume_dir

    # an interrupted run's checkpoint may be replaced by its own rerun (the pipeline checks it is the same run)
    check_can_write(out, overwrite or (is_interrupted_model(out) and resume_dir(out).is_dir()))


def _cache_root(cache) -> Path:
    from .teachers.cache import default_cache_root

    return Path(cache).expanduser() if cache else default_cache_root()


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; anything else as it is."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


__all__ = ["Plan", "DataSpec", "TeacherSpec", "distill_flags", "check_training_flags", "FIXED", "field"]
