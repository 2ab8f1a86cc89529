"""``textdistill distill`` and ``textdistill augment``.

distill's flags are generated from the configs in use: ``TrainConfig``, ``AugmentConfig`` and the config of every
registered student family (and teacher strategy), so a new family's fields become flags by registering it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from . import flags as cli_flags
from .common import CacheOpt, LabelCol, PairCol, TextCol, cache_root, load_teacher, read, say
from .ray_flags import RAY_CONFIGS, ray_flags


def strategy_configs() -> list[type]:
    """The config classes of every registered teacher strategy (their fields are distill flags)."""
    from ..training.strategies import STRATEGIES

    return list(dict.fromkeys(cls.config_class for _, cls in STRATEGIES.items() if cls.config_class is not None))


def distill_configs() -> list[type]:
    """The config classes whose fields are distill's flags (families and strategies as registered now)."""
    from ..data.augment import AugmentConfig
    from ..students import FAMILIES
    from ..training.config import TrainConfig

    configs = [TrainConfig, AugmentConfig]
    configs += [cls.config_class for _, cls in FAMILIES.items() if getattr(cls, "config_class", None)]
    return configs + strategy_configs() + RAY_CONFIGS  # --ray and friends (issue 12)


def check_strategy_flags(flags: dict) -> None:
    """A strategy's flag may be shared with another strategy's (only one is in use), never with a training,
    augmentation or family flag: the value would go to both."""
    strategies = set(strategy_configs())
    for spec in flags.values():
        owners = {cls for cls, _ in spec.owners}
        if owners & strategies and owners - strategies:
            names = ", ".join(sorted(c.__name__ for c in owners))
            raise TypeError(f"flag {spec.flag} is defined by {names}: a strategy's fields must not share a name with "
                            f"a training, augmentation or student flag (prefix them with the strategy's name)")


def check_training_flags(given: set[str], config, family_loss: str, has_teacher: bool, has_dev: bool) -> None:
    """A training flag that cannot change anything in this run is an error, before any work: the user expects it
    to do something (a KD setting without a teacher, a selection setting without a dev set, ...)."""
    from ..errors import ConfigError

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


