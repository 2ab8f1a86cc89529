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
from .teachers.alignment import align_teacher  # noqa: F401  (re-exported)


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
    """The config of student family ``name`` from flat options named by field (nested configs, such as the DAN's
    n-gram settings, take the options that name their fields), over the family's own defaults. An option the family
    does not have is an error."""
    import dataclasses

    from .errors import ConfigError

    _, config_cls = _family_classes(name)
    base = config_cls()
    nested = {f.name: getattr(base, f.name) for f in dataclasses.fields(config_cls)
              if dataclasses.is_dataclass(getattr(base, f.name))}
    top, inner = {}, {}
    for key, value in options.items():
        if key in {f.name for f in dataclasses.fields(config_cls)} and key not in nested:
            top[key] = value
            continue
        owner = next((n for n, v in nested.items() if key in {f.name for f in dataclasses.fields(v)}), None)
        if owner is None:
            raise ConfigError(f"--{key.replace('_', '-')} does not apply to the {name} student")
        inner.setdefault(owner, {})[key] = value
    for owner, values in inner.items():
        top[owner] = dataclasses.replace(nested[owner], **values)
    return dataclasses.replace(base, **top)


def config_dict(config) -> dict:
    """A config dataclass as a JSON-able dict (its own ``to_dict`` when it has one)."""
    import dataclasses

    if hasattr(config, "to_dict"):
        return config.to_dict()
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}


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
    teacher_dev: dict = field(default_factory=dict)  # the teacher's (with several: the best teacher's on dev)
    teacher_dev_pred: np.ndarray | None = None
    teachers: list = field(default_factory=list)  # per teacher: name, path, fingerprint, dev metrics, agreement
    strategy: str | None = None
    selection: dict = field(default_factory=dict)  # what the strategy reports (weights / selection rates)
    history: list = field(default_factory=list)


def label_texts(teacher, texts, pairs, labels: LabelMap, cache_root, progress=True, teacher_labels=None
                ) -> TeacherOutputs:
    """One teacher's logits for texts, through the cache, in the order of ``labels``."""
    from .teachers.cache import label_with_cache

    started = time.perf_counter()
    order = align_teacher(getattr(teacher, "label_names", None), int(teacher.num_labels), labels,
                          mapping=teacher_labels, who=f"teacher {getattr(teacher, 'name', '')}".strip())
    logits = label_with_cache(teacher, texts, pairs, cache_root=cache_root, progress=progress)
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


def augment_training_set(train: TextDataset, config, teachers, report: "DistillReport", log, progress=True):
    """Augmented copies of the training texts as an unlabeled dataset; the mask token is the (first) teacher
    tokenizer's own."""
    import dataclasses

    from .data.augment import Augmenter

    masks = [getattr(getattr(t, "tokenizer", None), "mask_token", None) for t in teachers]
    mask = next((m for m in masks if m), None)
    if mask and mask != config.mask_token:
        config = dataclasses.replace(config, mask_token=mask)
    started = time.perf_counter()
    texts, pairs, _ = Augmenter(config).fit_augment(train.texts, train.pairs, progress=progress)
    report.timings["augmentation_s"] = time.perf_counter() - started
    report.sizes["augmented_texts"] = len(texts)
    log(f"augmentation: {len(texts):,} new texts from {len(train):,} in {report.timings['augmentation_s']:.1f}s")
    return TextDataset(texts, pairs, None, source="augmentation")


def resolve_strategy(teacher_strategy: str | None, num_teachers: int, strategy_config=None, has_dev: bool = False):
    """The strategy by name (default: ``single`` for one teacher, ``mean-logits`` for several), checked against
    the teachers and the dev set before any work."""
    from .training.strategies import make_strategy

    name = teacher_strategy or ("single" if num_teachers == 1 else "mean-logits")
    strategy = make_strategy(name, strategy_config)
    strategy.check(num_teachers, has_dev)
    return strategy


