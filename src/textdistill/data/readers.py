"""Read labelled or unlabelled text from CSV, TSV, JSON lines, Parquet and plain-text files.

Files are read as they are (gzip or not, header or not, GLUE TSV without quoting, CSV with quoted
newlines), columns are found by name, by index or by guessing, and every problem a user can fix
becomes one ``DataError`` line naming the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
import sys
import zlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import DataError, ModelError, require

__all__ = ["TextDataset", "LabelMap", "LabelFormat", "read_dataset", "read_texts", "read_label_names"]

# Column names recognised when no column is named explicitly (compared lower-cased and stripped), best first.
TEXT_NAMES = (
    "text", "sentence", "sentence1", "content", "review", "question", "#1 string", "document", "body",
    "text_a", "question1", "premise", "comment", "tweet", "utterance", "query", "abstract", "description",
    "message", "sms", "title",
)
# (text, pair) columns that belong together; the first whose text column is present wins.
PAIR_RULES = (
    ("text", "text_pair"), ("sentence1", "sentence2"), ("#1 string", "#2 string"), ("question", "sentence"),
    ("question1", "question2"), ("premise", "hypothesis"), ("text_a", "text_b"), ("sentence_a", "sentence_b"),
)
LABEL_NAMES = (
    "label", "labels", "quality", "class", "category", "target", "y", "sentiment", "gold_label", "intent",
    "topic",
)
# Further names that only serve to recognise a header row.
_OTHER_HEADER_NAMES = (
    "index", "idx", "id", "guid", "doc_id", "label_name", "rating", "file", "source", "#1 id", "#2 id",
    "score", "hypothesis", "sentence2", "#2 string", "text_pair", "text_b", "question2", "sentence_b",
)
_KNOWN_NAMES = frozenset(TEXT_NAMES + LABEL_NAMES + _OTHER_HEADER_NAMES)

_FORMATS = {
    "csv": "csv", "tsv": "tsv", "tab": "tsv", "jsonl": "jsonl", "json": "jsonl", "ndjson": "jsonl",
    "parquet": "parquet", "pq": "parquet", "txt": "txt", "text": "txt",
}
_INT_RE = re.compile(r"[+-]?\d+")
_INTEGRAL_FLOAT_RE = re.compile(r"([+-]?\d+)\.0*")
_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SAMPLE_ROWS = 2000


def allow_large_fields() -> None:
    """Let the csv module read fields of any size (its default limit, 128 KB, fails on long documents)."""
    if csv.field_size_limit() < 1 << 30:
        csv.field_size_limit(min(sys.maxsize, (1 << 31) - 1))
# How a missing value is spelled once it has been written out as text (pandas, numpy, JSON, R): never a class.
_MISSING_WORDS = frozenset({"nan", "null", "<na>"})


@dataclass
class TextDataset:
    """Texts (and optional second texts and raw string labels) read from one file."""

    texts: list[str]
    pairs: list[str] | None = None
    labels: list | None = None  # a label (str) per text, or for multi-label data a tuple of labels per text
    source: str = ""
    label_names: list[str] | None = None  # every class, in order, when a names file gave them

    @property
    def multi_label(self) -> bool:
        """True when the labels are sets (tuples), one per text."""
        return bool(self.labels) and isinstance(self.labels[0], tuple)

    def __post_init__(self):
        for name in ("pairs", "labels"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.texts):
                raise ValueError(f"{name} has {len(values)} rows but texts has {len(self.texts)}")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices) -> "TextDataset":
        """Rows by index (list, range or numpy array; a boolean mask also works), e.g. for a train/dev split."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = [int(i) for i in idx.reshape(-1)]

        def pick(values):
            return None if values is None else [values[i] for i in idx]

        return TextDataset(pick(self.texts), pick(self.pairs), pick(self.labels), self.source, self.label_names)


def _sort_key(labels: Sequence[str]):
    if all(_INT_RE.fullmatch(x) for x in labels):
        return lambda x: (int(x), x)
    return None


