"""Throughput and footprint of a student and its teacher, measured side by side in one process.

Throughput is texts per second over consecutive batches of the data in file order (what a server sees), the
median of several repetitions; "end to end" includes tokenisation/featurization (what a user pays), "model only"
excludes it (what the papers report).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from .scoring import gold_of, score, teacher_score


def rss_bytes() -> int:
    """Resident memory of this process."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - non-Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def dir_size(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def hardware() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def _batches(n: int, batch_size: int):
    return [(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]


def timed_rate(run_batch, n: int, batch_size: int, repeats: int, max_seconds: float = 60.0) -> dict:
    """Median texts/s of ``run_batch(start, end)`` over all batches, repeated; stops early past max_seconds.

    Two clocks: wall time (``texts_per_s``: what a user waits on a quiet machine) and this thread's CPU time
    (``texts_per_cpu_s``: the work itself, which other processes sharing the machine barely change; everything
    timed here runs on the calling thread).
    """
    rates, cpu_rates = [], []
    spent = 0.0
    run_batch(*_batches(n, batch_size)[0])  # warm-up
    for _ in range(max(1, repeats)):
        started, cpu_started = time.perf_counter(), time.thread_time()
        for start, end in _batches(n, batch_size):
            run_batch(start, end)
        elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
        rates.append(n / elapsed)
        cpu_rates.append(n / max(cpu, 1e-9))
        spent += elapsed
        if spent > max_seconds:
            break
    return {"texts_per_s": statistics.median(rates), "texts_per_cpu_s": statistics.median(cpu_rates),
            "runs": [round(r, 1) for r in rates], "cpu_runs": [round(r, 1) for r in cpu_rates], "n": n}


def one_blas_thread():
    """Context in which BLAS runs on one thread: a benchmark measures students per core, like the teacher.

    This changes a process-wide setting for the duration of the measurement, which is why only ``bench`` (a
    measuring tool that owns its process) does it; a Student never does.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def student_speed(student, texts, pairs=None, batch_size=32, repeats=3) -> dict:
    """Texts/s of ``student.predict`` (raw text in, labels out) and of the model part alone, one BLAS thread."""
    with one_blas_thread():
        return _student_speed(student, texts, pairs, batch_size, repeats, len(texts))


def _student_speed(student, texts, pairs, batch_size, repeats, n) -> dict:

    def end_to_end(s, e):
        student.predict(texts[s:e], None if pairs is None else pairs[s:e], batch_size=batch_size)

    features = {b: student.featurize(texts[b[0]:b[1]], None if pairs is None else pairs[b[0]:b[1]])
                for b in _batches(n, batch_size)}

    def model_only(s, e):
        student.logits_from_features(features[(s, e)])

    return {"end_to_end": timed_rate(end_to_end, n, batch_size, repeats),
            "model_only": timed_rate(model_only, n, batch_size, repeats)}


def teacher_speed(teacher, texts, pairs=None, batch_size=32, repeats=1) -> dict:
    import torch

    n = len(texts)

    def tokenize(s, e):
        return teacher.tokenize(texts[s:e], None if pairs is None else pairs[s:e])

    def end_to_end(s, e):
        with torch.inference_mode():
            teacher.forward(tokenize(s, e))

    encoded = {b: tokenize(*b) for b in _batches(n, batch_size)}

    def model_only(s, e):
        with torch.inference_mode():
            teacher.forward(encoded[(s, e)])

    return {"end_to_end": timed_rate(end_to_end, n, batch_size, repeats, max_seconds=120),
            "model_only": timed_rate(model_only, n, batch_size, repeats, max_seconds=120)}


def bench_models(model_dir, data, teacher=None, limit=2000, teacher_limit=512, repeats=3, batch_sizes=(32, 1),
                 cache_root=None, threads: int | None = 1) -> dict:
    """Accuracy (when labeled), throughput at each batch size, size on disk and memory, student vs teacher.

    ``threads`` sets torch's thread count for the teacher (the student's BLAS already runs on one thread), so both
    are timed per core; None leaves torch's default.
    """
    from ..students import Student

    if threads is not None and teacher is not None:
        import torch

        torch.set_num_threads(threads)

    texts = data.texts[:limit]
    pairs = None if data.pairs is None else data.pairs[:limit]
    before = rss_bytes()
    student = Student.from_pretrained(model_dir)
    student.predict_logits(texts[:32], None if pairs is None else pairs[:32])
    result = {"hardware": hardware(), "threads": threads, "data": str(data.source), "n": len(texts), "student": {
        "path": str(model_dir), "type": student.student_type, "kernels": "numba" if getattr(student, "compiled", False) else "numpy",
        "disk_bytes": dir_size(model_dir),
        "rss_added_bytes": rss_bytes() - before}}
    if data.labels is not None:
        gold = gold_of(student, data.subset(range(min(limit, len(data)))))
        student_logits = student.predict_logits(texts, pairs)
        result["student"]["metrics"] = score(student, gold, student_logits)
    for bs in batch_sizes:
        m = len(texts) if bs > 1 else min(len(texts), 500)
        result["student"][f"batch_{bs}"] = student_speed(student, texts[:m], None if pairs is None else pairs[:m],
                                                         bs, repeats)
    if teacher is not None:
        from ..teachers.alignment import align_teacher
        from ..teachers.huggingface import Teacher

        before = rss_bytes()
        t = teacher if not isinstance(teacher, (str, Path)) else Teacher.from_pretrained(str(teacher))
        tn = min(len(texts), teacher_limit)
        t_texts = texts[:tn]
        t_pairs = None if pairs is None else pairs[:tn]
        t.logits(t_texts[:8], None if t_pairs is None else t_pairs[:8])
        source = str(getattr(t, "source", teacher))
        result["teacher"] = {"path": source, "disk_bytes": dir_size(source) if Path(source).is_dir() else None,
                             "rss_added_bytes": rss_bytes() - before, "n_timed": tn}
        if data.labels is not None:
            if cache_root is not None:
                from ..teachers.signal import label_texts

                tlogits = label_texts(t, texts, pairs, student.labels, cache_root).logits[0]
            else:
                logits = t.logits(texts, pairs, progress=True)
                order = align_teacher(getattr(t, "label_names", None), logits.shape[1], student.labels)
                tlogits = logits[:, order]
            result["teacher"]["metrics"] = teacher_score(student, gold, tlogits)
            result["student"]["metrics"] = score(student, gold, student_logits, tlogits)
        for bs in batch_sizes:
            m = tn if bs > 1 else min(tn, 128)
            result["teacher"][f"batch_{bs}"] = teacher_speed(t, t_texts[:m], None if t_pairs is None else t_pairs[:m],
                                                             bs, repeats)
        result["speedup"] = {
            f"batch_{bs}_{kind}": result["student"][f"batch_{bs}"][kind]["texts_per_s"]
            / result["teacher"][f"batch_{bs}"][kind]["texts_per_s"]
            for bs in batch_sizes for kind in ("end_to_end", "model_only")
        }
        result["speedup_cpu"] = {  # the same ratios in CPU time: robust to other jobs sharing the machine
            f"batch_{bs}_{kind}": result["student"][f"batch_{bs}"][kind]["texts_per_cpu_s"]
            / result["teacher"][f"batch_{bs}"][kind]["texts_per_cpu_s"]
            for bs in batch_sizes for kind in ("end_to_end", "model_only")
        }
    return result


def format_bench(r: dict) -> str:
    lines = [f"hardware: {r['hardware']['cpu']} ({r['hardware']['cores']} cores)", f"data: {r['data']} ({r['n']} texts)"]
    if r.get("student", {}).get("kernels"):
        lines.append(f"student kernels: {r['student']['kernels']}")
    header = f"{'':10s}{'accuracy':>10s}{'b32 e2e/s':>12s}{'b32 model/s':>13s}{'b1 e2e/s':>11s}{'disk MB':>9s}{'RSS MB':>8s}"
    lines.append(header)
    for who in ("student", "teacher"):
        if who not in r:
            continue
        m = r[who]
        acc = m.get("metrics", {}).get("accuracy")
        lines.append(
            f"{who:10s}{(f'{acc:.4f}' if acc is not None else '-'):>10s}"
            f"{m['batch_32']['end_to_end']['texts_per_s']:>12.1f}{m['batch_32']['model_only']['texts_per_s']:>13.1f}"
            f"{m['batch_1']['end_to_end']['texts_per_s']:>11.1f}{(m['disk_bytes'] or 0) / 1e6:>9.1f}"
            f"{m['rss_added_bytes'] / 1e6:>8.1f}"
        )
    if "speedup" in r:
        s = r["speedup"]
        lines.append(f"speed-up: {s['batch_32_end_to_end']:.0f}x end to end at batch 32 "
                     f"({s['batch_32_model_only']:.0f}x model only), {s['batch_1_end_to_end']:.0f}x at batch 1")
        sizes = r["student"].get("disk_bytes"), r["teacher"].get("disk_bytes")
        if all(sizes):
            lines.append(f"size: student {sizes[0] / 1e6:,.1f} MB, teacher {sizes[1] / 1e6:,.1f} MB "
                         f"({sizes[0] / sizes[1]:.2f}x the teacher's)")
    return "\n".join(lines)
