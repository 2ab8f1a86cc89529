"""``distill``: the method, step by step (Sparse Distillation; Tang et al. for the sequence students).

    read the labelled data and find the task type         (data, tasks)
    load the teachers and match their outputs to the labels (teachers)
    build the transfer set: training + unlabeled (+ augmented) texts, dev kept out (data)
    label it with every teacher, through the cache        (teachers, locally or on Ray)
    turn the teachers' outputs into the student's targets (training.strategies)
    fit the student's vocabulary and encode the texts     (training.families)
    train: distil on the transfer set, fine-tune on gold  (training.loop), keeping the best checkpoint on dev
    export the numpy student, tune its decisions on dev, measure it (students, tasks)
    save it, with how its teachers were used              (persistence)

``distill(plan)`` runs a ``Plan``; ``distill(train, **options)`` builds one first, exactly as the command line does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.readers import LabelMap, TextDataset, read_dataset
from .errors import DataError
from .plan import Plan, resolve_device
from .students import Student
from .tasks import infer_task
from .training import session


@dataclass
class DistillReport:
    """What a run measured: timings, sizes, the student's and the teachers' dev metrics, how teachers were used."""

    timings: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    dev: dict = field(default_factory=dict)
    teacher_dev: dict = field(default_factory=dict)  # the teacher's (with several: the best teacher's on dev)
    teacher_dev_pred: np.ndarray | None = None
    teachers: list = field(default_factory=list)  # per teacher: name, path, fingerprint, dev metrics, agreement
    strategy: str | None = None
    selection: dict = field(default_factory=dict)  # what the strategy reports (weights / selection rates)
    history: list = field(default_factory=list)
    task: str = "single-label"


@dataclass
class LabelledData:
    """The run's data read as its task type: training, dev and unlabeled sets, label names and gold arrays."""

    train: TextDataset
    dev: TextDataset | None
    unlabeled: list
    task: object
    labels: LabelMap
    gold_train: np.ndarray
    gold_dev: np.ndarray | None


@dataclass
class TransferSet:
    """The texts the student learns from (training texts first) and their gold labels (empty rows elsewhere)."""

    texts: list
    pairs: list | None
    gold: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


def distill(plan: Plan | TextDataset | str | Path | None = None, *, log=print, progress: bool = True,
            **options) -> tuple[Student, DistillReport]:
    """Train a student as ``plan`` says (or as ``Plan.build(train, **options)`` says; the options are the command
    line's flags by name: ``teacher=``, ``dev=``, ``unlabeled=``, ``student=``, ``epochs=``, ...). Returns the
    student (the best checkpoint on dev) and a report; saves it to ``out`` when given."""
    if not isinstance(plan, Plan):
        plan = Plan.build(plan, **options)
    elif options:
        raise TypeError("distill(plan) takes no other options: build them into the plan")
    for note in plan.notes:
        log(note)
    report = DistillReport()
    data = read_data(plan, log)
    teachers = load_teachers(plan, data, log)
    describe_task(plan, data, log)
    transfer = build_transfer_set(plan, data, teachers, report, log, progress)
    execution = plan.execution()
    signal, dev_signal = label_transfer_set(plan, execution, teachers, data, transfer, report, log, progress)
    config = training_config(plan, data, transfer, log)
    encoded = fit_and_encode(plan, execution, transfer, teachers, report, log, progress)
    stages, objective = training_stages(plan, config, data, transfer, signal, dev_signal, log)
    trainer, module = train(plan, config, data, transfer, encoded, stages, signal, report, log, progress)
    student = export_student(plan, config, data, encoded, trainer, module, teachers, transfer, report, log)
    save(plan, config, student, trainer, objective, data, report, log)
    encoded.cleanup()
    return student, report


# -- the steps ------------------------------------------------------------------------------------------------------
def _read(source, spec, *, labels=None, require_label=False, what="training data"):
    if isinstance(source, TextDataset):
        return source
    if source is None:
        raise DataError(f"no {what} given")
    return read_dataset(source, text=spec.text_column, text_pair=spec.pair_column,
                        label=spec.label_column if require_label else None, require_label=require_label,
                        labels=labels if require_label else None)


