"""Mean pooling of embedding rows: the compiled kernel and the numpy path agree for every table storage type."""

import numpy as np
import pytest

from textdistill.students.dan import quantize_int8
from textdistill.students.pooling import mean_pool, mean_pool_numpy
from textdistill.featurizers.ngrams import kernels


def _case(seed=0, rows=500, dim=16):
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(rows, dim)).astype(np.float32)
    lengths = np.array([3, 0, 1, 7, 0, 12, 2])
    ids = rng.integers(0, rows, lengths.sum())
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return table, ids, offsets, lengths


def _reference(table, ids, offsets, lengths):
    out = np.zeros((len(offsets), table.shape[1]), dtype=np.float64)
    for i, (o, n) in enumerate(zip(offsets, lengths)):
        if n:
            out[i] = table[ids[o:o + n]].astype(np.float64).mean(0)
    return out


@pytest.mark.parametrize("compiled", [False, True])
def test_mean_pool_float32_matches_a_plain_mean_and_zeros_for_empty_texts(compiled):
    if compiled and kernels() is None:
        pytest.skip("numba not installed")
    table, ids, offsets, lengths = _case()
    got = mean_pool(table, ids, offsets, compiled=compiled)
    assert np.allclose(got, _reference(table, ids, offsets, lengths), atol=1e-5)
    assert (got[lengths == 0] == 0).all()


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_kernel_and_numpy_agree_on_float16_and_int8_tables(dtype):
    if kernels() is None:
        pytest.skip("numba not installed")
    table, ids, offsets, lengths = _case(1)
    if dtype == "int8":
        q, scale = quantize_int8(table)
        ref = _reference(q.astype(np.float32) * scale[:, None], ids, offsets, lengths)
        args = (q, ids, offsets, scale)
    else:
        half = table.astype(np.float16)
        ref = _reference(half.astype(np.float32), ids, offsets, lengths)
        args = (half, ids, offsets)
    fast = mean_pool(*args, compiled=True)
    slow = mean_pool_numpy(*args)
    assert np.allclose(fast, slow, atol=1e-5) and np.allclose(fast, ref, atol=1e-5)


def test_int8_quantisation_error_is_bounded_per_row():
    table, *_ = _case(2, rows=200, dim=32)
    table[5] = 0.0  # a zero row keeps a usable scale
    q, scale = quantize_int8(table)
    back = q.astype(np.float32) * scale[:, None]
    assert np.all(np.abs(back - table) <= scale[:, None] / 2 + 1e-7)
    assert (back[5] == 0).all() and scale[5] == 1.0


def test_no_texts_and_no_rows():
    table, *_ = _case()
    assert mean_pool(table, np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0, 16)
    out = mean_pool(table, np.zeros(0, np.int64), np.zeros(3, np.int64))
    assert out.shape == (3, 16) and (out == 0).all()
