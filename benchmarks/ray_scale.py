#!/usr/bin/env python
"""Issue 12 benchmarks: labelling on Ray, transfer-set size, the 5M-text run, the cluster estimate.

    python benchmarks/ray_scale.py scaling [--reviews 2000 --rounds 3]   # 1 vs 2 local Ray workers vs one process
    python benchmarks/ray_scale.py curve [--sizes 200000 500000 1000000]  # SST-2 DAN vs movie-review sentences
    python benchmarks/ray_scale.py scale-5m                               # distill --ray on 5M texts: time, memory
    python benchmarks/ray_scale.py estimate                               # 100M texts on a cluster, on paper (after
                                                                          # scaling and curve or scale-5m)
    python benchmarks/ray_scale.py table                                  # the docs/scale.md section

Heavy runs go under the CPU lock (`flock /tmp/textdistill-cpu.lock ...`; `scaling` needs the machine to itself:
both locks and a load under 0.5, which `--wait-idle` waits for). Every step is resumable: finished points are kept
in benchmarks/results/ and skipped; teacher outputs come from (and go to) benchmarks/cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("RAY_SCALE_ROOT", HERE.parent))  # where data, cache and results live
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
TEACHERS = SHARED / "teachers"
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = Path(os.environ.get("RAY_SCALE_RESULTS", ROOT / "benchmarks" / "results"))  # smoke runs: elsewhere
WORK = Path(os.environ.get("RAY_SCALE_WORK", ROOT / "runs" / "ray"))
BIN = Path(sys.executable).parent
# The code that runs: this checkout's, or a frozen copy (TEXTDISTILL_SRC) for runs queued for hours behind a lock.
SRC = Path(os.environ.get("TEXTDISTILL_SRC", ROOT / "src"))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(SRC))
sys.path.insert(1, str(HERE))

from textdistill.evaluation.speed import hardware  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def save_result(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"name": name, "date": time.strftime("%Y-%m-%d"), "hardware": hardware(), **result}
    tmp = RESULTS / f".{name}.json.tmp"
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(RESULTS / f"{name}.json")
    log(f"wrote benchmarks/results/{name}.json")


def load_result(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def shown(cmd) -> str:
    return " ".join(shlex.quote(str(a)).replace(str(ROOT) + "/", "").replace(str(SHARED), "../shared") for a in cmd)


def write_jsonl(path: Path, texts) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def wait_idle(max_load: float, timeout_s: float) -> float:
    """Wait until the 1-minute load average is under max_load (the machine to ourselves); returns it."""
    deadline = time.time() + timeout_s
    while True:
        load = os.getloadavg()[0]
        if load < max_load or time.time() > deadline:
            return load
        log(f"waiting for an idle machine (load {load:.2f})")
        time.sleep(30)


# -- 1. labelling: one process vs 1 and 2 local Ray workers --------------------------------------------------------
ONE_RUN = r"""
import json, sys, time
t0 = time.perf_counter()
mode, workers, sample, cache, chunk = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
import torch
torch.set_num_threads(1)
from textdistill.data.readers import read_dataset
from textdistill.teachers.base import load_teacher
texts = read_dataset(sample, label=None).texts
teacher = load_teacher(sys.argv[6])
loaded = time.perf_counter()
out = {"mode": mode, "workers": workers, "texts": len(texts), "load_s": loaded - t0}
if mode == "single":
    from textdistill.teachers.cache import label_with_cache
    label_with_cache(teacher, texts, cache_root=cache, chunk_size=chunk, progress=False)
    out["label_s"] = out["labelling_s"] = time.perf_counter() - loaded
else:
    from textdistill.distributed import RayConfig
    from textdistill.distributed.labelling import label_on_ray
    r = label_on_ray(teacher, texts, cache_root=cache, chunk_size=chunk, progress=False,
                     ray=RayConfig(address="local", workers=workers, num_cpus=2))
    out["label_s"] = time.perf_counter() - loaded  # Ray start-up, actor start-up, labelling, writing
    out["labelling_s"] = r.labelling_seconds  # from the first chunk's start on a worker to the last one written
    out["ray_startup_s"] = r.startup_seconds
    out["per_worker"] = r.workers