def read_data(plan: Plan, log=print) -> LabelledData:
    """The training set (with labels), the dev set and the unlabeled sets; the task type is found from the training
    labels (or forced), stated in the log, and the dev labels are read the same way."""
    spec = plan.data
    if spec.train is None:  # the teacher alone labels the transfer set: its classes are the labels (load_teachers)
        unlabeled = [_read(u, spec, what="unlabeled data") for u in spec.unlabeled]
        return LabelledData(TextDataset([], None, [], source="(no training data)"), None, unlabeled, None, None,
                            None, None)
    train = _read(spec.train, spec, labels=spec.labels, require_label=True)
    if train.labels is None:
        raise DataError(f"{train.source or 'training data'}: no label column found (name it with --label-column)")
    task = infer_task(train.labels, spec.labels.multi_label)
    names = train.label_names or task.label_names(train.labels)
    _check_classes(task, names, train, log)
    gold_train = task.encode(names, train.labels, train.source, log)
    _check_task_options(plan, task)
    dev = gold_dev = None
    if spec.dev is not None:
        forced = spec.labels if task.name == "single-label" else _forced_multi(spec.labels)
        dev = _read(spec.dev, spec, labels=forced, require_label=True, what="dev data")
        if dev.labels is None:
            raise DataError(f"{dev.source}: the dev set has no label column")
        if (dev.pairs is None) != (train.pairs is None):
            raise DataError(f"{dev.source}: text pairs must be given for both train and dev, or neither")
        gold_dev = task.encode(names, dev.labels, dev.source, log)
        _warn_overlap(train, dev, log)
    unlabeled = [_read(u, spec, what="unlabeled data") for u in spec.unlabeled]
    return LabelledData(train, dev, unlabeled, task, LabelMap(names), gold_train, gold_dev)


def adopt_teacher_labels(plan: Plan, data: LabelledData, teachers: list, log) -> None:
    """Without training data the teachers' classes are the labels (every teacher must name the same ones); a dev
    set is then read with them."""
    from .errors import ModelError
    from .tasks import get_task

    names = teachers[0].label_names
    if not names:
        raise ModelError(f"teacher {teachers[0].name}'s classes have no names: without --train say what they are "
                         f"(id2label in its config.json) or give --train")
    for t in teachers[1:]:
        if sorted(t.label_names or []) != sorted(names):
            raise ModelError(f"teachers {teachers[0].name} and {t.name} name different classes; without --train "
                             f"they must agree")
    data.task = get_task(getattr(teachers[0], "task", None))
    data.labels = LabelMap(list(names))
    data.gold_train = data.task.empty_gold(0, len(names))
    _check_task_options(plan, data.task)
    spec = plan.data
    if spec.dev is not None:
        forced = _forced_multi(spec.labels) if data.task.name == "multi-label" else spec.labels
        data.dev = _read(spec.dev, spec, labels=forced, require_label=True, what="dev data")
        data.gold_dev = data.task.encode(data.labels.names, data.dev.labels, data.dev.source, log)
    log(f"no training data: the teacher's classes ({', '.join(names[:10])}) are the labels")


def describe_task(plan: Plan, data: LabelledData, log) -> None:
    """Say which task type the data is, once it is known to be trainable (multi-label, or when it was forced)."""
    task, gold = data.task, data.gold_train
    if task.name != "single-label" or plan.data.labels.multi_label is not None:
        counts = task.counts(gold, len(data.labels))
        log(f"task: {task.name}, {len(data.labels)} labels, {counts.sum() / max(len(gold), 1):.2f} labels per text, "
            f"{int((gold.sum(1) == 0).sum()) if gold.ndim == 2 else 0:,} training texts with none")


def _forced_multi(labels_format):
    import dataclasses

    return dataclasses.replace(labels_format, multi_label=True)


