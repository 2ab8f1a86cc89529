#!/usr/bin/env python
"""The README's results table (between ``<!-- results:start -->`` and ``<!-- results:end -->``), from the committed
results of the other benchmark scripts: SST-2 and IMDB (run.py), multi-label (multilabel.py), few-shot
(few_shot.py), speed against the peers (speed.py). A row whose results file is missing is left out.

    python benchmarks/headline.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


PEER_NAMES = {"tfidf": "TF-IDF + LR", "fasttext": "fastText", "model2vec": "model2vec", "setfit": "SetFit"}


def best_peer(scores: dict) -> str:
    """"0.8407 (TF-IDF + LR)": the best of {peer: score}, or "-" without peers."""
    if not scores:
        return "-"
    name, score = max(scores.items(), key=lambda kv: kv[1])
    return f"{score:.4f} ({PEER_NAMES.get(name, name)})"


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def teacher_speedup(tag: str, summary: dict) -> str:
    """The DAN's texts/s over the teacher's at batch 32: wall-clock on a quiet machine (speed.py, the teacher in
    arrival order) where measured, else per CPU-second from run.py's bench."""
    row = ((load("speed.json") or {}).get("inprocess") or {}).get(tag)
    if row:
        x = row["batch_32"]["textdistill DAN"]["texts_per_s"] / row["teacher"]["arrival order"]["texts_per_s"]
        return f"{x:,.0f}x (wall)"
    return f"{summary['speedup_vs_teacher_cpu']['batch_32_end_to_end']:,.0f}x (CPU time)"


def single_label_rows() -> list[str]:
    rows = []
    for tag, title in (("sst2", "SST-2 (held-out: SST-5 test, no neutral)"),
                       ("imdb", "IMDB (held-out: 5,000 test reviews)")):
        r = load(f"{tag}.json")
        if not r or "heldout" not in r["summary"]:
            continue
        s = r["summary"]
        held = s["heldout"]
        dan = held["students"]["DAN (KD+FT)"]
        cpu = r["students"]["DAN (KD+FT)"]["bench"]
        rows.append(f"| {title} | accuracy | {held['teacher']:.4f} | **{dan:.4f}** ({dan / held['teacher']:.1%}) | "
                    f"{best_peer({n: a for n, a in held['peers'].items() if a is not None})} | {teacher_speedup(tag, s)} | "
                    f"{cpu['student']['disk_bytes'] / 1e6:.0f} MB vs {cpu['teacher']['disk_bytes'] / 1e6:.0f} MB |")
    return rows


def multilabel_rows() -> list[str]:
    r = load("multilabel.json")
    rows = []
    for task, title in (("reuters", "Reuters-21578 (90 topics)"), ("goemotions", "GoEmotions (28 labels)")):
        e = (r or {}).get("tasks", {}).get(task)
        if not e or "dan" not in e.get("students", {}) or "teacher_tuned" not in e:
            continue
        t, d = e["teacher_tuned"]["micro_f1"], e["students"]["dan"]["micro_f1"]
        sp = e.get("speed", {})
        x = f"{sp['dan_b32'] / sp['teacher_b32']:,.0f}x (wall)" if sp.get("teacher_b32") else "-"
        rows.append(f"| {title} | micro-F1 | {t:.4f} | **{d:.4f}** ({d / t:.1%}) | "
                    + best_peer({n: v["micro_f1"] for n, v in e.get("peers", {}).items()}) + f" | {x} | {e['students']['dan']['mb']:.0f} MB vs {e.get('teacher_mb', 0):.0f} MB |")
    return rows


def few_shot_rows() -> list[str]:
    r = load("few-shot.json")
    rows = []
    for task, title in (("sst2", "SST-2 from 32 examples per class"), ("ag_news", "AG News from 32 examples per class")):
        e = (r or {}).get("tasks", {}).get(task)
        if not e or "32" not in e.get("students", {}):
            continue
        t, d = e["teachers"]["32-auto"], e["students"]["32"]["accuracy"]
        at32 = {n: (v.get("32") or {}).get("accuracy") for n, v in e.get("peers", {}).items()}
        rows.append(f"| {title} | accuracy | {t:.4f} | **{d:.4f}** ({d / t:.1%}) | "
                    + best_peer({n: a for n, a in at32.items() if a is not None}) + f" | - | {e['students']['32']['disk_mb']:.0f} MB |")
    return rows


def speed_lines() -> list[str]:
    r = load("speed.json")
    if not r or "inprocess" not in r:
        return []
    out = []
    for task, row in r["inprocess"].items():
        b32, b1 = row["batch_32"], row["batch_1"]
        dan32, dan1 = b32["textdistill DAN"]["texts_per_s"], b1["textdistill DAN"]["texts_per_s"]
        ft = max((n for n in b32 if n.startswith("fastText")), key=lambda n: b32[n]["texts_per_s"])
        out.append(f"{task.upper()}: the DAN answers {dan32:,.0f} texts/s at batch 32 ({dan32 / b32[ft]['texts_per_s']:.1f}x "
                   f"fastText's binding, {dan32 / b32['model2vec classifier']['texts_per_s']:.1f}x model2vec's "
                   f"classifier) and {dan1:,.0f}/s one at a time ({dan1 / b1[ft]['texts_per_s']:.1f}x, "
                   f"{dan1 / b1['model2vec classifier']['texts_per_s']:.1f}x)")
    return out


def main() -> None:
    lines = [("| task | metric | teacher | DAN student (% of teacher) | best peer | DAN speed vs teacher (batch 32) | "
             "size: student vs teacher |"), "|---|---|---|---|---|---|---|"]
    lines += single_label_rows() + multilabel_rows() + few_shot_rows()
    hw = (load("sst2.json") or {}).get("hardware", {}).get("cpu", "")
    text = "\n".join(lines) + "\n\n"
    text += (f"Held-out sets were never used to select anything; teachers are all-MiniLM-L6-v2 fine-tuned (few-shot: "
             f"the same encoder with a head fitted on the examples). Speeds are texts/s of one thread on {hw}: wall-clock on a quiet machine where the row says wall, else per "
             f"CPU-second of the timing thread. ")
    sp = speed_lines()
    if sp:
        text += "Wall-clock, one thread each, side by side: " + "; ".join(sp) + ". "
    text += ("Details and commands: [benchmarks](docs/benchmarks.md), [speed](docs/speed.md), "
             "[multi-label](docs/multilabel.md), [few-shot](docs/few-shot.md), [several teachers](docs/teachers.md).")
    readme = ROOT / "README.md"
    content = readme.read_text()
    head, rest = content.split("<!-- results:start -->", 1)
    _, tail = rest.split("<!-- results:end -->", 1)
    readme.write_text(head + "<!-- results:start -->\n" + text + "\n<!-- results:end -->" + tail)
    print(text)


if __name__ == "__main__":
    main()
