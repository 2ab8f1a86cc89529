"""What a user gets wrong, caught before any work, in one line: output paths that cannot be written (item 7), flags
that cannot take effect and data that would silently become something else (item 11), a run that diverges (item 2)
and file modes (item 6). Everything drives the command line (``main()``, with its error handling)."""

import json
import os
import stat
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("typer")

from test_cli import NEG, POS, TINY_STUDENT, assert_user_error, ok, run_main, write_tsv  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("user_errors")
    train = write_tsv(d / "train.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    dev = write_tsv(d / "dev.tsv", [(POS[0], "pos"), (NEG[0], "neg"), ("good fun", "pos"), ("so dull", "neg")])
    (d / "a_file").write_text("not a directory\n")
    return {"dir": d, "train": train, "dev": dev, "file": d / "a_file"}


@pytest.fixture(scope="module")
def student(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("user_errors_student") / "student"
    ok(["distill", "--train", data["train"], "--out", out, "--epochs", "2", *TINY_STUDENT])
    return out


def read_only_dir() -> Path | None:
    """A directory nobody, root included, can create files in (sysfs), or None where there is none."""
    path = Path("/sys")
    if not path.is_dir():
        return None
    try:
        (path / ".textdistill-probe").touch()
    except OSError:
        return path
    (path / ".textdistill-probe").unlink()
    return None


def distill_args(data, *extra):
    return ["distill", "--train", data["train"], *TINY_STUDENT, "--epochs", "1", *extra]


# ---------------------------------------------------------------------------------------------------------------
# Item 7: output paths that cannot be written fail before any work


def test_distill_out_under_a_regular_file(data):
    out = data["file"] / "student"
    line = assert_user_error(*run_main(distill_args(data, "--out", out)), "--out", "is a file, not a directory")
    assert "dan student" not in line  # failed before building a vocabulary


def test_distill_out_in_a_read_only_place(data):
    place = read_only_dir()
    if place is None:
        pytest.skip("no read-only directory on this machine")
    assert_user_error(*run_main(distill_args(data, "--out", place / "student")), "--out", "cannot write in")


def test_bench_output_naming_a_directory_or_under_a_file(student, data):
    for output, fragment in ((data["dir"], "is a directory; name a file"),
                             (data["file"] / "bench.json", "is a file, not a directory")):
        code, out, err = run_main(["bench", student, "--data", data["dev"], "--output", output, "--repeats", "1"])
        assert_user_error(code, out, err, "--output", fragment)  # nothing timed: no table on stdout


def test_augment_out_naming_a_directory_or_under_a_file(data):
    for out, fragment in ((data["dir"], "is a directory; name a file"),
                          (data["file"] / "aug.jsonl", "is a file, not a directory")):
        assert_user_error(*run_main(["augment", "--input", data["train"], "--out", out]), "--out", fragment)


def test_teacher_finetune_out_under_a_file(data, tiny_teacher_dir):
    assert_user_error(*run_main(["teacher", "finetune", "--base", tiny_teacher_dir, "--train", data["train"],
                                 "--out", data["file"] / "teacher"]), "--out", "is a file, not a directory")


def test_compress_out_under_a_file_and_label_cache_under_a_file(student, data, tiny_teacher_dir):
    assert_user_error(*run_main(["compress", student, "--out", data["file"] / "small"]), "is a file, not a directory")
    assert_user_error(*run_main(["label", "--teacher", tiny_teacher_dir, "--input", data["train"],
                                 "--cache", data["file"] / "cache"]), "--cache", "is a file, not a directory")


def test_report_plot_naming_a_directory(student, data):
    assert_user_error(*run_main(["teacher", "report", student, "--plot", data["dir"]]), "--plot",
                      "is a directory; name a file")


# ---------------------------------------------------------------------------------------------------------------
# Item 11: flags that cannot take effect, and data that would silently become something else


@pytest.mark.parametrize("flags, fragment", [
    (["--temperature", "2"], "--temperature needs --teacher"),
    (["--alpha", "0.5"], "--alpha needs --teacher"),
    (["--loss", "kl"], "--loss kl needs --teacher"),
    (["--finetune-epochs", "2"], "--finetune-epochs needs --teacher"),
    (["--select-metric", "mcc"], "--select-metric needs --dev"),
    (["--eval-every", "5"], "--eval-every needs --dev"),
    (["--p-mask", "0.3"], "--p-mask needs --augment"),
    (["--max-ngram", "99"], "n-grams longer than 8"),
    (["--seed", "-1"], "seed must be an integer >= 0"),
    (["--student", "bilstm", "--dtype", "int8"], "--dtype does not apply to the bilstm student"),
])
def test_a_flag_that_cannot_take_effect_is_an_error(data, tmp_path, flags, fragment):
    out = tmp_path / "student"
    assert_user_error(*run_main(distill_args(data, "--out", out, *flags)), fragment)
    assert not out.exists()


def test_kd_flags_that_the_chosen_loss_ignores(data, tmp_path, tiny_teacher_dir):
    base = ["distill", "--train", data["train"], "--out", tmp_path / "s", "--teacher", tiny_teacher_dir,
            "--teacher-labels", "neg,pos,-", *TINY_STUDENT]
    assert_user_error(*run_main([*base, "--loss", "mse", "--temperature", "2"]), "--temperature applies to --loss kl")
    assert_user_error(*run_main([*base, "--loss", "ce", "--alpha", "0.3"]), "--alpha does nothing with --loss ce")
    assert_user_error(*run_main([*base, "--finetune-epochs", "0", "--finetune-lr-scale", "0.5"]),
                      "--finetune-lr-scale does nothing with --finetune-epochs 0")


def test_teacher_plumbing_without_a_teacher_is_a_note(data, tmp_path):
    code, _, err = run_main(distill_args(data, "--out", tmp_path / "s", "--max-length", "64", "--cache",
                                         tmp_path / "c"))
    assert code == 0, err
    assert "note: --cache, --max-length are only used with --teacher; ignored" in err
    assert not (tmp_path / "c").exists()


def test_teacher_finetune_seed_and_eval_every_without_dev(data, tiny_teacher_dir, tmp_path):
    base = ["teacher", "finetune", "--base", tiny_teacher_dir, "--train", data["train"], "--out", tmp_path / "t"]
    assert_user_error(*run_main([*base, "--seed", "-1"]), "seed must be an integer >= 0")
    assert_user_error(*run_main([*base, "--eval-every", "10"]), "--eval-every needs --dev")
    assert not (tmp_path / "t").exists()


def test_augment_seed(data, tmp_path):
    assert_user_error(*run_main(["augment", "--input", data["train"], "--out", tmp_path / "a.jsonl", "--seed", "-1"]),
                      "seed must be an integer >= 0")


def test_the_same_column_as_text_and_label(data, tmp_path):
    assert_user_error(*run_main(distill_args(data, "--out", tmp_path / "s", "--text-column", "text",
                                             "--label-column", "text")),
                      "--text-column and --label-column name the same column ('text')")
    assert_user_error(*run_main(distill_args(data, "--out", tmp_path / "s", "--text-column", "0",
                                             "--label-column", "text")), "name the same column")


@pytest.mark.parametrize("missing", ["NaN", "nan", "null", "<NA>"])
def test_a_missing_label_never_becomes_a_class(data, tmp_path, missing):
    train = write_tsv(tmp_path / "train.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG[:-1]]
                      + [(NEG[-1], missing)])
    code, out, err = run_main(["distill", "--train", train, "--out", tmp_path / "s", *TINY_STUDENT])
    assert_user_error(code, out, err, f"label {missing!r}", "data row 20", "is a missing value, not a class")


def test_a_missing_label_in_json_or_a_dev_set(data, tmp_path):
    rows = [{"text": t, "label": "pos"} for t in POS] + [{"text": NEG[0], "label": None}]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert_user_error(*run_main(["distill", "--train", path, "--out", tmp_path / "s"]), "empty label", "row 11")
    dev = write_tsv(tmp_path / "dev.tsv", [(POS[0], "pos"), (NEG[0], "nan")])
    assert_user_error(*run_main(distill_args(data, "--out", tmp_path / "s", "--dev", dev)), "'nan'",
                      "missing value")


# ---------------------------------------------------------------------------------------------------------------
# Item 2 and item 6 through the command line


def test_a_diverging_run_names_the_setting_to_lower_and_saves_nothing(data, tmp_path):
    out = tmp_path / "student"
    args = ["distill", "--train", data["train"], "--dev", data["dev"], "--out", out, "--lr", "1e30",
            "--embedding-lr", "1e30", "--embedding-dim", "8", "--hidden-dim", "8", "--epochs", "3"]
    code, stdout, stderr = run_main(args)
    error = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2 and len(error) == 1 and "Traceback" not in stderr and stdout == ""
    assert "training diverged" in error[0] and "lower --lr (now 1e+30) or --embedding-lr (now 1e+30)" in error[0]
    assert "nothing was saved" in error[0] and not out.exists()
    assert not list(tmp_path.glob(".*"))  # no temporary directory left either


def test_saved_files_have_the_umask_mode(student):
    umask = os.umask(0)
    os.umask(umask)
    for path in student.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name  # weights like the JSON beside them