class LabelMap:
    """Maps raw label strings to contiguous ids 0..C-1; saved with the model as JSON."""

    def __init__(self, names: list[str]):
        self.names = [str(n) for n in names]
        self._ids = {n: i for i, n in enumerate(self.names)}
        if len(self._ids) != len(self.names):
            raise ValueError(f"duplicate label names: {self.names}")

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> "LabelMap":
        """Sorted unique labels; numeric order when every label is an integer, so "2" comes before "10"."""
        unique = {_norm_label(x) for x in labels}
        unique.discard(None)
        return cls(sorted(unique, key=_sort_key(list(unique))))

    def encode(self, labels: Sequence[str], source: str = "") -> np.ndarray:
        """Label strings to int64 ids; unseen labels are a user error (wrong file or wrong label column)."""
        ids = self._ids
        try:
            return np.fromiter((ids[x] for x in labels), dtype=np.int64, count=len(labels))
        except (KeyError, TypeError):
            pass
        # Slow path: normalise (1.0 -> "1", ints -> str) and report what is unknown.
        normed = [_norm_label(x) for x in labels]
        unseen = list(dict.fromkeys(x for x in normed if x not in ids))
        if unseen:
            shown = ", ".join(repr(x) for x in unseen[:5]) + (f" and {len(unseen) - 5} more" if len(unseen) > 5 else "")
            what = f"label {shown} was" if len(unseen) == 1 else f"labels {shown} were"
            known = ", ".join(self.names[:20]) + (", ..." if len(self.names) > 20 else "")
            prefix = f"{source}: " if source else ""
            raise DataError(f"{prefix}{what} not seen in training (known: {known})")
        return np.fromiter((ids[x] for x in normed), dtype=np.int64, count=len(normed))

    def decode(self, ids) -> list[str]:
        """Class ids (ints, a numpy array) back to the raw label strings."""
        names = self.names
        out = []
        for i in np.asarray(ids).reshape(-1):
            i = int(i)
            if not 0 <= i < len(names):
                raise ValueError(f"label id {i} out of range for {len(names)} classes")
            out.append(names[i])
        return out

    def to_dict(self) -> dict:
        return {"names": list(self.names)}

    @classmethod
    def from_dict(cls, d) -> "LabelMap":
        """Inverse of to_dict; a malformed dict means a corrupt model directory."""
        names = d.get("names") if isinstance(d, dict) else None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ModelError(f"label map must be {{'names': [non-empty list of strings]}}, got: {str(d)[:100]}")
        if len(set(names)) != len(names):
            raise ModelError(f"label map has duplicate names: {names}")
        return cls(names)

    def __len__(self) -> int:
        return len(self.names)

    def __eq__(self, other) -> bool:
        return isinstance(other, LabelMap) and self.names == other.names

    def __repr__(self) -> str:
        return f"LabelMap({self.names!r})"


# ----------------------------------------------------------------------------------------------------
# Value helpers


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _norm_label(v) -> str | None:
    """Labels become strings; integral floats (1.0 from a float column) become "1"; blanks become None."""
    if _is_missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else str(float(v))
    if isinstance(v, (list, tuple, dict, np.ndarray)):
        raise TypeError("not a scalar")
    s = str(v).strip()
    if not s:
        return None
    m = _INTEGRAL_FLOAT_RE.fullmatch(s)
    return str(int(m.group(1))) if m else s


def _is_number(s: str) -> bool:
    return bool(_NUMBER_RE.fullmatch(s.strip()))


# ----------------------------------------------------------------------------------------------------
# Raw bytes


def _read_bytes(path) -> bytes:
    """Whole file, gunzipped when it starts with the gzip magic (whatever its extension)."""
    name = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"no such file: {name}") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, not a data file") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return _gunzip(data, name)


def _gunzip(data: bytes, name: str) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: corrupt or truncated gzip file ({exc})") from None


