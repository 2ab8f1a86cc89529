#!/usr/bin/env python
"""Chinese text without spaces: `python benchmarks/chinese.py run`, then `python benchmarks/chinese.py table`.

ChnSentiCorp_htl (hotel reviews, ../shared/data/chnsenticorp_htl): gold labels only. The DAN, CNN and BiLSTM students
at the command line's defaults (BiLSTM and CNN with `--vectors none`: GloVe has no Chinese words), against fastText
on the same tokens (the DAN's featurizer: each CJK character a token, Latin words and digits whole) and on jieba
words (when jieba is installed: the `bench` extra), and TF-IDF over character 1-3 grams + logistic regression. Every
model selects on the same selection split (600 rows drawn from train; the students' --dev, the peers' settings) and
is measured on the dataset's dev split (800 reviews), which nothing was trained or selected on. Accuracy and texts/s
end to end (raw text in, labels out) at batch 32 and batch 1, timed side by side in this process on one thread.
Writes benchmarks/results/chinese.json; `table` writes the section of docs/chinese.md between <!-- chinese:start -->
and <!-- chinese:end -->.
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
DATA = SHARED / "data" / "chnsenticorp_htl"
RESULTS = ROOT / "benchmarks" / "results" / "chinese.json"
WORK = ROOT / "runs" / "chinese"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "src"))

from textdistill.data.readers import read_dataset  # noqa: E402
from textdistill.evaluation.speed import hardware, one_blas_thread, student_speed, timed_rate  # noqa: E402

STUDENTS = {  # name -> distill flags (besides the files)
    "DAN (character 1-4 grams)": [],
    "CNN (characters, --vectors none)": ["--student", "cnn", "--vectors", "none"],
    "BiLSTM (characters, --vectors none)": ["--student", "bilstm", "--vectors", "none"],
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def splits():
    train = read_dataset(DATA / "train.csv.gz")
    test = read_dataset(DATA / "dev.csv.gz")
    perm = np.random.default_rng(0).permutation(len(train))
    return train.subset(perm[600:]), train.subset(perm[:600]), test


def write_rows(path: Path, ds) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for text, label in zip(ds.texts, ds.labels):
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return path


def textdistill(*args) -> tuple[str, float, str]:
    cmd = [str(Path(sys.executable).parent / "textdistill"), "--threads", "1", *map(str, args)]
    shown = "textdistill " + " ".join(shlex.quote(str(a)).replace(str(ROOT) + "/", "") for a in cmd[1:])
    log(shown)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)  # this checkout's textdistill
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {shown}\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stderr.replace("\r", "\n").splitlines() if "/s]" not in line and line.strip()]
    return shown, time.perf_counter() - started, "\n".join(lines)


# -- peers --------------------------------------------------------------------------------------------------------
class FastTextPeer:
    """fastText supervised, word n-grams over tokens given by ``tokens(text)``; epochs and n-gram length chosen on
    the selection split."""

    def __init__(self, name, tokens):
        self.name, self.tokens = name, tokens

    def prep(self, texts):
        return [" ".join(self.tokens(t)) for t in texts]

    def fit(self, train, sel):
        import fasttext

        path = WORK / f"fasttext-{re.sub(r'[^a-z]+', '-', self.name.lower())}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for t, y in zip(self.prep(train.texts), train.labels):
                f.write(f"__label__{y} {t}\n")
        sel_prepped, best = self.prep(sel.texts), None
        for ngrams in (2, 3, 4):
            for epoch in (5, 10, 25):
                model = fasttext.train_supervised(str(path), thread=1, seed=0, wordNgrams=ngrams, epoch=epoch, lr=0.5,
                                                  dim=100, bucket=2_000_000, minCount=1, verbose=0)
                pred = [p[0].replace("__label__", "") for p in model.predict(sel_prepped, k=1)[0]]
                acc = float(np.mean(np.array(pred) == np.array(sel.labels)))
                if best is None or acc > best[0]:
                    best = (acc, model, {"wordNgrams": ngrams, "epoch": epoch})
        _, self.model, self.settings = best
        return self

    def predict(self, texts):
        return [p[0].replace("__label__", "") for p in self.model.predict(self.prep(texts), k=1)[0]]


class TfidfPeer:
    name = "TF-IDF character 1-3 grams + LR"

    def fit(self, train, sel):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
        x, xs = self.vec.fit_transform(train.texts), None
        xs = self.vec.transform(sel.texts)
        best = None
        for c in (1.0, 4.0, 16.0):
            m = LogisticRegression(C=c, max_iter=3000).fit(x, train.labels)
            acc = float(np.mean(m.predict(xs) == np.array(sel.labels)))
            if best is None or acc > best[0]:
                best = (acc, m, {"C": c})
        _, self.model, self.settings = best
        return self

    def predict(self, texts):
        return list(self.model.predict(self.vec.transform(texts)))


def peers():
    from textdistill.featurizers.ngrams import NgramConfig, make_tokenizer

    tokenizer = make_tokenizer(NgramConfig())
    out = [FastTextPeer("fastText (the DAN's tokens: characters)", tokenizer.tokenize)]
    try:
        import jieba

        jieba.setLogLevel(60)
        out.append(FastTextPeer("fastText (jieba words)", lambda t: [w for w in jieba.lcut(t.lower()) if w.strip()]))
    except ImportError:
        log("jieba is not installed (pip install 'textdistill[bench]'): no fastText-on-jieba-words row")
    return out + [TfidfPeer()]


def speed(predict, texts) -> dict:
    with one_blas_thread():
        return {f"batch_{bs}": timed_rate(lambda s, e: predict(texts[s:e]), len(texts) if bs > 1 else min(400, len(texts)),
                                          bs, 3)["texts_per_s"] for bs in (32, 1)}


def run(args) -> None:
    import torch

    from textdistill.students import Student

    torch.set_num_threads(1)
    train, sel, test = splits()
    train_file, sel_file = write_rows(WORK / "train.jsonl", train), write_rows(WORK / "selection.jsonl", sel)
    gold = np.array(test.labels)
    majority = max(set(train.labels), key=train.labels.count)
    rows = {}
    for name, flags in STUDENTS.items():
        out = WORK / re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        cmd, wall, stderr = textdistill("distill", "--train", train_file, "--dev", sel_file, "--out", out,
                                        "--overwrite", *flags)
        student = Student.from_pretrained(out)
        acc = float(np.mean(np.array(student.predict(test.texts)) == gold))
        sp = {f"batch_{bs}": student_speed(student, test.texts, batch_size=bs, repeats=3)["end_to_end"]["texts_per_s"]
              for bs in (32, 1)}
        meta = student.metadata
        rows[name] = {"kind": "student", "accuracy": acc, "texts_per_s": sp, "command": cmd, "wall_s": round(wall, 1),
                      "training_s": meta["timings"].get("training_s"), "epochs": meta["train_config"]["epochs"],
                      "selected": meta.get("best"), "selection_accuracy": meta.get("dev", {}).get("accuracy"),
                      "log": stderr.splitlines()[-3:]}
        log(f"{name}: accuracy {acc:.4f}, {sp['batch_32']:,.0f} texts/s at batch 32")
    for peer in peers():
        started = time.perf_counter()
        peer.fit(train, sel)
        fit_s = time.perf_counter() - started
        acc = float(np.mean(np.array(peer.predict(test.texts)) == gold))
        rows[peer.name] = {"kind": "peer", "accuracy": acc, "texts_per_s": speed(peer.predict, test.texts),
                           "train_s": round(fit_s, 1), "settings": peer.settings}
        log(f"{peer.name}: accuracy {acc:.4f} ({peer.settings}), "
            f"{rows[peer.name]['texts_per_s']['batch_32']:,.0f} texts/s at batch 32")
    best_peer = max((r["accuracy"], n) for n, r in rows.items() if r["kind"] == "peer")
    dan = rows["DAN (character 1-4 grams)"]["accuracy"]
    result = {"name": "chinese", "date": time.strftime("%Y-%m-%d"), "hardware": hardware(),
              "script": "benchmarks/chinese.py run", "data": "chnsenticorp_htl", "train": len(train),
              "selection": len(sel), "test": len(test), "majority_class": majority,
              "majority_accuracy": float(np.mean(gold == majority)), "models": rows,
              "target": {"dan_accuracy": dan, "best_other": max((r["accuracy"], n) for n, r in rows.items()
                                                                 if not n.startswith("DAN")),
                         "best_peer": best_peer,
                         "met": dan >= max(r["accuracy"] for n, r in rows.items() if not n.startswith("DAN"))}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")


def table(args) -> None:
    r = json.loads(RESULTS.read_text())
    lines = [f"**Chinese** (`benchmarks/chinese.py`; ChnSentiCorp_htl hotel reviews, trained on {r['train']:,}, selected "
             f"on {r['selection']:,}, measured on the {r['test']:,}-review dev split; majority class "
             f"{r['majority_accuracy']:.3f}; gold labels only; {r['hardware'].get('cpu', '?')}, 1 thread)", "",
             "| model | accuracy | texts/s b32 (e2e) | texts/s b1 (e2e) |", "|---|---|---|---|"]
    for name, m in sorted(r["models"].items(), key=lambda kv: -kv[1]["accuracy"]):
        extra = ""
        if m.get("settings"):
            extra = " (" + ", ".join(f"{k} {v}" for k, v in m["settings"].items()) + ")"
        lines.append(f"| {name}{extra} | {m['accuracy']:.4f} | {m['texts_per_s']['batch_32']:,.0f} | "
                     f"{m['texts_per_s']['batch_1']:,.0f} |")
    t = r["target"]
    lines += ["", f"Target (the DAN at least as accurate as the best of the others): "
                  f"{'met' if t['met'] else 'missed'}: DAN {t['dan_accuracy']:.4f}, best other "
                  f"{t['best_other'][1]} {t['best_other'][0]:.4f}."]
    from readme_section import write_section

    write_section("chinese", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run")
    sub.add_parser("table")
    args = parser.parse_args()
    {"run": run, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
