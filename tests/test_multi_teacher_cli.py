"""Several teachers from the command line: --teacher repeated, --teacher-strategy and its flags, a saved student as
a teacher, ``teacher report``; teacher directories without tokenizer files and teachers without class names
(issue 10, items 3 and 4)."""

import json
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import build_tiny_teacher  # noqa: E402
from test_cli import NEG, POS, TINY_STUDENT, assert_user_error, ok, run_main, write_tsv  # noqa: E402

from textdistill.teachers.base import load_teacher  # noqa: E402
from textdistill.teachers.student import StudentTeacher  # noqa: E402


@pytest.fixture(autouse=True)
def _private_default_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTDISTILL_CACHE", str(tmp_path / "default-cache"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("multi")
    train = write_tsv(d / "train.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    dev = write_tsv(d / "dev.tsv", [("a great movie", "pos"), ("really good", "pos"), ("a boring movie", "neg"),
                                    ("really bad", "neg"),
                                    ("good fun", "pos"), ("dull and boring", "neg"), ("great story", "pos"),
                                    ("bad plot", "neg"), ("i loved it", "pos"), ("awful", "neg")])
    t1 = build_tiny_teacher(d / "t1", num_labels=2, seed=1, label_names=["neg", "pos"])
    t2 = build_tiny_teacher(d / "t2", num_labels=2, seed=2, label_names=["neg", "pos"])
    # a saved student (trained on gold labels) as a third, cheap teacher of another kind
    gold = d / "gold-student"
    ok(["distill", "--train", train, "--dev", dev, "--out", gold, "--epochs", "6", "--finetune-epochs", "0",
        *TINY_STUDENT])
    return {"dir": d, "train": train, "dev": dev, "t1": t1, "t2": t2, "gold": gold, "cache": d / "cache"}


def distill(setup, out, *args):
    return ok(["distill", "--train", setup["train"], "--dev", setup["dev"], "--out", out, "--cache", setup["cache"],
               "--epochs", "3", "--finetune-epochs", "1", *TINY_STUDENT, *args])


def test_student_teacher_satisfies_the_protocol(setup):
    t = load_teacher(str(setup["gold"]))
    assert isinstance(t, StudentTeacher)
    assert t.label_names == ["neg", "pos"] and t.num_labels == 2 and t.name == "gold-student"
    logits = t.logits(POS[:3])
    assert logits.shape == (3, 2) and logits.dtype == np.float32 and (logits.argmax(1) == 1).all()
    assert load_teacher(str(setup["gold"])).fingerprint == t.fingerprint  # by content, stable


@pytest.mark.parametrize("strategy", ["rl", "ca-mkd", "mean-probs"])
def test_distill_with_three_teachers_saves_teachers_json_and_report_shows_it(setup, tmp_path, strategy):
    out = tmp_path / "student"
    r = distill(setup, out, "--teacher", setup["t1"], "--teacher", setup["t2"], "--teacher", setup["gold"],
                "--teacher-strategy", strategy)
    assert "best teacher" in r.stderr and "teachers on dev" in r.stderr
    record = json.loads((out / "teachers.json").read_text())
    assert record["strategy"] == strategy and [t["name"] for t in record["teachers"]] == ["t1", "t2", "gold-student"]
    assert record["teachers"][2]["kind"] == "StudentTeacher"
    assert (out / "policy.safetensors").exists() == (strategy == "rl")
    meta = json.loads((out / "config.json").read_text())["metadata"]
    assert meta["teacher_strategy"] == strategy and len(meta["teachers"]) == 3
    # each teacher has its own cache folder
    assert len([p for p in setup["cache"].iterdir() if p.is_dir()]) >= 3
    report = ok(["teacher", "report", out])
    measure = "selection rate" if strategy == "rl" else "mean weight"
    assert f"strategy: {strategy}" in report.stdout and measure in report.stdout
    for name in ("t1", "t2", "gold-student"):
        assert name in report.stdout
    assert "by epoch" in report.stdout
    as_json = json.loads(ok(["teacher", "report", out, "--json"]).stdout)
    assert as_json["selection"]["overall"].keys() == {"t1", "t2", "gold-student"}