def _check_utf8(data: bytes, name: str) -> bytes:
    """Fail loudly on non-UTF-8 input (silently replacing bytes would corrupt texts); drop a leading BOM."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{name}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}, line {line}); "
            "re-save the file as UTF-8"
        ) from None
    return data


def _detect_format(path, data: bytes, fmt: str | None) -> str:
    name = str(path)
    if fmt is not None:
        key = str(fmt).lower().lstrip(".")
        if key not in _FORMATS:
            raise DataError(f"{name}: unknown format {fmt!r}; use one of: csv, tsv, jsonl, json, parquet, txt")
        return _FORMATS[key]
    base = os.path.basename(name).lower()
    if base.endswith(".gz"):
        base = base[:-3]
    ext = base.rsplit(".", 1)[-1] if "." in base else ""
    if ext in _FORMATS:
        return _FORMATS[ext]
    # Unknown extension: look at the content.
    if data[:4] == b"PAR1":
        return "parquet"
    head = data[:65536].lstrip()
    if head[:1] in (b"{", b"["):
        return "jsonl"
    first = head.split(b"\n", 1)[0]
    if b"\t" in first:
        return "tsv"
    if b"," in first:
        return "csv"
    return "txt"


# ----------------------------------------------------------------------------------------------------
# Tables: column names (str with a header, int positions without) plus a way to fetch one column.


class _Table:
    def __init__(self, names: list, header: bool, nrows: int, getcol: Callable[[int], list]):
        self.names = names
        self.header = header
        self.nrows = nrows
        self._getcol = getcol
        self._cache: dict[int, list] = {}

    def col(self, i: int) -> list:
        if i not in self._cache:
            self._cache[i] = self._getcol(i)
        return self._cache[i]

    def describe(self) -> str:
        if self.header:
            return "columns are: " + ", ".join(str(n) for n in self.names)
        return f"the file has no header and {len(self.names)} column(s), 0..{len(self.names) - 1}"


def _sample_records(text: str, delimiter: str, quoting: int, n: int = 50) -> list[list[str]]:
    """First rows parsed with the csv module, for header detection; the last (maybe cut) record is dropped."""
    allow_large_fields()
    cut = len(text) >= 65536
    sample = text[:65536]
    if cut:
        sample = sample[: sample.rfind("\n") + 1] or sample
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter, quoting=quoting)
    rows = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) > n:
                break
    except csv.Error:
        pass
    if cut and len(rows) > 1 and len(rows) <= n:
        rows.pop()
    return rows


def _looks_like_header(rows: list[list[str]]) -> bool:
    """Guess whether the first row holds column names.

    A row that contains a well-known column name is a header; one with a number or a long text in it
    is data; a first cell that reappears lower in its column is data (labels repeat, names do not); a
    column that is numeric below a non-numeric first cell has a header.
    """
    first, rest = rows[0], rows[1:]
    cells = [c.strip() for c in first]
    if any(c.lower() in _KNOWN_NAMES for c in cells):
        return True
    if any(c and _is_number(c) for c in cells):
        return False
    if any(len(c) > 40 for c in cells):
        return False
    for j, c in enumerate(cells):
        if c and any(len(r) > j and r[j].strip() == c for r in rest):
            return False
    for j, c in enumerate(cells):
        below = [r[j].strip() for r in rest if len(r) > j and r[j].strip()]
        if c and below and all(_is_number(b) for b in below):
            return True
    return all(len(c.split()) <= 3 for c in cells)


def _read_delimited(data: bytes, name: str, fmt: str, header, delimiter, limit, wants_names: bool) -> _Table:
    pd = require("pandas", "cli")

    tsv = fmt == "tsv"
    sep = delimiter if delimiter is not None else ("\t" if tsv else ",")
    # GLUE-style TSV has no quoting: a literal '"' is part of the text.
    quoting = csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
    text = data[:70000].decode("utf-8", errors="ignore")
    rows = _sample_records(text, sep, quoting)
    if not rows:
        raise DataError(f"{name}: file is empty")
    if header is None:
        header = True if wants_names else _looks_like_header(rows)
    kind = "TSV" if tsv else "CSV"
    try:
        df = pd.read_csv(
            io.BytesIO(data), sep=sep, quoting=quoting, header=0 if header else None, dtype=str,
            keep_default_na=False, na_filter=False, nrows=limit, engine="c", encoding="utf-8",
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{name}: file is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        msg = " ".join(str(exc).split())
        raise DataError(f"{name}: cannot parse as {kind} (delimiter {sep!r}): {msg}") from None
    if len(df) == 0:
        raise DataError(f"{name}: no data rows" + (" below the header" if header else ""))
    names = [str(c) for c in df.columns] if header else list(range(df.shape[1]))
    return _Table(names, bool(header), len(df), lambda i: df.iloc[:, i].tolist())


def _read_json(data: bytes, name: str, limit) -> _Table:
    text = data.decode("utf-8")
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{name}: file is empty")
    if stripped[0] == "[":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        if limit is not None:
            records = records[:limit]
        linenos = None
    else:
        records, linenos = [], []
        decode = json.JSONDecoder().decode
        for lineno, line in enumerate(text.split("\n"), 1):
            if limit is not None and len(records) >= limit:
                break
            if not line.strip():
                continue
            try:
                records.append(decode(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{name}: line {lineno} is not valid JSON ({exc.msg})") from None
            linenos.append(lineno)
    if not records:
        raise DataError(f"{name}: no records")
    keys: dict[str, None] = {}
    for k, rec in enumerate(records):
        if not isinstance(rec, dict):
            where = f"line {linenos[k]}" if linenos else f"element {k}"
            raise DataError(f"{name}: {where} is not a JSON object (expected one object per row)")
        if len(keys) == 0 or len(rec) != len(keys) or not all(kk in keys for kk in rec):
            keys.update(dict.fromkeys(rec))
    names = list(keys)
    return _Table(names, True, len(records), lambda i: [r.get(names[i]) for r in records])


def _read_parquet(data: bytes, name: str, limit) -> _Table:
    pd = require("pandas", "cli")
    require("pyarrow", "cli")

    try:
        df = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DataError(f"{name}: cannot read as Parquet: {' '.join(str(exc).split())[:200]}") from None
    if limit is not None:
        df = df.head(limit)
    if len(df) == 0:
        raise DataError(f"{name}: no data rows")
    names = [str(c) for c in df.columns]
    return _Table(names, True, len(df), lambda i: df.iloc[:, i].tolist())


def _read_lines(data: bytes, name: str, limit) -> list[str]:
    """Plain text: one text per line, blank lines skipped, line endings removed, nothing else touched."""
    out = []
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            out.append(line)
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise DataError(f"{name}: file is empty (no non-blank lines)")
    return out


# ----------------------------------------------------------------------------------------------------
# Column selection


def _resolve(table: _Table, spec, what: str, name: str) -> int:
    """A column given by name or 0-based index (int or digit string) to its position."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        idx = int(spec)
    else:
        s = str(spec)
        if table.header and s in table.names:
            return table.names.index(s)
        low = [str(n).strip().lower() for n in table.names]
        if table.header and low.count(s.strip().lower()) == 1:
            return low.index(s.strip().lower())
        if not s.strip().isdigit():
            raise DataError(f"{name}: no {what} column {s!r}; {table.describe()}")
        idx = int(s)
    if not 0 <= idx < len(table.names):
        raise DataError(
            f"{name}: {what} column index {idx} out of range; the file has {len(table.names)} column(s) "
            f"(0..{len(table.names) - 1})"
        )
    return idx


