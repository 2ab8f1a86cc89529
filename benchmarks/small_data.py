#!/usr/bin/env python
"""The small-data curve: `python benchmarks/small_data.py run`, then `python benchmarks/small_data.py table`.

SST-2 and AG News, 300 / 1k / 3k / 10k training rows (AG News: 5.6k, all the rows its teacher was trained on), the
DAN at the command line's defaults (no flag but the files), gold labels only and with the teacher (KD on the
training texts, then the gold fine-tune), and for comparison the settings every size got before (`--epochs 3
--embedding-lr 0.001`). A user with N labelled rows seldom has a large dev set, so each run selects on a dev set of
min(1000, max(100, N/3)) rows drawn apart from its training rows; accuracy is measured on a test set neither saw
(SST-2: the official dev set; AG News: the pool's test split) against the majority class (the training set's most
frequent class answered for every text). One more variant trains without a dev set (the last epoch is kept).
Writes benchmarks/results/small-data.json; `table` writes the section of docs/small-data.md between
<!-- small:start --> and <!-- small:end -->.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))
MAIN_RUNS = Path(os.environ.get("TEXTDISTILL_POOL_RUNS", "/work/main/runs/multi"))
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = ROOT / "benchmarks" / "results" / "small-data.json"
WORK = ROOT / "runs" / "small-data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "src"))

from textdistill.data.readers import read_dataset  # noqa: E402
from textdistill.evaluation.speed import hardware  # noqa: E402

SIZES = (300, 1000, 3000, 10_000)
VARIANTS = {  # name -> (uses the teacher, selects on dev, extra flags)
    "gold labels, defaults": (False, True, []),
    "teacher (KD+FT), defaults": (True, True, []),
    "gold labels, defaults, no --dev": (False, False, []),
    "gold labels, previous defaults": (False, True, ["--epochs", "3", "--embedding-lr", "0.001"]),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def tasks() -> dict:
    """name -> (pool of training rows, pool of dev rows, test set, teacher directory)."""
    out = {}
    sst2 = SHARED / "data" / "sst2"
    if (sst2 / "train.tsv.gz").exists():
        train = read_dataset(sst2 / "train.tsv.gz")
        perm = np.random.default_rng(0).permutation(len(train))
        out["SST-2"] = (train.subset(perm[2000:]), train.subset(perm[:2000]), read_dataset(sst2 / "dev.tsv.gz"),
                        SHARED / "teachers" / "sst2-minilm-l6")
    ag = MAIN_RUNS / "ag_news"
    if (ag / "train.jsonl").exists():
        out["AG News"] = (read_dataset(ag / "train.jsonl"), read_dataset(ag / "dev.jsonl"),
                          read_dataset(ag / "test.jsonl"), ag / "teachers" / "minilm-full")
    return out


def write_rows(path: Path, ds) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for text, label in zip(ds.texts, ds.labels):
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return path


def textdistill(*args) -> tuple[str, float, str]:
    cmd = [str(Path(sys.executable).parent / "textdistill"), "--threads", "1", *map(str, args)]
    shown = "textdistill " + " ".join(shlex.quote(str(a)).replace(str(ROOT) + "/", "").replace(str(SHARED), "../shared")
                                      for a in cmd[1:])
    log(shown)
    started = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)  # this checkout's textdistill
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {shown}\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stderr.replace("\r", "\n").splitlines() if "/s]" not in line and line.strip()]
    return shown, time.perf_counter() - started, "\n".join(lines)


def run(args) -> None:
    from textdistill.students import Student

    global RESULTS
    RESULTS = args.results
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.resume else {}
    done = {(p["task"], p["n"], p["variant"]): p for p in previous.get("points", [])}
    points = []
    sizes = tuple(args.sizes or SIZES)
    for task, (pool, dev_pool, test, teacher) in tasks().items():
        if args.tasks and task not in args.tasks:
            continue
        for n in sizes:
            if n > len(pool):
                if n != sizes[-1]:
                    continue
                n = len(pool)  # AG News: all its training rows
            rng = np.random.default_rng(1)
            train = pool.subset(rng.permutation(len(pool))[:n])
            n_dev = min(1000, max(100, n // 3), len(dev_pool))
            dev = dev_pool.subset(np.random.default_rng(2).permutation(len(dev_pool))[:n_dev])
            tag = re.sub(r"\W+", "-", task.lower()).strip("-")
            train_file = write_rows(WORK / f"{tag}-train-{n}.jsonl", train)
            dev_file = write_rows(WORK / f"{tag}-dev-{n}.jsonl", dev)
            labels = sorted(set(train.labels))
            majority = max(labels, key=lambda c: (train.labels.count(c), c))
            base = float(np.mean(np.array(test.labels) == majority))
            for variant, (with_teacher, with_dev, flags) in VARIANTS.items():
                if (task, n, variant) in done:
                    points.append(done[(task, n, variant)])
                    continue
                out = WORK / f"{tag}-{n}-{re.sub(r'[^a-z]+', '-', variant.lower()).strip('-')}"
                cmd = ["distill", "--train", train_file, *(["--dev", dev_file] if with_dev else []), "--out", out,
                       "--overwrite", *flags]
                if with_teacher:
                    cmd += ["--teacher", teacher, "--cache", CACHE]
                shown, wall, stderr = textdistill(*cmd)
                student = Student.from_pretrained(out)
                pred = np.array(student.predict(test.texts))
                acc = float(np.mean(pred == np.array(test.labels)))
                meta = student.metadata
                se = float(np.sqrt(base * (1 - base) / len(test)))
                point = {"task": task, "n": n, "n_dev": n_dev, "variant": variant, "command": shown,
                         "test_accuracy": acc, "majority_class": majority, "majority_accuracy": base,
                         "margin_points": round(100 * (acc - base), 2), "standard_error": se,
                         "clearly_above_majority": bool(acc - base > max(0.05, 3 * se)),
                         "dev_accuracy": meta.get("dev", {}).get("accuracy"),
                         "epochs": meta["train_config"]["epochs"],
                         "embedding_lr": meta["student_config"]["embedding_lr"], "best": meta.get("best"),
                         "warnings": meta.get("warnings", []), "training_s": meta["timings"].get("training_s"),
                         "wall_s": round(wall, 1), "log": stderr.splitlines()[-4:]}
                log(f"{task} n={n} {variant}: test {acc:.4f} (majority {base:.4f}), epochs {point['epochs']}, "
                    f"embedding lr {point['embedding_lr']}")
                points.append(point)
                save(points)
    save(points)


def save(points) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {"name": "small-data", "date": time.strftime("%Y-%m-%d"), "hardware": hardware(),
              "script": "benchmarks/small_data.py run", "sizes": list(SIZES), "variants": list(VARIANTS),
              "points": points}
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def table(args) -> None:
    result = json.loads(RESULTS.read_text())
    points = result["points"]
    lines = [f"**Small data** (`benchmarks/small_data.py`; DAN at the defaults; test accuracy, majority class in "
             f"brackets; {result['hardware'].get('cpu', '?')}, 1 thread)", ""]
    for task in dict.fromkeys(p["task"] for p in points):
        rows = [p for p in points if p["task"] == task]
        sizes = sorted({p["n"] for p in rows})
        lines += [f"| {task} | " + " | ".join(f"{n:,} rows" for n in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for variant in result["variants"]:
            cells = []
            for n in sizes:
                p = next((p for p in rows if p["n"] == n and p["variant"] == variant), None)
                cells.append("-" if p is None else f"{p['test_accuracy']:.3f} ({p['majority_accuracy']:.2f})"
                             + ("" if p["clearly_above_majority"] else " **not above**"))
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        chosen = [next(p for p in rows if p["n"] == n and p["variant"] == "gold labels, defaults") for n in sizes]
        lines += ["", f"{task}: the defaults chose " + ", ".join(f"{p['epochs']} epochs / embedding lr "
                                                                 f"{p['embedding_lr']:g} at {p['n']:,}" for p in chosen)
                  + " (dev sets of " + ", ".join(f"{p['n_dev']:,}" for p in chosen) + " rows).", ""]
    from readme_section import write_section

    write_section("small", "\n".join(lines).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--resume", action="store_true", help="keep the points already in the results file")
    r.add_argument("--sizes", type=int, nargs="*", help="training sizes (default: 300 1000 3000 10000)")
    r.add_argument("--tasks", nargs="*", help="SST-2 and/or AG News (default: both)")
    r.add_argument("--results", type=Path, default=RESULTS, help="results file (default: %(default)s)")
    sub.add_parser("table")
    args = parser.parse_args()
    {"run": run, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
