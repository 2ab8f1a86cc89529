"""Teacher commands: ``teacher finetune`` (make one) and ``label`` (fill the teacher-output cache)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..distributed.config import RayConfig
from . import flags as cli_flags
from .common import (CacheOpt, LabelCol, LabelColumnsOpt, LabelNamesOpt, LabelSepOpt, PairCol, TextCol, cache_root,
                     load_teacher, read, say)


def finetune(
    base: str = typer.Option(..., help="Pretrained encoder: a local directory or a hub id (when online)."),
    train: Path = typer.Option(..., help="Labeled training file."),
    out: Path = typer.Option(..., help="Directory to write the teacher to."),
    dev: Optional[Path] = typer.Option(None, help="Labeled dev file: the dev metric (accuracy; multi-label: "
                                       "micro-F1) selects the weights kept."),
    epochs: float = typer.Option(1.0), lr: float = typer.Option(5e-5), batch_size: int = typer.Option(32),
    max_length: int = typer.Option(128), weight_decay: float = typer.Option(0.01),
    warmup_ratio: float = typer.Option(0.06), seed: int = typer.Option(0),
    eval_every: Optional[int] = typer.Option(None, help="Evaluate on dev every N steps and keep the best."),
    device: Optional[str] = typer.Option(None, help="auto (a GPU when there is one), cpu, cuda or cuda:N."),
    overwrite: bool = typer.Option(False, help="Replace a non-empty output directory."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol, label_column: Optional[str] = LabelCol,
    label_sep: Optional[str] = LabelSepOpt, label_columns: Optional[str] = LabelColumnsOpt,
    label_names: Optional[Path] = LabelNamesOpt,
    multi_label: Optional[bool] = typer.Option(None, "--multi-label/--no-multi-label", show_default=False,
                                               help="Train a multi-label teacher (default: inferred from the data)."),
):
    """Fine-tune a pretrained encoder into a teacher classifier (multi-label when the data is)."""
    from ..errors import ConfigError
    from ..persistence import check_can_write
    from ..plan import check_device
    from ..tasks import infer_task
    from ..teachers.huggingface import check_model_dir, looks_like_path
    from ..training.finetune import FinetuneConfig, finetune_teacher

    config = FinetuneConfig(epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length,
                            weight_decay=weight_decay, warmup_ratio=warmup_ratio, seed=seed, eval_every=eval_every)
    if eval_every is not None and dev is None:
        raise ConfigError("--eval-every needs --dev (without a dev set the teacher of the last step is kept)")
    device = check_device(device)
    check_can_write(out, overwrite)  # before reading data and loading the encoder
    local = Path(base).expanduser()
    if local.exists() or looks_like_path(base):
        check_model_dir(local, "base model directory")
    label_options = dict(label_sep=label_sep, label_columns=label_columns, label_names=label_names)
    tr = read(train, text_column, pair_column, label_column, require_label=True, multi_label=multi_label,
              **label_options)
    task = infer_task(tr.labels, multi_label)
    names = tr.label_names or task.label_names(tr.labels)
    if task.name == "single-label" and len(names) < 2:
        raise ConfigError(f"{train}: need at least two classes, found only {names}")
    dv = read(dev, text_column, pair_column, label_column, require_label=True,
              multi_label=task.name == "multi-label", **label_options) if dev else None
    if task.name != "single-label":
        say(f"task: {task.name}, {len(names)} labels")
    metrics = finetune_teacher(
        base, tr.texts, task.encode(names, tr.labels, tr.source, say), len(names), out, label_names=names,
        train_pairs=tr.pairs, dev_texts=dv.texts if dv else None, dev_pairs=dv.pairs if dv else None,
        dev_label_ids=task.encode(names, dv.labels, dv.source, say) if dv else None, config=config,
        overwrite=overwrite, device=device, task=task,
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
    device: Optional[str] = typer.Option(None, help="auto (a GPU when there is one), cpu, cuda or cuda:N."),
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
    ray = ray_option(values, LABEL_FLAGS)
    from ..plan import check_device

    device = check_device(device)
    teachers = load_teachers(list(teacher), max_length=max_length, batch_size=batch_size, device=device)
    root = cache_root(cache)
    check_writable_place(root, "--cache")  # the labels go there: fail before labelling, not after the first chunk
    if ray:  # issue 12: every file and teacher in one Ray job
        from ..distributed.labelling import label_corpora_on_ray

        datasets = [read_dataset(path, text=text_column, text_pair=pair_column, label=None, limit=limit)
                    for path in input]
        label_corpora_on_ray(teachers, [(ds.texts, ds.pairs) for ds in datasets], cache_root=root, ray=ray,
                             chunk_size=chunk_size, progress=True, log=say)
        for path, ds in zip(input, datasets):
            say(f"{path}: {len(ds):,} texts labelled (cache {root})")
        return
    for path in input:
        ds = read_dataset(path, text=text_column, text_pair=pair_column, label=None, limit=limit)
        for t in teachers:
            logits = label_with_cache(t, ds.texts, ds.pairs, cache_root=root, chunk_size=chunk_size, progress=True)
        say(f"{path}: {len(logits):,} texts labelled (cache {root})")


def ray_option(values: dict, flags: dict):
    """The RayConfig the --ray flags describe, or None without --ray (a Ray flag without it is an error)."""
    from ..config import build_config
    from ..distributed.cluster import preflight
    from ..errors import ConfigError

    ray, used = build_config(RayConfig, values, flags)
    if ray.address is None:
        if used:
            raise ConfigError(f"{', '.join(flags[p].flag for p in sorted(used))} needs --ray")
        return None
    preflight(ray)
    return ray


LABEL_FLAGS = cli_flags.collect([RayConfig], taken={"teacher", "input", "cache", "max_length", "batch_size", "device",
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


def check(
    teacher: str = typer.Option(..., help="A teacher: a classifier directory, a saved student, or a teacher spec "
                                "file (.json/.yaml: embedding, prompt, openai)."),
    data: Path = typer.Option(..., help="A labelled sample (any supported format)."),
    limit: int = typer.Option(300, help="Check on at most this many rows (the first ones)."),
    cache: Optional[Path] = CacheOpt,
    teacher_labels: Optional[str] = typer.Option(None, help="For a teacher whose classes have no names: the data's "
                                                 "label of each of its columns (neg,pos)."),
    corpus: Optional[Path] = typer.Option(None, help="The corpus you mean to label: project its tokens, cost and time."),
    corpus_texts: Optional[int] = typer.Option(None, help="Or its number of texts."),
    price_in: Optional[float] = typer.Option(None, help="Price per million prompt tokens (for the projection)."),
    price_out: Optional[float] = typer.Option(None, help="Price per million completion tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol, label_column: Optional[str] = LabelCol,
    label_sep: Optional[str] = LabelSepOpt, label_columns: Optional[str] = LabelColumnsOpt,
    label_names: Optional[Path] = LabelNamesOpt,
):
    """Run a teacher on a labelled sample: its score, answers, unparsed replies, throughput and projected cost."""
    from ..errors import check as require
    from ..persistence import check_writable_place
    from ..teachers.check import check_teacher, format_check

    require(limit >= 1, "--limit must be >= 1")
    require(corpus_texts is None or corpus_texts >= 1, "--corpus-texts must be >= 1")
    root = cache_root(cache)
    check_writable_place(root, "--cache")
    sample = read(data, text_column, pair_column, label_column, require_label=True, label_sep=label_sep,
                  label_columns=label_columns, label_names=label_names)
    sample = sample.subset(range(min(limit, len(sample))))
    if corpus is not None:
        from ..data.readers import read_dataset

        corpus_texts = len(read_dataset(corpus, text=text_column, label=None))
    t = load_teacher(teacher, None, 32)
    report = check_teacher(t, sample, root, teacher_labels=teacher_labels, corpus_texts=corpus_texts,
                           price_in=price_in, price_out=price_out, log=say)
    print(json.dumps(report, indent=2, default=float) if as_json else format_check(report))
