"""The character classes that define tokens (featurizer version 2), as a table shipped with the package.

Every code point has one class:

- SPACE: Unicode whitespace (``str.isspace``) and control characters (category Cc): ends a token.
- IGNORE: format characters (Cf: zero-width space and joiners, soft hyphen, BOM): deleted before tokenising.
- MARK: combining marks (Mn, Mc, Me): stay with the character before them (a Devanagari vowel sign, a Thai tone
  mark, an accent that NFKC could not compose); a mark after a space starts a word.
- SPLIT: letters of scripts written without spaces between words (CJK ideographs, kana, bopomofo, Yi, Thai, Lao,
  Khmer, Myanmar): each is a token of its own, so their n-grams are character n-grams.
- WORD: the other letters, digits and ``_`` (what ``\\w`` matches): runs of them are words.
- PUNCT: everything else (punctuation, symbols, emoji, unassigned): runs of them are one token (``!!!``, ``:)``).

The table is data (``charclasses.npz``, built from Unicode 14.0 by ``python -m textdistill.featurizers.charclasses
--write``), not the running Python's ``unicodedata``: the same text gives the same ids on every Python version.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

SPACE, IGNORE, MARK, SPLIT, WORD, PUNCT = range(6)
NAMES = ("space", "ignore", "mark", "split", "word", "punct")
N_CODE_POINTS = 0x110000
DATA = Path(__file__).with_name("charclasses.npz")

# Blocks whose every code point (assigned or not yet) is an ideograph: one token each.
IDEOGRAPH_BLOCKS = (
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3038, 0x303C),
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B-H, compatibility supplement (planes 2 and 3)
)
# Scripts without spaces between words: their letters and digits are one token each.
SPLIT_SCRIPT_BLOCKS = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x3031, 0x3035),  # kana repeat marks
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31A0, 0x31BF),  # Bopomofo extended
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0xA000, 0xA4CF),  # Yi
    (0xFF66, 0xFF9F),  # halfwidth Katakana
    (0x1B000, 0x1B16F),  # Kana supplement and extensions
)


def build_table() -> np.ndarray:
    """The class of every code point from this Python's unicodedata (used to write the shipped table)."""
    import unicodedata

    table = np.full(N_CODE_POINTS, PUNCT, dtype=np.uint8)
    for cp in range(N_CODE_POINTS):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if ch.isspace() or cat == "Cc":
            table[cp] = SPACE
        elif cat == "Cf":
            table[cp] = IGNORE
        elif cat in ("Mn", "Mc", "Me"):
            table[cp] = MARK
        elif ch.isalnum() or ch == "_":
            table[cp] = WORD
    for lo, hi in IDEOGRAPH_BLOCKS:
        block = table[lo : hi + 1]
        block[(block == WORD) | (block == PUNCT)] = SPLIT
    for lo, hi in SPLIT_SCRIPT_BLOCKS:
        block = table[lo : hi + 1]
        block[block == WORD] = SPLIT
    return table


def to_runs(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.flatnonzero(np.concatenate([[True], table[1:] != table[:-1]])).astype(np.uint32)
    return starts, table[starts]


def from_runs(starts: np.ndarray, classes: np.ndarray) -> np.ndarray:
    lengths = np.diff(np.append(starts.astype(np.int64), N_CODE_POINTS))
    return np.repeat(classes.astype(np.uint8), lengths)


@lru_cache(maxsize=1)
def table() -> np.ndarray:
    """uint8[0x110000]: the class of each code point (read-only)."""
    with np.load(DATA) as data:
        out = from_runs(data["starts"], data["classes"])
    out.setflags(write=False)
    return out


def _ranges(cls: int) -> str:
    """A regex character-class body with every code point of class ``cls``."""
    starts, classes = to_runs(table())
    ends = np.append(starts[1:], N_CODE_POINTS)
    parts = []
    for a, b, c in zip(starts.tolist(), ends.tolist(), classes.tolist()):
        if c == cls:
            parts.append(re.escape(chr(a)) if b - a == 1 else f"{re.escape(chr(a))}-{re.escape(chr(b - 1))}")
    return "".join(parts)


@lru_cache(maxsize=1)
def patterns() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """(token pattern, space-or-control pattern, ignore pattern) equivalent to the table, for the numpy path.

    Applied to a text with IGNORE characters deleted and SPACE characters made spaces, ``token.findall`` gives the
    tokens: a SPLIT character with its marks, a run of WORD/MARK characters, or a run of PUNCT characters with
    their marks.
    """
    w, m, s = _ranges(WORD), _ranges(MARK), _ranges(SPLIT)
    space, ignore = _ranges(SPACE), _ranges(IGNORE)
    token = re.compile(f"[{s}][{m}]*|[{w}{m}]+|(?:[^{w}{m}{s}{space}][{m}]*)+")
    return token, re.compile(f"[{space}]"), re.compile(f"[{ignore}]+")


def spec() -> dict:
    """The table as JSON-friendly runs (for the featurizer specification other languages can reproduce)."""
    starts, classes = to_runs(table())
    return {"classes": list(NAMES), "run_starts": starts.tolist(), "run_classes": classes.tolist()}


if __name__ == "__main__":
    if "--write" in sys.argv:
        starts, classes = to_runs(build_table())
        np.savez_compressed(DATA, starts=starts, classes=classes)
        print(f"wrote {DATA}: {len(starts)} runs")
