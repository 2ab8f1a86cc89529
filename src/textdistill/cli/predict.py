"""Using a student: ``predict``, ``evaluate`` and ``bench`` (side by side with its teacher), and ``demo``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from .common import (CacheOpt, LabelCol, LabelColumnsOpt, LabelNamesOpt, LabelSepOpt, PairCol, TextCol, cache_root,
                     load_student, load_teacher, read, say)


def evaluate(
    model: Path = typer.Argument(..., help="A saved student directory."),
    data: Path = typer.Option(..., help="Labeled file to evaluate on."),
    teacher: Optional[str] = typer.Option(None, help="Also evaluate this teacher and report agreement."),
    cache: Optional[Path] = CacheOpt,
    as_json: bool = typer.Option(False, "--json", help="Print metrics as JSON (multi-label: with per-label "
                                 "precision, recall, F1 and support)."),
    threshold: Optional[float] = typer.Option(None, help="Multi-label: one decision threshold for every label "
                                              "instead of the tuned ones."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol, label_column: Optional[str] = LabelCol,
    label_sep: Optional[str] = LabelSepOpt, label_columns: Optional[str] = LabelColumnsOpt,
    label_names: Optional[Path] = LabelNamesOpt,
):
    """Accuracy, macro-F1, Matthews correlation (multi-label: micro/macro/samples-F1, subset accuracy, Hamming loss)
    and agreement with a teacher."""
    from ..evaluation.scoring import gold_of, score, teacher_score

    student = load_student(model)
    if threshold is not None and not student.multi_label:
        from ..errors import ConfigError

        raise ConfigError("--threshold applies to multi-label students (this one answers one class per text)")
    ds = read(data, text_column, pair_column, label_column, require_label=True, label_sep=label_sep,
              label_columns=label_columns, label_names=label_names, multi_label=student.multi_label,
              allow_empty_text=True)
    empty = sum(1 for i, t in enumerate(ds.texts) if not t.strip() and (ds.pairs is None or not ds.pairs[i].strip()))
    if empty:
        say(f"warning: {data}: {empty:,} of {len(ds):,} rows have an empty text; they are classified like any other")
    gold = gold_of(student, ds, say)
    logits = student.predict_logits(ds.texts, ds.pairs)
    result = {"student": None, "teacher": None}
    teacher_logits = None
    if teacher:
        from ..teachers.signal import label_texts

        t = load_teacher(teacher, None, 32)
        teacher_logits = label_texts(t, ds.texts, ds.pairs, student.labels, cache_root(cache)).logits[0]
        result["teacher"] = teacher_score(student, gold, teacher_logits, per_label=as_json)
    result["student"] = score(student, gold, logits, teacher_logits, per_label=as_json, threshold=threshold)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    for who in ("student", "teacher"):
        m = result[who]
        if not m:
            continue
        extra = f"  agreement {m['teacher_agreement']:.4f}" if "teacher_agreement" in m else ""
        if student.multi_label:
            extra += f"  teacher micro-F1 {m['teacher_micro_f1']:.4f}" if "teacher_micro_f1" in m else ""
            print(f"{who:8s} n={m['n']}  micro-F1 {m['micro_f1']:.4f}  macro-F1 {m['macro_f1']:.4f}  samples-F1 "
                  f"{m['samples_f1']:.4f}  subset accuracy {m['subset_accuracy']:.4f}  Hamming loss "
                  f"{m['hamming_loss']:.4f}{extra}")
        else:
            print(f"{who:8s} n={m['n']}  accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
                  f"MCC {m['mcc']:.4f}{extra}")


def predict(
    model: Path = typer.Argument(..., help="A saved student directory."),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="Input file (default: stdin)."),
    format: str = typer.Option("auto", "--format", help="auto (default): JSON lines for a .jsonl file or with "
                               "--jsonl; a table for .parquet and for a .csv/.tsv file that is one (a header naming a "
                               "text column, or two or more fields on every row); otherwise plain text, one text per "
                               "line (stdin too). Or say: text, jsonl, csv, tsv, parquet."),
    jsonl: bool = typer.Option(False, "--jsonl", help='Write JSON lines (and read them: {"text": ..., "text_pair": '
                               '...}; other fields, such as an id, are passed through).'),
    proba: bool = typer.Option(False, "--proba", help="Also print class probabilities (multi-label: every label's "
                               "own probability)."),
    threshold: Optional[float] = typer.Option(None, help="Multi-label: one decision threshold for every label "
                                              "instead of the tuned ones (0..1)."),
    at_least_one: Optional[bool] = typer.Option(None, "--at-least-one/--no-at-least-one", show_default=False,
                                                help="Multi-label: answer the most likely label when none passes "
                                                     "(default: as the model was trained)."),
    batch_size: int = typer.Option(256, help="Texts per batch; a batch is answered as soon as it is full or the "
                                   "input pauses."),
    wait_ms: float = typer.Option(20.0, "--wait-ms", help="How long a partial batch waits for more input."),
):
    """Label texts as they arrive: one label per input line (tab-separated probabilities with --proba)."""
    from ..errors import DataError, check
    from .predict_io import batches, input_format, records, write_predictions

    check(batch_size >= 1, "--batch-size must be >= 1")
    check(wait_ms >= 0, "--wait-ms must be >= 0")
    from ..students.base import check_threshold

    check_threshold(threshold)
    from ..featurizers.ngrams import kernels_load_cheaply

    # without this machine's ahead-of-time kernels, nothing of numba is loaded before the input is known to be more
    # than a few texts (they are answered by numpy: the JIT kernels would take longer to load)
    student = load_student(model, backend="auto" if kernels_load_cheaply() else "numpy")
    if not student.multi_label:
        check(threshold is None and at_least_one is None, "--threshold and --at-least-one apply to multi-label "
              "students (this one answers one class per text)")
    fmt = input_format(input, format, jsonl)
    if input is not None and format == "auto" and fmt == "text" and str(input).lower().removesuffix(".gz").endswith(
            (".csv", ".tsv", ".tab")):
        say(f"note: reading {input} as plain text, one text per line (it has no header naming a text column and "
            f"no consistent fields); pass --format csv to read it as a table")
    reader = batches(records(input, fmt), batch_size, wait_ms / 1000)
    warnings = UnknownInputs()
    seen = 0
    for batch in reader:
        if seen == 0 and not reader.finished:  # more than a batch, or a stream: the compiled kernels pay off
            student = student.set_backend("auto") if hasattr(student, "set_backend") else student
        texts, pairs = texts_of(batch)
        logits, known = student.predict_with_known(texts, pairs, batch_size=batch_size)
        warnings.check(texts, known, seen)
        write_predictions(sys.stdout, student, logits, fmt == "jsonl" or jsonl, proba,
                          batch if fmt == "jsonl" or jsonl else None, threshold, at_least_one)
        seen += len(batch)
    warnings.summary(seen)


def texts_of(batch: list[dict]):
    from ..errors import DataError

    texts = [r["text"] for r in batch]
    pairs = [r.get("text_pair") for r in batch]
    if all(p is None for p in pairs):
        return texts, None
    if any(p is None for p in pairs):
        raise DataError('some inputs have "text_pair" and others do not')
    return texts, pairs


class UnknownInputs:
    """Warnings for empty inputs and inputs with nothing the model knows (their answer is the model's prior): the
    first five, then a count."""

    def __init__(self):
        self.empty = self.unknown = 0

    def check(self, texts: list[str], known, seen: int) -> None:
        for i, t in enumerate(texts):
            if not t.strip():
                self.empty += 1
                if self.empty <= 5:
                    say(f"warning: input {seen + i + 1} is empty; its prediction is the model's prior")
        if known is None:
            return
        for i in np.flatnonzero(np.asarray(known) == 0):
            if texts[i].strip():
                self.unknown += 1
                if self.unknown <= 5:
                    say(f"warning: input {seen + i + 1} has nothing the model knows (no known n-gram or word); its "
                        f"prediction is the model's prior")

    def summary(self, seen: int) -> None:
        if self.empty > 5 or self.unknown > 5:
            say(f"warning: {self.empty:,} empty inputs and {self.unknown:,} with nothing the model knows, of "
                f"{seen:,}")


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
    if output is not None:
        from ..persistence import check_can_write_file

        check_can_write_file(output, what="--output")  # before minutes of timing, not after

    ds = read(data, text_column, pair_column, label_column)
    result = bench_models(model, ds, teacher=teacher, limit=limit, teacher_limit=teacher_limit, repeats=repeats,
                          threads=threads or None, cache_root=cache_root(cache) if teacher else None)
    print(format_bench(result))
    if output:
        from ..persistence import write_json_atomically

        write_json_atomically(output, result)



def demo(
    out: Path = typer.Option(Path("textdistill-demo"), help="Working directory for the teacher and the student."),
    epochs: float = typer.Option(2.0, help="Teacher fine-tuning epochs."),
):
    """Fine-tune a MiniLM teacher on BBC News, distill a DAN, and compare them (offline, ~10 min on 2 cores)."""
    from ..demo import run_demo
    from ..persistence import check_writable_place

    check_writable_place(out, "--out")
    run_demo(out, teacher_epochs=epochs, log=say)


