"""The GPU paths (issue 21): they run where torch sees a CUDA device and skip elsewhere; the CPU path is what the
rest of the suite tests."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")

from test_cli import NEG, POS, write_tsv  # noqa: E402

from textdistill.errors import ConfigError  # noqa: E402
from textdistill.plan import Plan, check_device, resolve_device  # noqa: E402


def test_device_names_are_checked_before_any_work(tmp_path):
    assert check_device(None) == "auto" and check_device("CPU") == "cpu"
    with pytest.raises(ConfigError, match="--device must be auto, cpu, cuda or cuda:N, not 'gpu'"):
        check_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--device cuda: no CUDA device here"):
            Plan.build(tmp_path / "t.tsv", device="cuda")
        assert resolve_device("auto") == "cpu"


@cuda
def test_auto_picks_the_gpu_and_the_plan_records_it(tmp_path):
    assert resolve_device("auto") == "cuda" and check_device("cuda:0") == "cuda:0"
    with pytest.raises(ConfigError, match="CUDA device"):
        check_device(f"cuda:{torch.cuda.device_count()}")


@cuda
def test_a_gpu_teacher_labels_as_the_cpu_one_within_half_precision(tiny_teacher_dir):
    from textdistill.teachers.huggingface import Teacher

    texts = [" ".join(["a great film"] * (i % 9 + 1)) for i in range(300)]
    cpu = Teacher.from_pretrained(tiny_teacher_dir, device="cpu").logits(texts)
    gpu = Teacher.from_pretrained(tiny_teacher_dir, device="cuda")
    assert gpu.pipelined  # token-sized batches, tokenized in the background
    np.testing.assert_allclose(gpu.logits(texts), cpu, atol=2e-2)
    assert (gpu.logits(texts).argmax(1) == cpu.argmax(1)).mean() > 0.99


@cuda
def test_a_dan_trained_on_the_gpu_matches_the_cpu_and_predicts_on_the_cpu(tmp_path):
    from textdistill import Student
    from textdistill.pipeline import distill

    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(p.split(), 3)) for p in POS + NEG for _ in range(20)]
    labels = ["pos"] * 200 + ["neg"] * 200
    train = write_tsv(tmp_path / "train.tsv", list(zip(texts, labels)))
    dev = write_tsv(tmp_path / "dev.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    common = dict(dev=dev, epochs=5, embedding_dim=16, hidden_dim=16, progress=False, log=lambda *a: None)
    on_gpu, report_gpu = distill(train, device="cuda", out=tmp_path / "gpu", **common)
    _, report_cpu = distill(train, device="cpu", **common)
    assert abs(report_gpu.dev["accuracy"] - report_cpu.dev["accuracy"]) <= 0.1
    loaded = Student.from_pretrained(tmp_path / "gpu")  # the same format: the weights came back to the CPU
    assert loaded.metadata["device"] == "cuda" and loaded.predict(POS[:3]) == on_gpu.predict(POS[:3])
