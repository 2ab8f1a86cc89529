"""Teacher commands: ``teacher finetune`` (make one) and ``label`` (fill the teacher-output cache)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..distributed.config import RayConfig
from . import flags as cli_flags
from .common import CacheOpt, LabelCol, PairCol, TextCol, cache_root, load_student, load_teacher, read, say
from .ray_flags import ray_flags


def finetune(
    base: str = typer.Option(..., help="Pretrained encoder: a local directory or a hub id (when online)."),
    train: Path = typer.Option(..., help="Labeled training file."),
    out: Path = typer.Option(..., help="Directory to write the teacher to."),
    dev: Optional[Path] = typer.Option(None, help="Labeled dev file for accuracy and model selection."),
    epochs: float = typer.Option(1.0), lr: float = typer.Option(5e-5), batch_size: int = typer.Option(32),
    max_length: int = typer.Option(128), weight_decay: float = typer.Option(0.01),
    warmup_ratio: float = typer.Option(0.06), seed: int = typer.Option(0),
    eval_every: Optional[int] = typer.Option(None, help="Evaluate on dev every N steps and keep the best."),
    overwrite: bool = typer.Option(False, help="Replace a non-empty output directory."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol, label_column: Optional[str] = LabelCol,
):
    """Fine-tune a pretrained encoder into a teacher classifier."""
    from ..data.readers import LabelMap
    from ..teachers.finetune import FinetuneConfig, finetune_teacher

    from ..errors import ConfigError
    from ..persistence import check_can_write

    config = FinetuneConfig(epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length,
                            weight_decay=weight_decay, warmup_ratio=warmup_ratio, seed=seed, eval_every=eval_every)
    if eval_every is not None and dev is None:
        raise ConfigError("--eval-every needs --dev (without a dev set the teacher of the last step is kept)")
    check_can_write(out, overwrite)  # before reading data and loading the encoder
    tr = read(train, text_column, pair_column, label_column, require_label=True)
    labels = LabelMap.from_labels(tr.labels)
    dv = read(dev, text_column, pair_column, label_column, require_label=True) if dev else None
    metrics = finetune_teacher(
        base, tr.texts, labels.encode(tr.labels, tr.source), len(labels), out, label_names=labels.names,
        train_pairs=tr.pairs, dev_texts=dv.texts if dv else None, dev_pairs=dv.pairs if dv else None,
        dev_label_ids=labels.encode(dv.labels, dv.source) if dv else None, config=config, overwrite=overwrite,
    )
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and k != "out_dir"}
    say(f"teacher saved to {out}: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in shown.items()))



def label(
    teacher: List[str] = typer.Option(..., help="Teacher directory (or hub id when online); repeatable: several "
                                      "teachers label the same texts (on Ray: in one job)."),
    input: List[Path] = typer.Option(..., "--input", help="Texts to label (any supported format); repeatable."),
    cache: Optional[Path] = CacheOpt,
    max_length: Optional[int] = typer.Option(None, help="Truncate teacher inputs (default: the teacher card's)."),
    batch_size: int = typer.Option(32), chunk_size: int = typer.Option(2048, help="Texts per cache chunk."),
    limit: Optional[int] = typer.Option(None, help="Label only the first N texts of each file."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
    **values,
):
    """Fill the teacher-output cache for a corpus. Resumable: rerun after an interruption to continue."""
    from ..data.readers import read_dataset
    from ..errors import check
    from ..teachers.base import load_teachers
    from ..teachers.cache import label_with_cache

    from ..persistence import check_writable_place

    check(chunk_size >= 1 and batch_size >= 1, "--chunk-size and --batch-size must be >= 1")
    ray, _ = ray_flags(values, LABEL_FLAGS)  # issue 12: {} without --ray
    teachers = load_teachers([load_teacher(t, max_length, batch_size) for t in teacher])
    root = cache_root(cache)
    check_writable_place(root, "--cache")  # the labels go there: fail before labelling, not after the first chunk
    if ray:  # issue 12: every file and teacher in one Ray job
        from ..distributed.labelling import label_corpora_on_ray

        datasets = [read_dataset(path, text=text_column, text_pair=pair_column, label=None, limit=limit)
                    for path in input]
        label_corpora_on_ray(teachers, [(ds.texts, ds.pairs) for ds in datasets], cache_root=root, ray=ray["ray"],
                             chunk_size=chunk_size, progress=True, log=say)
        for path, ds in zip(input, datasets):
            say(f"{path}: {len(ds):,} texts labelled (cache {root})")
        return
    for path in input:
        ds = read_dataset(path, text=text_column, text_pair=pair_column, label=None, limit=limit)
        for t in teachers:
            logits = label_with_cache(t, ds.texts, ds.pairs, cache_root=root, chunk_size=chunk_size, progress=True)
        say(f"{path}: {len(logits):,} texts labelled (cache {root})")


LABEL_FLAGS = cli_flags.collect([RayConfig], taken={"teacher", "input", "cache", "max_length", "batch_size",
                                                    "chunk_size", "limit", "text_column", "pair_column"})
label = cli_flags.with_flags(label, LABEL_FLAGS)


def report(
    model: Path = typer.Argument(..., help="A student distilled from one or more teachers."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole teachers record (teachers.json) as JSON."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a PNG of each teacher's selection rate "
                                        "(or mean weight) over training (needs matplotlib)."),
):
    """How the teachers did and how the strategy used them: dev accuracy, agreement, selection rate / weight."""
    from ..teachers.report import format_report, plot_history, read_record

    if plot is not None:
        from ..persistence import check_can_write_file

        check_can_write_file(plot, what="--plot")
    record = read_record(model)
    if as_json:
        print(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        print(format_report(record))
    if plot is not None:
        say(f"plot written to {plot_history(record, plot)}")