def _check_classes(task, names, train, log) -> None:
    if task.name == "single-label":
        if len(names) < 2:
            raise DataError(f"{train.source}: need at least two classes, found only {names}")
        numeric = [n for n in names if n.lstrip("-").isdigit()]
        if numeric and len(numeric) < len(names):
            words = [n for n in names if n not in numeric]
            log(f"warning: {train.source}: labels are spelled two ways ({', '.join(numeric[:3])} and "
                f"{', '.join(words[:3])}): {len(names)} classes; if they are the same classes, write them one way")
    elif not names:
        raise DataError(f"{train.source}: no text has a label; a multi-label task needs at least one")


def _check_task_options(plan: Plan, task) -> None:
    from .errors import ConfigError

    config_class = getattr(task, "config_class", None)
    if plan.task_config is not None and not isinstance(plan.task_config, config_class or ()):
        raise ConfigError(f"{', '.join(sorted(_task_flags(plan)))} applies to another task type; this data is "
                          f"{task.name}")
    if plan.strategy is not None:
        plan.strategy.check_task(task)
    metric = plan.train_config.select_metric
    if metric is not None and metric not in task.select_metrics:
        raise ConfigError(f"--select-metric {metric} does not apply to {task.name} data (choose from "
                          f"{', '.join(task.select_metrics)})")


def _task_flags(plan: Plan) -> set:
    from .config import changed_options
    from .plan import distill_flags

    return {"--" + k.replace("_", "-") for k in changed_options(plan.task_config, distill_flags())} or {"a task option"}


def _warn_overlap(train: TextDataset, dev: TextDataset, log) -> None:
    keys = set(zip(train.texts, train.pairs)) if train.pairs is not None else set(train.texts)
    dev_keys = list(zip(dev.texts, dev.pairs)) if dev.pairs is not None else dev.texts
    shared = sum(1 for k in dev_keys if k in keys)
    if shared:
        log(f"warning: {shared:,} of {len(dev):,} dev texts are also in the training data ({dev.source}): dev scores "
            f"measure memory there, not generalisation; use a dev set held out from training")


def load_teachers(plan: Plan, data: LabelledData, log=print) -> list:
    """The teachers, loaded on the plan's device and matched to the data's labels (a mismatch fails in seconds)."""
    if not plan.has_teacher:
        return []
    from .teachers.base import load_teachers as load
    from .teachers.signal import align_teachers

    t = plan.teachers
    teachers = load(list(t.sources), max_length=t.max_length, batch_size=t.batch_size, device=plan.device)
    if data.labels is None:
        adopt_teacher_labels(plan, data, teachers, log)
    for teacher in teachers:
        check = getattr(teacher, "check_task", None)
        if check is not None:
            check(data.task)
    if plan.train_config.loss == "ce":
        log("note: --loss ce trains on gold labels only; the teacher is not used")
        return []
    return align_teachers(teachers, data.labels, t.labels, log, task=data.task)


def build_transfer_set(plan: Plan, data: LabelledData, teachers: list, report: DistillReport, log,
                       progress=True) -> TransferSet:
    """Training texts first, then unlabeled (and augmented) texts not already present, dev texts kept out."""
    from .data.transfer import augment_texts_of, transfer_texts

    if not teachers:
        texts, pairs = list(data.train.texts), data.train.pairs
    else:
        extra = list(data.unlabeled)
        if plan.augment is not None:
            masks = [getattr(getattr(a.teacher, "tokenizer", None), "mask_token", None) for a in teachers]
            augmented, seconds = augment_texts_of(data.train, plan.augment, next((m for m in masks if m), None),
                                                  progress)
            report.timings["augmentation_s"] = seconds
            report.sizes["augmented_texts"] = len(augmented)
            log(f"augmentation: {len(augmented):,} new texts from {len(data.train):,} in {seconds:.1f}s")
            extra = [augmented, *extra]
        texts, pairs = transfer_texts(data.train, extra, exclude=data.dev)
    gold = data.task.empty_gold(len(texts), len(data.labels))
    gold[: len(data.train)] = data.gold_train
    return TransferSet(texts, pairs, gold)


