"""Teacher strategies on tiny random teachers (objects with the teacher protocol: no transformer needed)."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from textdistill.data.readers import TextDataset  # noqa: E402
from textdistill.featurizers.ngrams import NgramConfig  # noqa: E402
from textdistill.pipeline import distill  # noqa: E402
from textdistill.students import Student  # noqa: E402
from textdistill.students.dan import DANConfig  # noqa: E402
from textdistill.teachers.cache import text_key  # noqa: E402
from textdistill.training.config import TrainConfig  # noqa: E402
from textdistill.training.strategies import STRATEGIES, StrategyInput, make_strategy  # noqa: E402
from textdistill.training.strategies.camkd import camkd_weights  # noqa: E402

POS_WORDS = "great good fun loved best wonderful superb".split()
NEG_WORDS = "bad dull boring hated worst awful poor".split()
FILL = "the a film movie story plot it was and very really".split()
QUIET = dict(progress=False, log=lambda *a: None)


def corpus(n, seed):
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        y = int(rng.integers(2))
        words = list(rng.choice(FILL, 4)) + list(rng.choice(POS_WORDS if y else NEG_WORDS, 2))
        rng.shuffle(words)
        texts.append(" ".join(words) + f" s{seed}n{i}")
        labels.append(["neg", "pos"][y])
    return TextDataset(texts, None, labels, source=f"toy{seed}")


class FakeTeacher:
    """Right on a text with probability ``accuracy`` (fixed per text), confident either way; counts its calls."""

    def __init__(self, name, gold_of, accuracy, seed):
        self.name, self.gold_of, self.accuracy, self.seed = name, gold_of, accuracy, seed
        self.label_names, self.num_labels = ["neg", "pos"], 2
        self.fingerprint, self.source = f"fake-{name}-{accuracy}-{seed}", f"fake/{name}"
        self.calls = 0

    def logits(self, texts, pairs=None, progress=False):
        self.calls += len(texts)
        out = np.zeros((len(texts), 2), np.float32)
        for i, t in enumerate(texts):
            r = np.random.default_rng([self.seed, text_key(t) % (2 ** 32)])
            y = self.gold_of[t]
            out[i, y if r.random() < self.accuracy else 1 - y] = 3.0 * (0.5 + r.random())
        return out


@pytest.fixture(scope="module")
def toy():
    train, dev = corpus(400, 0), corpus(120, 1)
    gold_of = {t: int(l == "pos") for ds in (train, dev) for t, l in zip(ds.texts, ds.labels)}
    return {"train": train, "dev": dev, "gold_of": gold_of}


def pool(toy):
    g = toy["gold_of"]
    return [FakeTeacher("good", g, 0.95, 1), FakeTeacher("noisy", g, 0.6, 2), FakeTeacher("wrong", g, 0.0, 3)]


def student_config():
    return DANConfig(embedding_dim=16, hidden_dim=16, dropout=0.1, embedding_lr=0.05,
                     ngrams=NgramConfig(max_features=2000))


def run(toy, tmp_path, strategy, epochs=4, seed=0, teachers=None, out=None, **kwargs):
    return distill(toy["train"], dev=toy["dev"], teacher=teachers or pool(toy), teacher_strategy=strategy,
                   cache=tmp_path / "cache", student_config=student_config(), out=out, overwrite=True,
                   train_config=TrainConfig(epochs=epochs, finetune_epochs=0, lr=0.01, batch_size=16, seed=seed),
                   **kwargs, **QUIET)


def random_inputs(k=3, n=60, c=3, seed=0, loss="kl"):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, c, n)
    gold[::4] = -1  # some texts have no gold label
    return StrategyInput([f"t{i}" for i in range(k)], rng.normal(0, 2, (k, n, c)).astype(np.float32), gold,
                         [f"c{i}" for i in range(c)], loss=loss, temperature=2.0, seed=seed,
                         dev_logits=rng.normal(0, 2, (k, 20, c)).astype(np.float32),
                         dev_gold=rng.integers(0, c, 20), log=lambda *a: None)


# ---------------------------------------------------------------------------------------------------------------
# Fixed-weight strategies


@pytest.mark.parametrize("name", ["best", "mean-logits", "mean-probs", "weighted", "confidence", "ca-mkd"])
@pytest.mark.parametrize("loss", ["kl", "mse"])
def test_fixed_strategies_weights_sum_to_one_and_targets_are_distributions(name, loss):
    inputs = random_inputs(loss=loss)
    objective = make_strategy(name).objective(inputs)
    summary = objective.summary()
    assert summary["measure"] == "mean weight"
    assert sum(summary["overall"].values()) == pytest.approx(1.0, abs=1e-5)
    for per_class in summary["per_class"].values():
        assert sum(per_class.values()) == pytest.approx(1.0, abs=1e-5)
    targets = objective.targets.numpy()
    assert targets.shape == (60, 3) and np.isfinite(targets).all()
    if objective.target_kind == "probs":
        assert np.allclose(targets.sum(1), 1.0, atol=1e-5) and (targets >= 0).all()


def test_single_is_exactly_the_one_teacher_target():
    inputs = random_inputs(k=1)
    objective = make_strategy("single").objective(inputs)
    assert objective.target_kind == "logits"
    assert np.array_equal(objective.targets.numpy(), inputs.logits[0])
    with pytest.raises(Exception, match="at most 1"):
        make_strategy("single").check(2, True)


def test_best_picks_the_teacher_best_on_dev_and_needs_dev():
    inputs = random_inputs()
    inputs.dev_logits[2] = np.eye(3)[inputs.dev_gold] * 5  # teacher 2 is right on every dev text
    objective = make_strategy("best").objective(inputs)
    assert np.array_equal(objective.targets.numpy(), inputs.logits[2])
    assert objective.summary()["chosen"] == "t2"
    with pytest.raises(Exception, match="needs --dev"):
        make_strategy("best").check(3, False)


def test_weighted_given_weights_and_dev_accuracy_weights():
    inputs = random_inputs(k=2, c=2, loss="mse")
    objective = make_strategy("weighted", {"teacher_weights": "3,1"}).objective(inputs)
    expected = 0.75 * inputs.logits[0] + 0.25 * inputs.logits[1]
    assert np.allclose(objective.targets.numpy(), expected, atol=1e-6)
    inputs.dev_logits[0] = np.eye(2)[inputs.dev_gold] * 5
    by_dev = make_strategy("weighted").objective(inputs).summary()["overall"]
    assert by_dev["t0"] > 0.9
    with pytest.raises(Exception, match="2 values for 3 teachers"):
        make_strategy("weighted", {"teacher_weights": "1,2"}).check(3, True)


def test_camkd_formula_and_unlabeled_rows():
    ce = np.array([[0.1, 2.0], [2.0, 0.1], [1.0, 1.0]])  # (K=3, N=2)
    w = camkd_weights(ce)
    s = np.exp(ce) / np.exp(ce).sum(0)
    assert np.allclose(w, ((1 - s) / 2).T)
    assert np.allclose(w.sum(1), 1) and w[0, 0] > w[0, 1] and w[1, 1] > w[1, 0]
    inputs = random_inputs()
    summary = make_strategy("ca-mkd").objective(inputs).summary()
    assert summary["rows_without_gold"] == 15 and summary["rows_with_gold"] == 45


def test_confidence_prefers_the_confident_agreeing_teacher():
    inputs = random_inputs(k=3, c=2)
    inputs.logits[0] = np.where(np.arange(2) == 0, 6.0, 0.0)  # sure of class 0 everywhere
    inputs.logits[1] = np.where(np.arange(2) == 0, 3.0, 0.0)  # agrees, less sure
    inputs.logits[2] = np.where(np.arange(2) == 1, 0.2, 0.0)  # unsure and alone
    overall = make_strategy("confidence").objective(inputs).summary()["overall"]
    assert overall["t0"] > overall["t1"] > overall["t2"]


# ---------------------------------------------------------------------------------------------------------------
# Reinforced strategies, end to end through distill()


@pytest.mark.parametrize("name", ["rl", "rl-weights"])
def test_the_all_wrong_teacher_gets_selected_less_as_the_policy_trains(toy, tmp_path, name):
    student, report = run(toy, tmp_path, name, epochs=4)
    history = report.selection["history"]
    joint = [h["values"] for h in history if h["phase"] == "policy and student"]
    assert len(joint) == 3
    wrong = [v["wrong"] for v in joint]
    assert wrong[-1] < wrong[0] and wrong == sorted(wrong, reverse=True), history
    assert joint[-1]["good"] > 2 * joint[-1]["wrong"]
    assert report.dev["accuracy"] >= 0.95
    if name == "rl":
        assert history[0]["phase"].startswith("warm-up") and history[0]["values"]["wrong"] == 1.0
        assert any(h["phase"].startswith("policy pre-training") for h in history)
    else:
        assert all(sum(v.values()) == pytest.approx(1.0, abs=1e-4) for v in joint)


def test_rl_beats_mean_logits_with_an_all_wrong_teacher(toy, tmp_path):
    _, mean = run(toy, tmp_path, "mean-logits")
    _, rl = run(toy, tmp_path, "rl")
    assert rl.dev["accuracy"] > mean.dev["accuracy"]


def test_rl_text_with_no_teacher_selected_learns_nothing_and_selected_ones_the_mean():
    import torch

    from textdistill.training.losses import kl_rows

    inputs = random_inputs(k=3, n=8, c=3)
    objective = make_strategy("rl").objective(inputs)
    idx = np.arange(8)
    logits = torch.randn(8, 3, requires_grad=True)
    actions = torch.zeros(8, 3)
    actions[:4, 0] = 1.0
    actions[:2, 2] = 1.0  # rows 0-1: teachers 0 and 2; rows 2-3: teacher 0; rows 4-7: none
    rows = objective.targets(logits, idx, actions)
    probs = torch.softmax(torch.tensor(inputs.logits) / inputs.temperature, -1)  # (K, N, C)
    expected = kl_rows(logits[:4], torch.cat([(probs[0, :2] + probs[2, :2]) / 2, probs[0, 2:4]]), inputs.temperature)
    assert torch.allclose(rows[:4], expected, atol=1e-6)
    assert (rows[4:] == 0).all()  # gold rows included: no teacher, no loss (as in the paper)
    rows.mean().backward()
    assert (logits.grad[4:] == 0).all() and (logits.grad[:4] != 0).any()


@pytest.mark.parametrize("name", ["rl", "rl-weights", "confidence"])
def test_a_fixed_seed_reproduces_a_run_exactly(toy, tmp_path, name):
    a, ra = run(toy, tmp_path, name, epochs=3, seed=3, out=tmp_path / "a")
    b, rb = run(toy, tmp_path, name, epochs=3, seed=3, out=tmp_path / "b")
    c, _ = run(toy, tmp_path, name, epochs=3, seed=4)
    assert np.array_equal(a.embedding, b.embedding) and np.array_equal(a.w2, b.w2)
    assert ra.selection["overall"] == rb.selection["overall"]
    assert not np.array_equal(a.embedding, c.embedding)
    if name != "confidence":
        from safetensors.numpy import load_file

        pa = load_file(str(tmp_path / "a" / "policy.safetensors"))
        pb = load_file(str(tmp_path / "b" / "policy.safetensors"))
        assert pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


def test_rl_dev_reward_and_ce_kd_reward_run(toy, tmp_path):
    for reward in ("dev", "ce-kd"):
        config = {"policy_reward": reward, "rl_dev_every": 5}
        _, report = run(toy, tmp_path, "rl", epochs=3, strategy_config=config)
        assert report.selection["reward"] == reward and report.selection["policy_steps"] > 0


def test_the_cache_keeps_teachers_apart_and_a_new_teacher_labels_only_itself(toy, tmp_path):
    teachers = pool(toy)[:2]
    run(toy, tmp_path, "mean-probs", epochs=1, teachers=teachers)
    folders = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert folders == sorted(t.fingerprint for t in teachers)
    n = len(toy["train"]) + len(toy["dev"])
    assert [t.calls for t in teachers] == [n, n]
    third = pool(toy)[2]
    _, report = run(toy, tmp_path, "mean-probs", epochs=1, teachers=[*teachers, third])
    assert [t.calls for t in teachers] == [n, n] and third.calls == n  # nothing relabelled
    assert len(list((tmp_path / "cache").iterdir())) == 3
    # each teacher's outputs are its own: dev accuracies differ as built
    acc = {t["name"]: t["dev_accuracy"] for t in report.teachers}
    assert acc["good"] > 0.85 and acc["wrong"] == 0.0 and 0.4 < acc["noisy"] < 0.8


def test_save_load_round_trip_keeps_the_policy_and_its_statistics(toy, tmp_path):
    from safetensors.numpy import load_file

    out = tmp_path / "student"
    student, report = run(toy, tmp_path, "rl", epochs=3, out=out)
    record = json.loads((out / "teachers.json").read_text())
    assert record["strategy"] == "rl" and [t["name"] for t in record["teachers"]] == ["good", "noisy", "wrong"]
    assert record["selection"]["overall"] == report.selection["overall"]
    assert record["selection"]["history"] == report.selection["history"]
    for t in record["teachers"]:
        assert {"fingerprint", "dev_accuracy", "agreement", "selection_rate", "per_class"} <= set(t)
        assert set(t["per_class"]) == {"neg", "pos"}
    policy = load_file(str(out / "policy.safetensors"))
    assert policy["policy.weight"].shape[0] == 3 and policy["policy.bias"].shape == (3,)
    loaded = Student.from_pretrained(out)
    texts = toy["dev"].texts[:20]
    assert np.array_equal(loaded.predict_logits(texts), student.predict_logits(texts))
    # loading never needs the teachers' files
    (out / "teachers.json").unlink()
    (out / "policy.safetensors").unlink()
    assert np.array_equal(Student.from_pretrained(out).predict_logits(texts), student.predict_logits(texts))


def test_every_builtin_strategy_is_registered_with_its_config():
    assert {"single", "best", "mean-logits", "mean-probs", "weighted", "confidence", "ca-mkd", "rl",
            "rl-weights"} <= set(STRATEGIES.names())
    with pytest.raises(Exception, match="unknown teacher strategy"):
        make_strategy("nope")
    with pytest.raises(Exception, match="has no field"):
        make_strategy("rl", {"bogus": 1})


def test_python_api_takes_paths_and_objects_and_fills_the_family_loss(toy, tmp_path):
    gold_student = tmp_path / "gold"
    distill(toy["train"], dev=toy["dev"], out=gold_student, student_config=student_config(),
            train_config=TrainConfig(epochs=3, finetune_epochs=0, lr=0.01, batch_size=16), **QUIET)
    teachers = [pool(toy)[0], str(gold_student)]
    student, report = distill(toy["train"], dev=toy["dev"], teacher=teachers, teacher_strategy="weighted",
                              strategy_config={"teacher_weights": "1,1"}, cache=tmp_path / "cache",
                              student_config=student_config(), out=tmp_path / "s",
                              train_config=TrainConfig(epochs=1, finetune_epochs=0), **QUIET)
    assert [t["name"] for t in report.teachers] == ["good", "gold"]
    assert report.teachers[1]["kind"] == "StudentTeacher"
    assert student.metadata["train_config"]["loss"] == "kl"  # the DAN's default, as on the command line
    assert report.selection["overall"] == {"good": 0.5, "gold": 0.5}


def test_the_same_teacher_twice_is_an_error(toy, tmp_path):
    good = pool(toy)[0]
    twin = FakeTeacher("good", toy["gold_of"], 0.95, 1)
    with pytest.raises(Exception, match="same model"):
        run(toy, tmp_path, "mean-logits", teachers=[good, twin])


@pytest.mark.parametrize("student", ["bilstm", "cnn"])
def test_reinforced_strategies_train_sequence_students(toy, tmp_path, student):
    from textdistill.students.base import family_config as build_student_config

    config = build_student_config(student, vectors="none", embedding_dim=8, hidden_dim=8, dropout=0.1)
    for strategy in ("rl", "rl-weights"):
        s, report = distill(toy["train"], dev=toy["dev"], teacher=pool(toy), teacher_strategy=strategy,
                            student=student, student_config=config, cache=tmp_path / "cache",
                            train_config=TrainConfig(epochs=2, finetune_epochs=0, batch_size=32), **QUIET)
        assert report.selection["policy_steps"] > 0 and s.metadata["train_config"]["loss"] == "mse"
        assert report.selection["history"][-1]["phase"] == "policy and student"


def test_rl_on_text_pairs(toy, tmp_path):
    def pairs(ds):
        return TextDataset(ds.texts, [t[::-1] for t in ds.texts], ds.labels, source=ds.source)

    toy_pairs = {**toy, "train": pairs(toy["train"]), "dev": pairs(toy["dev"])}
    student, report = run(toy_pairs, tmp_path, "rl", epochs=2)
    assert student.pair and report.selection["policy_steps"] > 0