def _find_by_name(table: _Table, candidates: Sequence[str], exclude: set[int]) -> int | None:
    if not table.header:
        return None
    low = [str(n).strip().lower() for n in table.names]
    for cand in candidates:
        for i, n in enumerate(low):
            if n == cand and i not in exclude:
                return i
    return None


def _col_stats(table: _Table, i: int):
    """(avg length, distinct count, any blank, all numeric) of the first rows of a column."""
    vals = table.col(i)[:_SAMPLE_ROWS]
    strs = ["" if _is_missing(v) else str(v) for v in vals]
    avg = sum(map(len, strs)) / max(1, len(strs))
    return avg, len(set(strs)), any(not s.strip() for s in strs), all(_is_number(s) for s in strs if s.strip())


def _guess_text(table: _Table, exclude: set[int]) -> int | None:
    """The column with the longest average string: texts are longer than ids, labels and scores."""
    best, best_len = None, -1.0
    for i in range(len(table.names)):
        if i in exclude:
            continue
        avg = _col_stats(table, i)[0]
        if avg > best_len:
            best, best_len = i, avg
    return best


def _guess_label(table: _Table, exclude: set[int]) -> int | None:
    """A column of short values drawn from few classes (numeric ones first, then the fewest classes)."""
    n = min(table.nrows, _SAMPLE_ROWS)
    found = []
    for i in range(len(table.names)):
        if i in exclude:
            continue
        avg, distinct, blank, numeric = _col_stats(table, i)
        if blank or avg > 30 or distinct > max(2, n // 2) or distinct > 1000:
            continue
        found.append((not numeric, distinct, i))
    return min(found)[2] if found else None


def _pick_columns(table: _Table, text, text_pair, label, require_label: bool, name: str, taken=frozenset()):
    """Positions of the text, pair and label columns: explicit ones first, then known names, then guesses.
    ``taken``: columns that are neither (one 0/1 column per label)."""
    t = _resolve(table, text, "text", name) if text is not None else None
    p = _resolve(table, text_pair, "text_pair", name) if text_pair is not None else None
    lab = _resolve(table, label, "label", name) if label is not None else None
    chosen = [(w, i) for w, i in (("text", t), ("pair", p), ("label", lab)) if i is not None]
    for k, (what, i) in enumerate(chosen):
        same = next((w for w, j in chosen[k + 1:] if j == i), None)
        if same is not None:
            col = repr(table.names[i]) if table.header else str(i)
            raise DataError(f"{name}: --{what}-column and --{same}-column name the same column ({col}); a column is "
                            f"either the text or the label")
    used = {x for x in (t, p, lab) if x is not None} | set(taken)

    if p is None and table.header:
        low = [str(n).strip().lower() for n in table.names]
        for a, b in PAIR_RULES:
            if a in low and b in low:
                ia, ib = low.index(a), low.index(b)
                if (t is None or t == ia) and ib not in used and ia != lab:
                    t, p = ia, ib
                    used |= {ia, ib}
                    break
    if lab is None and not taken:
        lab = _find_by_name(table, LABEL_NAMES, used)
        if lab is None and not table.header:
            cand = _guess_label(table, used | ({t} if t is not None else {_guess_text(table, used)}))
            # Never take the only remaining column of a single-column file as its label.
            lab = cand if len(table.names) > 1 else None
        if lab is not None:
            used.add(lab)
    if t is None:
        t = _find_by_name(table, TEXT_NAMES, used)
        if t is None:
            t = _guess_text(table, used)
        if t is None:
            raise DataError(f"{name}: no column left for the text; {table.describe()}")
        used.add(t)
    if lab is None and require_label:
        raise DataError(f"{name}: no label column found; {table.describe()}; name the label column explicitly")
    return t, p, lab


def _text_column(table: _Table, i: int, what: str, name: str, allow_empty: bool) -> list[str]:
    """Texts as strings. A blank text in labelled data is an error (it cannot be learned from); in
    unlabelled data it is kept as "" so that rows stay aligned with the input (e.g. for predictions)."""
    vals = table.col(i)
    col = f"column {table.names[i]!r}" if table.header else f"column {i}"
    out = []
    for r, v in enumerate(vals):
        if _is_missing(v):
            v = ""
        elif not isinstance(v, str):
            if isinstance(v, (list, dict)):
                raise DataError(f"{name}: {what} {col} holds a list/object at data row {r + 1}, not a string")
            v = str(v)
        if not allow_empty and not v.strip():
            raise DataError(f"{name}: empty {what} in {col} at data row {r + 1} (rows counted from 1, header excluded)")
        out.append(v)
    return out


def _column_name(table: _Table, i: int) -> str:
    return f"column {table.names[i]!r}" if table.header else f"column {i}"


def _label_set(value, sep: str | None, name: str, col: str, r: int) -> tuple | None:
    """One row's labels as a tuple when the cell holds a list (JSON) or, with ``sep``, separated labels; None for a
    single label."""
    if isinstance(value, (list, tuple, np.ndarray)):
        out = []
        for x in value:
            if isinstance(x, (list, tuple, dict, np.ndarray)):
                raise DataError(f"{name}: label {col} at data row {r + 1} nests a list inside a list")
            v = _norm_label(x)
            if v is None:
                raise DataError(f"{name}: label {col} at data row {r + 1} holds an empty label inside its list")
            out.append(v)
        return tuple(dict.fromkeys(out))
    if sep is None:
        return None
    if _is_missing(value):
        return ()
    return tuple(dict.fromkeys(x for x in (_norm_label(p) for p in str(value).split(sep)) if x is not None))


def _label_column(table: _Table, i: int, name: str, explicit: bool, sep: str | None = None) -> list | None:
    """One label per row (strings), or a tuple of labels per row for multi-label data: JSON lists, or with ``sep``
    separated labels (an empty cell is the empty set). A column mixing both forms is an error naming a row."""
    col = _column_name(table, i)
    values = table.col(i)
    out: list = []
    first_set = first_single = None
    for r, v in enumerate(values):
        labels = _label_set(v, sep, name, col, r)
        if labels is None:
            if isinstance(v, dict):
                raise DataError(f"{name}: label {col} at data row {r + 1} is a JSON object, not a label")
            v = _norm_label(v)
            if v is not None and first_single is None:
                first_single = r
            out.append(v)
        else:
            if first_set is None:
                first_set = r
            out.append(labels)
    if first_set is not None and first_single is not None:
        raise DataError(f"{name}: label {col} mixes single labels (data row {first_single + 1}) and lists of labels "
                        f"(data row {first_set + 1}); use one form for every row")
    if first_set is not None:
        missing = next((r for r, v in enumerate(out) if v is None or isinstance(v, str)), None)
        if missing is not None:
            raise DataError(f"{name}: label {col} at data row {missing + 1} is missing; write [] for a text with no "
                            f"label (rows counted from 1, header excluded)")
        for r, row in enumerate(out):
            bad = next((x for x in row if x.lower() in _MISSING_WORDS), None)
            if bad is not None:
                raise DataError(f"{name}: label {bad!r} in {col} at data row {r + 1} is a missing value, not a class")
        return out
    if not explicit and all(v is None for v in out):
        return None  # a label column left blank: treat the file as unlabelled
    for r, v in enumerate(out):
        if v is None:
            raise DataError(f"{name}: empty label in {col} at data row {r + 1} (rows counted from 1, header excluded)")
        if v.lower() in _MISSING_WORDS:
            raise DataError(f"{name}: label {v!r} in {col} at data row {r + 1} is a missing value, not a class (rows "
                            f"counted from 1, header excluded); fill it in or drop the row")
    return out


_TRUE = {"1", "true", "yes", "1.0"}
_FALSE = {"0", "false", "no", "0.0", ""}


def _label_columns(table: _Table, columns: list[int], name: str) -> list[tuple]:
    """One 0/1 column per label (the Jigsaw layout): each row's labels are the names of its columns holding 1."""
    names = [str(table.names[i]) for i in columns]
    cols = [table.col(i) for i in columns]
    out = []
    for r in range(table.nrows):
        row = []
        for j, values in enumerate(cols):
            v = values[r]
            text = "" if _is_missing(v) else str(v).strip().lower()
            if text in _TRUE:
                row.append(names[j])
            elif text not in _FALSE:
                raise DataError(f"{name}: label column {names[j]!r} at data row {r + 1} holds {v!r}; label columns "
                                f"hold 0 or 1")
        out.append(tuple(row))
    return out


def read_label_names(path) -> list[str]:
    """Class names from a file, one per line (GoEmotions' emotions.txt): line k names label id k."""
    data = _check_utf8(_read_bytes(path), str(path))
    names = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path}: no label names (one name per line)")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"{path}: label name {dup!r} is listed twice")
    return names


