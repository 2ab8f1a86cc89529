"""``textdistill distill`` and ``textdistill augment``.

distill's flags are generated from the configs in use: ``TrainConfig``, ``AugmentConfig`` and the config of every
registered student family, teacher strategy and task type, so a new family's fields become flags by registering it.
What the flags say becomes a ``Plan`` (``textdistill.plan``), exactly as the Python API's keyword arguments do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from . import flags as cli_flags
from .common import PairCol, TextCol, say


def make_distill_command():
    """``distill``: its fixed options and one option per field of the configs in use (``plan.distill_flags``); the
    values the user gave go to ``Plan.build``, as the Python API's keyword arguments do."""
    from ..plan import FIXED, distill_flags
    from ..students import FAMILIES
    from ..training.strategies import STRATEGIES

    flags = distill_flags()
    families = ", ".join(f"{name} ({getattr(cls, 'description', '') or name})" for name, cls in FAMILIES.items())
    strategies = ", ".join(STRATEGIES.names())
    data, teach = "Data", "Teachers"

    def distill(
        train: Optional[Path] = typer.Option(None, help=FIXED["train"], rich_help_panel=data),
        out: Path = typer.Option(..., help=FIXED["out"]),
        teacher: List[str] = typer.Option([], help=FIXED["teacher"], rich_help_panel=teach),
        teacher_strategy: Optional[str] = typer.Option(None, help=f"{FIXED['teacher_strategy']} One of: {strategies}.",
                                                       rich_help_panel=teach),
        teacher_labels: List[str] = typer.Option([], help=FIXED["teacher_labels"], rich_help_panel=teach),
        dev: Optional[Path] = typer.Option(None, help=FIXED["dev"], rich_help_panel=data),
        unlabeled: List[Path] = typer.Option([], help=FIXED["unlabeled"], rich_help_panel=data),
        student: str = typer.Option("dan", help=f"{FIXED['student']} One of: {families}."),
        augment: bool = typer.Option(False, "--augment", help=FIXED["augment"],
                                     rich_help_panel="Augmentation (--augment)"),
        cache: Optional[Path] = typer.Option(None, "--cache", help=FIXED["cache"], rich_help_panel=teach),
        max_length: Optional[int] = typer.Option(None, help=FIXED["max_length"], rich_help_panel=teach),
        teacher_batch_size: Optional[int] = typer.Option(None, help=FIXED["teacher_batch_size"],
                                                         rich_help_panel=teach),
        device: Optional[str] = typer.Option(None, help=FIXED["device"] + " Default: auto."),
        overwrite: bool = typer.Option(False, help=FIXED["overwrite"]),
        text_column: Optional[str] = typer.Option(None, help=FIXED["text_column"], rich_help_panel=data),
        pair_column: Optional[str] = typer.Option(None, help=FIXED["pair_column"], rich_help_panel=data),
        label_column: Optional[str] = typer.Option(None, help=FIXED["label_column"], rich_help_panel=data),
        label_sep: Optional[str] = typer.Option(None, help=FIXED["label_sep"], rich_help_panel=data),
        label_columns: Optional[str] = typer.Option(None, help=FIXED["label_columns"], rich_help_panel=data),
        label_names: Optional[Path] = typer.Option(None, help=FIXED["label_names"], rich_help_panel=data),
        multi_label: Optional[bool] = typer.Option(None, "--multi-label/--no-multi-label", show_default=False,
                                                   help=FIXED["multi_label"], rich_help_panel=data),
        **values,
    ):
        """Distill a teacher into a student (or train a student on gold labels when no teacher is given)."""
        from ..pipeline import distill as run_distill
        from ..plan import Plan

        options = dict(train=train, out=out, teacher=teacher, teacher_strategy=teacher_strategy,
                       teacher_labels=teacher_labels or None, dev=dev, unlabeled=unlabeled, student=student,
                       augment=augment, cache=cache, max_length=max_length, teacher_batch_size=teacher_batch_size,
                       device=device, overwrite=overwrite, text_column=text_column, pair_column=pair_column,
                       label_column=label_column, label_sep=label_sep, label_columns=label_columns,
                       label_names=label_names, multi_label=multi_label)
        options.update({k: v for k, v in values.items() if v is not None})
        plan = Plan.build(**options)
        _, report = run_distill(plan, log=say)
        say(summary_line(report, len(teacher)))
        say(f"student saved to {out}" + (f" (teacher report: textdistill teacher report {out})" if teacher else ""))

    return cli_flags.with_flags(distill, flags)


def summary_line(report, num_teachers: int) -> str:
    """The run's last words on dev: the student's headline metric, and the teacher's beside it."""
    if not report.dev:
        return "no dev set: nothing measured"
    if report.task == "multi-label":
        line = (f"student dev micro-F1 {report.dev['micro_f1']:.4f}, macro-F1 {report.dev['macro_f1']:.4f}, "
                f"subset accuracy {report.dev['subset_accuracy']:.4f}")
        key = "micro_f1"
    else:
        line = f"student dev accuracy {report.dev['accuracy']:.4f}, macro-F1 {report.dev['macro_f1']:.4f}"
        key = "accuracy"
    if report.teacher_dev:
        who = "teacher" if num_teachers == 1 else "best teacher"
        ratio = report.dev[key] / max(report.teacher_dev[key], 1e-9)
        agreement = report.dev.get("teacher_agreement", float("nan"))
        line += f"; {who} {report.teacher_dev[key]:.4f} (student/teacher {ratio:.1%}), agreement {agreement:.4f}"
    return line


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
