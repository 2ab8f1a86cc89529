"""Defaults that learn on a few hundred rows as on millions (item 9): the epochs and the DAN's embedding learning rate
scale with the data below ~20k texts and are exactly the large-data settings from there up; a student no better than
the majority class is warned about. The small-data curve on real data is ``benchmarks/small_data.py``."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from test_cli import run_main  # noqa: E402
from textdistill.students.dan import DANConfig  # noqa: E402
from textdistill.training.config import TrainConfig, auto_epochs, data_scale  # noqa: E402
from textdistill.training.families.dan import DANFamily  # noqa: E402


def test_epochs_scale_with_the_data_and_large_data_keeps_three():
    assert [auto_epochs(n, 64) for n in (300, 1000, 3000, 10_000)] == [100, 63, 22, 7]
    # the large-data benchmarks (IMDB 24k gold / 49k transfer, SST-2 67k gold / 340k transfer) keep 3 epochs
    assert [auto_epochs(n, 64) for n in (21_400, 24_000, 49_000, 67_349, 340_000, 5_000_000)] == [3] * 6
    assert auto_epochs(300, 8) == 27  # steps, not texts: a smaller batch needs fewer epochs for as many steps
    assert TrainConfig(epochs=5).with_epochs(300).epochs == 5  # a given --epochs is kept
    assert TrainConfig().with_epochs(67_349).epochs == 3


def test_the_dan_embedding_lr_scales_below_large_data_only():
    assert data_scale(20_000) == data_scale(340_000) == 1.0 and data_scale(300) == 30.0
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(500)]
    big = [" ".join(rng.choice(words, 3)) for _ in range(20_000)]
    for texts, expected in ((big, 1e-3), (big[:2000], 0.01), (big[:300], 0.03)):
        family = DANFamily(DANConfig(embedding_dim=4, hidden_dim=4))
        family.fit(texts, progress=False)
        assert family.config.embedding_lr == pytest.approx(expected)
    given = DANFamily(DANConfig(embedding_dim=4, hidden_dim=4, embedding_lr=0.005))
    given.fit(big[:300], progress=False)
    assert given.config.embedding_lr == 0.005 and not given.auto


def synthetic(path, n, seed):
    """Two classes, each text 12 random common words and one word of its class: learnable, but only by a model
    that updates each rare class word enough in few steps."""
    rng = np.random.default_rng(seed)
    common, cues = [f"w{i}" for i in range(300)], {"pos": [f"p{i}" for i in range(40)],
                                                    "neg": [f"n{i}" for i in range(40)]}
    rows = ["text\tlabel"]
    for i in range(n):
        label = ("neg", "pos")[i % 2]
        words = list(rng.choice(common, 12)) + [rng.choice(cues[label])]
        rng.shuffle(words)
        rows.append(" ".join(words) + "\t" + label)
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("small_data")
    return {"train": synthetic(d / "train.tsv", 300, 1), "dev": synthetic(d / "dev.tsv", 200, 2)}


def test_defaults_learn_on_300_rows(small, tmp_path):
    out = tmp_path / "student"  # learning settings at their defaults (a narrower network only to be quick)
    code, _, err = run_main(["distill", "--train", small["train"], "--dev", small["dev"], "--out", out,
                             "--embedding-dim", "64", "--hidden-dim", "64"])
    assert code == 0, err
    assert "100 epochs for 300 transfer texts" in err and "--embedding-lr 0.03" in err
    assert "warning" not in err
    meta = json.loads((out / "config.json").read_text())["metadata"]
    assert meta["dev"]["accuracy"] > 0.65  # majority: 0.5
    assert meta["train_config"]["epochs"] == 100 and meta["student_config"]["embedding_lr"] == 0.03


def test_a_student_no_better_than_the_majority_class_is_warned_about(small, tmp_path):
    # the large-data settings on 300 rows: the student answers (almost) one class
    old = ["--epochs", "3", "--embedding-lr", "0.001"]
    code, _, err = run_main(["distill", "--train", small["train"], "--dev", small["dev"], "--out", tmp_path / "a", *old])
    assert code == 0
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "not clearly better than always answering" in warning[0]
    assert "dev accuracy" in warning[0] and "on 200 texts" in warning[0]
    meta = json.loads((tmp_path / "a" / "config.json").read_text())["metadata"]
    assert meta["warnings"] == [warning[0][len("warning: "):]]
    # without a dev set the check runs on the training texts
    code, _, err = run_main(["distill", "--train", small["train"], "--out", tmp_path / "b", *old])
    assert code == 0 and "warning: the student is not clearly better" in err and "training accuracy" in err
