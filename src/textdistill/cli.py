"""The ``textdistill`` command line. Flags map onto the config dataclasses; user errors print one line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import TextdistillError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Distill transformer text classifiers into fast CPU students.")
teacher_app = typer.Typer(no_args_is_help=True, help="Make and inspect teachers.")
app.add_typer(teacher_app, name="teacher")


@app.callback()
def _global_options(
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads for the teacher and training "
                                          "(default: torch's choice). On a small shared VM, 1 is often fastest."),
):
    if threads is not None:
        if threads < 1:
            raise TextdistillError("--threads must be at least 1")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)

TextCol = typer.Option(None, "--text-column", help="Text column: name or 0-based index (auto-detected).")
PairCol = typer.Option(None, "--pair-column", help="Second text of a pair: name or index (auto-detected).")
LabelCol = typer.Option(None, "--label-column", help="Label column: name or index (auto-detected).")
CacheOpt = typer.Option(None, "--cache", help="Teacher-output cache directory "
                        "(default $TEXTDISTILL_CACHE or ~/.cache/textdistill/teacher-outputs).")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _read(path, text=None, pair=None, label=None, require_label=False):
    from .data import read_dataset

    return read_dataset(path, text=text, text_pair=pair, label=label, require_label=require_label)


def _cache_root(cache: Optional[Path]):
    from .teacher_cache import default_cache_root

    return cache or default_cache_root()


def _load_teacher(path: str, max_length: Optional[int], batch_size: int):
    from .teacher import Teacher

    return Teacher.from_pretrained(path, max_length=max_length, batch_size=batch_size)


# ----------------------------------------------------------------------------------------------------------------
@teacher_app.command("finetune")
def teacher_finetune(
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
    from .data import LabelMap
    from .finetune import FinetuneConfig, finetune_teacher

    tr = _read(train, text_column, pair_column, label_column, require_label=True)
    labels = LabelMap.from_labels(tr.labels)
    dv = _read(dev, text_column, pair_column, label_column, require_label=True) if dev else None
    config = FinetuneConfig(epochs=epochs, lr=lr, batch_size=batch_size, max_length=max_length,
                            weight_decay=weight_decay, warmup_ratio=warmup_ratio, seed=seed, eval_every=eval_every)
    metrics = finetune_teacher(
        base, tr.texts, labels.encode(tr.labels, tr.source), len(labels), out, label_names=labels.names,
        train_pairs=tr.pairs, dev_texts=dv.texts if dv else None, dev_pairs=dv.pairs if dv else None,
        dev_label_ids=labels.encode(dv.labels, dv.source) if dv else None, config=config, overwrite=overwrite,
    )
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) and k != "out_dir"}
    _say(f"teacher saved to {out}: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                  for k, v in shown.items()))


@app.command()
def label(
    teacher: str = typer.Option(..., help="Teacher directory (or hub id when online)."),
    input: List[Path] = typer.Option(..., "--input", help="Texts to label (any supported format); repeatable."),
    cache: Optional[Path] = CacheOpt,
    max_length: Optional[int] = typer.Option(None, help="Truncate teacher inputs (default: the teacher card's)."),
    batch_size: int = typer.Option(32), chunk_size: int = typer.Option(2048, help="Texts per cache chunk."),
    limit: Optional[int] = typer.Option(None, help="Label only the first N texts of each file."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
):
    """Fill the teacher-output cache for a corpus. Resumable: rerun after an interruption to continue."""
    from .data import read_dataset
    from .errors import check
    from .teacher_cache import label_with_cache

    check(chunk_size >= 1 and batch_size >= 1, "--chunk-size and --batch-size must be >= 1")
    t = _load_teacher(teacher, max_length, batch_size)
    root = _cache_root(cache)
    for path in input:
        ds = read_dataset(path, text=text_column, text_pair=pair_column, label=None, limit=limit)
        logits = label_with_cache(t, ds.texts, ds.pairs, cache_root=root, chunk_size=chunk_size, progress=True)
        _say(f"{path}: {len(logits):,} texts labelled (cache {root})")


def _train_config(**kw):
    from .training.trainer import TrainConfig

    return TrainConfig(**kw)


@app.command()
def distill(
    train: Path = typer.Option(..., help="Labeled training file (its texts are part of the transfer set)."),
    out: Path = typer.Option(..., help="Directory to save the student to."),
    teacher: Optional[str] = typer.Option(None, help="Teacher directory; without one the student learns gold labels only."),
    dev: Optional[Path] = typer.Option(None, help="Labeled dev file for model selection."),
    unlabeled: List[Path] = typer.Option([], help="Extra transfer texts labelled by the teacher; repeatable."),
    student: str = typer.Option("dan", help="Student family."),
    epochs: int = typer.Option(3, help="Distillation epochs over the transfer set."),
    finetune_epochs: int = typer.Option(2, help="Epochs on gold labels after distillation (KD+FT); 0 = KD only."),
    finetune_lr_scale: float = typer.Option(0.1, help="Learning rates of the gold fine-tune, relative to KD's."),
    batch_size: int = typer.Option(64), lr: float = typer.Option(1e-3, help="Learning rate of the dense layers."),
    loss: str = typer.Option("kl", help="kl (KL to the teacher's distribution), mse (on logits) or ce (gold only)."),
    temperature: float = typer.Option(1.0), alpha: float = typer.Option(0.0, help="Weight of CE on gold labels."),
    eval_every: int = typer.Option(0, help="Also evaluate on dev every N steps (0: once per epoch)."),
    select_metric: str = typer.Option("accuracy", help="accuracy, macro_f1 or mcc."),
    seed: int = typer.Option(0),
    embedding_dim: int = typer.Option(512), hidden_dim: int = typer.Option(512),
    dropout: float = typer.Option(0.1), embedding_lr: float = typer.Option(1e-3),
    max_ngram: int = typer.Option(4), vocab_size: int = typer.Option(1_000_000, help="Top-K n-grams kept."),
    min_count: int = typer.Option(1), buckets: int = typer.Option(0, help="Hash buckets for unknown n-grams."),
    cache: Optional[Path] = CacheOpt,
    max_length: Optional[int] = typer.Option(None, help="Teacher truncation (default: the teacher card's)."),
    teacher_batch_size: int = typer.Option(32),
    overwrite: bool = typer.Option(False, help="Replace a non-empty output directory."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol, label_column: Optional[str] = LabelCol,
):
    """Distill a teacher into a student (or train a student on gold labels when no teacher is given)."""
    from .ngrams import NgramConfig, NgramFeaturizer
    from .persistence import check_can_write
    from .pipeline import distill as run_distill
    from .training.dan import DANConfig

    check_can_write(out, overwrite)
    config = _train_config(epochs=epochs, finetune_epochs=finetune_epochs, finetune_lr_scale=finetune_lr_scale,
                           batch_size=batch_size, lr=lr, loss=loss,
                           temperature=temperature, alpha=alpha, eval_every=eval_every,
                           select_metric=select_metric, seed=seed)
    student_config = DANConfig(embedding_dim=embedding_dim, hidden_dim=hidden_dim, dropout=dropout,
                               embedding_lr=embedding_lr,
                               ngrams=NgramConfig(max_n=max_ngram, max_features=vocab_size, min_count=min_count,
                                                  buckets=buckets))
    NgramFeaturizer(student_config.ngrams)  # validates the n-gram settings before any slow work
    tr = _read(train, text_column, pair_column, label_column, require_label=True)
    dv = _read(dev, text_column, pair_column, label_column, require_label=True) if dev else None
    extra = [_read(p, text_column, pair_column, None) for p in unlabeled]
    t = _load_teacher(teacher, max_length, teacher_batch_size) if teacher else None
    _, report = run_distill(tr, out=out, teacher=t, dev=dv, unlabeled=extra, student=student,
                            student_config=student_config, train_config=config, cache_root=_cache_root(cache),
                            overwrite=True, log=_say)
    if report.dev:
        line = f"student dev accuracy {report.dev['accuracy']:.4f}, macro-F1 {report.dev['macro_f1']:.4f}"
        if report.teacher_dev:
            line += (f"; teacher {report.teacher_dev['accuracy']:.4f} "
                     f"(student/teacher {report.dev['accuracy'] / max(report.teacher_dev['accuracy'], 1e-9):.1%}), "
                     f"agreement {report.dev.get('teacher_agreement', float('nan')):.4f}")
        _say(line)
    _say(f"student saved to {out}")


def _load_model(path: Path):
    from .students import Student

    return Student.from_pretrained(path)


@app.command()
def evaluate(
    model: Path = typer.Argument(..., help="A saved student directory."),
    data: Path = typer.Option(..., help="Labeled file to evaluate on."),
    teacher: Optional[str] = typer.Option(None, help="Also evaluate this teacher and report agreement."),
    cache: Optional[Path] = CacheOpt,
    as_json: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol, label_column: Optional[str] = LabelCol,
):
    """Accuracy, macro-F1, Matthews correlation (and agreement with a teacher)."""
    from .evaluation import classification_metrics
    from .pipeline import label_texts

    student = _load_model(model)
    ds = _read(data, text_column, pair_column, label_column, require_label=True)
    gold = student.labels.encode(ds.labels, source=ds.source)
    pred = student.predict_logits(ds.texts, ds.pairs).argmax(-1)
    result = {"student": None, "teacher": None}
    teacher_pred = None
    if teacher:
        t = _load_teacher(teacher, None, 32)
        teacher_pred = label_texts(t, ds.texts, ds.pairs, student.labels, _cache_root(cache)).logits.argmax(-1)
        result["teacher"] = classification_metrics(gold, teacher_pred, len(student.labels))
    result["student"] = classification_metrics(gold, pred, len(student.labels), teacher_pred)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for who in ("student", "teacher"):
        m = result[who]
        if m:
            extra = f"  agreement {m['teacher_agreement']:.4f}" if "teacher_agreement" in m else ""
            print(f"{who:8s} n={m['n']}  accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
                  f"MCC {m['mcc']:.4f}{extra}")


@app.command()
def predict(
    model: Path = typer.Argument(..., help="A saved student directory."),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="Input file (default: stdin, one text per line)."),
    jsonl: bool = typer.Option(False, "--jsonl", help='Read JSON lines {"text": ..., "text_pair": ...} and write JSON lines.'),
    proba: bool = typer.Option(False, "--proba", help="Also print class probabilities."),
    batch_size: int = typer.Option(1024),
):
    """Label texts: one label per input line (tab-separated probabilities with --proba)."""
    from .predict_io import read_prediction_input, write_predictions

    from .errors import check

    check(batch_size >= 1, "--batch-size must be >= 1")
    student = _load_model(model)
    texts, pairs, use_jsonl = read_prediction_input(input, jsonl)
    for i, t in enumerate(texts):
        if not t.strip():
            _say(f"warning: input {i + 1} is empty; its prediction is the model's prior")
    probs = student.predict_proba(texts, pairs, batch_size=batch_size)
    write_predictions(sys.stdout, student.labels.names, probs, use_jsonl, proba)


@app.command()
def bench(
    model: Path = typer.Argument(..., help="A saved student directory."),
    data: Path = typer.Option(..., help="Texts to time on (labels, if present, give accuracy)."),
    teacher: Optional[str] = typer.Option(None, help="Teacher to compare against, side by side."),
    limit: int = typer.Option(2000, help="Use at most N texts."),
    teacher_limit: int = typer.Option(512, help="Texts for the teacher's timing (it is slow)."),
    repeats: int = typer.Option(3, help="Timing repetitions; medians are reported."),
    output: Optional[Path] = typer.Option(None, help="Also write the results as JSON."),
    threads: int = typer.Option(1, help="Torch threads for the teacher (the student uses one); 0 = torch's default."),
    cache: Optional[Path] = CacheOpt,
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol, label_column: Optional[str] = LabelCol,
):
    """Accuracy and throughput of a student and its teacher, measured side by side on this machine."""
    from .benchmarking import bench_models, format_bench
    from .errors import check

    check(limit >= 1 and teacher_limit >= 1 and repeats >= 1, "--limit, --teacher-limit and --repeats must be >= 1")

    ds = _read(data, text_column, pair_column, label_column)
    result = bench_models(model, ds, teacher=teacher, limit=limit, teacher_limit=teacher_limit, repeats=repeats,
                          threads=threads or None, cache_root=_cache_root(cache) if teacher else None)
    print(format_bench(result))
    if output:
        from .persistence import write_json_atomically

        write_json_atomically(output, result)


@app.command()
def demo(
    out: Path = typer.Option(Path("textdistill-demo"), help="Working directory for the teacher and the student."),
    epochs: float = typer.Option(2.0, help="Teacher fine-tuning epochs."),
):
    """Fine-tune a MiniLM teacher on BBC News, distill a DAN, and compare them (offline, ~10 min on 2 cores)."""
    from .demo import run_demo

    run_demo(out, teacher_epochs=epochs, log=_say)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except TextdistillError as exc:
        _say(f"error: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        _say("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except ModuleNotFoundError as exc:
        extra = "train" if exc.name in ("torch", "transformers", "tokenizers") else "cli"
        _say(f"error: {exc.name} is not installed; this command needs: pip install 'textdistill[{extra}]'")
        sys.exit(2)
    except (OSError, MemoryError) as exc:  # disk full, permission denied, out of memory: still one line
        _say(f"error: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
