"""Reading prediction input (lines or JSON lines, file or stdin) and writing labels/probabilities."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import DataError


def _decode(raw: bytes, source: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{source}: not valid UTF-8 (line {line}, byte {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_prediction_input(path: Path | None, jsonl: bool):
    """Texts (and pairs) from a file or stdin. Plain text: one text per line. JSONL: text / text_pair keys."""
    if path is None or str(path) == "-":
        source = "stdin"
        raw = sys.stdin.buffer.read()
    else:
        source = str(path)
        if not Path(path).exists():
            raise DataError(f"no such file: {path}")
        if not str(path).endswith((".txt", ".jsonl", ".txt.gz", ".jsonl.gz")):
            from ..data.readers import read_dataset

            ds = read_dataset(path, label=None)
            return ds.texts, ds.pairs, jsonl
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            import gzip

            try:
                raw = gzip.decompress(raw)
            except (EOFError, OSError) as exc:
                raise DataError(f"{source}: corrupt or truncated gzip file ({exc})") from None
        jsonl = jsonl or ".jsonl" in str(path)
    text = _decode(raw, source)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not jsonl:
        return lines, None, False
    texts, pairs = [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}: line {i} is not valid JSON ({exc.msg})") from None
        if isinstance(obj, str):
            obj = {"text": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataError(f'{source}: line {i} has no "text" string')
        texts.append(obj["text"])
        pairs.append(obj.get("text_pair"))
    if all(p is None for p in pairs):
        pairs = None
    elif any(p is None for p in pairs):
        raise DataError(f'{source}: some lines have "text_pair" and others do not')
    return texts, pairs, True


def write_predictions(stream, names: list[str], probs: np.ndarray, jsonl: bool, proba: bool) -> None:
    best = probs.argmax(axis=-1)
    out = []
    for row, k in zip(probs, best):
        if jsonl:
            obj = {"label": names[k]}
            if proba:
                obj["probabilities"] = {n: round(float(p), 6) for n, p in zip(names, row)}
            out.append(json.dumps(obj, ensure_ascii=False))
        elif proba:
            out.append(names[k] + "\t" + "\t".join(f"{n}:{p:.6f}" for n, p in zip(names, row)))
        else:
            out.append(names[k])
    stream.write("\n".join(out) + ("\n" if out else ""))
    stream.flush()
