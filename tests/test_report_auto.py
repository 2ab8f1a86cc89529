"""``textdistill report`` (every student and result in a folder: table, plot, Pareto front) and ``textdistill auto``
(train candidates through the cache, measure them here, keep the one within the budget), from the CLI and the
Python API, on tiny data."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from serving_helpers import tiny_dan  # noqa: E402

from textdistill.evaluation.report import Entry, collect, mark_pareto, write_report  # noqa: E402
from textdistill.students import Student  # noqa: E402

WORDS = {"class_0": "good great fun joy", "class_1": "bad dull awful boring", "class_2": "plot actor scene story"}


def tiny_data(n, seed):
    rng = np.random.default_rng(seed)
    names = sorted(WORDS)
    rows = []
    for i in range(n):
        label = names[i % 3]
        words = list(rng.choice(WORDS[label].split(), 3)) + list(rng.choice("the a film movie".split(), 2))
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_tsv(path, rows):
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    return path


def run_cli(capsys, monkeypatch, *args):
    from textdistill.cli.app import main

    monkeypatch.setattr(sys, "argv", ["textdistill", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_pareto_front_is_what_no_other_point_beats_on_both():
    rng = np.random.default_rng(0)
    entries = [Entry(f"m{i}", "student", "t", accuracy=float(a), texts_per_s=float(r))
               for i, (a, r) in enumerate(zip(rng.uniform(0.5, 0.9, 40), rng.lognormal(8, 2, 40)))]
    entries.append(Entry("no speed", "student", "t", accuracy=0.99))
    mark_pareto(entries)
    for e in entries:
        dominated = any(o.accuracy >= e.accuracy and (o.texts_per_s or 0) >= (e.texts_per_s or 0) and o is not e
                        and (o.accuracy > e.accuracy or o.texts_per_s > e.texts_per_s)
                        for o in entries if o.texts_per_s)
        assert e.pareto == (bool(e.texts_per_s) and not dominated), e
    assert sum(e.pareto for e in entries) >= 2


def test_report_reads_students_bench_records_and_benchmark_results(tmp_path, capsys, monkeypatch):
    from textdistill.evaluation.speed import bench_models

    root = tmp_path / "runs"
    small, big = root / "small", root / "nested" / "big"
    tiny_dan(dim=4, hidden=4).save_pretrained(small)
    tiny_dan(dim=16, hidden=16, seed=3).save_pretrained(big)
    labels = ["negative", "neutral", "positive"]
    dev_rows = [(t, labels[i % 3]) for i, (t, _) in enumerate(tiny_data(60, 1))]
    dev = write_tsv(tmp_path / "dev.tsv", dev_rows)
    from textdistill.data.readers import read_dataset

    ds = read_dataset(dev, require_label=True)
    record = bench_models(small, ds, limit=60, repeats=1)  # a `bench` measurement saved next to the models
    (root / "small-bench.json").write_text(json.dumps(record))
    peers = {"test_file": str(dev), "hardware": record["hardware"],
             "peers": {"fastText": {"accuracy": 0.5, "batch_32": {"end_to_end": {"texts_per_s": 1e6}}}}}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "peers.json").write_text(json.dumps(peers))

    out = tmp_path / "report"
    code, err = run_cli(capsys, monkeypatch, "report", root, tmp_path / "results", "--out", out, "--data", dev,
                        "--limit", 60)
    assert code == 0, err
    assert "measuring" in err and "Pareto front" in err
    entries = json.loads((out / "report.json").read_text())["entries"]
    by_name = {e["name"]: e for e in entries}
    assert {"small", "big", "fastText"} <= set(by_name)
    assert {e["task"] for e in entries} == {f"{tmp_path.name}/dev.tsv"}  # one evaluation set: one table, one plot
    # "big" has no measurement on this file: measured here, its accuracy that of its own predictions on the 60 texts
    from sklearn.metrics import f1_score

    assert f"measuring {big} on {dev}" in err and f"measuring {small}" not in err
    big_pred = Student.from_pretrained(big).predict(ds.texts)
    assert by_name["big"]["accuracy"] == pytest.approx(np.mean([p == g for p, g in zip(big_pred, ds.labels)]),
                                                       abs=1e-9)
    assert by_name["big"]["macro_f1"] == pytest.approx(
        f1_score(ds.labels, big_pred, labels=labels, average="macro", zero_division=0), abs=1e-9)
    assert by_name["big"]["texts_per_s"] > 0 and by_name["big"]["texts_per_s_b1"] > 0  # timed: no fixed value
    # "small" is read from its bench record, not measured again: its numbers are the record's exactly
    assert by_name["small"]["accuracy"] == record["student"]["metrics"]["accuracy"]
    assert by_name["small"]["texts_per_s"] == record["student"]["batch_32"]["end_to_end"]["texts_per_s"]
    assert by_name["small"]["texts_per_s_b1"] == record["student"]["batch_1"]["end_to_end"]["texts_per_s"]
    # and the peer is read from the results file
    assert by_name["fastText"]["accuracy"] == 0.5 and by_name["fastText"]["texts_per_s"] == 1e6
    assert by_name["fastText"]["kind"] == "peer" and by_name["fastText"]["pareto"]  # fastest point: on the front
    md = (out / "report.md").read_text()
    assert "| model |" in md and "fastText" in md and "![accuracy against speed](report.png)" in md
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table>" in (out / "report.html").read_text()
    # a second run replaces a report only when asked, and never another directory
    code, err = run_cli(capsys, monkeypatch, "report", root, "--out", out)
    assert code == 2 and "pass --overwrite" in err
    assert run_cli(capsys, monkeypatch, "report", root, "--out", out, "--overwrite")[0] == 0
    code, err = run_cli(capsys, monkeypatch, "report", root, "--out", root, "--overwrite")
    assert code == 2 and "not a textdistill report" in err
    # without --data: the students are listed from their metadata, not timed
    listed = collect([root])
    big_entry = next(e for e in listed if e.name == "big")
    assert big_entry.texts_per_s is None and big_entry.accuracy == 0.7 and "not measured" in big_entry.notes[0]


def test_report_writes_one_plot_per_evaluation_set(tmp_path):
    entries = [Entry("a", "student", "x/dev.tsv", family="dan", accuracy=0.8, texts_per_s=1e4),
               Entry("b", "student", "x/dev.tsv", family="cnn", accuracy=0.85, texts_per_s=2e3),
               Entry("t", "teacher", "x/dev.tsv", family="teacher", accuracy=0.9, texts_per_s=50.0),
               Entry("c", "student", "y/test.tsv", family="bilstm", accuracy=0.7, texts_per_s=900.0)]
    out = write_report(entries, tmp_path / "r")
    assert sorted(p.name for p in out.glob("*.png")) == ["report-1.png", "report-2.png"]
    md = (out / "report.md").read_text()
    assert md.index("## x/dev.tsv") < md.index("## y/test.tsv")
    assert "94.4%" in md  # b: 0.85 / 0.9 of the teacher


@pytest.fixture
def auto_data(tmp_path):
    return write_tsv(tmp_path / "train.tsv", tiny_data(90, 0)), write_tsv(tmp_path / "dev.tsv", tiny_data(45, 1))


TINY_TRAIN = dict(epochs=2, finetune_epochs=1, batch_size=8, lr=0.01)


def test_auto_python_api_keeps_the_most_accurate_within_the_budget_and_resumes(auto_data, tiny_teacher_dir,
                                                                              tmp_path):
    pytest.importorskip("torch")
    from textdistill import AutoConfig, TrainConfig, auto
    from textdistill.errors import ConfigError

    train, dev = auto_data
    candidates = ("dan:embedding_dim=4:hidden_dim=4:embedding_lr=0.05,"
                  "dan:embedding_dim=16:hidden_dim=8:embedding_lr=0.05")
    logs = []
    result = auto(train, dev, tmp_path / "best", teacher=str(tiny_teacher_dir),
                  config=AutoConfig(latency_budget="1000ms", candidates=candidates, measure_texts=45,
                                    measure_teacher=True),
                  train_config=TrainConfig(**TINY_TRAIN), cache_root=tmp_path / "cache", log=logs.append,
                  progress=False)
    rows = result.candidates
    assert len(rows) == 2 and all(r["latency_ms"] > 0 for r in rows)
    best = max(rows, key=lambda r: (r["accuracy"], -r["latency_ms"]))
    assert result.chosen == best["name"]
    saved = json.loads((tmp_path / "best" / "auto.json").read_text())
    assert saved["chosen"] == best["name"] and saved["latency_budget_ms"] == 1000.0
    texts = [line.split("\t")[0] for line in dev.read_text().splitlines()[1:]]
    kept = Student.from_pretrained(tmp_path / "best")
    assert kept.predict(texts) == Student.from_pretrained(best["dir"]).predict(texts)
    report = json.loads((tmp_path / "best" / "report" / "report.json").read_text())["entries"]
    assert sum(e["chosen"] for e in report) == 1 and any(e["kind"] == "teacher" and e["texts_per_s_b1"]
                                                         for e in report)
    assert (tmp_path / "best" / "report" / "report.png").is_file()
    assert any("s left" in line for line in logs)

    # a new budget: nothing is trained again
    model_files = {p: p.stat().st_mtime_ns for p in (tmp_path / "best.candidates").rglob("model.safetensors")}
    logs.clear()
    again = auto(train, dev, tmp_path / "fast", teacher=str(tiny_teacher_dir),
                 config=AutoConfig(min_accuracy=0.01, candidates=candidates, measure_texts=45,
                                   measure_teacher=False),
                 train_config=TrainConfig(**TINY_TRAIN), cache_root=tmp_path / "cache",
                 work_dir=tmp_path / "best.candidates", log=logs.append, progress=False)
    assert sum("trained before" in line for line in logs) == 2
    assert {p: p.stat().st_mtime_ns for p in model_files} == model_files
    assert again.chosen == min(again.candidates, key=lambda r: r["latency_ms"])["name"]  # accuracy floor: fastest

    with pytest.raises(ConfigError, match="no candidate meets"):
        auto(train, dev, tmp_path / "never", teacher=str(tiny_teacher_dir),
             config=AutoConfig(latency_budget="1us", candidates=candidates, measure_texts=45, measure_teacher=False),
             train_config=TrainConfig(**TINY_TRAIN), cache_root=tmp_path / "cache",
             work_dir=tmp_path / "best.candidates", log=logs.append, progress=False)
    assert not (tmp_path / "never").exists() and (tmp_path / "best.candidates" / "report" / "report.md").is_file()


def test_auto_from_the_cli_with_a_cnn_candidate(auto_data, tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    train, dev = auto_data
    out = tmp_path / "best"
    code, err = run_cli(capsys, monkeypatch, "auto", "--train", train, "--dev", dev, "--out", out,
                        "--candidates", "small=dan:embedding_dim=8:hidden_dim=8:embedding_lr=0.05,cnn:embedding_dim=8:"
                        "filters=4:widths=2|3", "--vectors", "none", "--latency-budget", "500ms",
                        "--measure-texts", "45", "--epochs", "2", "--finetune-epochs", "0", "--batch-size", "8")
    assert code == 0, err
    assert "kept " in err and (out / "auto.json").is_file() and (out / "report" / "report.md").is_file()
    tried = json.loads((out / "auto.json").read_text())["candidates"]
    assert [c["family"] for c in tried] == ["dan", "cnn"] and tried[0]["name"] == "small"
    assert tried[1]["options"]["widths"] == "2|3" and Student.from_pretrained(tried[1]["dir"]).widths == (2, 3)
    code, err = run_cli(capsys, monkeypatch, "auto", "--train", train, "--dev", dev, "--out", tmp_path / "x")
    assert code == 2 and err.strip().splitlines() == [
        "error: give --latency-budget (e.g. 0.2ms) or --min-accuracy (e.g. 0.85), or both"]
    code, err = run_cli(capsys, monkeypatch, "auto", "--train", train, "--dev", dev, "--out", tmp_path / "x",
                        "--latency-budget", "fast")
    assert code == 2 and "latency 'fast'" in err
    code, err = run_cli(capsys, monkeypatch, "auto", "--train", train, "--dev", dev, "--out", tmp_path / "x",
                        "--latency-budget", "1ms", "--candidates", "svm")
    assert code == 2 and "candidate 'svm'" in err
    code, err = run_cli(capsys, monkeypatch, "auto", "--train", train, "--dev", dev, "--out", out,
                        "--latency-budget", "1ms")
    assert code == 2 and "pass --overwrite" in err