def label_transfer_set(plan: Plan, execution, teachers: list, data: LabelledData, transfer: TransferSet,
                       report: DistillReport, log, progress=True):
    """(signal on the transfer set, signal on dev) of every teacher; dev first, so that a teacher worse than chance
    there (a wrong label mapping) fails in seconds."""
    if not teachers:
        return None, None
    from .teachers.signal import label_teachers, teacher_statistics

    started = time.perf_counter()
    cache, task = plan.teachers.cache, data.task
    dev_signal = None
    if data.dev is not None:
        dev_signal = label_teachers(teachers, data.dev.texts, data.dev.pairs, cache, progress=False)
        dev_signal.logits = np.nan_to_num(dev_signal.logits, nan=0.0)  # an unanswered dev text: no opinion
        teacher_statistics(teachers, dev_signal, data.gold_dev, dev_signal, task, data.labels.names, log)
    signal = execution.label(teachers, transfer.texts, transfer.pairs, cache, progress, log)
    signal = drop_unanswered(transfer, signal, data, log)
    report.timings["teacher_labelling_s"] = time.perf_counter() - started
    report.teachers = teacher_statistics(teachers, dev_signal, data.gold_dev, signal, task, data.labels.names)
    report.strategy = plan.strategy.name
    if dev_signal is not None:
        best = int(np.argmax([t["dev_score"] for t in report.teachers]))
        report.teacher_dev = report.teachers[best]["dev"]
        report.teacher_dev_pred = task.decide(dev_signal.logits[best])
        if len(teachers) > 1:
            log("teachers on dev: " + ", ".join(f"{t['name']} {t['dev_score']:.4f}" for t in report.teachers))
    return signal, dev_signal


def drop_unanswered(transfer: TransferSet, signal, data: LabelledData, log):
    """Texts a teacher could not answer (a served LM's unparsed replies): unlabeled ones leave the transfer set;
    training texts learn their gold label there instead (a near one-hot target)."""
    missing = ~np.isfinite(signal.logits).all(axis=(0, 2))
    if not missing.any():
        return signal
    n_train = len(data.train)
    logits = signal.logits
    for i in np.flatnonzero(missing[:n_train]):
        gold = data.gold_train[i]
        target = np.where(np.asarray(gold) > 0.5, 4.6, -4.6) if np.ndim(gold) else np.full(logits.shape[2], -4.6)
        if not np.ndim(gold):
            target[int(gold)] = 0.0
        bad = ~np.isfinite(logits[:, i]).all(axis=1)
        logits[bad, i] = target
    keep = np.concatenate([np.ones(n_train, dtype=bool), ~missing[n_train:]])
    dropped = int((~keep).sum())
    log(f"note: {int(missing.sum()):,} texts got no teacher answer: {dropped:,} unlabeled ones are left out, "
        f"{int(missing[:n_train].sum()):,} training ones learn their gold label")
    if dropped:
        rows = np.flatnonzero(keep)
        transfer.texts = [transfer.texts[i] for i in rows]
        transfer.pairs = None if transfer.pairs is None else [transfer.pairs[i] for i in rows]
        transfer.gold = transfer.gold[rows]
        signal = signal.subset(rows)
    return signal


def training_config(plan: Plan, data: LabelledData, transfer: TransferSet, log):
    """The training settings with what was left to the family, the task and the data size filled in."""
    import dataclasses

    config = plan.train_config.with_loss(plan.runtime.default_loss)
    if config.select_metric is None:
        config = dataclasses.replace(config, select_metric=data.task.default_select_metric)
    if config.epochs is None:
        config = config.with_epochs(len(transfer))
        if config.epochs != 3:
            log(f"{config.epochs} epochs for {len(transfer):,} transfer texts (small data: ~1,000 steps; --epochs to "
                f"choose)")
    return config


