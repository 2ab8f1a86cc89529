#!/usr/bin/env python
"""The peers of the multi-label benchmark (benchmarks/multilabel.py), trained on the same training split: fastText
(`-loss ova`, its Python binding), TF-IDF + one-vs-rest logistic regression, and model2vec's classifier (the
all-MiniLM-L6-v2 distilled with model2vec's own `distill`, trained with its own `fit` on lists of labels). Each peer's
decision threshold (one for all labels) is tuned on dev for micro-F1, as the students' are. Then texts/s at batch 32
and 1 of the teacher, the DAN, the BiLSTM and the peers, one thread each, interleaved round by round in this process.

Run it with an environment that has model2vec[distill], fasttext-wheel and scikit-learn (their pins differ from
textdistill's: keep them apart), numba and textdistill installed without dependencies (``pip install -e .
--no-deps``), after ``benchmarks/multilabel.py students``::

    /path/to/peers-venv/bin/python benchmarks/multilabel_peers.py [--tasks reuters goemotions] [--skip-train]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from multilabel import TASKS, WORK, disk_mb, files, load_results, log, minilm, save_results, scores  # noqa: E402
from timing import interleaved  # noqa: E402

GRID = [round(0.05 * i, 2) for i in range(1, 20)]


def read(path: Path):
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    return [r["text"] for r in rows], [list(r.get("labels", [])) for r in rows]


def multi_hot(label_lists, names):
    import numpy as np

    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(label_lists), len(names)), dtype=np.float32)
    for i, labels in enumerate(label_lists):
        for label in labels:
            if label in index:
                out[i, index[label]] = 1
    return out


def tuned(dev_probs, dev_gold, test_probs, test_gold, names) -> dict:
    """Score on test with the one threshold that maximises micro-F1 on dev."""
    from textdistill.metrics import multilabel_metrics

    best = max(GRID, key=lambda t: multilabel_metrics(dev_gold, dev_probs >= t)["micro_f1"])
    return {**scores(multilabel_metrics(test_gold, test_probs >= best, names)), "threshold": best}


def fasttext_clean(text: str) -> str:
    """What fastText's own examples do to text: lowercase, punctuation split off, one line."""
    return " ".join(re.sub(r"([.!?,;:()\"'/])", r" \1 ", text.lower()).split())


def fasttext_peer(task, train, names):
    import fasttext
    import numpy as np

    path = WORK / task / "fasttext.train.txt"
    rows = [" ".join(f"__label__{y}" for y in labels) + " " + fasttext_clean(t)
            for t, labels in zip(*train) if labels]
    import random

    random.Random(0).shuffle(rows)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    started = time.perf_counter()
    model = fasttext.train_supervised(str(path), loss="ova", epoch=25, lr=0.5, wordNgrams=2, dim=100, thread=1,
                                      verbose=0)
    seconds = time.perf_counter() - started
    model.save_model(str(WORK / task / "fasttext.bin"))
    column = {n: i for i, n in enumerate(names)}

    def probs(texts):
        # one text at a time through the binding's core: its list path (multilinePredict) returns the first label's
        # probability for every label under numpy 2 (fasttext-wheel 0.9.2), and its str path fails on copy=False
        out = np.zeros((len(texts), len(names)), dtype=np.float32)
        for i, text in enumerate(texts):
            for v, label in model.f.predict(fasttext_clean(text), -1, 0.0, "strict"):
                j = column.get(label[9:])
                if j is not None:
                    out[i, j] = v
        return out
    return probs, seconds, disk_mb(WORK / task / "fasttext.bin")


def tfidf_peer(task, train, names):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    import numpy as np
    import warnings

    gold = multi_hot(train[1], names)
    seen = gold.sum(0) > 0
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                              OneVsRestClassifier(LogisticRegression(C=10, max_iter=1000))).fit(train[0], gold[:, seen])
    seconds = time.perf_counter() - started

    def probs(texts):
        out = np.zeros((len(texts), len(names)), dtype=np.float32)
        out[:, seen] = model.predict_proba(texts)
        return out
    return probs, seconds, None


def model2vec_peer(static, train, names):
    from model2vec.train import StaticModelForClassification
    import numpy as np

    texts, labels = zip(*[(t, ls) for t, ls in zip(*train) if ls])
    started = time.perf_counter()
    clf = StaticModelForClassification.from_static_model(model=static).fit(list(texts), [list(ls) for ls in labels])
    seconds = time.perf_counter() - started
    pipe = clf.to_pipeline()
    classes = [str(c) for c in pipe.classes_]
    column = {n: i for i, n in enumerate(names)}

    def probs(items):
        p = np.asarray(pipe.predict_proba(list(items)))
        out = np.zeros((len(items), len(names)), dtype=np.float32)
        for j, c in enumerate(classes):
            if c in column:
                out[:, column[c]] = p[:, j]
        return out
    return probs, seconds, None


def main() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    from textdistill import Student
    from textdistill.evaluation.speed import hardware
    from textdistill.teachers.base import load_teacher

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from model2vec.distill import distill

    static = distill(model_name=minilm(), pca_dims=256)
    results = load_results()
    for task in args.tasks:
        f = files(task)
        student = Student.from_pretrained(WORK / task / "dan")
        names = list(student.labels.names)
        train, dev, test = read(f["train"]), read(f["dev"]), read(f["test"])
        dev_gold, test_gold = multi_hot(dev[1], names), multi_hot(test[1], names)
        entry = results["tasks"].setdefault(task, {})
        fns = {}
        with threadpool_limits(1):
            for name, make in (("fasttext", lambda: fasttext_peer(task, train, names)),
                               ("tfidf", lambda: tfidf_peer(task, train, names)),
                               ("model2vec", lambda: model2vec_peer(static, train, names))):
                probs, seconds, mb = make()
                row = {**tuned(probs(dev[0]), dev_gold, probs(test[0]), test_gold, names), "train_s": round(seconds, 1)}
                if mb is not None:
                    row["mb"] = round(mb, 1)
                entry.setdefault("peers", {})[name] = row
                fns[name] = probs
                log(f"{task} {name}: micro-F1 {row['micro_f1']:.4f} macro-F1 {row['macro_f1']:.4f}")
            save_results(results)
            teacher = load_teacher(str(WORK / task / "teacher"), max_length=TASKS[task]["max_length"])
            models = {"dan": student.predict_proba}
            if (WORK / task / "bilstm" / "config.json").is_file():
                models["bilstm"] = Student.from_pretrained(WORK / task / "bilstm").predict_proba
            models.update(fns)
            speed = {"hardware": hardware(), "texts": 1024}
            items = test[0][:1024]
            for batch in (32, 1):
                part = items if batch == 32 else items[:256]
                timing = interleaved({**models, "teacher": (lambda b: teacher.logits(b), part[:128])},
                                     part, batch, args.rounds)
                for name, v in timing.items():
                    speed[f"{name}_b{batch}"] = v["texts_per_s"]
                    speed[f"{name}_b{batch}_cpu"] = v["texts_per_cpu_s"]
                log(f"{task} batch {batch}: " + ", ".join(f"{n} {v['texts_per_s']:,.1f}/s" for n, v in timing.items()))
        entry["speed"] = speed
        save_results(results)


if __name__ == "__main__":
    main()
