"""Training batches read from memory-mapped shards: a batch order with locality, the trainer unchanged.

The trainer asks the family for ``epoch_batches(encoded, rows, batch_size, rng)`` when it has one; the DAN family
has none, so ``StreamingFamily`` wraps it (everything else passes through). Rows up to ``window`` are shuffled
exactly as the trainer shuffles in memory (one permutation from the same generator: the same batches, the same
model). Past that, an epoch visits windows of ``window`` consecutive texts in random order and shuffles within
each, so the pages one stretch of training touches stay in the page cache however large the shards are.
"""

from __future__ import annotations

import numpy as np


def window_batches(rows: np.ndarray, batch_size: int, rng, window: int) -> list[np.ndarray]:
    """One epoch's batches over ``rows``: a full shuffle when they fit one window, else window by window."""
    rows = np.asarray(rows)
    if len(rows) <= window:
        order = rows[rng.permutation(len(rows))]
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    ordered = np.sort(rows)
    starts = np.arange(0, len(ordered), window)
    batches = []
    for w in rng.permutation(len(starts)):
        part = ordered[starts[w]:starts[w] + window]
        part = part[rng.permutation(len(part))]
        batches.extend(part[start:start + batch_size] for start in range(0, len(part), batch_size))
    return batches


class StreamingFamily:
    """A student family whose training batches come in windows over the shards (see the module docstring)."""

    def __init__(self, family, window: int):
        self.family = family
        self.window = int(window)

    def __getattr__(self, name):  # everything but the batch order is the family's own
        return getattr(self.family, name)

    def epoch_batches(self, encoded, rows: np.ndarray, batch_size: int, rng) -> list[np.ndarray]:
        return window_batches(rows, batch_size, rng, self.window)
