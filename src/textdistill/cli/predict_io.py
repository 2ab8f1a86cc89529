"""Prediction input and output for ``textdistill predict``: streamed, so it works in a pipe.

Input is read record by record: plain text (one text per line), JSON lines ({"text": ..., "text_pair": ...,
any other fields}), or a table (CSV/TSV/Parquet, read whole). A batch is answered as soon as it is full or the
input pauses, and every answer is flushed, so ``producer | textdistill predict model | consumer`` flows line by
line. With JSON lines, the input's other fields (an ``id``) are written back beside the label.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError

FORMATS = ("auto", "text", "jsonl", "csv", "tsv", "parquet")
_END = object()


def _decode(raw: bytes, source: str, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: not valid UTF-8 (line {line}, byte {exc.start})") from None


def looks_like_table(path: Path, fmt: str) -> bool:
    """A .csv/.tsv file is read as a table only if it is one: a header naming a text column, or rows that
    consistently have two or more fields. Anything else is plain text, one text per line."""
    from ..data.readers import TEXT_NAMES, allow_large_fields

    allow_large_fields()
    raw = Path(path).read_bytes()[: 1 << 20]
    if raw[:2] == b"\x1f\x8b":
        import gzip

        try:
            raw = gzip.decompress(Path(path).read_bytes())[: 1 << 20]
        except (EOFError, OSError) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip file ({exc})") from None
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    delimiter = "\t" if fmt == "tsv" else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))[:50]
    rows = [r for r in rows if r]
    if not rows:
        return False
    header = [c.strip().lower() for c in rows[0]]
    if any(name in header for name in TEXT_NAMES):
        return True
    widths = {len(r) for r in rows}
    return len(widths) == 1 and widths.pop() >= 2


def input_format(path: Path | None, fmt: str, jsonl: bool) -> str:
    """The format ``predict`` reads: the user's ``--format``, else JSON lines for --jsonl or a .jsonl file, tables
    for .parquet and for .csv/.tsv files that are tables, plain text otherwise (stdin included)."""
    if fmt not in FORMATS:
        raise DataError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if path is not None and str(path) != "-":
        if not Path(path).exists():
            raise DataError(f"no such file: {path}")
        if Path(path).is_dir():
            raise DataError(f"{path}: is a directory, not a data file")
    if fmt != "auto":
        return fmt
    if jsonl:
        return "jsonl"
    if path is None or str(path) == "-":
        return "text"
    name = str(path).lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    for ext, kind in ((".csv", "csv"), (".tsv", "tsv"), (".tab", "tsv")):
        if name.endswith(ext):
            return kind if looks_like_table(path, kind) else "text"
    return "text"


def _stream(path: Path | None):
    if path is None or str(path) == "-":
        return sys.stdin.buffer
    if not Path(path).exists():
        raise DataError(f"no such file: {path}")
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    if gz:
        import gzip

        return gzip.open(path, "rb")
    return open(path, "rb")


def _line_blocks(path: Path | None) -> Iterator[list[bytes]]:
    """Raw lines (without their newline) in blocks of whatever has arrived: a pipe's lines are passed on as soon as
    they are there, a file's in blocks of ~64 KB (one queue operation per block, not per line)."""
    stream = _stream(path)
    read = getattr(stream, "read1", stream.read)
    rest = b""
    first = True
    while True:
        chunk = read(1 << 16)
        if not chunk:
            break
        if first:
            chunk = chunk[3:] if chunk.startswith(b"\xef\xbb\xbf") else chunk
            first = False
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        if lines:
            yield [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if rest:
        yield [rest[:-1] if rest.endswith(b"\r") else rest]


def records(path: Path | None, fmt: str) -> Iterator[list[dict]]:
    """Input records in blocks: {"text": ..., "text_pair"?: ..., other fields...}, in input order."""
    source = "stdin" if path is None or str(path) == "-" else str(path)
    if fmt in ("csv", "tsv", "parquet"):
        from ..data.readers import parse_dataset, read_dataset

        if source == "stdin":  # a whole table from standard input
            ds = parse_dataset(sys.stdin.buffer.read(), "stdin", format=fmt)
        else:
            ds = read_dataset(path, label=None, format=fmt)
        rows = [{"text": t} if ds.pairs is None else {"text": t, "text_pair": ds.pairs[i]}
                for i, t in enumerate(ds.texts)]
        for i in range(0, len(rows), 4096):
            yield rows[i:i + 4096]
        return
    number = 0
    try:
        for block in _line_blocks(path):
            if number == 0 and block and block[0].startswith(b"PAR1"):
                raise DataError(f"{source}: is a Parquet file, not {'JSON lines' if fmt == 'jsonl' else 'text'}; "
                                f"read it with --format parquet")
            out = []
            for raw in block:
                number += 1
                line = _decode(raw, source, number)
                if fmt == "text":
                    out.append({"text": line})
                elif line.strip():
                    out.append(_json_record(line, source, number))
            if out:
                yield out
    except OSError as exc:
        raise DataError(f"{source}: cannot be read ({exc})") from None


def _json_record(line: str, source: str, number: int) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{source}: line {number} is not valid JSON ({exc.msg})") from None
    if isinstance(obj, str):
        obj = {"text": obj}
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise DataError(f'{source}: line {number} has no "text" string')
    if "text_pair" in obj and not isinstance(obj["text_pair"], str):
        raise DataError(f'{source}: line {number}: "text_pair" must be a string')
    return obj


class Batches:
    """Batches of up to ``batch_size`` records from blocks read on a thread; a partial batch goes out once
    ``max_wait`` seconds pass without more input, so a slow producer never leaves a finished answer waiting.
    ``finished`` turns true once the input has ended."""

    def __init__(self, blocks: Iterator[list[dict]], batch_size: int, max_wait: float):
        self.batch_size, self.max_wait = batch_size, max_wait
        self.finished = False
        self.queue: queue.Queue = queue.Queue(maxsize=64)
        threading.Thread(target=self._read, args=(blocks,), daemon=True).start()

    def _read(self, blocks) -> None:
        try:
            for block in blocks:
                self.queue.put(block)
        except BaseException as exc:  # handed to the consumer: it raises it in the main thread
            self.queue.put(exc)
        self.queue.put(_END)

    def __iter__(self) -> Iterator[list[dict]]:
        batch: list[dict] = []
        while True:
            try:
                item = self.queue.get(timeout=self.max_wait) if batch else self.queue.get()
            except queue.Empty:
                yield batch
                batch = []
                continue
            if item is _END:
                self.finished = True
                break
            if isinstance(item, BaseException):
                raise item
            for record in item:
                batch.append(record)
                if len(batch) >= self.batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch  # the last one: ``finished`` is already true


def batches(items: Iterator[list[dict]], batch_size: int, max_wait: float) -> Batches:
    return Batches(items, batch_size, max_wait)


def write_predictions(stream, student, logits: np.ndarray, jsonl: bool, proba: bool,
                      extras: list[dict] | None = None, threshold=None, at_least_one=None) -> None:
    """One line per text: its label (multi-label: its labels joined by commas, an empty line for none), with
    --proba tab-separated label:probability pairs; JSON lines carry "label" (or "labels", a list) and
    "probabilities"."""
    names = student.labels.names
    probs = student.task.probabilities(logits)
    decided = student.decide(logits, threshold, at_least_one)
    answers = student.task.decode(names, decided)
    multi = student.multi_label
    out = []
    for i, (row, answer) in enumerate(zip(probs, answers)):
        if jsonl:
            obj = {key: v for key, v in (extras[i] if extras else {}).items() if key not in ("text", "text_pair")}
            obj["labels" if multi else "label"] = answer
            if proba:
                obj["probabilities"] = {n: round(float(p), 6) for n, p in zip(names, row)}
            out.append(json.dumps(obj, ensure_ascii=False))
            continue
        shown = ",".join(answer) if multi else answer
        if proba:
            shown += "\t" + "\t".join(f"{n}:{p:.6f}" for n, p in zip(names, row))
        out.append(shown)
    if out:
        stream.write("\n".join(out) + "\n")
        stream.flush()
