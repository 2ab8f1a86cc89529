"""One plan, one path: the command line and the Python API build a run through the same ``Plan.build``, so they
accept and reject the same things with the same one-line messages (issue 18, part 1)."""

from __future__ import annotations

import pytest

from test_cli import NEG, POS, assert_user_error, run_main, write_tsv

from textdistill.errors import ConfigError
from textdistill.pipeline import distill
from textdistill.plan import Plan

T = "teacher-dir"  # never loaded: every case fails before any teacher is read
# (options as the Python API's keyword arguments, a fragment of the message); the command line gets the same options
# as flags (``epochs=0`` -> ``--epochs 0``, ``augment=True`` -> ``--augment``, a list -> the flag repeated).
CASES = [
    ({"loss": "kl"}, "--loss kl needs --teacher"),
    ({"temperature": 2.0}, "--temperature needs --teacher"),
    ({"alpha": 0.5}, "--alpha needs --teacher"),
    ({"finetune_epochs": 3}, "--finetune-epochs needs --teacher"),
    ({"finetune_lr_scale": 0.5}, "--finetune-lr-scale needs --teacher"),
    ({"teacher": T, "loss": "mse", "temperature": 2.0}, "--temperature applies to --loss kl, not mse"),
    ({"teacher": T, "loss": "ce", "temperature": 2.0}, "--temperature does nothing with --loss ce"),
    ({"teacher": T, "loss": "ce", "alpha": 0.5}, "--alpha does nothing with --loss ce"),
    ({"teacher": T, "finetune_epochs": 0, "finetune_lr_scale": 0.5}, "does nothing with --finetune-epochs 0"),
    ({"select_metric": "macro_f1"}, "--select-metric needs --dev"),
    ({"eval_every": 10}, "--eval-every needs --dev"),
    ({"teacher": T, "p_mask": 0.2}, "--p-mask needs --augment"),
    ({"augment": True}, "--augment needs --teacher"),
    ({"lstm_dim": 4}, "--lstm-dim does not apply to the dan student"),
    ({"student": "cnn", "vocab_size": 10}, "--vocab-size does not apply to the cnn student"),
    ({"student": "transformer"}, "unknown student 'transformer'"),
    ({"teacher_strategy": "mean-probs"}, "--teacher-strategy and its flags need --teacher"),
    ({"teacher": T, "teacher_strategy": "best"}, "--teacher-strategy best needs --dev"),
    ({"teacher": T, "teacher_strategy": "nope"}, "unknown teacher strategy 'nope'"),
    ({"teacher": [T, T + "2"], "teacher_strategy": "single"}, "takes at most 1 teacher"),
    ({"teacher": T, "weight_temperature": 0.1}, "--weight-temperature applies to --teacher-strategy weighted"),
    ({"max_size": "1KB"}, "not even one n-gram row fits"),
    ({"workers": 2}, "--workers needs --ray"),
    ({"student": "bilstm", "vectors": "no-such-vectors.txt"}, "--vectors: no such file"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"dropout": 1.5}, "dropout must be in [0, 1)"),
    ({"device": "tpu"}, "--device must be auto, cpu, cuda or cuda:N"),
    ({"multi_label": True, "pos_weight": "heavy"}, "pos_weight must be balanced or a number"),
]


