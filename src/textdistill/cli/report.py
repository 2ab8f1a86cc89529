"""``textdistill report`` (which student to pick: table and accuracy-vs-speed plot) and ``textdistill auto`` (train
a few students, measure them here, keep the one within a latency budget)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import flags as cli_flags
from .common import CacheOpt, LabelCol, PairCol, TextCol, cache_root, load_teacher, read, say


def report(
    folders: List[Path] = typer.Argument(..., help="Folders (or results files) to read: saved students, bench and "
                                         "benchmark results, auto.json files, searched recursively."),
    out: Path = typer.Option(..., help="Directory to write report.md, report.html, report.json and the plot(s) to."),
    data: Optional[Path] = typer.Option(None, help="Labeled file: measure the students found (accuracy and texts/s "
                                        "here) that have no measurement on it yet."),
    limit: int = typer.Option(2000, help="Texts of --data to measure on."),
    speed: str = typer.Option("b32", help="Speed on the plot's x axis: b32 (texts/s at batch 32) or b1 (at batch "
                              "1: one text per request)."),
    title: str = typer.Option("Which student to pick", help="Title of the report."),
    overwrite: bool = typer.Option(False, help="Replace an existing report directory."),
):
    """Table (Markdown, HTML) and plot of accuracy against texts/s of every student and result in a folder."""
    from ..evaluation.report import report as run

    entries = run(folders, out, data=data, speed=speed, limit=limit, overwrite=overwrite, title=title, log=say)
    front = [e.name for e in entries if e.pareto]
    say(f"{out}/report.md: {len(entries)} models ({sum(e.kind == 'student' for e in entries)} students) on "
        f"{len({e.task for e in entries})} evaluation set(s); Pareto front: {', '.join(front) or '-'}")


def make_auto_command():
    from ..selection import AutoConfig
    from ..training.config import TrainConfig

    fixed = {"train", "dev", "out", "teacher", "unlabeled", "cache", "work_dir", "overwrite", "max_length",
             "teacher_batch_size", "text_column", "pair_column", "label_column"}
    flags = cli_flags.collect([AutoConfig, TrainConfig], taken=fixed)

    def auto(
        train: Path = typer.Option(..., help="Labeled training file."),
        dev: Path = typer.Option(..., help="Labeled dev file: selects each candidate's checkpoint and measures it."),
        out: Path = typer.Option(..., help="Directory to save the kept student to (with auto.json and report/)."),
        teacher: List[str] = typer.Option([], help="Teacher (repeatable); without one the candidates learn gold "
                                          "labels only."),
        unlabeled: List[Path] = typer.Option([], help="Extra transfer texts labelled by the teacher; repeatable."),
        cache: Optional[Path] = CacheOpt,
        work_dir: Optional[Path] = typer.Option(None, help="Where the candidates are trained (default: OUT.candidates"
                                                "); a rerun reuses the finished ones."),
        max_length: Optional[int] = typer.Option(None, help="Teacher truncation (default: the teacher card's)."),
        teacher_batch_size: int = typer.Option(32, help="Texts per teacher forward pass when labelling."),
        overwrite: bool = typer.Option(False, help="Replace a non-empty output directory (a model directory only)."),
        text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
        label_column: Optional[str] = LabelCol,
        **values,
    ):
        """Train a few students (DAN sizes, CNN, BiLSTM), time each here, keep the most accurate within
        --latency-budget (or the fastest above --min-accuracy), and write the report."""
        from ..selection import auto as run

        auto_config, _ = cli_flags.build(AutoConfig, values, flags, "auto")
        train_config, _ = cli_flags.build(TrainConfig, values, flags, "training")
        tr = read(train, text_column, pair_column, label_column, require_label=True)
        dv = read(dev, text_column, pair_column, label_column, require_label=True)
        extra = [read(p, text_column, pair_column, None) for p in unlabeled]
        teachers = [load_teacher(t, max_length, teacher_batch_size) for t in teacher]
        run(tr, dv, out, teacher=teachers or None, unlabeled=extra, config=auto_config, train_config=train_config,
            cache_root=cache_root(cache), work_dir=work_dir, overwrite=overwrite, log=say)

    return cli_flags.with_flags(auto, flags)
