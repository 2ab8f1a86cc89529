"""Mean of embedding-table rows per text, for tables stored as float32, float16 or int8 (one scale per row).

The compiled kernel (``featurizers/kernels.py``) is used when numba is installed; the numpy path (gather the rows,
convert, sum per text with ``np.add.reduceat``) gives the same numbers to float32 rounding and needs nothing but
numpy. Neither changes any process-wide setting (no thread counts, no BLAS limits).
"""

from __future__ import annotations

import numpy as np

from ..featurizers.ngrams import kernels

_LUT: np.ndarray | None = None


def half_lut() -> np.ndarray:
    """float32 value of every float16 bit pattern: how the kernel reads a float16 table."""
    global _LUT
    if _LUT is None:
        _LUT = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    return _LUT


def kernel_table(table: np.ndarray) -> np.ndarray:
    """The table as the kernel reads it: float16 as its uint16 bits (numba has no float16 arithmetic on CPU)."""
    return table.view(np.uint16) if table.dtype == np.float16 else table


def mean_pool_numpy(table: np.ndarray, rows: np.ndarray, offsets: np.ndarray,
                    scales: np.ndarray | None = None) -> np.ndarray:
    n = len(offsets)
    out = np.zeros((n, table.shape[1]), dtype=np.float32)
    if n == 0 or len(rows) == 0:
        return out
    gathered = np.asarray(table[rows], dtype=np.float32)
    if scales is not None:
        gathered *= scales[rows, None]
    ends = np.append(offsets[1:], len(rows))
    counts = ends - offsets
    nonempty = np.flatnonzero(counts > 0)
    sums = np.add.reduceat(gathered, offsets[nonempty], axis=0)
    out[nonempty] = sums / counts[nonempty, None].astype(np.float32)
    return out


def mean_pool(table: np.ndarray, rows: np.ndarray, offsets: np.ndarray, scales: np.ndarray | None = None,
              compiled: bool | None = None) -> np.ndarray:
    """Mean of ``table[rows]`` per text (``offsets`` = each text's first position); zeros for a text with none.

    ``scales`` (one per row) dequantises an int8 table. ``compiled`` None = the kernel when available.
    """
    k = kernels() if compiled is not False else None
    if k is None:
        return mean_pool_numpy(table, rows, offsets, scales)
    dummy = np.ones(1, dtype=np.float32)
    return k.pool_rows(np.ascontiguousarray(rows, dtype=np.int64), np.ascontiguousarray(offsets, dtype=np.int64),
                       kernel_table(table), dummy if scales is None else scales, half_lut())
