"""The two pooling kernels agree, and the backend is chosen as documented."""

import importlib.util

import numpy as np
import pytest

from textdistill.errors import ConfigError
from textdistill.students.pooling import ENV_VAR, mean_pool, resolve_backend

pytest.importorskip("torch")


def reference_mean(table, rows, offsets):
    bounds = list(offsets) + [len(rows)]
    out = np.zeros((len(offsets), table.shape[1]), dtype=np.float64)
    for i in range(len(offsets)):
        chosen = rows[bounds[i]:bounds[i + 1]]
        if len(chosen):
            out[i] = table[chosen].astype(np.float64).mean(axis=0)
    return out


@pytest.mark.parametrize("backend", ["torch", "scipy"])
def test_mean_pool_matches_a_plain_mean_with_empty_and_repeated_rows(backend):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 7)).astype(np.float32)
    rows = np.array([3, 3, 9, 0, 49, 12, 12, 12], dtype=np.int64)
    offsets = np.array([0, 3, 3, 5], dtype=np.int64)  # text 1 is empty, text 3 repeats a row
    got = mean_pool(table, rows, offsets, backend=backend)
    assert got.dtype == np.float32 and got.shape == (4, 7)
    np.testing.assert_allclose(got, reference_mean(table, rows, offsets), atol=1e-6)
    assert not got[1].any()


@pytest.mark.parametrize("backend", ["torch", "scipy"])
def test_mean_pool_with_no_known_rows_at_all(backend):
    table = np.ones((5, 3), dtype=np.float32)
    got = mean_pool(table, np.zeros(0, dtype=np.int64), np.zeros(3, dtype=np.int64), backend=backend)
    assert got.shape == (3, 3) and not got.any()
    assert mean_pool(table, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), backend=backend).shape == (0, 3)


def test_torch_pooling_leaves_torch_threads_as_they_were():
    import torch

    before = torch.get_num_threads()
    table = np.ones((5, 3), dtype=np.float32)
    mean_pool(table, np.array([1, 2]), np.array([0]), backend="torch", threads=1)
    assert torch.get_num_threads() == before


def test_backend_resolution(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_backend("auto") == "torch"  # torch is installed in the test environment
    assert resolve_backend("scipy") == "scipy"
    monkeypatch.setenv(ENV_VAR, "scipy")
    assert resolve_backend("auto") == "scipy"
    assert resolve_backend("torch") == "torch"  # an explicit choice beats the environment
    monkeypatch.setenv(ENV_VAR, "fast")
    with pytest.raises(ConfigError, match="unknown pooling backend 'fast'"):
        resolve_backend("auto")


def test_without_torch_auto_falls_back_to_scipy(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert resolve_backend("auto") == "scipy"
    with pytest.raises(ConfigError, match="torch is not installed"):
        resolve_backend("torch")
