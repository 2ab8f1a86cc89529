#!/usr/bin/env python
"""The peers of the few-shot benchmark (benchmarks/few_shot.py), trained on the same examples: SetFit with the same
all-MiniLM-L6-v2 body, model2vec's classifier (the MiniLM distilled with model2vec's own `distill`, trained with its
`fit`), fastText and TF-IDF + logistic regression; and the DAN against SetFit at batch 32 and 1, one thread each,
side by side in this process.

Run it with an environment that has setfit and model2vec[distill] (their pins differ from textdistill's: keep
them apart), numba and textdistill installed without dependencies (``pip install -e . --no-deps``)::

    /path/to/peers-venv/bin/python benchmarks/few_shot_peers.py [--tasks sst2 ag_news]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from few_shot import BUDGETS, WORK, load_results, log, minilm, save_results  # noqa: E402


def read(path: Path):
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    return [r["text"] for r in rows], [str(r["label"]) for r in rows]


def accuracy(pred, gold) -> float:
    return sum(str(p) == str(g) for p, g in zip(pred, gold)) / len(gold)


def setfit_peer(texts, labels, test, max_steps=None):
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(minilm())
    # the library's defaults (every pair it samples, one epoch); max_steps caps the contrastive steps when asked
    args = TrainingArguments(batch_size=16, num_epochs=1, seed=0, report_to="none", output_dir=tempfile.mkdtemp(),
                             **({"max_steps": max_steps} if max_steps else {}))
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict({"text": texts, "label": labels}))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return model, accuracy(model.predict(test[0]), test[1]), seconds


def model2vec_peer(static, texts, labels, test):
    from model2vec.train import StaticModelForClassification

    started = time.perf_counter()
    clf = StaticModelForClassification.from_static_model(model=static).fit(texts, labels)
    seconds = time.perf_counter() - started
    pipe = clf.to_pipeline()
    return pipe, accuracy(pipe.predict(test[0]), test[1]), seconds


def fasttext_peer(texts, labels, test):
    import fasttext

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for t, y in zip(texts, labels):
            f.write(f"__label__{y} {' '.join(t.split())}\n")
    started = time.perf_counter()
    model = fasttext.train_supervised(f.name, wordNgrams=2, epoch=50, lr=0.5, verbose=0)  # many epochs: few examples
    seconds = time.perf_counter() - started
    os.unlink(f.name)
    # a list in one call (the binding's single-string path fails under numpy 2: np.array(..., copy=False))
    pred = [ls[0].removeprefix("__label__") for ls in model.predict([" ".join(t.split()) for t in test[0]])[0]]
    return accuracy(pred, test[1]), seconds


def tfidf_peer(texts, labels, test):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    started = time.perf_counter()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(max_iter=1000)).fit(texts, labels)
    return accuracy(model.predict(test[0]), test[1]), time.perf_counter() - started


def rate(fn, items, batch: int, reps: int = 5) -> float:
    runs = []
    for _ in range(reps):
        started = time.perf_counter()
        for i in range(0, len(items), batch):
            fn(items[i:i + batch])
        runs.append(len(items) / (time.perf_counter() - started))
    return statistics.median(runs)


def main() -> None:
    import torch
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", nargs="*", default=["sst2", "ag_news"])
    parser.add_argument("--budgets", nargs="*", type=int, default=BUDGETS[1:], help="examples per class")
    parser.add_argument("--setfit-max-steps", type=int, default=None,
                        help="cap SetFit's contrastive steps at 128 examples per class (its default samples every "
                             "positive pair: ~65k pairs, ~4,000 steps, about an hour on one thread for AG News)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from model2vec.distill import distill

    results = load_results()
    static = distill(model_name=minilm(), pca_dims=256)
    for task in args.tasks:
        d = WORK / task
        test = read(d / "test.jsonl")
        peers = results["tasks"].setdefault(task, {}).setdefault("peers", {})
        setfit_32 = None
        for k in args.budgets:
            texts, labels = read(d / f"shots-{k}.jsonl")
            cap = args.setfit_max_steps if k >= 128 else None
            model, acc, seconds = setfit_peer(texts, labels, test, cap)
            peers.setdefault("setfit", {})[str(k)] = {"accuracy": acc, "train_s": round(seconds, 1),
                                                      **({"max_steps": cap} if cap else {})}
            if k == 32:
                setfit_32 = model
            pipe, acc, seconds = model2vec_peer(static, texts, labels, test)
            peers.setdefault("model2vec", {})[str(k)] = {"accuracy": acc, "train_s": round(seconds, 1)}
            acc, seconds = fasttext_peer(texts, labels, test)
            peers.setdefault("fasttext", {})[str(k)] = {"accuracy": acc, "train_s": round(seconds, 2)}
            acc, seconds = tfidf_peer(texts, labels, test)
            peers.setdefault("tfidf", {})[str(k)] = {"accuracy": acc, "train_s": round(seconds, 2)}
            log(f"{task} k={k}: " + ", ".join(f"{n} {peers[n][str(k)]['accuracy']:.4f}" for n in peers))
            save_results(results)  # after each budget: a long run stopped later keeps what it measured
        if setfit_32 is None:
            continue
        from textdistill import Student

        student = Student.from_pretrained(d / "dan-32")
        items = test[0][:512]
        speed = {"texts": len(items)}
        with threadpool_limits(1):
            for batch in (32, 1):
                part = items if batch == 32 else items[:128]
                setfit_32.predict(part[:32])
                student.predict(part[:32])
                speed[f"setfit_b{batch}"] = rate(setfit_32.predict, part, batch, reps=3)
                speed[f"dan_b{batch}"] = rate(student.predict, part, batch, reps=5)
                speed[f"dan_over_setfit_b{batch}"] = speed[f"dan_b{batch}"] / speed[f"setfit_b{batch}"]
        results["tasks"][task]["speed"] = speed
        log(f"{task} speed: {speed}")
        save_results(results)


if __name__ == "__main__":
    main()
