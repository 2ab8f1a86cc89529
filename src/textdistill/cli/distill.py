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


def distill_configs() -> list[type]:
    """The config classes whose fields are distill's flags (families and strategies as registered now)."""
    from ..data.augment import AugmentConfig
    from ..students import FAMILIES
    from ..training.config import TrainConfig

    configs = [TrainConfig, AugmentConfig]
    configs += [cls.config_class for _, cls in FAMILIES.items() if getattr(cls, "config_class", None)]
    return configs


def make_distill_command():
    from ..students import FAMILIES

    fixed = {"train", "out", "teacher", "dev", "unlabeled", "student", "augment", "cache", "max_length",
             "teacher_batch_size", "overwrite", "text_column", "pair_column", "label_column"}
    flags = cli_flags.collect(distill_configs(), taken=fixed)
    families = ", ".join(f"{name} ({getattr(cls, 'description', '') or name})" for name, cls in FAMILIES.items())

    def distill(
        train: Path = typer.Option(..., help="Labeled training file (its texts are part of the transfer set)."),
        out: Path = typer.Option(..., help="Directory to save the student to."),
        teacher: Optional[str] = typer.Option(None, help="Teacher directory; without one the student learns gold "
                                              "labels only."),
        dev: Optional[Path] = typer.Option(None, help="Labeled dev file for model selection."),
        unlabeled: List[Path] = typer.Option([], help="Extra transfer texts labelled by the teacher; repeatable."),
        student: str = typer.Option("dan", help=f"Student family: {families}."),
        augment: bool = typer.Option(False, "--augment", help="Add augmented training texts (masking, POS-guided "
                                     "replacement, n-gram sampling) to the transfer set; needs --teacher."),
        cache: Optional[Path] = CacheOpt,
        max_length: Optional[int] = typer.Option(None, help="Teacher truncation (default: the teacher card's)."),
        teacher_batch_size: int = typer.Option(32, help="Texts per teacher forward pass when labelling."),
        overwrite: bool = typer.Option(False, help="Replace a non-empty output directory."),
        text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
        label_column: Optional[str] = LabelCol,
        **values,
    ):
        """Distill a teacher into a student (or train a student on gold labels when no teacher is given)."""
        from ..data.augment import AugmentConfig
        from ..errors import ConfigError
        from ..persistence import check_can_write
        from ..pipeline import distill as run_distill
        from ..pipeline import family_runtime
        from ..training.config import TrainConfig

        check_can_write(out, overwrite)
        runtime = family_runtime(student)
        student_config, used = cli_flags.build(runtime.config_class, values, flags, f"--student {student}")
        train_config, used_train = cli_flags.build(TrainConfig, values, flags, "training")
        augment_config, used_aug = cli_flags.build(AugmentConfig, values, flags, "augmentation")
        for param in sorted(cli_flags.given(values, flags) - used - used_train - used_aug):
            flag = flags[param].flag
            if any(owner is AugmentConfig for owner, _ in flags[param].owners):
                raise ConfigError(f"{flag} needs --augment")
            raise ConfigError(f"{flag} does not apply to the {student} student")
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
        t = load_teacher(teacher, max_length, teacher_batch_size) if teacher else None
        _, report = run_distill(tr, out=out, teacher=t, dev=dv, unlabeled=extra, student=student,
                                student_config=student_config, train_config=train_config,
                                augment=augment_config if augment else None, cache_root=cache_root(cache),
                                overwrite=True, log=say)
        if report.dev:
            line = f"student dev accuracy {report.dev['accuracy']:.4f}, macro-F1 {report.dev['macro_f1']:.4f}"
            if report.teacher_dev:
                ratio = report.dev['accuracy'] / max(report.teacher_dev['accuracy'], 1e-9)
                line += (f"; teacher {report.teacher_dev['accuracy']:.4f} (student/teacher {ratio:.1%}), "
                         f"agreement {report.dev.get('teacher_agreement', float('nan')):.4f}")
            say(line)
        say(f"student saved to {out}")

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
    from ..data.augment import AugmentConfig, Augmenter
    from ..data.readers import read_dataset
    from ..errors import ConfigError
    from ..persistence import write_text_atomically

    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    if teacher:
        from transformers import AutoTokenizer

        from ..errors import ModelError

        try:
            mask_token = AutoTokenizer.from_pretrained(teacher).mask_token or mask_token
        except (OSError, ValueError) as exc:
            raise ModelError(f"{teacher}: cannot load the teacher's tokenizer ({str(exc).splitlines()[0]})") from None
    ds = read_dataset(input, text=text_column, text_pair=pair_column, label=None, limit=limit)
    config = AugmentConfig(p_mask=p_mask, p_pos=p_pos, p_ng=p_ng, n_iter=n_iter, seed=seed, mask_token=mask_token)
    texts, pairs, source = Augmenter(config).fit_augment(ds.texts, ds.pairs, progress=True)
    lines = []
    for i, text in enumerate(texts):
        row = {"text": text} if pairs is None else {"text": text, "text_pair": pairs[i]}
        row["source"] = int(source[i])
        lines.append(json.dumps(row, ensure_ascii=False))
    write_text_atomically(out, "".join(line + "\n" for line in lines))
    say(f"{out}: {len(texts):,} augmented texts from {len(ds):,}")
