"""The prediction kernels compiled ahead of time (featurizers/aot.py): built once per machine, loaded without numba,
the same answers as the JIT kernels and numpy, and safe against arguments of another dtype."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from serving_helpers import tiny_dan, tricky_texts  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A build in a private cache directory (about ten seconds)."""
    cache = tmp_path_factory.mktemp("kernels")
    env = {**os.environ, "TEXTDISTILL_KERNEL_CACHE": str(cache), "PYTHONPATH": os.path.join(ROOT, "src")}
    proc = subprocess.run([sys.executable, "-m", "textdistill.cli", "kernels", "build"], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"no ahead-of-time build on this machine: {proc.stderr.strip()}")
    assert "compiled the prediction kernels" in proc.stderr
    return env


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_ahead_of_time_kernels_answer_as_the_jit_ones_and_numpy_without_importing_numba(built, tmp_path, dtype):
    student = tiny_dan(dtype=dtype, folded=dtype != "float32")
    student.save_pretrained(tmp_path / "m")
    texts = tricky_texts() + [f"good film {i}" for i in range(300)]
    code = f"""
import sys, json
sys.modules["numba"] = None  # the compiled module must load without it
from textdistill.students import Student
s = Student.from_pretrained({str(tmp_path / "m")!r})
assert s.compiled, "the ahead-of-time kernels were not used"
logits, known = s.predict_with_known({texts!r})
print(json.dumps([logits.tolist(), known.tolist()]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=built)
    assert proc.returncode == 0, proc.stderr
    logits, known = json.loads(proc.stdout)
    from textdistill.students import Student

    jit = Student.from_pretrained(tmp_path / "m")
    slow = Student.from_pretrained(tmp_path / "m", backend="numpy")
    np.testing.assert_allclose(logits, slow.predict_logits(texts), atol=1e-5)
    np.testing.assert_allclose(logits, jit.predict_logits(texts), atol=1e-6)
    assert known == slow.known_ngrams(texts).tolist()


def test_arguments_of_another_dtype_are_converted_not_crashed_on(built):
    code = """
import numpy as np
from textdistill.featurizers import aot
k = aot.load()
assert k is not None
out = k.folded_head(np.ones((2, 3)), np.zeros(3), np.ones((2, 3)), np.zeros(2))  # float64 in: converted
assert out.dtype == np.float32 and out.tolist() == [[3.0, 3.0], [3.0, 3.0]], out
try:
    k.pool_rows(np.array([0]), np.array([0]), np.ones((2, 2)), np.ones(2, np.float32), np.ones(1, np.float32))
except ValueError as exc:
    print("refused:", exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=built)
    assert proc.returncode == 0, proc.stderr
    assert "refused: no compiled pool_rows for a 2-d float64 table" in proc.stdout