print("RESULT " + json.dumps(out))
"""


def one_labelling_run(mode: str, workers: int, sample: Path, teacher: Path, chunk: int) -> dict:
    cache = tempfile.mkdtemp(prefix="ray-scale-cache-")
    try:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", ONE_RUN, mode, str(workers), str(sample), cache, str(chunk),
                               str(teacher)], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{mode} x{workers} failed:\n{proc.stderr[-3000:]}")
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        result = json.loads(line[len("RESULT "):])
        result["process_wall_s"] = time.perf_counter() - started
        result["texts_per_s"] = result["texts"] / result["label_s"]
        result["labelling_texts_per_s"] = result["texts"] / result["labelling_s"]
        return result
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def scaling(args):
    from textdistill.data.readers import read_dataset

    load = wait_idle(0.5, args.wait_idle) if args.wait_idle else os.getloadavg()[0]
    log(f"load average {load:.2f}")
    teacher = TEACHERS / "imdb-minilm-l6"
    reviews = read_dataset(DATA / "imdb/unsup.csv.gz", label=None).texts[: args.reviews]
    sample = write_jsonl(WORK / f"imdb_unsup_{args.reviews}.jsonl", reviews)
    configs = [("single", 1), ("ray", 1), ("ray", 2)]
    runs = {f"{m} x{w}": [] for m, w in configs}
    for r in range(args.rounds):  # interleaved rounds: drift in the machine's speed hits every configuration alike
        for mode, workers in configs:
            res = one_labelling_run(mode, workers, sample, teacher, args.chunk)
            runs[f"{mode} x{workers}"].append(res)
            log(f"round {r + 1}: {mode} x{workers}: {res['texts_per_s']:.2f} texts/s end to end, "
                f"{res['labelling_texts_per_s']:.2f} once labelling ({res['label_s']:.0f}s)")
    # sentence-length texts, for the per-text costs of the cluster estimate (one process)
    from movie_sentences import sentences

    sent_sample = write_jsonl(WORK / "movie_sentences_2000.jsonl", sentences(2000))
    sentence_run = one_labelling_run("single", 1, sent_sample, TEACHERS / "sst2-minilm-l6", 256)
    med = {k: {"texts_per_s": statistics.median(x["texts_per_s"] for x in v),
               "labelling_texts_per_s": statistics.median(x["labelling_texts_per_s"] for x in v),
               "label_s": statistics.median(x["label_s"] for x in v)} for k, v in runs.items()}
    summary = {
        "medians": med,
        "ray2_over_ray1": med["ray x2"]["texts_per_s"] / med["ray x1"]["texts_per_s"],
        "ray2_over_ray1_labelling": med["ray x2"]["labelling_texts_per_s"] / med["ray x1"]["labelling_texts_per_s"],
        "ray1_over_single": med["ray x1"]["texts_per_s"] / med["single x1"]["texts_per_s"],
        "ray1_over_single_labelling": (med["ray x1"]["labelling_texts_per_s"]
                                       / med["single x1"]["labelling_texts_per_s"]),
        "ray2_over_single": med["ray x2"]["texts_per_s"] / med["single x1"]["texts_per_s"],
        "sentences_per_s_one_core": sentence_run["texts_per_s"],
    }
    save_result("ray-scaling", {
        "command": f"python benchmarks/ray_scale.py scaling --reviews {args.reviews} --rounds {args.rounds} "
                   f"--chunk {args.chunk}",
        "sample": f"the first {args.reviews:,} reviews of imdb/unsup.csv.gz",
        "teacher": "imdb-minilm-l6 (max length 256)",
        "chunk_size": args.chunk, "load_average_at_start": load, "summary": summary, "runs": runs,
        "sentence_run": sentence_run,
        "notes": "Each run is a fresh process (torch on one thread; each Ray worker one CPU and one thread; a "
                 "local Ray started with 2 CPUs) on a fresh cache. End to end = after the teacher is loaded: Ray "
                 "and actor start-up, labelling and writing the cache. Once labelling = from the first chunk's "
                 "start on a worker to the last chunk written. Medians over interleaved rounds."})
    log(json.dumps(summary, indent=1))


# -- 2. SST-2: the DAN against the size of the transfer set --------------------------------------------------------
def movie_file(n: int) -> Path:
    path = ROOT / "runs" / "bench" / f"movie_sentences_{n}.jsonl"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "movie_sentences.py"), str(path), str(n)], check=True)
    return path


def cached_fraction(teacher_path: Path, texts) -> float:
    from textdistill.teachers.cache import TeacherCache, text_keys
    from textdistill.teachers.huggingface import Teacher

    t = Teacher.from_pretrained(str(teacher_path))
    return float(TeacherCache(CACHE, t.fingerprint, num_labels=t.num_labels).lookup(text_keys(texts))[0].mean())


def teacher_accuracy(teacher_path: Path, data, labels) -> float:
    from textdistill.teachers.signal import label_texts
    from textdistill.teachers.huggingface import Teacher

    logits = label_texts(Teacher.from_pretrained(str(teacher_path)), data.texts, data.pairs, labels, CACHE,
                         progress=False).logits[0]
    return float((logits.argmax(-1) == labels.encode(data.labels)).mean())


def curve(args):
    from run import sst2_heldout  # SST-2's test set with labels, as benchmarks/run.py builds it

    from textdistill.data.readers import LabelMap, read_dataset
    from textdistill.students import Student

    teacher = TEACHERS / "sst2-minilm-l6"
    train_file, dev_file = DATA / "sst2/train.tsv.gz", DATA / "sst2/dev.tsv.gz"
    dev, heldout = read_dataset(dev_file), sst2_heldout()
    labels = LabelMap.from_labels(read_dataset(train_file).labels)
    result = load_result("sst2-transfer-curve") or {"points": {}}
    result["teacher"] = {"dev": teacher_accuracy(teacher, dev, labels),
                         "heldout": teacher_accuracy(teacher, heldout, labels)}
    for n in args.sizes:
        key = str(n)
        if key in result["points"] and not args.rerun:
            log(f"{n:,} movie sentences: done before ({result['points'][key]['dev']:.4f} dev)")
            continue
        movie = movie_file(n)
        from textdistill.data.readers import read_texts

        share = cached_fraction(teacher, read_texts(movie))
        if share < 1.0 and not args.label_missing:
            log(f"{n:,} movie sentences: only {share:.1%} labelled in benchmarks/cache yet; skipped "
                f"(rerun when the labelling job is further, or pass --label-missing)")
            continue
        out = WORK / f"sst2-movie-{n}"
        cmd = [BIN / "textdistill", "--threads", "1", "distill", "--train", train_file, "--dev", dev_file,
               "--teacher", teacher, "--unlabeled", DATA / "unlabeled/amazon_reviews.jsonl.gz", "--unlabeled", movie,
               "--cache", CACHE, "--out", out, "--overwrite", *args.flags]
        log(shown(cmd))
        started = time.perf_counter()
        subprocess.run(list(map(str, cmd)), check=True)
        wall = time.perf_counter() - started
        student = Student.from_pretrained(out)
        meta = student.metadata
        gold = student.labels.encode(heldout.labels)
        held = float((student.predict_logits(heldout.texts).argmax(-1) == gold).mean())
        t = result["teacher"]
        result["points"][key] = {
            "movie_sentences": n, "transfer_texts": meta.get("transfer_texts"), "dev": meta["dev"]["accuracy"],
            "heldout": held, "dev_of_teacher": meta["dev"]["accuracy"] / t["dev"],
            "heldout_of_teacher": held / t["heldout"],
            "best": meta.get("best"), "timings": meta.get("timings"), "wall_s": wall, "command": shown(cmd),
            "history": meta.get("history")}
        log(f"{n:,} movie sentences: dev {meta['dev']['accuracy']:.4f} ({meta['dev']['accuracy'] / t['dev']:.1%} of "
            f"the teacher), held-out {held:.4f} ({held / t['heldout']:.1%})")
        save_result("sst2-transfer-curve", {
            **{k: v for k, v in result.items() if k not in ("name", "date", "hardware")},
            "command": "python benchmarks/ray_scale.py curve",
            "notes": "Transfer set: SST-2 train + 75k Amazon reviews + N movie-review sentences (benchmarks/"
                     "movie_sentences.py: smaller samples are prefixes of larger ones). The DAN at the CLI's defaults "
                     "(KD then FT on gold), one torch thread; dev (872) selects the checkpoint; held-out = SST-5 test "
                     "without neutral (1,821 sentences), never used for selection."})


# -- 3. five million texts: distill --ray, time and memory ---------------------------------------------------------
def perturb(words: list[str], rng: random.Random, vocab: list[str]) -> list[str]:
    """One seeded edit: drop, duplicate, swap with the next, or replace one word."""
    w = list(words)
    i = rng.randrange(len(w))
    op = rng.randrange(4)
    if op == 0 and len(w) > 3:
        del w[i]
    elif op == 1:
        w.insert(i, w[i])
    elif op == 2 and i + 1 < len(w):
        w[i], w[i + 1] = w[i + 1], w[i]
    else:
        w[i] = rng.choice(vocab)
    return w


def corpus_5m(n: int) -> Path:
    """All 1,147,077 IMDB sentences, then seeded perturbations of them until ``n`` distinct texts."""
    path = WORK / f"texts_{n}.jsonl"
    if path.exists():
        return path
    from movie_sentences import sentences

    base = sentences(1_147_077)
    rng = random.Random(12)
    vocab = [w for s in base[:20_000] for w in s.split()]
    seen = set(base)
    out = base[:n]
    while len(out) < n:
        s = base[rng.randrange(len(base))]
        for _ in range(1 + rng.randrange(3)):
            s = " ".join(perturb(s.split(), rng, vocab))
        if s not in seen:
            seen.add(s)
            out.append(s)
    del seen
    log(f"writing {len(out):,} texts to {path}")
    return write_jsonl(path, out)


PROGRESS = re.compile(r"\d+%\|")  # a tqdm bar's line


def memory_sampler(pid: int, stop: threading.Event, peak: dict) -> None:
    """Peak memory of a process tree: the sum of PSS (shared pages split between processes, Ray's object store
    included), and the largest single RSS; sampled every 2 s."""
    import psutil

    root = psutil.Process(pid)
    while not stop.is_set():
        try:
            procs = [root] + root.children(recursive=True)
            pss, rss = 0, 0
            for p in procs:
                try:
                    info = p.memory_full_info()
                    pss += info.pss
                    rss = max(rss, info.rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            if pss > peak.get("pss", 0):
                peak.update(pss=pss, when=time.time(), processes=len(procs))
            peak["rss_max_process"] = max(peak.get("rss_max_process", 0), rss)
        except psutil.NoSuchProcess:
            return
        stop.wait(2.0)


def scale_5m(args):
    teacher = Path(args.teacher) if args.teacher else WORK / "sst2-movie-1000000"
    if not (teacher / "config.json").exists():
        raise SystemExit(f"teacher {teacher} not found: run `curve` first (the 1M-sentence student teaches here)")
    corpus = corpus_5m(args.texts)
    out, shards = WORK / "scale-5m-student", WORK / "shards-5m"
    cmd = [BIN / "textdistill", "--threads", "1", "distill", "--train", DATA / "sst2/train.tsv.gz",
           "--dev", DATA / "sst2/dev.tsv.gz", "--teacher", teacher, "--unlabeled", corpus,
           "--cache", WORK / "cache-5m", "--out", out, "--overwrite", "--ray", "local", "--shard-dir", shards,
           *args.flags]
    log(shown(cmd))
    started = time.perf_counter()
    proc = subprocess.Popen(list(map(str, cmd)), stderr=subprocess.PIPE, text=True, bufsize=1)
    peak, stop = {}, threading.Event()
    sampler = threading.Thread(target=memory_sampler, args=(proc.pid, stop, peak), daemon=True)
    sampler.start()
    lines = []
    for line in proc.stderr:
        sys.stderr.write(line)
        lines.append(line.rstrip())
    proc.wait()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"distill failed ({proc.returncode})")
    from textdistill.students import Student

    meta = Student.from_pretrained(out).metadata
    shard_bytes = sum(p.stat().st_size for p in shards.rglob("*.npy"))
    from run import sst2_heldout

    held = sst2_heldout()
    student = Student.from_pretrained(out)
    heldout = float((student.predict_logits(held.texts).argmax(-1) == student.labels.encode(held.labels)).mean())
    save_result("scale-5m", {
        "command": f"python benchmarks/ray_scale.py scale-5m  ({shown(cmd)})", "texts": args.texts,
        "transfer_texts": meta.get("transfer_texts"), "wall_s": wall, "wall_h": wall / 3600,
        "peak_pss_gb": peak.get("pss", 0) / 1e9, "peak_rss_largest_process_gb": peak.get("rss_max_process", 0) / 1e9,
        "timings": meta.get("timings"), "dev": meta.get("dev"), "heldout_accuracy": heldout,
        "shards_gb": shard_bytes / 1e9, "teacher": shown([teacher]),
        "log": [x for x in (line.split("\r")[-1].strip() for line in lines)
                if x and not PROGRESS.search(x)][-40:],
        "notes": "The transfer set: SST-2 train + 5M texts (all 1,147,077 distinct IMDB sentences, then seeded "
                 "word-level perturbations of them: drop, duplicate, swap, replace). The teacher is the SST-2 DAN "
                 "student of the 1M-sentence curve point (a saved student as teacher: labelling 5M texts with the "
                 "MiniLM would take ~14 h on this machine). Ray started here with the machine's 2 CPUs: labelling, "
                 "n-gram counting and encoding run on it, training streams from the memory-mapped shards. Peak "
                 "memory: the sum of PSS over the process tree (driver, Ray's processes and object store), sampled "
                 "every 2 s."})
    shutil.rmtree(shards, ignore_errors=True)


# -- 4. on paper: 100M texts on a cluster --------------------------------------------------------------------------
# Assumptions, not measurements (this machine has no GPU): the GPU rates that sbert.net's pretrained-models table
# gives for sentence encoders on a V100 (all-MiniLM-L6-v2 14,200 sentences/s, all-mpnet-base-v2 2,800/s), a larger
# teacher scaled from mpnet by its non-embedding parameters (compute-bound at that size), and on-demand list prices
# (AWS p3.2xlarge, one V100, $3.06/h; a CPU core $0.04/h): clouds differ by 2-3x.
GPU = {"name": "V100", "usd_per_hour": 3.06, "source": "sbert.net pretrained models table (V100)",
       "minilm_l6_sentences_per_s": 14_200, "mpnet_base_sentences_per_s": 2_800, "mpnet_non_embedding_params": 85e6}
CPU_CORE_USD_PER_HOUR = 0.04
TEACHERS_ON_PAPER = [("MiniLM-L6 (the teachers here)", 10.6e6),  # non-embedding parameters: 6 layers x 384 wide
                     ("a 300M-parameter encoder (RoBERTa-large class)", 300e6)]
GPU_COUNTS = (1, 8, 64)


def tokenizer_costs(teacher: Path, texts: list[str]) -> dict:
    """Mean tokens per text (after the teacher's truncation) and tokenizer texts/s on one core, measured."""
    from textdistill.teachers.huggingface import Teacher

    t = Teacher.from_pretrained(str(teacher))
    lengths = [len(ids) for ids in t.tokenizer(texts, truncation=True, max_length=t.max_length)["input_ids"]]
    started = time.perf_counter()
    for _ in range(3):
        for i in range(0, len(texts), 256):
            t.tokenize(texts[i:i + 256])
    return {"tokens_per_text": sum(lengths) / len(lengths),
            "tokenizer_texts_per_s_one_core": 3 * len(texts) / (time.perf_counter() - started)}


def student_costs() -> dict:
    """The DAN's measured per-text costs at the largest scale run so far: the 5M-text run when it exists, else the
    largest point of the transfer-set curve (one process, no Ray: the same featurizer and trainer)."""
    from textdistill.data.readers import read_dataset

    scale, curve_result = load_result("scale-5m"), load_result("sst2-transfer-curve")
    if scale is not None:
        source, t, texts, config = "scale-5m", scale["timings"], scale["transfer_texts"], WORK / "scale-5m-student"
    elif curve_result and curve_result.get("points"):
        p = curve_result["points"][max(curve_result["points"], key=int)]
        source, t, texts = f"curve point {p['movie_sentences']:,}", p["timings"], p["transfer_texts"]
        config = WORK / f"sst2-movie-{p['movie_sentences']}"
    else:
        raise SystemExit("run `curve` (or `scale-5m`) first: the estimate starts from the student's measured costs")
    train = json.loads((config / "config.json").read_text())["metadata"]["train_config"]
    gold = len(read_dataset(DATA / "sst2/train.tsv.gz"))
    text_epochs = texts * train["epochs"] + gold * train["finetune_epochs"]  # KD epochs on transfer, FT on gold
    out = {"source": source, "transfer_texts": texts,
           "student_vocabulary_and_encoding_cpu_s_per_text": (2 if scale is not None else 1)
           * t["vocabulary_and_encoding_s"] / texts,  # distill --ray spreads it over both cores
           "student_training_s_per_text_epoch": t["training_s"] / text_epochs}
    if scale is not None:
        out["ngram_ids_per_text"] = scale["shards_gb"] * 1e9 / 4 / texts
    return out


def estimate(args):
    from movie_sentences import sentences

    scaling_result = load_result("ray-scaling")
    if scaling_result is None:
        raise SystemExit("run `scaling` first: the estimate starts from its measured labelling costs")
    n = 100e6
    s = scaling_result["summary"]
    tok = tokenizer_costs(TEACHERS / "sst2-minilm-l6", sentences(2000))
    cpu_rate = s["sentences_per_s_one_core"]  # MiniLM sentences per second on one core, measured
    measured = {"minilm_sentences_per_s_one_core": cpu_rate, **tok,
                "two_worker_scaling": s["ray2_over_ray1_labelling"], **student_costs()}
    labelling = []
    for k, (name, params) in enumerate(TEACHERS_ON_PAPER):
        flops = 2 * params * tok["tokens_per_text"]
        ratio = params / TEACHERS_ON_PAPER[0][1]
        cpu = cpu_rate / ratio  # per core: compute-bound, so it scales with the FLOPs per text
        gpu = (GPU["minilm_l6_sentences_per_s"] if k == 0
               else GPU["mpnet_base_sentences_per_s"] * GPU["mpnet_non_embedding_params"] / params)
        row = {"teacher": name, "gflop_per_text": flops / 1e9, "cpu_texts_per_s_per_core": cpu,
               "cpu_core_hours": n / cpu / 3600, "cpu_usd": n / cpu / 3600 * CPU_CORE_USD_PER_HOUR,
               "gpu_texts_per_s": gpu, "gpu_hours": n / gpu / 3600, "gpu_usd": n / gpu / 3600 * GPU["usd_per_hour"],
               "tokenizer_cores_per_gpu": gpu / tok["tokenizer_texts_per_s_one_core"],
               "wall_h_by_gpus": {g: n / gpu / g / 3600 for g in GPU_COUNTS}}
        labelling.append(row)
    student = {"vocabulary_and_encoding_core_hours": n * measured["student_vocabulary_and_encoding_cpu_s_per_text"]
               / 3600, "training_h_per_epoch_one_machine": n * measured["student_training_s_per_text_epoch"] / 3600}
    save_result("cluster-estimate", {
        "command": "python benchmarks/ray_scale.py estimate", "texts": n,
        "assumptions": {"gpu": GPU, "cpu_core_usd_per_hour": CPU_CORE_USD_PER_HOUR, "teachers": TEACHERS_ON_PAPER,
                        "scaling": "CPU: teacher cost proportional to non-embedding parameters; GPU: sbert.net "
                                   "rates, the 300M teacher scaled from mpnet-base by parameters"},
        "measured": measured, "labelling": labelling, "student": student})


def hours(h: float) -> str:
    return f"{h:,.1f} h" if h >= 1 else f"{h * 60:.0f} min"


# -- docs/scale.md --------------------------------------------------------------------------------------------------
def table(args):
    lines = []
    r = load_result("ray-scaling")
    if r:
        m, s = r["summary"]["medians"], r["summary"]
        lines += [f"**Labelling on Ray** ({r['sample']}, teacher {r['teacher']}, chunks of {r['chunk_size']}; "
                  f"{r['hardware']['cpu']}, {r['hardware']['cores']} cores; medians of "
                  f"{len(next(iter(r['runs'].values())))} interleaved rounds; `{r['command']}`)", "",
                  "| labelling | texts/s end to end | texts/s once labelling | seconds |", "|---|---|---|---|"]
        names = {"single x1": "one process (`label`)", "ray x1": "Ray, 1 worker (`label --ray local --workers 1`)",
                 "ray x2": "Ray, 2 workers (`label --ray local --workers 2`)"}
        for k, name in names.items():
            lines.append(f"| {name} | {m[k]['texts_per_s']:.2f} | {m[k]['labelling_texts_per_s']:.2f} | "
                         f"{m[k]['label_s']:.0f} |")
        lines += ["", f"2 workers / 1 worker: **{s['ray2_over_ray1']:.2f}x** end to end "
                      f"({s['ray2_over_ray1_labelling']:.2f}x once labelling); 1 worker / one process: "
                      f"{s['ray1_over_single']:.2f}x end to end ({s['ray1_over_single_labelling']:.2f}x once "
                      f"labelling). End to end counts Ray's and the actors' start-up (seconds, paid once per job).", ""]
    c = load_result("sst2-transfer-curve")
    if c and c.get("points"):
        t = c["teacher"]
        lines += [f"**Scale buys accuracy: SST-2 DAN against the transfer set** (teacher sst2-minilm-l6: dev "
                  f"{t['dev']:.4f}, held-out {t['heldout']:.4f}; `{c['command']}`)", "",
                  "| movie-review sentences | transfer texts | dev | % of teacher | held-out | % of teacher | "
                  "training s |", "|---|---|---|---|---|---|---|"]
        for key in sorted(c["points"], key=int):
            p = c["points"][key]
            lines.append(f"| {p['movie_sentences']:,} | {p['transfer_texts']:,} | {p['dev']:.4f} | "
                         f"{p['dev_of_teacher']:.1%} | {p['heldout']:.4f} | {p['heldout_of_teacher']:.1%} | "
                         f"{p['timings'].get('training_s', 0):,.0f} |")
        lines.append("")
    r5 = load_result("scale-5m")
    if r5:
        t = r5["timings"]
        lines += [f"**Five million texts** (`distill --ray local`, {r5['hardware']['cores']} cores): "
                  f"{r5['transfer_texts']:,} transfer texts in **{r5['wall_h']:.2f} h** wall, peak memory "
                  f"**{r5['peak_pss_gb']:.1f} GB** (PSS of every process, Ray's included); labelling "
                  f"{t.get('teacher_labelling_s', 0) / 60:.0f} min (a saved student as teacher), vocabulary + encoding "
                  f"{t['vocabulary_and_encoding_s'] / 60:.0f} min ({r5['shards_gb']:.1f} GB of shards), training "
                  f"{t['training_s'] / 60:.0f} min; dev {r5['dev']['accuracy']:.4f}, held-out "
                  f"{r5['heldout_accuracy']:.4f}.", ""]
    e = load_result("cluster-estimate")
    if e:
        g, m, st = e["assumptions"]["gpu"], e["measured"], e["student"]
        lines += [f"**On paper: 100M sentences on a cluster.** Measured here: the MiniLM teacher labels "
                  f"{m['minilm_sentences_per_s_one_core']:.0f} sentences/s on one core ({m['tokens_per_text']:.0f} "
                  f"tokens each; its tokenizer alone {m['tokenizer_texts_per_s_one_core']:,.0f}/s); the DAN's "
                  f"vocabulary + encoding cost {m['student_vocabulary_and_encoding_cpu_s_per_text'] * 1e6:.0f} us of "
                  f"CPU per text, its training {m['student_training_s_per_text_epoch'] * 1e6:.0f} us per text and "
                  f"epoch on one thread ({m.get('source', 'scale-5m')}). Assumed: {g['name']} rates from {g['source']} (MiniLM-L6 "
                  f"{g['minilm_l6_sentences_per_s']:,}/s; larger teachers scaled from mpnet-base's "
                  f"{g['mpnet_base_sentences_per_s']:,}/s by parameters), ${g['usd_per_hour']}/GPU-hour, "
                  f"${e['assumptions']['cpu_core_usd_per_hour']}/core-hour; CPU cost proportional to the teacher's "
                  f"non-embedding parameters.", "",
                  "| teacher | GFLOP/text | CPU core-hours | CPU cost | GPU texts/s | GPU-hours | GPU cost | "
                  "wall on " + " / ".join(str(k) for k in GPU_COUNTS) + " GPUs | tokenizer cores per GPU |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in e["labelling"]:
            walls = " / ".join(hours(h) for h in row["wall_h_by_gpus"].values())
            lines.append(f"| {row['teacher']} | {row['gflop_per_text']:.2f} | {row['cpu_core_hours']:,.0f} | "
                         f"${row['cpu_usd']:,.0f} | {row['gpu_texts_per_s']:,.0f} | {row['gpu_hours']:,.1f} | "
                         f"${row['gpu_usd']:,.0f} | {walls} | {row['tokenizer_cores_per_gpu']:.1f} |")
        lines += ["", "The student's side of 100M texts: vocabulary + encoding "
                      f"{st['vocabulary_and_encoding_core_hours']:,.1f} core-hours (spread over the cluster by "
                      "`distill --ray`), then "
                      f"**{st['training_h_per_epoch_one_machine']:,.0f} h per epoch** of DAN training on one machine.",
                  ""]
    text = "\n".join(lines)
    from readme_section import write_section

    write_section("ray", text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["scaling", "curve", "scale-5m", "estimate", "table"])
    parser.add_argument("--reviews", type=int, default=2000, help="scaling: IMDB unsup reviews labelled per run.")
    parser.add_argument("--rounds", type=int, default=3, help="scaling: interleaved rounds (medians).")
    parser.add_argument("--chunk", type=int, default=64, help="scaling: texts per cache chunk (a Ray task).")
    parser.add_argument("--wait-idle", type=float, default=0, help="scaling: wait up to this many seconds for a "
                        "load average under 0.5.")
    parser.add_argument("--sizes", type=int, nargs="*", default=[200_000, 500_000, 1_000_000],
                        help="curve: movie-review sentences in the transfer set.")
    parser.add_argument("--rerun", action="store_true", help="curve: train points that are done again.")
    parser.add_argument("--label-missing", action="store_true",
                        help="curve: let distill label sentences the cache lacks (slow: ~100/s).")
    parser.add_argument("--texts", type=int, default=5_000_000, help="scale-5m: texts besides SST-2 train.")
    parser.add_argument("--teacher", default=None, help="scale-5m: teacher (default: the 1M curve student).")
    parser.add_argument("--flags", nargs=argparse.REMAINDER, default=[],
                        help="curve/scale-5m: extra distill flags (last on the line).")
    args = parser.parse_args()
    if args.what == "scale-5m" and not args.flags:
        args.flags = ["--epochs", "1"]
    {"scaling": scaling, "curve": curve, "scale-5m": scale_5m, "estimate": estimate, "table": table}[args.what](args)


if __name__ == "__main__":
    main()
