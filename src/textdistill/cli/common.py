"""What every command shares: one-line messages, reading data files, the cache root, loading teachers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

TextCol = typer.Option(None, "--text-column", help="Text column: name or 0-based index (auto-detected).")
PairCol = typer.Option(None, "--pair-column", help="Second text of a pair: name or index (auto-detected).")
LabelCol = typer.Option(None, "--label-column", help="Label column: name or index (auto-detected).")
CacheOpt = typer.Option(None, "--cache", help="Teacher-output cache directory "
                        "(default $TEXTDISTILL_CACHE or ~/.cache/textdistill/teacher-outputs).")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


LabelSepOpt = typer.Option(None, "--label-sep", help="Multi-label: labels separated in one cell by this string.")
LabelColumnsOpt = typer.Option(None, "--label-columns", help="Multi-label: one 0/1 column per label "
                               "(comma-separated names).")
LabelNamesOpt = typer.Option(None, "--label-names", help="A file naming the classes, one per line.")


def read(path, text=None, pair=None, label=None, require_label=False, *, label_sep=None, label_columns=None,
         label_names=None, multi_label=None, allow_empty_text=False):
    from ..data.readers import read_dataset

    return read_dataset(path, text=text, text_pair=pair, label=label, require_label=require_label,
                        label_sep=label_sep, label_columns=label_columns, label_names=label_names,
                        multi_label=multi_label, allow_empty_text=allow_empty_text)


def cache_root(cache: Optional[Path]):
    from ..teachers.cache import default_cache_root

    return cache or default_cache_root()


def load_teacher(path: str, max_length: Optional[int], batch_size: int):
    """A Hugging Face classifier directory or a saved textdistill student (``teachers.base.load_teacher``)."""
    from ..teachers.base import load_teacher as load

    return load(path, max_length=max_length, batch_size=batch_size)


def load_student(path: Path, backend: str = "auto"):
    from ..students import Student

    return Student.from_pretrained(path, backend=backend)