def test_one_teacher_behaves_as_before_and_single_is_its_strategy(setup, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    distill(setup, a, "--teacher", setup["t1"])
    distill(setup, b, "--teacher", setup["t1"], "--teacher-strategy", "single")
    from safetensors.numpy import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    meta = json.loads((a / "config.json").read_text())["metadata"]
    assert meta["teacher"]["fingerprint"] and meta["teacher_strategy"] == "single"


def test_report_plot_writes_a_png(setup, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "student"
    distill(setup, out, "--teacher", setup["t1"], "--teacher", setup["gold"], "--teacher-strategy", "rl-weights")
    png = tmp_path / "plot.png"
    r = ok(["teacher", "report", out, "--plot", png])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "plot written" in r.stderr


def test_report_plot_without_matplotlib_is_one_line(setup, tmp_path, monkeypatch):
    out = tmp_path / "student"
    distill(setup, out, "--teacher", setup["t1"], "--teacher", setup["gold"], "--teacher-strategy", "confidence")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    code, _, err = run_main(["teacher", "report", out, "--plot", tmp_path / "p.png"])
    assert code == 2 and err.count("\n") == 1 and "matplotlib" in err and "textdistill[plot]" in err


@pytest.mark.parametrize("args, fragment", [
    (["--teacher-strategy", "single", "--teacher", "T2"], "at most 1"),
    (["--teacher-strategy", "nope"], "unknown teacher strategy"),
    (["--teacher-strategy", "mean-logits", "--rl-init-prob", "0.5"], "applies to --teacher-strategy rl"),
    (["--teacher-strategy", "rl", "--rl-init-prob", "1.5"], "rl_init_prob"),
    (["--teacher-strategy", "weighted", "--teacher", "T2", "--teacher-weights", "1,2,3"], "3 values for 2"),
])
def test_strategy_flag_errors_are_one_line_before_any_work(setup, tmp_path, args, fragment):
    args = [setup["t2"] if a == "T2" else a for a in args]
    code, out, err = run_main(["distill", "--train", setup["train"], "--dev", setup["dev"], "--out", tmp_path / "s",
                               "--teacher", setup["t1"], *args])
    assert_user_error(code, out, err, fragment)
    assert not (tmp_path / "s").exists()


def test_strategy_flags_without_a_teacher_are_an_error(setup, tmp_path):
    code, out, err = run_main(["distill", "--train", setup["train"], "--out", tmp_path / "s", "--teacher-strategy",
                               "rl"])
    assert_user_error(code, out, err, "need --teacher")


def test_report_of_a_student_without_teachers_is_one_line(setup):
    code, out, err = run_main(["teacher", "report", setup["gold"]])
    assert_user_error(code, out, err, "no teachers.json")


# ---------------------------------------------------------------------------------------------------------------
# Issue 10 item 3: a teacher directory without its tokenizer files


@pytest.fixture()
def no_tokenizer(setup, tmp_path):
    bad = tmp_path / "no-tokenizer"
    shutil.copytree(setup["t1"], bad)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (bad / name).unlink(missing_ok=True)
    return bad


@pytest.mark.parametrize("command", ["label", "distill", "evaluate", "augment", "finetune"])
def test_teacher_without_tokenizer_files_is_a_one_line_error_in_every_command(setup, no_tokenizer, tmp_path, command):
    t, train = no_tokenizer, setup["train"]
    args = {
        "label": ["label", "--teacher", t, "--input", train, "--cache", tmp_path / "c"],
        "distill": ["distill", "--teacher", t, "--train", train, "--out", tmp_path / "s", *TINY_STUDENT],
        "evaluate": ["evaluate", setup["gold"], "--data", setup["dev"], "--teacher", t],
        "augment": ["augment", "--input", train, "--out", tmp_path / "a.jsonl", "--teacher", t],
        "finetune": ["teacher", "finetune", "--base", t, "--train", train, "--out", tmp_path / "f"],
    }[command]
    code, out, err = run_main(args)
    assert_user_error(code, out, err, "missing the tokenizer files", str(t))


# ---------------------------------------------------------------------------------------------------------------
# Issue 10 item 4: teachers whose classes have no names


@pytest.fixture(scope="module")
def unnamed(setup):
    return build_tiny_teacher(setup["dir"] / "unnamed", num_labels=2, seed=1, label_names=["LABEL_0", "LABEL_1"])


def test_unnamed_teacher_with_string_labels_needs_teacher_labels(setup, unnamed, tmp_path):
    code, out, err = run_main(["distill", "--train", setup["train"], "--out", tmp_path / "s", "--teacher", unnamed,
                               *TINY_STUDENT])
    assert_user_error(code, out, err, "no names", "--teacher-labels")
    r = distill(setup, tmp_path / "ok", "--teacher", unnamed, "--teacher-labels", "neg,pos")
    assert "student saved" in r.stderr
    r = distill(setup, tmp_path / "ok2", "--teacher", unnamed, "--teacher-labels", '{"0": "neg", "1": "pos"}')
    record = json.loads((tmp_path / "ok2" / "teachers.json").read_text())
    assert record["teachers"][0]["columns_matched"] == "as given"


def test_a_mapping_worse_than_chance_on_dev_is_refused(setup, tmp_path):
    # the gold-label student is right on (nearly) every dev text: swapping its columns makes it worse than chance
    code, out, err = run_main(["distill", "--train", setup["train"], "--dev", setup["dev"], "--out", tmp_path / "s",
                               "--teacher", setup["gold"], "--teacher-labels", "pos,neg", "--cache", setup["cache"],
                               *TINY_STUDENT])
    assert_user_error(code, out, err, "worse than chance", "--teacher-labels")
    assert not (tmp_path / "s").exists()


def test_teacher_labels_once_for_all_or_once_per_teacher(setup, unnamed, tmp_path):
    # once for all: applies to the teacher whose classes have no names; t1's names match the data
    distill(setup, tmp_path / "a", "--teacher", setup["t1"], "--teacher", unnamed, "--teacher-labels", "pos,neg",
            "--teacher-strategy", "mean-probs")
    matched = [t["columns_matched"] for t in json.loads((tmp_path / "a" / "teachers.json").read_text())["teachers"]]
    assert matched == ["by name", "as given"]
    # once per teacher, "-" for the one that needs none
    distill(setup, tmp_path / "b", "--teacher", setup["t1"], "--teacher", unnamed, "--teacher-labels", "-",
            "--teacher-labels", "neg,pos", "--teacher-strategy", "mean-probs")
    code, out, err = run_main(["distill", "--train", setup["train"], "--out", tmp_path / "c", "--teacher",
                               setup["t1"], "--teacher", unnamed, "--teacher-labels", "neg,pos", "--teacher-labels",
                               "neg,pos", "--teacher-labels", "neg,pos", *TINY_STUDENT])
    assert_user_error(code, out, err, "given 3 times for 2 teachers")