def teachers_record(strategy, objective, report: "DistillReport", config) -> dict:
    """What ``teachers.json`` holds: the teachers, the strategy and how it used each teacher."""
    selection = objective.summary()
    measure = selection.get("measure", "mean weight")
    teachers = []
    for entry in report.teachers:
        name = entry["name"]
        row = dict(entry)
        row[measure.replace(" ", "_")] = selection.get("overall", {}).get(name)
        row["per_class"] = {c: v.get(name) for c, v in selection.get("per_class", {}).items()}
        teachers.append(row)
    return {"format": "textdistill-teachers", "format_version": 1, "strategy": strategy.name,
            "strategy_config": strategy.config_dict(), "loss": config.loss, "temperature": config.temperature,
            "alpha": config.alpha, "seed": config.seed, "teachers": teachers, "selection": selection,
            "student_dev": report.dev or None, "training_s": report.timings.get("training_s")}


def distill(train: TextDataset, *, out: str | Path | None = None, teacher=None, dev: TextDataset | None = None,
            unlabeled: list[TextDataset] | None = None, student: str = "dan", student_config=None,
            train_config=None, augment=None, cache_root=None, progress: bool = True, overwrite: bool = True,
            log=print, teacher_strategy: str | None = None, strategy_config=None,
            teacher_labels=None, ray=None, shards=None) -> tuple[Student, DistillReport]:
    """Train a student on ``train`` (+ ``unlabeled``) from ``teacher``: None (gold labels only), a teacher (a path,
    a ``Teacher`` object: a Hugging Face classifier, a saved student, anything with the teacher protocol) or a
    list of them.

    ``teacher_strategy`` says how several teachers are combined (``textdistill.training.strategies``; default
    ``single`` for one, ``mean-logits`` for several) and ``strategy_config`` its settings (its config dataclass or
    a dict). ``teacher_labels`` maps the columns of a teacher whose classes have no names (``"neg,pos"``, a dict,
    or a list with one per teacher). ``augment`` (an AugmentConfig) adds augmented copies of the training texts
    (Tang et al.) to the transfer set; the teachers label them through the cache like any other text. Returns the
    best student by dev metric and a report of timings and metrics; saves it to ``out`` if given, with
    ``teachers.json`` (and ``policy.safetensors`` for a learned policy) beside the model.

    ``ray`` (an address such as ``"auto"``, or a ``RayConfig``) runs the teachers' labelling and the DAN's vocabulary
    counting and encoding on Ray, and streams training batches from memory-mapped shards (``shards``: a
    ``ShardConfig``); the same student as without it (``textdistill.distributed``).
    """
    from .teachers.base import load_teachers
    from .teachers.signal import align_teachers, label_teachers, teacher_statistics
    from .training.config import TrainConfig
    from .training.loop import Stage, Trainer, TrainingSet
    from .training.objectives import GoldObjective
    from .training.resume import fingerprint
    from .training.strategies import StrategyInput

    config = (train_config or TrainConfig()).with_loss(default_loss(student))
    report = DistillReport()
    ray_config = None
    if ray is not None:  # issue 12 (distributed): Ray is imported only when asked for
        from .distributed.config import RayConfig

        ray_config = RayConfig.of(ray)
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
    teachers = load_teachers(teacher) if teacher is not None else []
    if teachers and config.loss == "ce":
        log("note: --loss ce trains on gold labels only; the teacher is not used")
        teachers = []
    strategy = resolve_strategy(teacher_strategy, len(teachers), strategy_config, dev is not None) if teachers else None
    if not teachers:
        texts, pairs = list(train.texts), train.pairs
        if unlabeled:
            log("note: unlabeled data is ignored when training on gold labels only (no --teacher)")
        if augment is not None:
            log("note: augmentation needs a teacher to label the new texts; training on gold labels only")
        if teacher_strategy is not None:
            log("note: --teacher-strategy is ignored without a teacher")
    else:
        aligned = align_teachers(teachers, labels, teacher_labels, log)  # before labelling: fail in seconds
        texts, pairs = transfer_texts(train, unlabeled, exclude=dev)
        if augment is not None:
            augmented = augment_training_set(train, augment, teachers, report, log, progress)
            texts, pairs = transfer_texts(train, [augmented, *unlabeled], exclude=dev)
    gold = np.full(len(texts), -1, dtype=np.int64)
    gold[: len(train)] = gold_train

    signal = dev_signal = None
    if teachers:
        started = time.perf_counter()
        if dev is not None:  # first: a teacher worse than chance on dev (a wrong label mapping) fails in seconds
            dev_signal = label_teachers(aligned, dev.texts, dev.pairs, cache_root, progress=False)
            teacher_statistics(aligned, dev_signal, dev_gold, dev_signal, len(labels), log)
        if ray_config is not None:  # issue 12: fill the cache on Ray; label_teachers then finds every text there
            from .distributed.labelling import label_on_ray

            label_on_ray([a.teacher for a in aligned], texts, pairs, cache_root=cache_root, ray=ray_config,
                         progress=progress, log=log)
        signal = label_teachers(aligned, texts, pairs, cache_root, progress, log)
        report.timings["teacher_labelling_s"] = time.perf_counter() - started
        if len(teachers) == 1:
            log(f"teacher outputs for {len(texts):,} texts in {report.timings['teacher_labelling_s']:.1f}s "
                f"(cached texts cost nothing; fingerprint {teachers[0].fingerprint[:12]})")
        report.teachers = teacher_statistics(aligned, dev_signal, dev_gold, signal, len(labels))
        report.strategy = strategy.name
        if dev_signal is not None:
            best = int(np.argmax([t["dev_accuracy"] for t in report.teachers]))
            report.teacher_dev = report.teachers[best]["dev"]
            report.teacher_dev_pred = dev_signal.logits[best].argmax(-1)
            if len(teachers) > 1:
                log("teachers on dev: " + ", ".join(f"{t['name']} {t['dev_accuracy']:.4f}" for t in report.teachers))

    if config.epochs is None:
        config = config.with_epochs(len(texts))
        if config.epochs != 3:
            log(f"{config.epochs} epochs for {len(texts):,} transfer texts (small data: ~1,000 steps; --epochs to "
                f"choose)")
    family = make_family(student, config=student_config)
    started = time.perf_counter()
    sharded = None
    if ray_config is not None:  # issue 12: vocabulary map-reduce and sharded encoding on Ray, batches from disk
        from .distributed.pipeline import fit_and_encode, supports_sharding

        if supports_sharding(family):
            sharded = fit_and_encode(family, texts, pairs, ray_config, shards, progress=progress, log=log)
            family, encoded = sharded.family, sharded.encoded
        else:
            log(f"note: the {student} student's vocabulary and encoding are built here, not on Ray")
    if sharded is None:
        family.fit(texts, pairs, progress=progress)
    if hasattr(family, "describe"):
        log(f"{student} student: {family.describe()}")
    if sharded is None:
        encoded = family.encode(texts, pairs)
    report.timings["vocabulary_and_encoding_s"] = time.perf_counter() - started
    dev_set = None if dev is None else TrainingSet(family.encode(dev.texts, dev.pairs), dev_gold)
    objective = None
    if not teachers:
        stages = [Stage("train (gold)", GoldObjective(gold), np.arange(len(texts)), config.epochs)]
    else:
        inputs = StrategyInput(signal.names, signal.logits, gold, list(labels.names), loss=config.loss,
                               temperature=config.temperature, alpha=config.alpha, seed=config.seed,
                               epochs=config.epochs, dev_logits=None if dev_signal is None else dev_signal.logits,
                               dev_gold=dev_gold, log=log)
        objective = strategy.objective(inputs)
        stages = [Stage("distill", objective, np.arange(len(texts)), config.epochs),
                  Stage("fine-tune (gold)", GoldObjective(gold), np.arange(len(train)), config.finetune_epochs,
                        config.finetune_lr_scale)]

    trainer = Trainer(family, config, len(labels), progress=progress, log=log)
    metadata = {
        "train_file": str(train.source), "transfer_texts": len(texts),
        "teacher": None if len(teachers) != 1 else {"path": str(getattr(teachers[0], "source", "")),
                                                    "fingerprint": teachers[0].fingerprint},
        "teachers": [{"name": t.name, "path": str(getattr(t, "source", "")), "fingerprint": t.fingerprint}
                     for t in teachers] or None,
        "teacher_strategy": None if strategy is None else strategy.name,
        "train_config": config.to_dict(),
        "student_config": config_dict(family.config),
        "augment": None if augment is None or not teachers else augment.to_dict(),
    }
    # what decides the training trajectory (the number of epochs only decides where it ends: a rerun with another
    # --epochs resumes too, towards the new total)
    schedule = {k: v for k, v in config.to_dict().items() if k not in ("epochs", "finetune_epochs")}
    run_id = None if out is None else fingerprint(
        student, schedule, config_dict(family.config), list(labels.names), texts, pairs, gold,
        None if signal is None else signal.logits, None if strategy is None else [strategy.name, strategy.config_dict()],
        None if dev is None else [dev.texts, dev.pairs, dev_gold])
    resume, on_stop = _resume_state(out, run_id, overwrite, log)
    module = trainer.fit(encoded, stages, dev_set, resume=resume, on_stop=on_stop)
    report.timings["training_s"] = trainer.train_seconds
    report.timings["training_cpu_s"] = trainer.train_cpu_seconds
    report.history = trainer.history
    metadata["best"] = trainer.best_where
    if trainer.resumed_from:
        metadata["resumed_from"] = trainer.resumed_from
    if trainer.interrupted:
        metadata.update(interrupted=True, stopped_at=trainer.stopped_at)
    with _second_ctrl_c(trainer, out, on_stop, log):  # after a first Ctrl-C, a second one aborts the saving
        result = family.export(module, labels, metadata)
        if hasattr(result, "describe"):  # what is saved, and how big (after folding, pruning, quantising)
            log(f"model: {result.describe()}")
        if dev is not None:
            pred = result.predict_logits(dev.texts, dev.pairs).argmax(-1)
            report.dev = classification_metrics(dev_gold, pred, len(labels), report.teacher_dev_pred)
            result.metadata["dev"] = report.dev
            if report.teacher_dev:
                result.metadata["teacher_dev"] = report.teacher_dev
        result.metadata["timings"] = report.timings
        result.metadata["history"] = report.history
        extra_files = None
        if objective is not None:
            report.selection = objective.summary()
            record = teachers_record(strategy, objective, report, config)
            tensors = objective.state_tensors()

            def extra_files(tmp: Path) -> None:
                from .persistence import save_tensors, write_json

                write_json(tmp / "teachers.json", record)
                if tensors:
                    save_tensors(tmp / "policy.safetensors", tensors)

        if trainer.interrupted:
            raise _interrupted(trainer, result, report, out, dev is not None, on_stop, extra_files)
    warning = majority_warning(result, train, gold_train, dev, dev_gold, report.dev, labels)
    if warning:
        log(f"warning: {warning}")
        result.metadata["warnings"] = [warning]
    if out is not None:
        result.save_pretrained(out, overwrite=overwrite or resume is not None, extra_files=extra_files)
        _drop_resume_state(out)
    if sharded is not None:
        sharded.cleanup()  # issue 12: the shards of a default location go once the student is saved
    return result, report


