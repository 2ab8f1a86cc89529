"""Distillation end to end: label the transfer set through the cache, build the student, train, save.

This is what ``textdistill distill`` and the Python API's ``distill()`` run; each step is timed so benchmarks
can report where the wall time went.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.readers import LabelMap, TextDataset
from .errors import DataError, ModelError
from .evaluation.metrics import classification_metrics
from .students import FAMILIES, Student
from .teachers.alignment import align_teacher

def family_runtime(name: str):
    """The registered runtime class of student family ``name`` (a one-line error for an unknown one)."""
    from .errors import ConfigError

    try:
        return FAMILIES.get(name)
    except ConfigError:
        raise DataError(f"unknown student {name!r} (choose from: {', '.join(FAMILIES.names())})") from None


def _family_classes(name: str):
    runtime = family_runtime(name)
    return runtime.adapter_class(), runtime.config_class


def build_student_config(name: str, **options):
    """The config of student family ``name`` from flat options (CLI flags); nested configs (the n-gram or word
    settings) take the options that name their fields. An option the family does not have is an error."""
    import dataclasses

    from .errors import ConfigError

    _, config_cls = _family_classes(name)
    top, nested = {}, {}
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    nested_types = {}
    for f in fields.values():
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            nested_types[f.name] = type(default)
    for key, value in options.items():
        if key in fields and key not in nested_types:
            top[key] = value
            continue
        owner = next((n for n, t in nested_types.items() if key in {f.name for f in dataclasses.fields(t)}), None)
        if owner is None:
            raise ConfigError(f"--{key.replace('_', '-')} does not apply to the {name} student")
        nested.setdefault(owner, {})[key] = value
    for owner, values in nested.items():
        top[owner] = nested_types[owner](**values)
    return config_cls(**top)


def make_family(name: str, config=None, **options):
    """The training adapter of a student family by name (the registry the CLI's --student reads)."""
    family_cls, _ = _family_classes(name)
    return family_cls(config if config is not None else build_student_config(name, **options))


def default_loss(name: str) -> str:
    """The loss a family's paper trains with: KL for the DAN, MSE on logits for BiLSTM and CNN (Tang et al.)."""
    return family_runtime(name).default_loss


@dataclass
class TeacherOutputs:
    """Teacher logits in the label order of the student, with the time it took to get them."""

    logits: np.ndarray
    seconds: float


@dataclass
class DistillReport:
    timings: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    dev: dict = field(default_factory=dict)
    teacher_dev: dict = field(default_factory=dict)
    teacher_dev_pred: np.ndarray | None = None
    history: list = field(default_factory=list)


def label_texts(teacher, texts, pairs, labels: LabelMap, cache_root, progress=True) -> TeacherOutputs:
    from .teachers.cache import label_with_cache

    started = time.perf_counter()
    logits = label_with_cache(teacher, texts, pairs, cache_root=cache_root, progress=progress)
    order = align_teacher(getattr(teacher, "label_names", None), logits.shape[1], labels)
    return TeacherOutputs(np.ascontiguousarray(logits[:, order]), time.perf_counter() - started)


def transfer_texts(train: TextDataset, unlabeled: list[TextDataset], exclude: TextDataset | None = None):
    """Training texts first, then unlabeled texts not already present (a text is labelled and learned once).

    Texts of ``exclude`` (the dev set) are kept out, so model selection never scores a text the student was
    taught on.
    """
    texts = list(train.texts)
    pairs = list(train.pairs) if train.pairs is not None else None
    seen = set(zip(texts, pairs)) if pairs is not None else set(texts)
    if exclude is not None:
        seen |= set(zip(exclude.texts, exclude.pairs)) if exclude.pairs is not None else set(exclude.texts)
    for extra in unlabeled:
        if (extra.pairs is None) != (pairs is None):
            raise DataError(f"{extra.source}: the training data {'has' if pairs is not None else 'has no'} text "
                            f"pairs but this file {'does not' if extra.pairs is None else 'does'}")
        for i, text in enumerate(extra.texts):
            key = (text, extra.pairs[i]) if pairs is not None else text
            if key in seen or not text.strip():
                continue
            seen.add(key)
            texts.append(text)
            if pairs is not None:
                pairs.append(extra.pairs[i])
    return texts, pairs


def augment_training_set(train: TextDataset, config, teacher, report: "DistillReport", log, progress=True):
    """Augmented copies of the training texts as an unlabeled dataset; the mask token is the teacher's own."""
    import dataclasses

    from .data.augment import Augmenter

    mask = getattr(getattr(teacher, "tokenizer", None), "mask_token", None)
    if mask and mask != config.mask_token:
        config = dataclasses.replace(config, mask_token=mask)
    started = time.perf_counter()
    texts, pairs, _ = Augmenter(config).fit_augment(train.texts, train.pairs, progress=progress)
    report.timings["augmentation_s"] = time.perf_counter() - started
    report.sizes["augmented_texts"] = len(texts)
    log(f"augmentation: {len(texts):,} new texts from {len(train):,} in {report.timings['augmentation_s']:.1f}s")
    return TextDataset(texts, pairs, None, source="augmentation")


def distill(train: TextDataset, *, out: str | Path | None = None, teacher=None, dev: TextDataset | None = None,
            unlabeled: list[TextDataset] | None = None, student: str = "dan", student_config=None,
            train_config=None, augment=None, cache_root=None, progress: bool = True, overwrite: bool = True,
            log=print) -> tuple[Student, DistillReport]:
    """Train a student on ``train`` (+ ``unlabeled``) from ``teacher`` (a Teacher, a path, or None for gold only).

    ``augment`` (an AugmentConfig) adds augmented copies of the training texts (Tang et al.) to the transfer
    set; the teacher labels them through the cache like any other text. Returns the best student by dev metric
    and a report of timings and metrics; saves it to ``out`` if given.
    """
    from .training.config import TrainConfig
    from .training.loop import Stage, Trainer, TrainingSet
    from .training.objectives import DistillObjective, GoldObjective

    config = (train_config or TrainConfig()).with_loss(default_loss(student))
    report = DistillReport()
    if train.labels is None:
        raise DataError(f"{train.source or 'training data'}: no label column found (name it with --label-column)")
    labels = LabelMap.from_labels(train.labels)
    if len(labels) < 2:
        raise DataError(f"{train.source}: need at least two classes, found only {labels.names}")
    gold_train = labels.encode(train.labels, source=train.source)
    dev_gold = None
    if dev is not None:
        if dev.labels is None:
            raise DataError(f"{dev.source}: the dev set has no label column")
        if (dev.pairs is None) != (train.pairs is None):
            raise DataError(f"{dev.source}: text pairs must be given for both train and dev, or neither")
        dev_gold = labels.encode(dev.labels, source=dev.source)

    make_family(student, config=student_config)  # an unknown student fails now, not after hours of labelling
    unlabeled = unlabeled or []
    if teacher is not None and config.loss == "ce":
        log("note: --loss ce trains on gold labels only; the teacher is not used")
        teacher = None
    if teacher is None:
        texts, pairs = list(train.texts), train.pairs
        if unlabeled:
            log("note: unlabeled data is ignored when training on gold labels only (no --teacher)")
        if augment is not None:
            log("note: augmentation needs a teacher to label the new texts; training on gold labels only")
    else:
        texts, pairs = transfer_texts(train, unlabeled, exclude=dev)
        if isinstance(teacher, (str, Path)):
            from .teachers.huggingface import Teacher

            teacher = Teacher.from_pretrained(str(teacher))
        align_teacher(getattr(teacher, "label_names", None), int(teacher.num_labels), labels, log)  # before labelling
        if augment is not None:
            augmented = augment_training_set(train, augment, teacher, report, log, progress)
            texts, pairs = transfer_texts(train, [augmented, *unlabeled], exclude=dev)
    gold = np.full(len(texts), -1, dtype=np.int64)
    gold[: len(train)] = gold_train

    teacher_logits = None
    if teacher is not None:
        outputs = label_texts(teacher, texts, pairs, labels, cache_root, progress)
        teacher_logits = outputs.logits
        report.timings["teacher_labelling_s"] = outputs.seconds
        log(f"teacher outputs for {len(texts):,} texts in {outputs.seconds:.1f}s "
            f"(cached texts cost nothing; fingerprint {teacher.fingerprint[:12]})")
        if dev is not None:
            dev_out = label_texts(teacher, dev.texts, dev.pairs, labels, cache_root, progress=False)
            report.teacher_dev = classification_metrics(dev_gold, dev_out.logits.argmax(-1), len(labels))
            report.teacher_dev_pred = dev_out.logits.argmax(-1)

    family = make_family(student, config=student_config)
    started = time.perf_counter()
    family.fit(texts, pairs, progress=progress)
    if hasattr(family, "describe"):
        log(f"{student} student: {family.describe()}")
    encoded = family.encode(texts, pairs)
    report.timings["vocabulary_and_encoding_s"] = time.perf_counter() - started
    dev_set = None if dev is None else TrainingSet(family.encode(dev.texts, dev.pairs), dev_gold)
    if teacher is None:
        stages = [Stage("train (gold)", GoldObjective(gold), np.arange(len(texts)), config.epochs)]
    else:
        kd = DistillObjective(teacher_logits, gold, loss=config.loss, temperature=config.temperature,
                              alpha=config.alpha)
        stages = [Stage("distill", kd, np.arange(len(texts)), config.epochs),
                  Stage("fine-tune (gold)", GoldObjective(gold), np.arange(len(train)), config.finetune_epochs,
                        config.finetune_lr_scale)]

    trainer = Trainer(family, config, len(labels), progress=progress, log=log)
    module = trainer.fit(encoded, stages, dev_set)
    report.timings["training_s"] = trainer.train_seconds
    report.history = trainer.history
    metadata = {
        "train_file": str(train.source), "transfer_texts": len(texts), "best": trainer.best_where,
        "teacher": None if teacher is None else {"path": str(getattr(teacher, "source", "")),
                                                 "fingerprint": teacher.fingerprint},
        "train_config": config.to_dict(),
        "student_config": family.config.to_dict(),
        "augment": None if augment is None or teacher is None else augment.to_dict(),
    }
    result = family.export(module, labels, metadata)
    if dev is not None:
        pred = result.predict_logits(dev.texts, dev.pairs).argmax(-1)
        report.dev = classification_metrics(
            dev_gold, pred, len(labels), report.teacher_dev_pred
        )
        result.metadata["dev"] = report.dev
        if report.teacher_dev:
            result.metadata["teacher_dev"] = report.teacher_dev
    result.metadata["timings"] = report.timings
    result.metadata["history"] = report.history
    if out is not None:
        result.save_pretrained(out, overwrite=overwrite)
    return result, report
