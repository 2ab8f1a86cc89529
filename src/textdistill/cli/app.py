"""The ``textdistill`` command line. Flags map onto the config dataclasses; user errors print one line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import TextdistillError

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
    from ..data.readers import read_dataset

    return read_dataset(path, text=text, text_pair=pair, label=label, require_label=require_label)


def _cache_root(cache: Optional[Path]):
    from ..teachers.cache import default_cache_root

    return cache or default_cache_root()


def _load_teacher(path: str, max_length: Optional[int], batch_size: int):
    from ..teachers.huggingface import Teacher

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
    from ..data.readers import LabelMap
    from ..teachers.finetune import FinetuneConfig, finetune_teacher

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
    from ..data.readers import read_dataset
    from ..errors import check
    from ..teachers.cache import label_with_cache

    check(chunk_size >= 1 and batch_size >= 1, "--chunk-size and --batch-size must be >= 1")
    t = _load_teacher(teacher, max_length, batch_size)
    root = _cache_root(cache)
    for path in input:
        ds = read_dataset(path, text=text_column, text_pair=pair_column, label=None, limit=limit)
        logits = label_with_cache(t, ds.texts, ds.pairs, cache_root=root, chunk_size=chunk_size, progress=True)
        _say(f"{path}: {len(logits):,} texts labelled (cache {root})")


def _train_config(**kw):  # noqa: D103
    from ..training.loop import TrainConfig

    return TrainConfig(**kw)


AugNIter = typer.Option(None, "--n-iter", help="Augmented samples per example (default 20; 10 for pairs).")
AugPMask = typer.Option(0.1, "--p-mask", help="Probability of replacing a word by the mask token.")
AugPPos = typer.Option(0.1, "--p-pos", help="Probability of replacing a word by another of the same POS tag.")
AugPNg = typer.Option(0.25, "--p-ng", help="Probability of keeping only a random n-gram (n = 1..5).")


def _augment_config(n_iter, p_mask, p_pos, p_ng, seed, mask_token="[MASK]"):
    from ..data.augment import AugmentConfig

    return AugmentConfig(p_mask=p_mask, p_pos=p_pos, p_ng=p_ng, n_iter=n_iter, seed=seed, mask_token=mask_token)


@app.command()
def distill(
    train: Path = typer.Option(..., help="Labeled training file (its texts are part of the transfer set)."),
    out: Path = typer.Option(..., help="Directory to save the student to."),
    teacher: Optional[str] = typer.Option(None, help="Teacher directory; without one the student learns gold labels only."),
    dev: Optional[Path] = typer.Option(None, help="Labeled dev file for model selection."),
    unlabeled: List[Path] = typer.Option([], help="Extra transfer texts labelled by the teacher; repeatable."),
    student: str = typer.Option("dan", help="Student family: dan (n-gram DAN), bilstm or cnn."),
    augment: bool = typer.Option(False, "--augment", help="Add augmented training texts (masking, POS-guided "
                                 "replacement, n-gram sampling) to the transfer set; needs --teacher."),
    n_iter: Optional[int] = AugNIter, p_mask: float = AugPMask, p_pos: float = AugPPos, p_ng: float = AugPNg,
    epochs: int = typer.Option(3, help="Distillation epochs over the transfer set."),
    finetune_epochs: int = typer.Option(2, help="Epochs on gold labels after distillation (KD+FT); 0 = KD only."),
    finetune_lr_scale: float = typer.Option(0.1, help="Learning rates of the gold fine-tune, relative to KD's."),
    batch_size: int = typer.Option(64), lr: float = typer.Option(1e-3, help="Learning rate of the dense layers."),
    loss: Optional[str] = typer.Option(None, help="kl (KL to the teacher's distribution), mse (on logits) or ce "
                                       "(gold only). Default: kl for dan, mse for bilstm and cnn."),
    temperature: float = typer.Option(1.0), alpha: float = typer.Option(0.0, help="Weight of CE on gold labels."),
    eval_every: int = typer.Option(0, help="Also evaluate on dev every N steps (0: once per epoch)."),
    select_metric: str = typer.Option("accuracy", help="accuracy, macro_f1 or mcc."),
    seed: int = typer.Option(0),
    embedding_dim: Optional[int] = typer.Option(None, help="Embedding width (dan 512; bilstm/cnn: the vectors')."),
    hidden_dim: Optional[int] = typer.Option(None, help="Width of the ReLU layer (dan 512, bilstm/cnn 200)."),
    dropout: Optional[float] = typer.Option(None, help="Dropout (dan/bilstm 0.1, cnn 0.5)."),
    embedding_lr: Optional[float] = typer.Option(None, help="Learning rate of the embedding table (1e-3)."),
    max_ngram: Optional[int] = typer.Option(None, help="dan: longest n-gram (4)."),
    vocab_size: Optional[int] = typer.Option(None, help="dan: top-K n-grams kept (1,000,000)."),
    min_count: Optional[int] = typer.Option(None, help="Drop n-grams (dan) or words (bilstm/cnn) seen fewer times."),
    buckets: Optional[int] = typer.Option(None, help="dan: hash buckets for unknown n-grams (0)."),
    vectors: Optional[str] = typer.Option(None, help="bilstm/cnn: word vectors: glove (GloVe 6B 50d, default), "
                                          "a GloVe/word2vec text file, or none (random)."),
    lstm_dim: Optional[int] = typer.Option(None, help="bilstm: LSTM units per direction (150)."),
    filters: Optional[int] = typer.Option(None, help="cnn: filters per width (100)."),
    widths: Optional[str] = typer.Option(None, help="cnn: filter widths, comma-separated (3,4,5)."),
    max_words: Optional[int] = typer.Option(None, help="bilstm/cnn: word vocabulary size (100,000)."),
    max_tokens: Optional[int] = typer.Option(None, help="bilstm/cnn: words read per text (256)."),
    cache: Optional[Path] = CacheOpt,
    max_length: Optional[int] = typer.Option(None, help="Teacher truncation (default: the teacher card's)."),
    teacher_batch_size: int = typer.Option(32),
    overwrite: bool = typer.Option(False, help="Replace a non-empty output directory."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol, label_column: Optional[str] = LabelCol,
):
    """Distill a teacher into a student (or train a student on gold labels when no teacher is given)."""
    from ..errors import ConfigError
    from ..persistence import check_can_write
    from ..pipeline import build_student_config, default_loss
    from ..pipeline import distill as run_distill

    check_can_write(out, overwrite)
    options = {"embedding_dim": embedding_dim, "hidden_dim": hidden_dim, "dropout": dropout,
               "embedding_lr": embedding_lr, "max_n": max_ngram, "max_features": vocab_size, "min_count": min_count,
               "buckets": buckets, "vectors": vectors, "lstm_dim": lstm_dim, "filters": filters,
               "max_words": max_words, "max_tokens": max_tokens}
    if widths is not None:
        try:
            options["widths"] = tuple(int(w) for w in widths.split(","))
        except ValueError:
            raise ConfigError(f"--widths must be comma-separated integers, not {widths!r}") from None
    flag_names = {"max_n": "max_ngram", "max_features": "vocab_size"}
    try:
        student_config = build_student_config(student, **{k: v for k, v in options.items() if v is not None})
    except ConfigError as exc:  # name the CLI flag, not the config field
        message = str(exc)
        for field, flag in flag_names.items():
            message = message.replace(f"--{field.replace('_', '-')} ", f"--{flag.replace('_', '-')} ")
        raise ConfigError(message) from None
    if vectors not in (None, "glove", "none", "random") and not Path(vectors).is_file():
        raise ConfigError(f"--vectors: no such file: {vectors}")
    config = _train_config(epochs=epochs, finetune_epochs=finetune_epochs, finetune_lr_scale=finetune_lr_scale,
                           batch_size=batch_size, lr=lr, loss=loss or default_loss(student),
                           temperature=temperature, alpha=alpha, eval_every=eval_every,
                           select_metric=select_metric, seed=seed)
    augment_config = _augment_config(n_iter, p_mask, p_pos, p_ng, seed) if augment else None
    if augment and not teacher:
        raise ConfigError("--augment needs --teacher: the augmented texts have no labels but the teacher's")
    if student == "dan":
        from ..featurizers.ngrams import NgramFeaturizer

        NgramFeaturizer(student_config.ngrams)  # validates the n-gram settings before any slow work
    tr = _read(train, text_column, pair_column, label_column, require_label=True)
    dv = _read(dev, text_column, pair_column, label_column, require_label=True) if dev else None
    extra = [_read(p, text_column, pair_column, None) for p in unlabeled]
    t = _load_teacher(teacher, max_length, teacher_batch_size) if teacher else None
    _, report = run_distill(tr, out=out, teacher=t, dev=dv, unlabeled=extra, student=student,
                            student_config=student_config, train_config=config, augment=augment_config,
                            cache_root=_cache_root(cache), overwrite=True, log=_say)
    if report.dev:
        line = f"student dev accuracy {report.dev['accuracy']:.4f}, macro-F1 {report.dev['macro_f1']:.4f}"
        if report.teacher_dev:
            line += (f"; teacher {report.teacher_dev['accuracy']:.4f} "
                     f"(student/teacher {report.dev['accuracy'] / max(report.teacher_dev['accuracy'], 1e-9):.1%}), "
                     f"agreement {report.dev.get('teacher_agreement', float('nan')):.4f}")
        _say(line)
    _say(f"student saved to {out}")


@app.command("augment")
def augment_command(
    input: Path = typer.Option(..., "--input", help="Texts to augment (any supported format)."),
    out: Path = typer.Option(..., help="JSONL file to write: {\"text\": ...} (and \"text_pair\") per sample."),
    n_iter: Optional[int] = AugNIter, p_mask: float = AugPMask, p_pos: float = AugPPos, p_ng: float = AugPNg,
    seed: int = typer.Option(0),
    mask_token: str = typer.Option("[MASK]", help="Written for masked words: the teacher tokenizer's mask token."),
    teacher: Optional[str] = typer.Option(None, help="Take the mask token from this teacher's tokenizer."),
    limit: Optional[int] = typer.Option(None, help="Augment only the first N texts."),
    overwrite: bool = typer.Option(False, help="Replace an existing output file."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
):
    """Write augmented copies of texts (Tang et al. 2019), e.g. to label them with `textdistill label`."""
    from ..data.augment import Augmenter
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
    config = _augment_config(n_iter, p_mask, p_pos, p_ng, seed, mask_token)
    texts, pairs, source = Augmenter(config).fit_augment(ds.texts, ds.pairs, progress=True)
    lines = []
    for i, text in enumerate(texts):
        row = {"text": text} if pairs is None else {"text": text, "text_pair": pairs[i]}
        row["source"] = int(source[i])
        lines.append(json.dumps(row, ensure_ascii=False))
    write_text_atomically(out, "".join(line + "\n" for line in lines))
    _say(f"{out}: {len(texts):,} augmented texts from {len(ds):,}")


def load_model(path: Path):
    from ..students import Student

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
    from ..evaluation.metrics import classification_metrics
    from ..pipeline import label_texts

    student = load_model(model)
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

    from ..errors import check

    check(batch_size >= 1, "--batch-size must be >= 1")
    student = load_model(model)
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
    from ..evaluation.speed import bench_models, format_bench
    from ..errors import check

    check(limit >= 1 and teacher_limit >= 1 and repeats >= 1, "--limit, --teacher-limit and --repeats must be >= 1")

    ds = _read(data, text_column, pair_column, label_column)
    result = bench_models(model, ds, teacher=teacher, limit=limit, teacher_limit=teacher_limit, repeats=repeats,
                          threads=threads or None, cache_root=_cache_root(cache) if teacher else None)
    print(format_bench(result))
    if output:
        from ..persistence import write_json_atomically

        write_json_atomically(output, result)


@app.command()
def demo(
    out: Path = typer.Option(Path("textdistill-demo"), help="Working directory for the teacher and the student."),
    epochs: float = typer.Option(2.0, help="Teacher fine-tuning epochs."),
):
    """Fine-tune a MiniLM teacher on BBC News, distill a DAN, and compare them (offline, ~10 min on 2 cores)."""
    from ..demo import run_demo

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