def majority_warning(student, train, gold_train, dev, dev_gold, dev_metrics, labels, sample: int = 20_000):
    """A warning when the student is not clearly better than always answering the training set's most frequent
    class (its accuracy less than two standard errors above that answer's): on dev when there is one (the selected
    checkpoint), else on (up to ``sample``) training texts."""
    majority = int(np.bincount(gold_train, minlength=len(labels)).argmax())
    name = labels.names[majority]
    if dev is not None and dev_metrics:
        accuracy, baseline, where = dev_metrics["accuracy"], float(np.mean(dev_gold == majority)), "dev"
    else:
        rows = np.random.default_rng(0).permutation(len(train))[:sample]
        pred = student.predict_logits([train.texts[i] for i in rows],
                                      None if train.pairs is None else [train.pairs[i] for i in rows]).argmax(-1)
        accuracy, baseline, where = float(np.mean(pred == gold_train[rows])), float(np.mean(gold_train[rows] ==
                                                                                            majority)), "training"
    n = len(dev_gold) if where == "dev" else min(len(train), sample)
    if accuracy >= baseline + 2 * np.sqrt(baseline * (1 - baseline) / max(n, 1)):
        return None
    return (f"the student is not clearly better than always answering {name!r} ({where} accuracy {accuracy:.4f}, "
            f"that answer {baseline:.4f}, on {n:,} texts): more labelled data, a teacher with unlabeled text, or more "
            f"--epochs or a higher --lr / --embedding-lr may help")