def make_distill_command():
    from ..students import FAMILIES
    from ..training.strategies import STRATEGIES

    fixed = {"train", "out", "teacher", "dev", "unlabeled", "student", "augment", "cache", "max_length",
             "teacher_batch_size", "overwrite", "text_column", "pair_column", "label_column", "teacher_strategy",
             "teacher_labels"}
    flags = cli_flags.collect(distill_configs(), taken=fixed)
    check_strategy_flags(flags)
    families = ", ".join(f"{name} ({getattr(cls, 'description', '') or name})" for name, cls in FAMILIES.items())
    strategies = ", ".join(STRATEGIES.names())

    def distill(
        train: Path = typer.Option(..., help="Labeled training file (its texts are part of the transfer set)."),
        out: Path = typer.Option(..., help="Directory to save the student to."),
        teacher: List[str] = typer.Option([], help="Teacher: a Hugging Face classifier directory or a saved "
                                          "textdistill student; repeatable (several teachers). Without one the "
                                          "student learns gold labels only."),
        teacher_strategy: Optional[str] = typer.Option(None, help=f"How several teachers are combined: {strategies}. "
                                                       "Default: single for one teacher, mean-logits for several."),
        teacher_labels: List[str] = typer.Option([], help="For a teacher whose classes have no names: the data's "
                                                 "label of each of its columns (neg,pos) or a JSON map "
                                                 "('{\"0\": \"neg\"}' or a .json file); once for all teachers or "
                                                 "once per --teacher (- for a teacher that needs none)."),
        dev: Optional[Path] = typer.Option(None, help="Labeled dev file for model selection."),
        unlabeled: List[Path] = typer.Option([], help="Extra transfer texts labelled by the teacher; repeatable."),
        student: str = typer.Option("dan", help=f"Student family: {families}."),
        augment: bool = typer.Option(False, "--augment", help="Add augmented training texts (masking, POS-guided "
                                     "replacement, n-gram sampling) to the transfer set; needs --teacher."),
        cache: Optional[Path] = CacheOpt,
        max_length: Optional[int] = typer.Option(None, help="Teacher truncation (default: the teacher card's)."),
        teacher_batch_size: Optional[int] = typer.Option(None, help="Texts per teacher forward pass when labelling "
                                                         "(default 32)."),
        overwrite: bool = typer.Option(False, help="Replace a non-empty output directory."),
        text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
        label_column: Optional[str] = LabelCol,
        **values,
    ):
        """Distill a teacher into a student (or train a student on gold labels when no teacher is given)."""
        from ..data.augment import AugmentConfig
        from ..errors import ConfigError
        from ..persistence import check_can_write, is_interrupted_model
        from ..pipeline import distill as run_distill
        from ..pipeline import family_runtime, resolve_strategy
        from ..training.config import TrainConfig
        from ..training.resume import resume_dir

        # an interrupted run's checkpoint may be replaced by its own rerun (the pipeline checks it is the same run)
        check_can_write(out, overwrite or (is_interrupted_model(out) and resume_dir(out).is_dir()))
        runtime = family_runtime(student)
        student_config, used = cli_flags.build(runtime.config_class, values, flags, f"--student {student}")
        train_config, used_train = cli_flags.build(TrainConfig, values, flags, "training")
        augment_config, used_aug = cli_flags.build(AugmentConfig, values, flags, "augmentation")
        strategy_name = teacher_strategy or ("single" if len(teacher) <= 1 else "mean-logits")
        strategy_cls = STRATEGIES.get(strategy_name)
        strategy_config, used_strategy = None, set()
        if strategy_cls.config_class is not None:
            strategy_config, used_strategy = cli_flags.build(strategy_cls.config_class, values, flags,
                                                             f"--teacher-strategy {strategy_name}")
        ray_config, used_ray = ray_flags(values, flags)  # issue 12: {} without --ray
        strategy_owned = set(strategy_configs())
        for param in sorted(cli_flags.given(values, flags) - used - used_train - used_aug - used_strategy - used_ray):
            flag = flags[param].flag
            if any(owner is AugmentConfig for owner, _ in flags[param].owners):
                raise ConfigError(f"{flag} needs --augment")
            if any(owner in strategy_owned for owner, _ in flags[param].owners):
                users = [n for n, c in STRATEGIES.items() if any(o is c.config_class for o, _ in flags[param].owners)]
                raise ConfigError(f"{flag} applies to --teacher-strategy {' or '.join(users)}, not {strategy_name}")
            raise ConfigError(f"{flag} does not apply to the {student} student")
        check_training_flags(used_train, train_config, runtime.default_loss, bool(teacher), dev is not None)
        plumbing = {"--cache": cache, "--max-length": max_length, "--teacher-batch-size": teacher_batch_size,
                    "--teacher-labels": teacher_labels or None}
        unused = [k for k, v in plumbing.items() if v is not None]
        if not teacher and unused:
            say(f"note: {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} only used with --teacher; ignored")
        if teacher:
            resolve_strategy(strategy_name, len(teacher), strategy_config, dev is not None)  # fail before any work
        elif used_strategy or teacher_strategy:
            raise ConfigError("--teacher-strategy and its flags need --teacher")
        if not augment and used_aug:
            raise ConfigError(f"{', '.join(flags[p].flag for p in sorted(used_aug))} needs --augment")
        vectors = getattr(student_config, "vectors", None)
        if vectors not in (None, "glove", "none", "random") and not Path(vectors).is_file():
            raise ConfigError(f"--vectors: no such file: {vectors}")
        if augment and not teacher:
            raise ConfigError("--augment needs --teacher: the augmented texts have no labels but the teacher's")
        if augment:
            import dataclasses

            augment_config = dataclasses.replace(augment_config, seed=train_config.seed)
        tr = read(train, text_column, pair_column, label_column, require_label=True)
        dv = read(dev, text_column, pair_column, label_column, require_label=True) if dev else None
        extra = [read(p, text_column, pair_column, None) for p in unlabeled]
        teachers = [load_teacher(t, max_length, teacher_batch_size or 32) for t in teacher]
        _, report = run_distill(tr, out=out, teacher=teachers or None, dev=dv, unlabeled=extra, student=student,
                                student_config=student_config, train_config=train_config,
                                augment=augment_config if augment else None, cache_root=cache_root(cache),
                                overwrite=overwrite, log=say, teacher_strategy=strategy_name if teachers else None,
                                strategy_config=strategy_config, teacher_labels=teacher_labels or None,
                                **ray_config)
        if report.dev:
            line = f"student dev accuracy {report.dev['accuracy']:.4f}, macro-F1 {report.dev['macro_f1']:.4f}"
            if report.teacher_dev:
                who = "teacher" if len(teachers) == 1 else "best teacher"
                ratio = report.dev['accuracy'] / max(report.teacher_dev['accuracy'], 1e-9)
                line += (f"; {who} {report.teacher_dev['accuracy']:.4f} (student/teacher {ratio:.1%}), "
                         f"agreement {report.dev.get('teacher_agreement', float('nan')):.4f}")
            say(line)
        say(f"student saved to {out}" + (f" (teacher report: textdistill teacher report {out})" if teachers else ""))

    return cli_flags.with_flags(distill, flags)


