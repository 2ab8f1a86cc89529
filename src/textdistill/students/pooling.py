"""Mean of embedding-table rows per text: the DAN's hot loop once a text is featurised.

Two interchangeable kernels give the same numbers (to float32 rounding). torch's EmbeddingBag kernel is used when
torch is installed: on long texts over a wide table it pools about four times faster than the scipy product
(a sparse texts x rows matrix of 1/count weights times the table), which is what a prediction-only install
(numpy + scipy, no torch) runs. ``TEXTDISTILL_POOLING=scipy`` (or ``torch``) forces one.
"""

from __future__ import annotations

import importlib.util
import os
from contextlib import contextmanager

import numpy as np

from ..errors import ConfigError

BACKENDS = ("auto", "torch", "scipy")
ENV_VAR = "TEXTDISTILL_POOLING"


def resolve_backend(backend: str | None = None) -> str:
    """``auto`` -> ``torch`` when it is installed, else ``scipy``; the environment variable overrides ``auto``."""
    backend = backend or "auto"
    if backend == "auto":
        backend = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if backend not in BACKENDS:
        raise ConfigError(f"unknown pooling backend {backend!r} (choose from {', '.join(BACKENDS)}; "
                          f"from {ENV_VAR} or the student's `pooling`)")
    if backend == "auto":
        return "torch" if importlib.util.find_spec("torch") is not None else "scipy"
    if backend == "torch" and importlib.util.find_spec("torch") is None:
        raise ConfigError("pooling backend 'torch' asked for, but torch is not installed (use 'scipy')")
    return backend


def mean_pool_scipy(table: np.ndarray, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sparse (texts x rows) matrix of 1/count weights times the table: never materialises the gathered rows."""
    from scipy.sparse import csr_matrix

    indptr = np.append(offsets, len(rows))
    counts = np.diff(indptr)
    weights = np.repeat((1.0 / np.maximum(counts, 1)).astype(np.float32), counts)
    pool = csr_matrix((weights, rows, indptr), shape=(len(offsets), table.shape[0]))
    return np.asarray(pool @ table, dtype=np.float32)


@contextmanager
def _torch_threads(threads: int | None):
    import torch

    if threads is None or torch.get_num_threads() == threads:
        yield torch
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield torch
    finally:
        torch.set_num_threads(previous)


def mean_pool_torch(table: np.ndarray, rows: np.ndarray, offsets: np.ndarray, threads: int | None = 1) -> np.ndarray:
    """torch's EmbeddingBag(mode="mean") over the numpy table, shared without a copy."""
    with _torch_threads(threads) as torch:
        out = torch.nn.functional.embedding_bag(
            torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64)), torch.from_numpy(table),
            torch.from_numpy(np.ascontiguousarray(offsets, dtype=np.int64)), mode="mean")
    return out.numpy()


def mean_pool(table: np.ndarray, rows: np.ndarray, offsets: np.ndarray, backend: str = "scipy",
              threads: int | None = 1) -> np.ndarray:
    """Mean of ``table[rows]`` per text (``offsets`` = each text's first position); zeros for a text with none.

    ``backend`` is a resolved name (see ``resolve_backend``); ``threads`` bounds torch's threads for the call.
    """
    if len(offsets) == 0:
        return np.zeros((0, table.shape[1]), dtype=np.float32)
    if backend == "torch":
        return mean_pool_torch(table, rows, offsets, threads)
    return mean_pool_scipy(table, rows, offsets)
