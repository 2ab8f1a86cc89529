"""The training loop on its own (best-checkpoint selection, Ctrl-C inside a batch, eval_every, the fine-tune stage,
divergence), and the seams: a toy student family and a toy strategy registered here train and save through the
CLI without touching any other file."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from textdistill.featurizers.ngrams import NgramConfig  # noqa: E402
from textdistill.students.dan import DANConfig  # noqa: E402
from textdistill.training.config import TrainConfig  # noqa: E402
from textdistill.training.families.dan import DANFamily  # noqa: E402
from textdistill.training.loop import Stage, Trainer, TrainingDiverged, TrainingSet  # noqa: E402
from textdistill.training.objectives import GoldObjective, Objective  # noqa: E402

POS = ["a great film", "wonderful and moving", "i loved it", "great acting , great story", "a joy to watch"]
NEG = ["a dull film", "boring and slow", "i hated it", "bad acting , bad story", "a waste of time"]
TEXTS = (POS + NEG) * 4
GOLD = np.array(([1] * 5 + [0] * 5) * 4)


def family():
    f = DANFamily(DANConfig(embedding_dim=8, hidden_dim=8, dropout=0.0, embedding_lr=0.05,
                            ngrams=NgramConfig(max_features=500)))
    f.fit(TEXTS, progress=False)
    return f


def trainer(**kw):
    f = family()
    config = TrainConfig(**{"epochs": 3, "finetune_epochs": 0, "lr": 0.01, "batch_size": 8, "loss": "ce", **kw})
    return f, Trainer(f, config, 2, progress=False, log=lambda *a: None)


def dev_set(f, flip=False):
    gold = (1 - GOLD[:10]) if flip else GOLD[:10]
    return TrainingSet(f.encode(TEXTS[:10]), gold)


class Scripted(Objective):
    """Gold CE, with hooks that record what the loop did (and can raise inside a batch)."""

    def __init__(self, interrupt_at=None, nan_at=None):
        self.gold = torch.from_numpy(GOLD)
        self.steps, self.epochs, self.starts = 0, [], []
        self.interrupt_at, self.nan_at = interrupt_at, nan_at

    def loss(self, logits, idx, representation=None):
        self.steps += 1
        if self.steps == self.interrupt_at:
            raise KeyboardInterrupt
        value = torch.nn.functional.cross_entropy(logits, self.gold[idx])
        return value * float("nan") if self.steps == self.nan_at else value

    def start_epoch(self, context):
        self.starts.append((context.stage, context.epoch, len(context.rows)))

    def end_epoch(self, context):
        self.epochs.append((context.stage, context.epoch, context.evaluate()))


def test_best_checkpoint_is_the_one_kept():
    f, t = trainer(epochs=4)
    dev = dev_set(f)
    module = t.fit(f.encode(TEXTS), [Stage("train", Scripted(), np.arange(len(TEXTS)), 4)], dev)
    scores = [h["dev_accuracy"] for h in t.history]
    assert len(scores) == 4 and t.best_score == max(scores)
    assert t.best_where == t.history[int(np.argmax(scores))]["where"]
    assert t.evaluate(module, dev) == max(scores)  # the returned module holds the best state


def test_a_worse_later_epoch_does_not_replace_the_best():
    # dev labels flipped: the more the student learns, the worse on dev; the first epoch's state must win
    f, t = trainer(epochs=5)
    dev = dev_set(f, flip=True)
    module = t.fit(f.encode(TEXTS), [Stage("train", GoldObjective(GOLD), np.arange(len(TEXTS)), 5)], dev)
    scores = [h["dev_accuracy"] for h in t.history]
    assert scores[-1] < max(scores)
    assert t.evaluate(module, dev) == max(scores)


def test_ctrl_c_finishes_the_step_and_keeps_the_best_checkpoint_so_far():
    import signal

    f, t = trainer(epochs=3)
    dev = dev_set(f)

    class CtrlC(Scripted):  # the first Ctrl-C arrives inside the 12th batch (5 per epoch: the third epoch)
        def loss(self, logits, idx, representation=None):
            if self.steps + 1 == 12:
                signal.raise_signal(signal.SIGINT)  # delivered to this thread
            return super().loss(logits, idx, representation)

    objective = CtrlC()
    module = t.fit(f.encode(TEXTS), [Stage("train", objective, np.arange(len(TEXTS)), 3)], dev)
    assert t.interrupted and objective.steps == 12 and t.stopped_at == "train epoch 3 step 12"
    assert [h["where"] for h in t.history] == ["train epoch 1", "train epoch 2"]
    assert t.evaluate(module, dev) == t.best_score
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_a_keyboard_interrupt_raised_in_a_batch_aborts():
    f, t = trainer(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        t.fit(f.encode(TEXTS), [Stage("train", Scripted(interrupt_at=12), np.arange(len(TEXTS)), 3)], dev_set(f))


def test_eval_every_evaluates_between_epochs():
    f, t = trainer(epochs=2, eval_every=2)
    t.fit(f.encode(TEXTS), [Stage("train", Scripted(), np.arange(len(TEXTS)), 2)], dev_set(f))
    where = [h["where"] for h in t.history]
    assert where == ["train step 2", "train step 4", "train epoch 1", "train step 6", "train step 8",
                     "train step 10", "train epoch 2"]


def test_finetune_stage_runs_on_its_rows_at_the_scaled_rate_and_hooks_are_called():
    f, t = trainer()
    first, second = Scripted(), Scripted()
    seen = []
    original = f.optimizers

    def spy(module, lr, scale=1.0):
        seen.append(scale)
        return original(module, lr, scale)

    f.optimizers = spy
    t.fit(f.encode(TEXTS), [Stage("distill", first, np.arange(len(TEXTS)), 2),
                            Stage("fine-tune", second, np.arange(10), 1, 0.1)], dev_set(f))
    assert seen[-2:] == [1.0, 0.1]  # (a first call before the clock starts only warms up the imports)
    assert first.starts == [("distill", 1, 40), ("distill", 2, 40)] and second.starts == [("fine-tune", 1, 10)]
    assert second.steps == 2  # 10 rows, batch 8
    assert [e[:2] for e in first.epochs + second.epochs] == [("distill", 1), ("distill", 2), ("fine-tune", 1)]
    assert t.history[-1]["where"] == "fine-tune epoch 1"


def test_a_non_finite_loss_raises_training_diverged():
    f, t = trainer()
    with pytest.raises(TrainingDiverged, match="lower --lr"):
        t.fit(f.encode(TEXTS), [Stage("train", Scripted(nan_at=3), np.arange(len(TEXTS)), 2)], dev_set(f))


def test_step_context_forward_repeats_the_dropout_masks():
    f = DANFamily(DANConfig(embedding_dim=8, hidden_dim=8, dropout=0.5, ngrams=NgramConfig(max_features=500)))
    f.fit(TEXTS, progress=False)
    seen = []

    class Check(Objective):
        def loss(self, logits, idx, representation=None):
            self.before = logits.detach().clone()
            return logits.sum() * 0.0  # no update: the re-run must reproduce the logits exactly

        def after_step(self, context):
            seen.append(torch.equal(context.forward()[0], self.before))

    config = TrainConfig(epochs=1, finetune_epochs=0, batch_size=8, loss="ce")
    Trainer(f, config, 2, progress=False, log=lambda *a: None).fit(
        f.encode(TEXTS), [Stage("s", Check(), np.arange(len(TEXTS)), 1)], None)
    assert seen and all(seen)


# ---------------------------------------------------------------------------------------------------------------
# A toy family and a toy strategy, registered here only


def test_a_toy_family_and_a_toy_strategy_train_and_save_through_the_cli(tmp_path):
    from typer.testing import CliRunner

    from textdistill.cli.app import build_app
    from textdistill.config import option
    from textdistill.students import FAMILIES, Student, register
    from textdistill.training.strategies import STRATEGIES, Strategy, fixed_weights_objective
    from textdistill.training.strategies import register as register_strategy
    from test_cli import NEG as N, POS as P, write_tsv

    @dataclass
    class ToyConfig:
        toy_width: int = option(4, "toy: width.")

    class ToyModule(torch.nn.Module):  # bag of characters -> linear
        def __init__(self, width, classes):
            super().__init__()
            self.hidden, self.output = torch.nn.Linear(256, width), torch.nn.Linear(width, classes)

        def forward(self, x, return_representation=False):
            h = torch.relu(self.hidden(x))
            return (self.output(h), h) if return_representation else self.output(h)

    def chars(texts):
        out = np.zeros((len(texts), 256), np.float32)
        for i, t in enumerate(texts):
            np.add.at(out[i], [min(ord(c), 255) for c in t], 1.0)
        return out

    class ToyAdapter:
        def __init__(self, config=None): self.config = config or ToyConfig()
        def fit(self, texts, pairs=None, progress=True): pass
        def encode(self, texts, pairs=None): return torch.from_numpy(chars(texts))
        def batch(self, encoded, idx): return (encoded[torch.from_numpy(idx)],)
        def build(self, classes): return ToyModule(self.config.toy_width, classes)
        def optimizers(self, module, lr, scale=1.0): return [torch.optim.Adam(module.parameters(), lr=lr * scale)]
        def export(self, module, labels, metadata):
            return ToyStudent(labels, {k: v.detach().numpy() for k, v in module.state_dict().items()}, metadata)

    @register
    class ToyStudent(Student):
        student_type, config_class, training_adapter, default_loss = "toy", ToyConfig, ToyAdapter, "kl"

        def __init__(self, labels, weights, metadata=None):
            super().__init__(labels, metadata)
            self.weights = weights
        def featurize(self, texts, pairs=None): return chars(texts)
        def logits_from_features(self, x):
            w = self.weights
            return np.maximum(x @ w["hidden.weight"].T + w["hidden.bias"], 0) @ w["output.weight"].T + w["output.bias"]
        def config(self): return {}
        def _save_weights(self, path):
            from textdistill.persistence import save_tensors
            save_tensors(path / "model.safetensors", self.weights)
        @classmethod
        def _load(cls, path, config, labels):
            from textdistill.persistence import load_tensors
            return cls(labels, load_tensors(path / "model.safetensors"), config.get("metadata"))

    @dataclass
    class FirstConfig:
        first_weight: float = option(0.9, "first: weight of the first teacher.")

    built = []  # (first_weight, teachers) of every objective the toy strategy builds

    @register_strategy
    class First(Strategy):
        name, config_class = "first-mostly", FirstConfig

        def objective(self, inputs):
            k, n = inputs.num_teachers, inputs.logits.shape[1]
            built.append((self.config.first_weight, k))
            w = np.full((n, k), (1 - self.config.first_weight) / max(k - 1, 1), np.float32)
            w[:, 0] = self.config.first_weight if k > 1 else 1.0
            return fixed_weights_objective(inputs, w, self.name)

    try:
        d = tmp_path
        train = write_tsv(d / "train.tsv", [(t, "pos") for t in P] + [(t, "neg") for t in N])
        gold = d / "gold"
        runner = CliRunner()
        app = build_app()  # rebuilt after registering: --toy-width and --first-weight exist now
        r = runner.invoke(app, ["distill", "--train", str(train), "--out", str(gold), "--student", "toy",
                                "--toy-width", "6", "--epochs", "30", "--lr", "0.05", "--batch-size", "4"])
        assert r.exit_code == 0, r.output
        loaded = Student.from_pretrained(gold)
        assert type(loaded).__name__ == "ToyStudent" and loaded.weights["hidden.weight"].shape == (6, 256)
        student = d / "student"
        r = runner.invoke(app, ["distill", "--train", str(train), "--dev", str(train), "--out", str(student),
                                "--student", "toy", "--teacher", str(gold), "--teacher-strategy", "first-mostly",
                                "--first-weight", "0.7", "--epochs", "30", "--lr", "0.05", "--batch-size", "4",
                                "--finetune-epochs", "0"])
        assert r.exit_code == 0, r.output
        record = json.loads((student / "teachers.json").read_text())
        assert record["strategy"] == "first-mostly" and record["strategy_config"] == {"first_weight": 0.7}
        # the toy strategy built the distillation objective, with the CLI's --first-weight, for the one teacher
        assert built == [(0.7, 1)]
        # the toy teacher learnt the gold labels, and the toy student trained (on its soft labels alone: no gold
        # fine-tuning) answers as the teacher does: both are right on every training text
        gold_labels = ["pos"] * len(P) + ["neg"] * len(N)
        assert loaded.predict(P + N) == gold_labels
        taught = Student.from_pretrained(student)
        assert type(taught).__name__ == "ToyStudent" and taught.weights["hidden.weight"].shape == (4, 256)
        assert taught.predict(P + N) == gold_labels
    finally:
        FAMILIES.unregister("toy")
        STRATEGIES.unregister("first-mostly")
