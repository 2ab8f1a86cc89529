"""``textdistill auto`` on SST-2 (a committed script): five candidates (DAN 64/128/256, CNN, BiLSTM) distilled from
the shared MiniLM teacher through the committed cache, each timed on this machine, the most accurate within a
0.2 ms-per-text budget kept; then the report. Its auto.json and plot are copied into benchmarks/results/.

    python benchmarks/choose.py run [--budget 0.2ms] [--out runs/issue11/sst2-auto]
    python benchmarks/choose.py table [--write]    # docs/auto.md section from benchmarks/results/sst2-auto.json

Run it under the CPU lock: ``flock /tmp/textdistill-cpu2.lock python benchmarks/choose.py run``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
RESULTS = ROOT / "benchmarks" / "results"


def run(args) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from textdistill.evaluation.speed import hardware

    cmd = [sys.executable, "-m", "textdistill.cli", "--threads", "1", "auto",
           "--teacher", str(SHARED / "teachers" / "sst2-minilm-l6"),
           "--train", str(SHARED / "data" / "sst2" / "train.tsv.gz"),
           "--dev", str(SHARED / "data" / "sst2" / "dev.tsv.gz"),
           "--cache", str(ROOT / "benchmarks" / "cache"), "--latency-budget", args.budget,
           "--out", args.out, "--overwrite"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    started = time.perf_counter()
    print(" ".join(cmd), flush=True)
    code = subprocess.call(cmd, env=env)
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"auto exited {code}")
    out = Path(args.out)
    summary = json.loads((out / "auto.json").read_text())
    summary["benchmark"] = {"command": "textdistill " + " ".join(cmd[3:]), "wall_s": round(wall, 1),
                            "date": datetime.date.today().isoformat(), "hardware": hardware(),
                            "script": "python benchmarks/choose.py " + " ".join(sys.argv[1:])}
    summary["heldout"] = heldout_scores(out.with_name(out.name + ".candidates"), summary["candidates"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sst2-auto.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.copy(out / "report" / "report.png", RESULTS / "sst2-auto.png")
    print(f"wrote {RESULTS / 'sst2-auto.json'} and sst2-auto.png ({wall:.0f}s)")


def heldout_scores(work: Path, candidates: list) -> dict:
    """Accuracy of the teacher and of every candidate on SST-2's held-out test (SST-5 test without neutral
    sentences), which nothing was selected on."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import numpy as np
    from run import sst2_heldout

    from textdistill import Student
    from textdistill.teachers.base import load_teacher
    from textdistill.teachers.signal import label_texts

    data = sst2_heldout()
    out = {"file": data.source, "candidates": {}}
    for c in candidates:
        student = Student.from_pretrained(work / c["name"])
        gold = student.labels.encode(data.labels)
        out["candidates"][c["name"]] = float(np.mean(student.predict_logits(data.texts).argmax(-1) == gold))
    teacher = load_teacher(str(SHARED / "teachers" / "sst2-minilm-l6"))
    logits = label_texts(teacher, data.texts, None, student.labels, ROOT / "benchmarks" / "cache",
                         progress=False).logits[0]
    out["teacher"] = float(np.mean(logits.argmax(-1) == gold))
    return out


def table(args) -> None:
    r = json.loads((RESULTS / "sst2-auto.json").read_text())
    b = r["benchmark"]
    teacher = (r.get("teacher_dev") or {}).get("accuracy")
    lines = [f"**Which student to pick** (`benchmarks/choose.py`, {b['date']}: `textdistill auto` on SST-2, teacher "
             f"`{r.get('teacher_name')}`{f' (dev {teacher:.4f})' if teacher else ''}, transfer set = SST-2 train; "
             f"budget {r['latency_budget_ms']:g} ms per text at batch {r['latency_batch']}; "
             f"{b['hardware']['cpu']}, one thread; {b['wall_s'] / 60:.0f} min in all; dev selects, held-out = "
             f"{(r.get('heldout') or {}).get('file', 'not measured')}, which nothing was chosen on)", "",
             "| candidate | dev accuracy | % of teacher | held-out accuracy | ms per text (batch 1) | texts/s batch 32 | "
             "disk MB | kept |",
             "|---|---|---|---|---|---|---|---|"]
    held = r.get("heldout") or {"candidates": {}}
    if "teacher" in held:
        lines.append(f"| teacher | {teacher:.4f} | 100% | {held['teacher']:.4f} | | | | |")
    for c in r["candidates"]:
        share = f"{c['accuracy'] / teacher:.1%}" if teacher else "-"
        h = held["candidates"].get(c["name"])
        lines.append(f"| {c['name']} | {c['accuracy']:.4f} | {share} | {'-' if h is None else f'{h:.4f}'} | "
                     f"{c['latency_ms']:.3f} | "
                     f"{c['texts_per_s_b32']:,.0f} | {(c['disk_bytes'] or 0) / 1e6:,.1f} | "
                     f"{'**yes**' if c['name'] == r['chosen'] else ''} |")
    from readme_section import link, write_section

    lines += ["", f"![accuracy against speed]({link('benchmarks/results/sst2-auto.png', 'auto')})"]
    text = "\n".join(lines)
    if args.write:
        write_section("auto", text)
    else:
        print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--budget", default="0.2ms")
    r.add_argument("--out", default=str(ROOT / "runs" / "issue11" / "sst2-auto"))
    t = sub.add_parser("table")
    t.add_argument("--write", action="store_true")
    args = ap.parse_args()
    (run if args.cmd == "run" else table)(args)


if __name__ == "__main__":
    main()