def fit_and_encode(plan: Plan, execution, transfer: TransferSet, teachers: list, report: DistillReport, log,
                   progress=True):
    """A new family adapter (its size budget set by its teachers' size), its vocabulary fitted on the transfer set,
    and the set encoded."""
    from .teachers.base import disk_bytes

    started = time.perf_counter()
    family = plan.family()
    fit = getattr(plan.runtime, "size_for_teachers", None)
    if fit is not None:
        sizes = [disk_bytes(a.teacher) for a in teachers]
        family.config = fit(family.config, max((s for s in sizes if s), default=None), log)
    encoded = execution.fit_and_encode(family, transfer.texts, transfer.pairs, progress, log)
    report.timings["vocabulary_and_encoding_s"] = time.perf_counter() - started
    return encoded


def training_stages(plan: Plan, config, data: LabelledData, transfer: TransferSet, signal, dev_signal, log):
    """(stages, the distillation objective or None): distil on the transfer set then fine-tune on gold (KD+FT), or
    train on gold labels alone."""
    from .training.loop import Stage
    from .training.objectives import GoldObjective
    from .training.strategies import StrategyInput

    task, gold = data.task, transfer.gold
    options = {} if plan.task_config is None else {"task_config": plan.task_config}
    gold_objective = GoldObjective(gold, task, **options)
    if signal is None:
        return [Stage("train (gold)", gold_objective, np.arange(len(transfer)), config.epochs)], None
    inputs = StrategyInput(signal.names, signal.logits, gold, list(data.labels.names), loss=config.loss,
                           temperature=config.temperature, alpha=config.alpha, seed=config.seed,
                           epochs=config.epochs, dev_logits=None if dev_signal is None else dev_signal.logits,
                           dev_gold=data.gold_dev, log=log, task=task, task_config=plan.task_config)
    objective = plan.strategy.objective(inputs)
    return [Stage("distill", objective, np.arange(len(transfer)), config.epochs),
            Stage("fine-tune (gold)", gold_objective, np.arange(len(data.train)), config.finetune_epochs,
                  config.finetune_lr_scale)], objective


def label_prior(data: LabelledData, transfer: TransferSet, signal) -> np.ndarray | None:
    """Multi-label: each label's frequency in what the student first learns (the teachers' mean probability over the
    transfer set, or the gold labels); the output layer starts there. None for single-label tasks."""
    if data.task.name == "single-label":
        return None
    if signal is not None:
        return np.mean([data.task.probabilities(logits).mean(0) for logits in signal.logits], axis=0)
    gold = transfer.gold[data.task.labelled(transfer.gold)] if len(transfer.gold) else transfer.gold
    return gold.mean(0) if len(gold) else None


def train(plan: Plan, config, data: LabelledData, transfer: TransferSet, encoded, stages, signal,
          report: DistillReport, log, progress=True):
    """The trainer run (resuming an interrupted run of the same plan), and the module with the best dev state."""
    from .training.loop import Trainer, TrainingSet

    family = encoded.family
    dev_set = None if data.dev is None else TrainingSet(family.encode(data.dev.texts, data.dev.pairs), data.gold_dev)
    device = resolve_device(plan.device)
    if device != "cpu":
        log(f"training on {device}")
    trainer = Trainer(family, config, len(data.labels), progress=progress, log=log, task=data.task, device=device,
                      output_prior=label_prior(data, transfer, signal))
    # what decides the training trajectory (the number of epochs only decides where it ends: a rerun with another
    # --epochs resumes too, towards the new total)
    schedule = {k: v for k, v in config.to_dict().items() if k not in ("epochs", "finetune_epochs")}
    run_id = None if plan.out is None else session.fingerprint(
        plan.student, schedule, config_dict(family.config), list(data.labels.names), transfer.texts, transfer.pairs,
        transfer.gold, None if signal is None else signal.logits,
        None if plan.strategy is None or signal is None else [plan.strategy.name, plan.strategy.config_dict()],
        None if data.dev is None else [data.dev.texts, data.dev.pairs, data.gold_dev],
        *([] if data.task.name == "single-label" else [data.task.name, config_dict(plan.task_config)]))
    trainer.session = session.resume_or_start(plan.out, run_id, plan.overwrite, log)
    trainer.session.run_id = run_id
    module = trainer.fit(encoded.inputs, stages, dev_set, resume=trainer.session.state,
                         on_stop=trainer.session.on_stop)
    report.timings["training_s"] = trainer.train_seconds
    report.timings["training_cpu_s"] = trainer.train_cpu_seconds
    report.history = trainer.history
    return trainer, module