def _apply_names(labels: list, names: list[str], source: str, names_file: str) -> list:
    """Label ids (0..K-1, the line of the names file) or names of the file -> names; anything else is an error."""
    known = set(names)

    def one(x: str, r: int) -> str:
        if x in known:
            return x
        if _INT_RE.fullmatch(x) and 0 <= int(x) < len(names):
            return names[int(x)]
        raise DataError(f"{source}: label {x!r} at data row {r + 1} is neither an id (0..{len(names) - 1}) nor a name "
                        f"in {names_file}; the names file does not match the data")

    return [tuple(one(x, r) for x in v) if isinstance(v, tuple) else one(v, r) for r, v in enumerate(labels)]


def _settle_task(labels: list, multi_label: bool | None, source: str) -> list:
    """Labels in the form of the task: tuples for multi-label data (a single label becomes a set of one), strings
    for single-label data (sets of exactly one label become that label)."""
    sets = [v for v in labels if isinstance(v, tuple)]
    if multi_label:
        return [v if isinstance(v, tuple) else (v,) for v in labels]
    if not sets:
        return labels
    odd = next((r for r, v in enumerate(labels) if len(v) != 1), None)
    if odd is None:
        return [v[0] for v in labels]
    if multi_label is False:
        raise DataError(f"{source}: data row {odd + 1} holds {len(labels[odd])} labels; this data is multi-label "
                        f"(drop --no-multi-label)")
    return labels


