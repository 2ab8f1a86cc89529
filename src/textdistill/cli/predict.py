"""Using a student: ``predict``, ``evaluate`` and ``bench`` (side by side with its teacher), and ``demo``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .common import CacheOpt, LabelCol, PairCol, TextCol, cache_root, load_student, load_teacher, read, say


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

    student = load_student(model)
    ds = read(data, text_column, pair_column, label_column, require_label=True)
    gold = student.labels.encode(ds.labels, source=ds.source)
    pred = student.predict_logits(ds.texts, ds.pairs).argmax(-1)
    result = {"student": None, "teacher": None}
    teacher_pred = None
    if teacher:
        t = load_teacher(teacher, None, 32)
        teacher_pred = label_texts(t, ds.texts, ds.pairs, student.labels, cache_root(cache)).logits.argmax(-1)
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
    student = load_student(model)
    texts, pairs, use_jsonl = read_prediction_input(input, jsonl)
    for i, t in enumerate(texts):
        if not t.strip():
            say(f"warning: input {i + 1} is empty; its prediction is the model's prior")
    probs = student.predict_proba(texts, pairs, batch_size=batch_size)
    write_predictions(sys.stdout, student.labels.names, probs, use_jsonl, proba)



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

    run_demo(out, teacher_epochs=epochs, log=_say)


