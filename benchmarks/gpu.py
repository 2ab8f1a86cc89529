#!/usr/bin/env python
"""GPU benchmark (issue 21): teacher labelling texts/s at the defaults, and a DAN epoch on the GPU against one CPU
thread, in one script of at most ~8 minutes on a machine with a CUDA GPU.

    python benchmarks/gpu.py bundle              # here (no GPU needed): runs/gpu-bundle/, the data it carries
    python benchmarks/gpu.py run --out DIR       # on the GPU machine: DIR/gpu.json (+ the CUDA tests' log)
    python benchmarks/gpu.py run --smoke         # a tiny version of the same, on any machine (checks the script)

The bundle holds (about 20 MB, git-ignored): SST-2's training sentences, 5,000 IMDB reviews, movie-review
sentences with the SST-2 teacher's outputs (from benchmarks/cache: no teacher weights travel), SST-2 dev, and the
teacher's config and tokenizer. Labelling speed does not depend on the weights' values, so the teacher is the
reference architecture (all-MiniLM-L6-v2) with fresh weights in half precision, run by ``Teacher`` at its defaults
(on a GPU: batches of up to ``MAX_TOKENS`` tokens, tokenized in background threads). The DAN is trained at the
``distill`` defaults from the cached outputs, one epoch on the GPU and one on one CPU thread, each then scored on
SST-2 dev. Numbers go to ``benchmarks/results/gpu.json`` once copied back, with the hardware named.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))
BUNDLE = ROOT / "runs" / "gpu-bundle"
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
MOVIE_SENTENCES = 400_000  # what fits the 64 MiB the device carries (the 1M of the CPU curve does not)


def bundle(args) -> None:
    import numpy as np

    from textdistill.data.readers import LabelMap, read_dataset
    from textdistill.teachers.huggingface import Teacher
    from textdistill.teachers.signal import label_texts

    BUNDLE.mkdir(parents=True, exist_ok=True)
    teacher_dir = SHARED / "teachers" / "sst2-minilm-l6"
    (BUNDLE / "teacher").mkdir(exist_ok=True)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (teacher_dir / name).is_file():
            shutil.copy2(teacher_dir / name, BUNDLE / "teacher" / name)
    sst2 = read_dataset(SHARED / "data" / "sst2" / "train.tsv.gz")
    dev = read_dataset(SHARED / "data" / "sst2" / "dev.tsv.gz")
    imdb = read_dataset(SHARED / "data" / "imdb" / "test.csv.gz", limit=5000)
    movie = ROOT / "runs" / "bench" / "movie-sentences-1m.jsonl"
    if not movie.is_file():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "movie_sentences.py"), str(movie), "1000000"],
                       check=True)
    sentences = [json.loads(line)["text"] for line in open(movie, encoding="utf-8")][:MOVIE_SENTENCES]
    texts = list(sst2.texts) + sentences
    teacher = Teacher.from_pretrained(str(teacher_dir))
    logits = label_texts(teacher, texts, None, LabelMap(["0", "1"]), ROOT / "benchmarks" / "cache").logits[0]
    np.save(BUNDLE / "teacher_logits.npy", logits.astype(np.float32))
    with gzip.open(BUNDLE / "data.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"sst2_train": list(sst2.texts), "sst2_gold": list(sst2.labels), "movie": sentences,
                   "dev": list(dev.texts), "dev_gold": list(dev.labels), "imdb": list(imdb.texts)}, f)
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file())
    print(f"bundle: {BUNDLE} ({size / 1e6:.1f} MB); carry it as runs/gpu-bundle")


def rate(fn, n: int) -> tuple[float, float]:
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    return n / seconds, seconds


def teacher_speed(data: dict, smoke: bool) -> dict:
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from textdistill.teachers.huggingface import Teacher

    folder = BUNDLE / "teacher"
    config = AutoConfig.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = {}
    for name, texts, max_length in (("sst2", data["sst2_train"], 64), ("imdb", data["imdb"], 256)):
        texts = texts[:500] if smoke else texts
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_config(config)
        model = (model.half() if device == "cuda" else model.float()).to(device).eval()
        teacher = Teacher(model, tokenizer, max_length=max_length, batch_size=32, device=device, fingerprint="bench",
                          source=str(folder))
        teacher.logits(texts[:256])  # warm up (CUDA context, kernels)
        texts_per_s, seconds = rate(lambda: teacher.logits(texts), len(texts))
        tok_rate, _ = rate(lambda: [tokenizer(texts[i:i + 1024], truncation=True, max_length=max_length)
                                   for i in range(0, len(texts), 1024)], len(texts))
        out[name] = {"texts": len(texts), "max_length": max_length, "texts_per_s": round(texts_per_s),
                     "seconds": round(seconds, 2), "tokenizer_alone_texts_per_s": round(tok_rate),
                     "share_of_tokenizer": round(texts_per_s / tok_rate, 3), "max_tokens": teacher.max_tokens,
                     "tokenizer_threads": teacher.tokenizer_threads, "pipelined": teacher.pipelined}
        print(f"teacher {name}: {texts_per_s:,.0f} texts/s ({tok_rate:,.0f}/s tokenizer alone)", flush=True)
    return out


def dan_epochs(data: dict, smoke: bool) -> dict:
    import numpy as np
    import torch

    from textdistill.data.readers import LabelMap
    from textdistill.metrics import classification_metrics
    from textdistill.students.dan import DANConfig
    from textdistill.training.config import TrainConfig
    from textdistill.training.families.dan import DANFamily
    from textdistill.training.loop import Stage, Trainer, TrainingSet
    from textdistill.training.objectives import DistillObjective

    texts = data["sst2_train"] + data["movie"]
    logits = np.load(BUNDLE / "teacher_logits.npy")
    if smoke:
        texts, logits = texts[:3000], logits[:3000]
    labels = LabelMap(["0", "1"])
    gold = np.full(len(texts), -1, dtype=np.int64)
    gold[: len(data["sst2_train"])] = labels.encode(data["sst2_gold"])[: len(texts)]
    dev_gold = labels.encode(data["dev_gold"])
    out = {"transfer_texts": len(texts)}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        torch.set_num_threads(1)
        family = DANFamily(DANConfig())
        started = time.perf_counter()
        family.fit(texts, progress=False)
        encoded = family.encode(texts)
        fit_s = time.perf_counter() - started
        config = TrainConfig(epochs=1, finetune_epochs=0, loss="kl")
        trainer = Trainer(family, config, 2, progress=False, log=lambda *a: None, device=device)
        dev = TrainingSet(family.encode(data["dev"]), dev_gold)
        stage = Stage("distill", DistillObjective(logits, gold, loss="kl"), np.arange(len(texts)), 1)
        started = time.perf_counter()
        module = trainer.fit(encoded, [stage], dev)
        if device == "cuda":
            torch.cuda.synchronize()
        epoch_s = time.perf_counter() - started
        student = family.export(module, labels, {})
        accuracy = classification_metrics(dev_gold, student.predict_logits(data["dev"]).argmax(-1), 2)["accuracy"]
        out[device] = {"epoch_s": round(epoch_s, 2), "texts_per_s": round(len(texts) / epoch_s),
                       "vocabulary_and_encoding_s": round(fit_s, 1), "dev_accuracy": round(accuracy, 4)}
        print(f"DAN epoch on {device}: {epoch_s:.1f}s, dev {accuracy:.4f}", flush=True)
    if "cuda" in out:
        out["gpu_speedup"] = round(out["cpu"]["epoch_s"] / out["cuda"]["epoch_s"], 1)
    return out


def run(args) -> None:
    import torch

    data = json.loads(gzip.open(BUNDLE / "data.json.gz", "rt", encoding="utf-8").read())
    result = {"date": time.strftime("%Y-%m-%d"), "smoke": args.smoke,
              "hardware": {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                           "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                           "torch": torch.__version__},
              "teacher": teacher_speed(data, args.smoke), "dan": dan_epochs(data, args.smoke)}
    if not args.smoke:
        log = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda.py"],
                             cwd=ROOT, capture_output=True, text=True)
        result["cuda_tests"] = log.stdout.strip().splitlines()[-1] if log.stdout.strip() else log.stderr[-500:]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["bundle", "run"])
    parser.add_argument("--out", default=str(ROOT / "runs" / "gpu-out"))
    parser.add_argument("--smoke", action="store_true", help="run: a tiny version on any machine")
    args = parser.parse_args()
    {"bundle": bundle, "run": run}[args.step](args)


if __name__ == "__main__":
    main()