# ----------------------------------------------------------------------------------------------------
# Public readers


@dataclass(frozen=True)
class LabelFormat:
    """How labels are written when they are not one label per row in one column.

    ``sep``: labels separated in one cell ("3,17"); ``columns``: one 0/1 column per label (names or indexes);
    ``names``: a file naming the classes, one per line (label k is line k); ``multi_label``: True forces
    multi-label, False refuses it, None infers it (any row with other than one label)."""

    sep: str | None = None
    columns: tuple | None = None
    names: str | None = None
    multi_label: bool | None = None

    @classmethod
    def of(cls, value=None, **options) -> "LabelFormat":
        if isinstance(value, LabelFormat):
            return value
        columns = options.get("columns")
        if isinstance(columns, str):
            columns = tuple(c.strip() for c in columns.split(",") if c.strip())
        sep = options.get("sep")
        if sep is not None:
            sep = {"\\t": "\t", "tab": "\t", "comma": ",", "space": " "}.get(sep, sep)
            if not sep:
                raise DataError("--label-sep must not be empty")
        return cls(sep, tuple(columns) if columns else None, options.get("names"), options.get("multi_label"))

    @property
    def is_default(self) -> bool:
        return self == LabelFormat()


def read_dataset(
    path,
    text=None,
    text_pair=None,
    label=None,
    *,
    format: str | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    require_label: bool = False,
    limit: int | None = None,
    allow_empty_text: bool = False,
    label_sep: str | None = None,
    label_columns=None,
    label_names=None,
    multi_label: bool | None = None,
    labels: LabelFormat | None = None,
) -> TextDataset:
    """Read one data file into a TextDataset.

    ``text``/``text_pair``/``label`` name a column or give its 0-based index (int or "1"); left out,
    they are found by well-known names or, in a file without header, guessed from the values.
    ``format`` defaults to the extension (a trailing .gz ignored; gzip is detected from the bytes),
    ``header=None`` detects a header row, ``limit`` reads at most that many rows. An empty text in labelled data
    is an error (nothing to learn from) unless ``allow_empty_text`` (evaluation: the classifier answers it too).

    Multi-label data: JSON lists (``"labels": ["a", "b"]``), ``label_sep`` (labels separated in one cell),
    ``label_columns`` (one 0/1 column per label) and ``label_names`` (a names file); each row's labels are then a
    tuple (empty for a text with no label). ``multi_label`` forces (True) or refuses (False) that form.
    """
    name = str(path)
    if limit is not None and limit < 1:
        raise DataError(f"{name}: limit must be at least 1, got {limit}")
    fmt_labels = labels or LabelFormat.of(sep=label_sep, columns=label_columns, names=label_names,
                                          multi_label=multi_label)
    data = _read_bytes(path)
    return _parse(data, name, path, text, text_pair, label, format, header, delimiter, require_label, limit,
                  allow_empty_text, fmt_labels)