def export_student(plan: Plan, config, data: LabelledData, encoded, trainer, module, teachers, transfer,
                   report: DistillReport, log) -> Student:
    """The numpy student (stored as the family's config says), its decisions tuned and its metrics measured on dev,
    and the metadata that says how it was made."""
    metadata = run_metadata(plan, config, data, encoded.family, teachers, transfer, trainer)
    with session.saving_guard(trainer, plan.out, log):  # after a first Ctrl-C, a second one aborts the saving
        student = encoded.family.export(module, data.labels, metadata)
        student.task = data.task
        if hasattr(student, "describe"):  # what is saved, and how big (after folding, pruning, quantising)
            log(f"model: {student.describe()}")
        if data.dev is not None:
            logits = student.predict_logits(data.dev.texts, data.dev.pairs)
            student.decision = data.task.fit_decision(logits, data.gold_dev, **_decision_options(plan))
            if student.decision.get("tuned_on"):
                log(f"decision thresholds tuned on {student.decision['tuned_on']:,} dev texts: global "
                    f"{student.decision['global_threshold']:.3f}"
                    + (", at least one label per text" if student.decision.get("at_least_one") else ""))
            report.dev = data.task.metrics(data.gold_dev, data.task.decide(logits, student.decision),
                                           data.labels.names, report.teacher_dev_pred)
            student.metadata["dev"] = report.dev
            if report.teacher_dev:
                student.metadata["teacher_dev"] = report.teacher_dev
        else:
            student.decision = data.task.fit_decision(None, None, **_decision_options(plan))
        student.metadata["timings"] = report.timings
        student.metadata["history"] = report.history
    report.task = data.task.name
    return student


def save(plan: Plan, config, student: Student, trainer, objective, data: LabelledData, report: DistillReport,
         log) -> None:
    """Save the student (with ``teachers.json`` and a learned policy beside it); after a Ctrl-C, what an interrupted
    run may save, and the exception that says so."""
    extra_files = None
    if objective is not None:
        report.selection = objective.summary()
        record = teachers_record(plan.strategy, objective, report, config)
        tensors = objective.state_tensors()

        def extra_files(tmp: Path) -> None:
            from .persistence import save_tensors, write_json

            write_json(tmp / "teachers.json", record)
            if tensors:
                save_tensors(tmp / "policy.safetensors", tensors)

    if trainer.interrupted:
        with session.saving_guard(trainer, plan.out, log):
            raise session.interrupted(trainer, student, report, plan.out, data.dev is not None, trainer.session,
                                      extra_files)
    warning = majority_warning(student, data, report.dev)
    if warning:
        log(f"warning: {warning}")
        student.metadata["warnings"] = [warning]
    if plan.out is not None:
        student.save_pretrained(plan.out, overwrite=plan.overwrite or trainer.session.state is not None,
                                extra_files=extra_files)
        session.drop_resume_state(plan.out)


def teachers_record(strategy, objective, report: DistillReport, config) -> dict:
    """What ``teachers.json`` holds: the teachers, the strategy and how it used each teacher."""
    selection = objective.summary()
    measure = selection.get("measure", "mean weight")
    teachers = []
    for entry in report.teachers:
        row = dict(entry)
        row[measure.replace(" ", "_")] = selection.get("overall", {}).get(entry["name"])
        row["per_class"] = {c: v.get(entry["name"]) for c, v in selection.get("per_class", {}).items()}
        teachers.append(row)
    return {"format": "textdistill-teachers", "format_version": 1, "strategy": strategy.name,
            "strategy_config": strategy.config_dict(), "loss": config.loss, "temperature": config.temperature,
            "alpha": config.alpha, "seed": config.seed, "teachers": teachers, "selection": selection,
            "student_dev": report.dev or None, "training_s": report.timings.get("training_s"), "task": report.task}


