#!/usr/bin/env python
"""Sentence-level movie-review transfer text for SST-2: IMDB unsup + train reviews split into sentences.

SST-2 is sentences from movie reviews; the teacher labels these as unlabeled transfer text (IMDB's own labels are
not used). Writes a seeded sample as JSONL: `python benchmarks/movie_sentences.py OUT.jsonl [N]`.
"""

import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from textdistill.data.readers import read_dataset  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SPLIT = re.compile(r"(?<=[.!?])\s+")
BREAK = re.compile(r"<br\s*/?>", re.I)


def sentences(n: int, seed: int = 0) -> list[str]:
    out, seen = [], set()
    for name in ("unsup", "train"):
        for review in read_dataset(SHARED / f"imdb/{name}.csv.gz", label=None).texts:
            for s in SPLIT.split(BREAK.sub(" ", review)):
                s = s.strip()
                if 3 <= len(s.split()) <= 60 and s not in seen:
                    seen.add(s)
                    out.append(s)
    random.Random(seed).shuffle(out)
    return out[:n]


if __name__ == "__main__":
    path, n = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for s in sentences(n):
            f.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
    print(f"wrote {n:,} sentences to {path}")
