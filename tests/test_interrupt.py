"""Ctrl-C during ``distill``: the first finishes the step and keeps the best dev-selected checkpoint (only in an
empty or new output directory, marked interrupted, exit 130) and the training state, so a rerun resumes exactly; a
second Ctrl-C aborts at once. The CLI tests send SIGINT to a real ``textdistill distill`` process."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from textdistill.featurizers.ngrams import NgramConfig  # noqa: E402
from textdistill.students.dan import DANConfig  # noqa: E402
from textdistill.training.config import TrainConfig  # noqa: E402
from textdistill.training.families.dan import DANFamily  # noqa: E402
from textdistill.training.loop import Stage, Trainer, TrainingSet  # noqa: E402
from textdistill.training.objectives import GoldObjective  # noqa: E402
from textdistill.training.resume import load_state, resume_dir, save_state  # noqa: E402

POS = ["a great film", "wonderful and moving", "i loved it", "great acting , great story", "a joy to watch"]
NEG = ["a dull film", "boring and slow", "i hated it", "bad acting , bad story", "a waste of time"]
TEXTS = (POS + NEG) * 4
GOLD = np.array(([1] * 5 + [0] * 5) * 4)


class CtrlCAt(GoldObjective):
    """Gold CE that sends this process SIGINT inside batch ``at`` (``times`` signals: 2 = abort)."""

    def __init__(self, gold, at=None, times=1, calls=None):
        super().__init__(gold)
        self.at, self.times, self.calls = at, times, calls if calls is not None else [0]  # calls: shared by stages

    def loss(self, logits, idx, representation=None):
        self.calls[0] += 1
        if self.calls[0] == self.at:
            for _ in range(self.times):
                signal.raise_signal(signal.SIGINT)  # delivered to this thread
        return super().loss(logits, idx, representation)


def family():
    # dropout on: a resumed run must also draw the same dropout masks
    f = DANFamily(DANConfig(embedding_dim=8, hidden_dim=8, dropout=0.3, embedding_lr=0.05,
                            ngrams=NgramConfig(max_features=500, min_count=1)))
    f.fit(TEXTS, progress=False)
    return f


def run(f, at=None, resume=None, times=1, epochs=(3, 2), save_to=None):
    config = TrainConfig(epochs=epochs[0], finetune_epochs=epochs[1], lr=0.01, batch_size=8, loss="ce")
    t = Trainer(f, config, 2, progress=False, log=lambda *a: None)
    calls = [0]
    stages = [Stage("distill", CtrlCAt(GOLD, at, times, calls), np.arange(len(TEXTS)), epochs[0]),
              Stage("fine-tune", CtrlCAt(GOLD, at, times, calls), np.arange(20), epochs[1], 0.1)]
    states = []

    def on_stop(state):  # the state holds views of the live tensors: written before fit() returns
        states.append(state)
        if save_to is not None:
            save_state(save_to, state)

    dev = TrainingSet(f.encode(TEXTS[:10]), GOLD[:10])
    module = t.fit(f.encode(TEXTS), stages, dev, resume=resume, on_stop=on_stop)
    return t, module, states


@pytest.mark.parametrize("at", [3, 5, 13, 16, 18])  # mid-epoch, an epoch's last batch, in the fine-tune stage
def test_a_resumed_run_gives_the_same_model_as_an_uninterrupted_one(tmp_path, at):
    f = family()
    whole, full, _ = run(f)
    stopped, _, states = run(f, at=at, save_to=tmp_path / "state")  # through the disk: safetensors + JSON
    assert stopped.interrupted and len(states) == 1
    resumed, again, more = run(f, resume=load_state(tmp_path / "state"))
    assert not resumed.interrupted and not more and resumed.resumed_from == stopped.stopped_at
    for k, v in full.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    assert resumed.history == whole.history and resumed.best_where == whole.best_where


def test_a_second_ctrl_c_aborts_at_once_without_a_state():
    f = family()
    with pytest.raises(KeyboardInterrupt):
        run(f, at=4, times=2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---------------------------------------------------------------------------------------------------------------
# The command line, as a user runs it: SIGINT to a real process


def write_data(tmp_path: Path):
    rng = np.random.default_rng(0)
    rows = ["text\tlabel"]
    for i in range(40):
        rows.append(f"{POS[rng.integers(5)]} {i}\tpos")
        rows.append(f"{NEG[rng.integers(5)]} {i}\tneg")
    train = tmp_path / "train.tsv"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    dev = tmp_path / "dev.tsv"
    dev.write_text("text\tlabel\n" + "".join(f"{t}\tpos\n" for t in POS) + "".join(f"{t}\tneg\n" for t in NEG),
                   encoding="utf-8")
    return train, dev


SMALL = ["--embedding-dim", "8", "--hidden-dim", "8", "--batch-size", "8", "--min-count", "1"]
PROGRESS = re.compile(rb"(distill|train \(gold\)):\s+\d+%\|.*?\| *[1-9]\d*/\d+")  # a bar past its first step


def distill_and_interrupt(args, signals=1, env_extra=None):
    """Start ``textdistill distill``, wait until training shows progress, send SIGINT (``signals`` times, each after
    the previous one has been acknowledged), and return (exit code, stderr without progress bars)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **(env_extra or {}))
    proc = subprocess.Popen([sys.executable, "-m", "textdistill.cli", "distill", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.set_blocking(proc.stderr.fileno(), False)
    buf, sent, deadline = b"", 0, time.time() + 120
    try:
        while proc.poll() is None and time.time() < deadline:
            buf += proc.stderr.read() or b""
            if sent == 0 and PROGRESS.search(buf) or sent and sent < signals and b"Ctrl-C: stopping" in buf:
                proc.send_signal(signal.SIGINT)
                sent += 1
            time.sleep(0.02)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    os.set_blocking(proc.stderr.fileno(), True)
    buf += proc.stderr.read() or b""
    assert sent == signals, f"training never showed progress:\n{buf.decode(errors='replace')[-2000:]}"
    lines = buf.decode("utf-8", "replace").replace("\r", "\n").splitlines()
    return code, [line for line in lines if line.strip() and "batch/s" not in line and "text/s" not in line]


def metadata(out: Path) -> dict:
    return json.loads((out / "config.json").read_text(encoding="utf-8"))["metadata"]


def test_ctrl_c_saves_the_best_checkpoint_marked_interrupted_and_a_rerun_resumes(tmp_path):
    train, dev = write_data(tmp_path)
    out = tmp_path / "student"
    args = ["--train", train, "--dev", dev, "--out", out, "--epochs", "100000", *SMALL]
    code, lines = distill_and_interrupt(args)
    assert code == 130, lines
    last = lines[-1]
    assert last.startswith("interrupted: stopped at train (gold) epoch"), lines
    assert "saved the best checkpoint so far" in last and "rerun the same command to resume" in last
    meta = metadata(out)
    assert meta["interrupted"] is True and meta["best"].startswith("train (gold) epoch")
    assert meta["stopped_at"] in last and resume_dir(out).is_dir()
    from textdistill.students import Student

    assert Student.from_pretrained(out).predict(["a great film"])  # the checkpoint is a working model

    # the same command again (no --overwrite needed): it resumes, goes on, and its later checkpoint replaces its own
    code, lines = distill_and_interrupt(args)
    assert code == 130 and f"resuming the interrupted run from {meta['stopped_at']}" in "\n".join(lines)
    later = metadata(out)["stopped_at"]
    step = lambda where: int(where.rsplit(" ", 1)[1])  # noqa: E731
    assert step(later) > step(meta["stopped_at"]), (meta["stopped_at"], later)

    # the same command told to stop sooner: it resumes and finishes; the training state is removed
    rerun = ["--train", train, "--dev", dev, "--out", out, "--epochs", "3", *SMALL]
    proc = subprocess.run([sys.executable, "-m", "textdistill.cli", "distill", *map(str, rerun)],
                          capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=180)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert f"resuming the interrupted run from {later}" in stderr
    done = metadata(out)
    assert "interrupted" not in done and done["resumed_from"] == later
    assert not resume_dir(out).exists()


def test_ctrl_c_never_replaces_a_model_that_was_there(tmp_path):
    from textdistill.data.readers import read_dataset
    from textdistill.pipeline import distill

    train, dev = write_data(tmp_path)
    out = tmp_path / "student"
    distill(read_dataset(train), dev=read_dataset(dev), out=out, train_config=TrainConfig(epochs=1),
            student_config=DANConfig(embedding_dim=8, hidden_dim=8), progress=False, log=lambda *a: None)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, lines = distill_and_interrupt(["--train", train, "--dev", dev, "--out", out, "--epochs", "100000",
                                         "--overwrite", *SMALL])
    assert code == 130 and f"{out} was left as it was" in lines[-1], lines
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_ctrl_c_while_distilling_from_a_teacher_without_dev_saves_no_model(tmp_path, tiny_teacher_dir):
    rng = np.random.default_rng(0)
    rows = ["text\tlabel"] + [f"{TEXTS[i % len(TEXTS)]} {i}\tclass_{rng.integers(3)}" for i in range(60)]
    train = tmp_path / "train.tsv"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "student"
    args = ["--train", train, "--teacher", tiny_teacher_dir, "--cache", tmp_path / "cache", "--out", out,
            "--epochs", "100000", *SMALL]
    code, lines = distill_and_interrupt(args)
    assert code == 130 and lines[-1].startswith("interrupted: stopped at distill epoch"), lines
    assert "no model saved (without --dev" in lines[-1] and "rerun the same command to resume" in lines[-1]
    assert not out.exists() and resume_dir(out).is_dir()
    code, lines = distill_and_interrupt(args)  # the teacher's outputs come from the cache; training resumes
    assert code == 130 and any(line.startswith("resuming the interrupted run from distill epoch") for line in lines)


def test_a_second_ctrl_c_aborts_and_saves_nothing(tmp_path):
    train, dev = write_data(tmp_path)
    out = tmp_path / "student"
    # 200k hash buckets: saving the training state takes long enough for the second Ctrl-C to land in the saving
    code, lines = distill_and_interrupt(["--train", train, "--dev", dev, "--out", out, "--epochs", "100000",
                                         *SMALL, "--buckets", "200000", "--embedding-dim", "32"], signals=2)
    assert code == 130 and lines[-1].startswith("Ctrl-C again: aborting; "), lines
    assert not out.exists()  # the model is never saved; the training state only if the saving of it was done
    assert resume_dir(out).exists() == (lines[-1] != "Ctrl-C again: aborting; nothing saved")
    assert not list(tmp_path.glob(".*tmp*"))  # no half-written directory left behind
