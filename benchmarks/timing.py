"""Side-by-side timing for the benchmark scripts: wall-clock first, the timing thread's CPU time beside it, the
models interleaved round by round over the same texts, medians of the rounds."""

from __future__ import annotations

import statistics
import time


def timed(fn, items, batch: int) -> tuple[float, float]:
    """(texts/s wall, texts/s per CPU-second of this thread) of fn over items in batches."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for i in range(0, len(items), batch):
        fn(items[i:i + batch])
    return len(items) / (time.perf_counter() - wall), len(items) / max(time.thread_time() - cpu, 1e-9)


def interleaved(models: dict, items, batch: int, rounds: int) -> dict:
    """Round by round, every model over the same items: the median of each one's rounds (wall, and CPU beside).
    ``models`` maps a name to a function of a list of texts, or to (function, items) for a model timed on its own
    (shorter) list, such as a teacher."""
    walls = {n: [] for n in models}
    cpus = {n: [] for n in models}
    plan = {n: (m if isinstance(m, tuple) else (m, items)) for n, m in models.items()}
    for fn, own in plan.values():
        fn(own[:min(len(own), 64)])  # warm up
    for _ in range(rounds):
        for name, (fn, own) in plan.items():
            w, c = timed(fn, own, batch)
            walls[name].append(w)
            cpus[name].append(c)
    return {n: {"texts_per_s": statistics.median(walls[n]), "texts_per_cpu_s": statistics.median(cpus[n]),
                "texts": len(plan[n][1])} for n in models}
