"""ONNX export of SST-2 students (a committed script): each model exported, verified against onnxruntime on the
872 dev sentences (max |logit difference|, labels), and timed side by side with textdistill's own runtime: model
only (the graph's inputs precomputed) and end to end (raw text in: the featurizer in Python, then the graph), at
batch 32 and 1, one thread each (onnxruntime intra-op 1, BLAS 1), medians of at least 7 passes and 1.5 s.

    python benchmarks/export_onnx.py run MODEL_DIR [MODEL_DIR ...]     # -> benchmarks/results/onnx.json
    python benchmarks/export_onnx.py table [--write]                   # the docs/serving.md section

A DAN is also exported as int8 (``compress --dtype int8``, in memory) to show the quantised graph.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
DEV = ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv.gz"
RESULTS = ROOT / "benchmarks" / "results" / "onnx.json"


def rate(fn, spans, n, min_passes=7, min_seconds=1.5, max_passes=200) -> float:
    """Median texts/s over passes through all batches: at least ``min_passes`` and ``min_seconds`` in all (a pass
    of a fast model takes milliseconds; one scheduler hiccup must not decide its number)."""
    fn(*spans[0])
    runs, spent = [], 0.0
    while len(runs) < max_passes and (len(runs) < min_passes or spent < min_seconds):
        t = time.perf_counter()
        for s in spans:
            fn(*s)
        elapsed = time.perf_counter() - t
        runs.append(n / elapsed)
        spent += elapsed
    return statistics.median(runs)


def measure(name, student, texts, tmp: Path) -> dict:
    from textdistill.evaluation.speed import one_blas_thread
    from textdistill.serving.onnx import OnnxModel, export_onnx, onnx_inputs, verify

    path = tmp / f"{name}.onnx"
    t0 = time.perf_counter()
    files = export_onnx(student, path)
    export_s = time.perf_counter() - t0
    v = verify(path, student, texts, source=str(DEV))
    model = OnnxModel(path, student)
    out = {"name": name, "family": student.student_type, "describe": getattr(student, "describe", lambda: "")(),
           "onnx_bytes": sum(f.stat().st_size for f in files), "export_s": round(export_s, 2),
           "max_abs_diff": v.max_abs_diff, "same_labels": v.same_labels, "texts": v.texts}
    n = len(texts)
    with one_blas_thread():
        for bs in (32, 1):
            m = n if bs > 1 else min(n, 500)
            spans = [(i, min(m, i + bs)) for i in range(0, m, bs)]
            feeds = {s: onnx_inputs(student, texts[s[0]:s[1]]) for s in spans}
            feats = {s: student.featurize(texts[s[0]:s[1]]) for s in spans}
            out[f"batch_{bs}"] = {
                "onnx_model_only": rate(lambda a, b: model.logits_from_feeds(feeds[(a, b)]), spans, m),
                "numpy_model_only": rate(lambda a, b: student.logits_from_features(feats[(a, b)]), spans, m),
                "onnx_end_to_end": rate(lambda a, b: model.logits_from_feeds(onnx_inputs(student, texts[a:b])),
                                        spans, m),
                "numpy_end_to_end": rate(lambda a, b: student.predict_logits(texts[a:b]), spans, m),
            }
    print(f"{name}: diff {v.max_abs_diff:.1e}, labels {'same' if v.same_labels else 'DIFFER'}; b32 model only "
          f"onnx {out['batch_32']['onnx_model_only']:,.0f} numpy {out['batch_32']['numpy_model_only']:,.0f}; "
          f"e2e onnx {out['batch_32']['onnx_end_to_end']:,.0f} numpy {out['batch_32']['numpy_end_to_end']:,.0f}",
          flush=True)
    return out


def run(args) -> None:
    import onnxruntime

    from textdistill.data.readers import read_dataset
    from textdistill.evaluation.speed import hardware
    from textdistill.students import Student

    texts = read_dataset(DEV, label=None).texts
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for d in args.models:
            student = Student.from_pretrained(d)
            name = Path(d).name
            rows.append(measure(name, student, texts, Path(tmp)))
            if student.student_type == "dan" and student.table_dtype != "int8":
                rows.append(measure(name + " (int8)", student.compressed(dtype="int8"), texts, Path(tmp)))
    result = {"name": "onnx", "date": datetime.date.today().isoformat(), "hardware": hardware(),
              "onnxruntime": onnxruntime.__version__, "data": str(DEV), "models": [str(m) for m in args.models],
              "command": "python benchmarks/export_onnx.py run " + " ".join(args.models), "results": rows}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


def table(args) -> None:
    r = json.loads(RESULTS.read_text())
    lines = [f"**ONNX export** (`benchmarks/export_onnx.py`, {r['date']}; onnxruntime {r['onnxruntime']}, "
             f"{r['hardware']['cpu']}, one thread each; SST-2 dev, {r['results'][0]['texts']} sentences; texts/s)",
             "", "| model | max \\|logit diff\\| | labels | ONNX MB | b32 model only: onnx / textdistill | "
             "b32 end to end: onnx / textdistill | b1 end to end: onnx / textdistill |",
             "|---|---|---|---|---|---|---|"]
    for x in r["results"]:
        b32, b1 = x["batch_32"], x["batch_1"]
        lines.append(f"| {x['name']} ({x['family']}) | {x['max_abs_diff']:.1e} | "
                     f"{'identical' if x['same_labels'] else 'differ'} | {x['onnx_bytes'] / 1e6:,.1f} | "
                     f"{b32['onnx_model_only']:,.0f} / {b32['numpy_model_only']:,.0f} | "
                     f"{b32['onnx_end_to_end']:,.0f} / {b32['numpy_end_to_end']:,.0f} | "
                     f"{b1['onnx_end_to_end']:,.0f} / {b1['numpy_end_to_end']:,.0f} |")
    text = "\n".join(lines)
    if args.write:
        from readme_section import write_section

        write_section("onnx", text)
    else:
        print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("models", nargs="+")
    t = sub.add_parser("table")
    t.add_argument("--write", action="store_true")
    args = ap.parse_args()
    (run if args.cmd == "run" else table)(args)


if __name__ == "__main__":
    main()