def _second_ctrl_c(trainer, out, on_stop, log):
    """Nothing for a run that finished; after a first Ctrl-C, a guard that makes a second one abort the saving at
    once, saying what was kept."""
    import contextlib

    from .training.loop import second_ctrl_c_aborts
    from .training.resume import resume_dir

    if not trainer.interrupted:
        return contextlib.nullcontext()
    kept = f" (the training state to resume from is in {resume_dir(out)})" if on_stop and on_stop.saved else ""
    return second_ctrl_c_aborts(log, f"no model saved{kept}")


def _resume_state(out, run_id: str | None, overwrite: bool, log):
    """(the state to resume from or None, the callback that saves a state at Ctrl-C or None) for a run into ``out``.

    A state beside ``out`` with the same fingerprint is resumed; one of another run is ignored (and replaced if this
    run is interrupted too). An interrupted model in ``out`` is replaced without --overwrite only by its own run.
    """
    from .persistence import is_interrupted_model
    from .training.resume import load_state, read_fingerprint, resume_dir, save_state

    if out is None:
        return None, None
    out = Path(out)
    where = resume_dir(out)
    resume = None
    if where.is_dir():
        if read_fingerprint(where) == run_id:
            try:
                resume = load_state(where)
                log(f"resuming the interrupted run from {resume.where} (state in {where})")
            except ModelError as exc:
                log(f"warning: cannot resume: {exc}; training from the start")
        else:
            log(f"note: {where} holds the state of an interrupted run with other data or settings; training from "
                f"the start")
    if resume is None and not overwrite and is_interrupted_model(out):
        raise ModelError(f"{out}: holds the checkpoint of an interrupted run with other data or settings; rerun that "
                         f"command to finish it, or pass --overwrite to replace it")

    def on_stop(state) -> None:
        state.fingerprint = run_id
        log(f"saving the training state to resume from ({state.nbytes() / 1e6:,.0f} MB) to {where}")
        try:
            save_state(where, state)
            on_stop.saved = True
        except (OSError, ModelError) as exc:
            log(f"warning: could not save the training state ({exc}); a rerun trains from the start")

    on_stop.saved = False
    return resume, on_stop