def augment_command(
    input: Path = typer.Option(..., "--input", help="Texts to augment (any supported format)."),
    out: Path = typer.Option(..., help="JSONL file to write: {\"text\": ...} (and \"text_pair\") per sample."),
    n_iter: Optional[int] = typer.Option(None, "--n-iter", help="Augmented samples per example (default 20; 10 "
                                         "for pairs)."),
    p_mask: float = typer.Option(0.1, "--p-mask", help="Probability of replacing a word by the mask token."),
    p_pos: float = typer.Option(0.1, "--p-pos", help="Probability of replacing a word by another of the same POS."),
    p_ng: float = typer.Option(0.25, "--p-ng", help="Probability of keeping only a random n-gram (n = 1..5)."),
    seed: int = typer.Option(0),
    mask_token: str = typer.Option("[MASK]", help="Written for masked words: the teacher tokenizer's mask token."),
    teacher: Optional[str] = typer.Option(None, help="Take the mask token from this teacher's tokenizer."),
    limit: Optional[int] = typer.Option(None, help="Augment only the first N texts."),
    overwrite: bool = typer.Option(False, help="Replace an existing output file."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
):
    """Write augmented copies of texts (Tang et al. 2019), e.g. to label them with `textdistill label`."""
    import dataclasses

    from ..data.augment import AugmentConfig, Augmenter
    from ..data.readers import read_dataset
    from ..persistence import check_can_write_file, write_text_atomically

    check_can_write_file(out, overwrite, "--out")
    config = AugmentConfig(p_mask=p_mask, p_pos=p_pos, p_ng=p_ng, n_iter=n_iter, seed=seed)  # settings checked now
    if teacher:
        from ..teachers.base import is_student_dir

        if not is_student_dir(Path(teacher)):  # a student teacher has no tokenizer: the default mask token
            from ..teachers.huggingface import load_tokenizer

            mask_token = load_tokenizer(teacher).mask_token or mask_token
    ds = read_dataset(input, text=text_column, text_pair=pair_column, label=None, limit=limit)
    config = dataclasses.replace(config, mask_token=mask_token)
    texts, pairs, source = Augmenter(config).fit_augment(ds.texts, ds.pairs, progress=True)
    lines = []
    for i, text in enumerate(texts):
        row = {"text": text} if pairs is None else {"text": text, "text_pair": pairs[i]}
        row["source"] = int(source[i])
        lines.append(json.dumps(row, ensure_ascii=False))
    write_text_atomically(out, "".join(line + "\n" for line in lines))
    say(f"{out}: {len(texts):,} augmented texts from {len(ds):,}")