def _parse(data, name, path, text, text_pair, label, fmt, header, delimiter, require_label, limit,
           allow_empty_text=False, labels_format: LabelFormat = LabelFormat()) -> TextDataset:
    if not data.strip():
        raise DataError(f"{name}: file is empty")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t", "comma": ","}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise DataError(f"{name}: delimiter must be one character, got {delimiter!r}")
    fmt = _detect_format(path, data, fmt)
    if fmt == "txt" and delimiter is not None:
        fmt = "tsv" if delimiter == "\t" else "csv"  # a delimiter means the file is a table after all
    if fmt == "parquet" and data[:4] != b"PAR1":
        raise DataError(f"{name}: not a Parquet file (it does not start with PAR1); pass --format to read it as "
                        f"another format")
    if fmt != "parquet":
        if data[:4] == b"PAR1":
            raise DataError(f"{name}: is a Parquet file, not {fmt.upper() if fmt != 'txt' else 'plain text'}; read "
                            f"it as Parquet (a .parquet name, or --format parquet)")
        data = _check_utf8(data, name)
    lf = labels_format
    if fmt == "txt":
        if label is not None or text_pair is not None or require_label or lf.columns:
            raise DataError(f"{name}: a plain-text file holds one text per line and has no label or pair columns")
        if text not in (None, 0, "0"):
            raise DataError(f"{name}: a plain-text file has a single column (0); got text={text!r}")
        return TextDataset(_read_lines(data, name, limit), source=name)
    if fmt == "jsonl":
        table = _read_json(data, name, limit)
    elif fmt == "parquet":
        table = _read_parquet(data, name, limit)
    else:
        wants_names = any(
            isinstance(s, str) and not s.strip().isdigit() for s in (text, text_pair, label, *(lf.columns or ()))
        )
        table = _read_delimited(data, name, fmt, header, delimiter, limit, wants_names)
    return _from_table(table, name, text, text_pair, label, require_label, allow_empty_text, lf)