def _decision_options(plan: Plan) -> dict:
    options = getattr(plan.task_config, "decision_options", None)
    return options() if options is not None else {}


def run_metadata(plan: Plan, config, data: LabelledData, family, teachers, transfer, trainer) -> dict:
    """How the student was made, saved in its config.json."""
    raw = [a.teacher for a in teachers]
    meta = {
        "train_file": str(data.train.source), "transfer_texts": len(transfer), "task": data.task.name,
        "teacher": None if len(raw) != 1 else {"path": str(getattr(raw[0], "source", "")),
                                               "fingerprint": raw[0].fingerprint},
        "teachers": [{"name": t.name, "path": str(getattr(t, "source", "")), "fingerprint": t.fingerprint}
                     for t in raw] or None,
        "teacher_strategy": None if not teachers else plan.strategy.name,
        "train_config": config.to_dict(),
        "student_config": config_dict(family.config),
        "augment": None if plan.augment is None or not teachers else plan.augment.to_dict(),
        "device": trainer.device,
        "best": trainer.best_where,
        # what a rebuild needs to tell "other inputs" (run_id) from "other numerics" (versions, threads) apart
        "environment": run_environment(trainer.device),
        "run_id": getattr(trainer.session, "run_id", None),
    }
    if trainer.resumed_from:
        meta["resumed_from"] = trainer.resumed_from
    if trainer.interrupted:
        meta.update(interrupted=True, stopped_at=trainer.stopped_at)
    return meta


def run_environment(device: str) -> dict:
    """Versions, device and torch threads of a run: a seed reproduces a student bit for bit only with the same
    torch, numpy and thread count (intra-op threads change the order of floating-point sums)."""
    import torch

    from . import __version__

    return {"textdistill": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "torch_threads": torch.get_num_threads(), "device": device}


def config_dict(config) -> dict:
    """A config dataclass as a JSON-able dict (its own ``to_dict`` when it has one)."""
    import dataclasses

    if hasattr(config, "to_dict"):
        return config.to_dict()
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


def majority_warning(student, data: LabelledData, dev_metrics, sample: int = 20_000) -> str | None:
    """A warning when a single-label student is not clearly better than always answering the training set's most
    frequent class (less than two standard errors above that answer's accuracy): on dev when there is one (the
    selected checkpoint), else on (up to ``sample``) training texts."""
    if data.task.name != "single-label" or not len(data.train):
        return None
    train, gold_train, labels = data.train, data.gold_train, data.labels
    majority = int(np.bincount(gold_train, minlength=len(labels)).argmax())
    name = labels.names[majority]
    if data.dev is not None and dev_metrics:
        accuracy, baseline, where = dev_metrics["accuracy"], float(np.mean(data.gold_dev == majority)), "dev"
        n = len(data.gold_dev)
    else:
        rows = np.random.default_rng(0).permutation(len(train))[:sample]
        pred = student.predict_logits([train.texts[i] for i in rows],
                                      None if train.pairs is None else [train.pairs[i] for i in rows]).argmax(-1)
        accuracy = float(np.mean(pred == gold_train[rows]))
        baseline, where, n = float(np.mean(gold_train[rows] == majority)), "training", min(len(train), sample)
    if accuracy >= baseline + 2 * np.sqrt(baseline * (1 - baseline) / max(n, 1)):
        return None
    return (f"the student is not clearly better than always answering {name!r} ({where} accuracy {accuracy:.4f}, "
            f"that answer {baseline:.4f}, on {n:,} texts): more labelled data, a teacher with unlabeled text, or more "
            f"--epochs or a higher --lr / --embedding-lr may help")