def _drop_resume_state(out) -> None:
    import shutil

    from .training.resume import resume_dir

    where = resume_dir(out)
    if where.is_dir():
        shutil.rmtree(where, ignore_errors=True)


def _interrupted(trainer, result, report, out, has_dev: bool, on_stop, extra_files):
    """Save what an interrupted run may save and say so: the best checkpoint selected on dev, into an empty or new
    ``out`` only (never over a model that was there)."""
    from .errors import TrainingInterrupted
    from .persistence import is_interrupted_model

    head = f"stopped at {trainer.stopped_at}"
    if out is None:
        return TrainingInterrupted(f"{head}; the best checkpoint so far is the exception's .student",
                                   result if trainer.selected_on_dev else None, report)
    out = Path(out)
    saved = False
    if not has_dev:
        what = "no model saved (without --dev no checkpoint is selected)"
    elif not trainer.selected_on_dev:
        what = "no model saved (no checkpoint had been evaluated on dev yet)"
    elif out.exists() and (not out.is_dir() or any(out.iterdir())) and not (trainer.resumed_from and
                                                                             is_interrupted_model(out)):
        what = f"{out} was left as it was (an interrupted run never replaces a model)"
    else:
        result.save_pretrained(out, overwrite=bool(trainer.resumed_from), extra_files=extra_files)  # its own checkpoint
        saved = True
        score = trainer.best_score
        what = (f"saved the best checkpoint so far ({trainer.best_where}, dev {trainer.config.select_metric} "
                f"{score:.4f}) to {out}, marked \"interrupted\": true")
    if on_stop is not None and on_stop.saved:
        how = "rerun the same command to resume from there (with another --epochs: towards that total)"
    else:
        how = ("this run cannot resume (its teacher strategy learns as it trains); rerun to train from the start "
               "(teacher outputs are cached)" + (" with --overwrite" if saved else ""))
    return TrainingInterrupted(f"{head}; {what}; {how}", result if trainer.selected_on_dev else None, report)
