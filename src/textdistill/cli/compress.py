"""``textdistill compress``: a smaller copy of a DAN student (folded, pruned, float16/int8), measured before and after."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import LabelCol, PairCol, TextCol, load_student, read, say


def compress(
    model: Path = typer.Argument(..., help="A saved DAN student directory."),
    out: Path = typer.Option(..., help="Directory to write the compressed student to."),
    dtype: Optional[str] = typer.Option(None, help="Table storage: float32, float16 or int8 (one scale per row); "
                                        "default: keep the model's."),
    max_rows: Optional[int] = typer.Option(None, help="Keep at most this many n-gram rows."),
    max_size: Optional[str] = typer.Option(None, help="Keep as many rows as fit in this size on disk, e.g. 50MB."),
    prune_by: str = typer.Option("norm", help="Rows dropped first: norm (the rows that move a prediction least) "
                                 "or frequency (the n-grams rarest in training)."),
    fold: bool = typer.Option(True, help="Fold the first layer into the table (single-text students; exact)."),
    dev: Optional[Path] = typer.Option(None, help="Labeled file: report accuracy before and after."),
    overwrite: bool = typer.Option(False, help="Replace a non-empty output directory."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
    label_column: Optional[str] = LabelCol,
):
    """Shrink a DAN student: fold, prune rows to a budget, store the table as float16 or int8."""
    from ..errors import ConfigError
    from ..evaluation.scoring import gold_of, headline, score
    from ..evaluation.speed import dir_size
    from ..persistence import check_can_write

    check_can_write(out, overwrite)
    if out.resolve() == model.resolve():
        raise ConfigError("--out must be a new directory, not the model being compressed")
    student = load_student(model)
    if not student.compressible:
        student.compressed()  # the family's one-line refusal
    ds = read(dev, text_column, pair_column, label_column, require_label=True,
              multi_label=student.multi_label) if dev else None
    small = student.compressed(dtype=dtype, max_rows=max_rows, max_size=max_size, prune_by=prune_by, fold=fold)
    small.task, small.decision = student.task, dict(student.decision)
    small.metadata.pop("dev", None)  # the copy's dev metrics are what it scores, not the original's
    before = None
    if ds is not None:
        gold = gold_of(student, ds, say)
        before = score(student, gold, student.predict_logits(ds.texts, ds.pairs))
        after = score(small, gold, small.predict_logits(ds.texts, ds.pairs))
        small.metadata["compressed_dev"] = {"before": before, "after": after, "file": str(ds.source)}
        small.metadata["dev"] = after
    small.metadata["compressed_from"] = str(model)
    small.save_pretrained(out, overwrite=overwrite)
    line = f"{model} ({dir_size(model) / 1e6:,.1f} MB) -> {out} ({dir_size(out) / 1e6:,.1f} MB): {small.describe()}"
    say(line)
    if before is not None:
        name = "micro-F1" if student.multi_label else "accuracy"
        b, a = headline(before), headline(after)
        say(f"dev {name} {b:.4f} -> {a:.4f} ({(a - b) * 100:+.2f} points), macro-F1 {before['macro_f1']:.4f} -> "
            f"{after['macro_f1']:.4f} on {len(ds):,} texts")