def flags(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        elif isinstance(value, list):
            for v in value:
                out += [flag, str(v)]
        else:
            out += [flag, str(value)]
    return out


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    return write_tsv(d / "train.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])


@pytest.mark.parametrize("options, fragment", CASES, ids=[c[1][:40] for c in CASES])
def test_the_cli_and_the_api_refuse_alike(train, tmp_path, options, fragment):
    out = tmp_path / "student"
    code, stdout, stderr = run_main(["distill", "--train", train, "--out", out, *flags(options)])
    line = assert_user_error(code, stdout, stderr, fragment)
    with pytest.raises(ConfigError) as api:
        distill(train, out=out, **options)
    assert line == f"error: {api.value}"  # the same words, from the same check
    assert not out.exists()


def test_the_api_has_the_cli_defaults_the_teacher_cache_included(train, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTDISTILL_CACHE", str(tmp_path / "cache"))
    plan = Plan.build(train, teacher=T)
    assert plan.teachers.cache == tmp_path / "cache"  # the API used to have no default cache (README example crash)
    assert plan.teachers.batch_size == 32 and plan.overwrite is False and plan.device == "auto"
    assert plan.strategy.name == "single" and Plan.build(train, teacher=[T, "t2"]).strategy.name == "mean-logits"
    assert Plan.build(train, epochs=7).train_config.epochs == 7


def test_config_objects_count_what_they_change_as_given(train):
    from textdistill import TrainConfig

    with pytest.raises(ConfigError, match="--temperature needs --teacher"):
        Plan.build(train, train_config=TrainConfig(temperature=2.0))
    assert Plan.build(train, train_config=TrainConfig(seed=3)).train_config.seed == 3


def test_an_unknown_option_is_named(train):
    with pytest.raises(ConfigError, match="unknown option --epoch$"):
        Plan.build(train, epoch=3)


def test_notes_for_options_a_gold_only_run_ignores(train, tmp_path):
    plan = Plan.build(train, cache=tmp_path / "c", max_length=16)
    assert plan.notes == ("note: --cache, --max-length are only used with --teacher; ignored",)
    code, _, stderr = run_main(["distill", "--train", train, "--out", tmp_path / "s", "--cache", tmp_path / "c",
                                "--max-length", "16", "--epochs", "1", "--embedding-dim", "8", "--hidden-dim", "8"])
    assert code == 0 and stderr.splitlines()[0] == plan.notes[0]


def _help_entries(text: str) -> dict[str, str]:
    """--flag -> its whole help entry (wrapped lines joined) from a --help page."""
    import re

    entries, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^  (--[a-z0-9-]+)", line)
        if m:
            current = m.group(1)
            entries[current] = line
        elif current and line.startswith("      "):
            joint = "" if entries[current].endswith("-") else " "  # a word the wrapping broke at its hyphen
            entries[current] += joint + line.strip()
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in entries.items()}


def test_distill_help_shows_the_default_that_applies_for_every_option():
    from test_cli import invoke

    from textdistill.cli.flags import _shown, owner_names
    from textdistill.plan import distill_flags

    page = invoke(["distill", "--help"], env={"COLUMNS": "80"}).stdout
    entries = _help_entries(page)
    names = owner_names()
    checked = 0
    for spec in distill_flags().values():
        entry = entries[spec.flag.split("/")[0]]
        values = [(names.get(cls, ""), spec.default_of(cls)) for cls, _ in spec.owners]
        for who, value in values:
            if value is None:
                continue
            shown = _shown(value)
            assert f"Default: {shown}" in entry or f"{who} {shown}" in entry, (spec.flag, who, value, entry)
            checked += 1
    assert checked > 50
    hidden = entries["--hidden-dim"]  # shared by the families: each one's own default (the DAN's is 128, not 512)
    assert "dan 128" in hidden and "bilstm 200" in hidden and "512" not in hidden
    lines = page.splitlines()
    assert max(len(line) for line in lines) <= 80 and len(lines) < 300
    assert "Student: dan:" in page and "Teachers:" in page and "Training:" in page  # grouped by family and topic


def test_a_teacher_alone_labels_the_transfer_set_without_training_data(tmp_path):
    """Zero-shot and prompted teachers: no labelled data; the teacher's classes are the labels."""
    from conftest import build_tiny_teacher

    teacher = build_tiny_teacher(tmp_path / "t", num_labels=2, label_names=["neg", "pos"])
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(POS + NEG) + "\n")
    code, _, stderr = run_main(["distill", "--teacher", teacher, "--unlabeled", texts, "--out", tmp_path / "s",
                                "--cache", tmp_path / "c", "--epochs", "2", "--embedding-dim", "8", "--hidden-dim",
                                "8"])
    assert code == 0, stderr
    assert "no training data: the teacher's classes (neg, pos) are the labels" in stderr
    from textdistill import Student

    assert Student.from_pretrained(tmp_path / "s").classes_ == ["neg", "pos"]
    code, stdout, stderr = run_main(["distill", "--out", tmp_path / "x", "--unlabeled", texts])
    assert_user_error(code, stdout, stderr, "--train is required")
    code, stdout, stderr = run_main(["distill", "--out", tmp_path / "x", "--teacher", teacher])
    assert_user_error(code, stdout, stderr, "without --train, give --unlabeled texts")