def _from_table(table: _Table, name, text, text_pair, label, require_label, allow_empty_text,
                lf: LabelFormat) -> TextDataset:
    taken = ()
    if lf.columns:
        if label is not None:
            raise DataError(f"{name}: --label-column and --label-columns both given; name one label column, or one "
                            f"0/1 column per label")
        taken = [_resolve(table, c, "label", name) for c in lf.columns]
    t, p, lab = _pick_columns(table, text, text_pair, label, require_label and not taken, name, taken=taken)
    if taken:
        labels = _label_columns(table, taken, name)
    elif lab is not None:
        labels = _label_column(table, lab, name, explicit=label is not None or require_label, sep=lf.sep)
        if labels is None and require_label:
            raise DataError(f"{name}: the label column {table.names[lab]!r} is empty")
    else:
        labels = None
    names = None
    if labels is not None:
        if lf.names is not None:
            names = read_label_names(lf.names)
            labels = _apply_names(labels, names, name, str(lf.names))
        labels = _settle_task(labels, True if (taken or lf.multi_label) else lf.multi_label, name)
    unlabeled = labels is None or allow_empty_text
    return TextDataset(
        texts=_text_column(table, t, "text", name, unlabeled),
        pairs=_text_column(table, p, "text_pair", name, unlabeled) if p is not None else None,
        labels=labels,
        source=name,
        label_names=names,
    )


def parse_dataset(data: bytes, name: str, *, format: str, text=None, text_pair=None, label=None,
                  require_label: bool = False) -> TextDataset:
    """A dataset from bytes already read (standard input): as ``read_dataset`` reads a file of that format."""
    return _parse(_gunzip(data, name), name, name, text, text_pair, label, format, None, None, require_label, None)


def read_texts(path_or_stdin, text=None, *, format: str | None = None, limit: int | None = None) -> list[str]:
    """Texts to predict on: a .txt file (one per line), any table (text column found as in read_dataset),
    or "-" for standard input read as plain text."""
    if str(path_or_stdin) == "-":
        stream = sys.stdin
        raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode("utf-8")
        data = _gunzip(raw, "<stdin>")
        fmt = format or "txt"
        return _parse(data, "<stdin>", "-", text, None, None, fmt, None, None, False, limit).texts
    return read_dataset(path_or_stdin, text, format=format, limit=limit).texts
