#!/usr/bin/env python
"""Sentence-level movie-review transfer text for SST-2: IMDB reviews split into sentences.

SST-2 is sentences from movie reviews; the teacher labels these as unlabeled transfer text (IMDB's own labels are
not used). Writes a seeded sample as JSONL: `python benchmarks/movie_sentences.py OUT.jsonl [N]`.

The unsup and train reviews give 867,393 distinct sentences (3-60 words), shuffled with seed 0; a sample of N is
their first N, so smaller samples are prefixes of larger ones (0.2M is in 0.5M is in 1M). Past them, the test
reviews' sentences follow (shuffled with seed 1), up to 1,147,077 in all.
"""

import json
import os
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from textdistill.data.readers import read_dataset  # noqa: E402

SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared")) / "data"
SPLIT = re.compile(r"(?<=[.!?])\s+")
BREAK = re.compile(r"<br\s*/?>", re.I)


def _split(names, seen: set) -> list[str]:
    out = []
    for name in names:
        for review in read_dataset(SHARED / f"imdb/{name}.csv.gz", label=None).texts:
            for s in SPLIT.split(BREAK.sub(" ", review)):
                s = s.strip()
                if 3 <= len(s.split()) <= 60 and s not in seen:
                    seen.add(s)
                    out.append(s)
    return out


def sentences(n: int, seed: int = 0) -> list[str]:
    seen: set = set()
    out = _split(("unsup", "train"), seen)
    random.Random(seed).shuffle(out)
    if n > len(out):
        more = _split(("test",), seen)
        random.Random(seed + 1).shuffle(more)
        out += more
    if n > len(out):
        raise SystemExit(f"only {len(out):,} distinct sentences; asked for {n:,}")
    return out[:n]


if __name__ == "__main__":
    path, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for s in sentences(n):
            f.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
    tmp.replace(path)
    print(f"wrote {n:,} sentences to {path}")
