"""Multi-label classification end to end (issue 19): reading label sets as users have them, multi-label teachers,
students with sigmoid outputs and tuned thresholds, decisions, metrics, and every command on a tiny fixture."""

from __future__ import annotations

import json

import numpy as np
import pytest

from test_cli import assert_user_error, ok, run_main

from textdistill import Student
from textdistill.data.readers import read_dataset
from textdistill.errors import ConfigError, DataError, ModelError
from textdistill.metrics import multilabel_metrics
from textdistill.tasks import get_task, infer_task

WORDS = {"sport": ["goal", "match", "team", "score"], "money": ["bank", "price", "market", "profit"],
         "rain": ["storm", "cloud", "wind", "flood"]}
FILLER = ["the", "a", "today", "news", "report", "of", "in"]


def texts_and_labels(n: int, seed: int):
    """Texts whose labels are the topics whose words they hold (none, one, two or three)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        topics = [t for t in WORDS if rng.random() < 0.4]
        words = [w for t in topics for w in rng.choice(WORDS[t], 2)] + list(rng.choice(FILLER, 3))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(sorted(topics))
    return texts, labels


def write_jsonl(path, texts, labels):
    path.write_text("".join(json.dumps({"text": t, "labels": y}) + "\n" for t, y in zip(texts, labels)))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ml")
    return {"dir": d, "train": write_jsonl(d / "train.jsonl", *texts_and_labels(240, 0)),
            "dev": write_jsonl(d / "dev.jsonl", *texts_and_labels(60, 1)),
            "test": write_jsonl(d / "test.jsonl", *texts_and_labels(60, 2))}


TINY = ["--embedding-dim", "16", "--hidden-dim", "16", "--batch-size", "16", "--lr", "0.01", "--dropout", "0"]


# -- reading -------------------------------------------------------------------------------------------------------
def test_the_forms_users_have_read_to_the_same_label_sets(tmp_path):
    rows = [("goal and match", ["sport"]), ("bank storm", ["money", "rain"]), ("nothing here", [])]
    a = read_dataset(write_jsonl(tmp_path / "a.jsonl", [r[0] for r in rows], [r[1] for r in rows]))
    (tmp_path / "b.tsv").write_text("text\tlabels\n" + "".join(f"{t}\t{','.join(y)}\n" for t, y in rows))
    b = read_dataset(tmp_path / "b.tsv", label_sep=",")
    (tmp_path / "c.csv").write_text("text,money,rain,sport\n" + "".join(
        f"{t},{int('money' in y)},{int('rain' in y)},{int('sport' in y)}\n" for t, y in rows))
    c = read_dataset(tmp_path / "c.csv", label_columns="money,rain,sport")
    assert a.labels == b.labels == [("sport",), ("money", "rain"), ()]
    assert [tuple(sorted(y)) for y in c.labels] == a.labels and c.texts == a.texts
    assert infer_task(a.labels).name == "multi-label"


def test_a_names_file_gives_the_classes_goemotions_style(tmp_path):
    (tmp_path / "names.txt").write_text("sport\nmoney\nrain")  # no trailing newline, as emotions.txt
    (tmp_path / "d.tsv").write_text("goal match\t0\nbank storm\t1,2\n")
    ds = read_dataset(tmp_path / "d.tsv", label_sep=",", label_names=tmp_path / "names.txt")
    assert ds.labels == [("sport",), ("money", "rain")] and ds.label_names == ["sport", "money", "rain"]
    (tmp_path / "e.tsv").write_text("goal match\t0\nbank storm\t7\n")
    with pytest.raises(DataError, match="label '7' at data row 2 is neither an id .0..2. nor a name in"):
        read_dataset(tmp_path / "e.tsv", label_sep=",", label_names=tmp_path / "names.txt")


def test_mixed_and_ambiguous_forms_are_one_line_errors_naming_a_row(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": "y"}\n')
    with pytest.raises(DataError, match=r"mixes single labels \(data row 2\) and lists of labels \(data row 1\)"):
        read_dataset(tmp_path / "m.jsonl")
    (tmp_path / "n.jsonl").write_text('{"text": "a", "labels": ["x"]}\n{"text": "b", "labels": null}\n')
    with pytest.raises(DataError, match=r"data row 2 is missing; write \[\] for a text with no label"):
        read_dataset(tmp_path / "n.jsonl")
    (tmp_path / "c.csv").write_text("text,x,y\na,1,0\nb,2,0\n")
    with pytest.raises(DataError, match="label column 'x' at data row 2 holds '2'; label columns hold 0 or 1"):
        read_dataset(tmp_path / "c.csv", label_columns="x,y")
    (tmp_path / "s.jsonl").write_text('{"text": "a", "labels": ["x", "y"]}\n')
    with pytest.raises(DataError, match="data row 1 holds 2 labels; this data is multi-label"):
        read_dataset(tmp_path / "s.jsonl", multi_label=False)
    one = read_dataset(tmp_path / "s.jsonl", label_sep=None)
    assert one.labels == [("x", "y")]


def test_metrics_against_hand_computed_values():
    gold = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0]])
    pred = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 1]])
    m = multilabel_metrics(gold, pred, ["a", "b", "c"], per_label=True)
    # tp 3, fp 1, fn 1 -> micro-F1 6/8; label F1s a 1, b 1, c 0 -> macro 2/3; rows 2/3, 1 (empty, right), 0.8
    assert m["micro_f1"] == pytest.approx(0.75) and m["macro_f1"] == pytest.approx(2 / 3)
    assert m["samples_f1"] == pytest.approx((2 / 3 + 1 + 0.8) / 3)
    assert m["subset_accuracy"] == pytest.approx(1 / 3) and m["hamming_loss"] == pytest.approx(2 / 9)
    assert m["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_thresholds_tuned_on_dev_and_the_decisions_they_make():
    task = get_task("multi-label")
    rng = np.random.default_rng(0)
    gold = (rng.random((400, 2)) < 0.3).astype(np.float32)
    # label 0 is well separated at 0.2, label 1 at 0.8
    probs = np.where(gold == 1, [0.3, 0.9], [0.1, 0.7]) + rng.normal(0, 0.02, gold.shape)
    logits = np.log(probs / (1 - probs))
    decision = task.fit_decision(logits, gold)
    assert 0.1 < decision["thresholds"][0] < 0.3 and 0.7 < decision["thresholds"][1] < 0.9
    assert (task.decide(logits, decision) == (gold == 1)).all()
    none = np.array([[-5.0, -4.0]])
    assert task.decide(none, {**decision, "at_least_one": True}).tolist() == [[False, True]]
    assert task.fit_decision(None, None) == {"thresholds": None, "at_least_one": False}


# -- training, predicting, every command --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def student_dir(files):
    out = files["dir"] / "student"
    ok(["distill", "--train", files["train"], "--dev", files["dev"], "--out", out, "--epochs", "30", *TINY])
    return out


def test_distill_learns_label_sets_and_saves_tuned_thresholds(files, student_dir):
    config = json.loads((student_dir / "config.json").read_text())
    assert config["task"] == "multi-label" and len(config["decision"]["thresholds"]) == 3
    student = Student.from_pretrained(student_dir)
    assert student.classes_ == ["money", "rain", "sport"]
    test = read_dataset(files["test"])
    pred = student.predict(test.texts)
    assert all(isinstance(p, list) for p in pred)
    gold = get_task("multi-label").encode(student.classes_, test.labels)
    got = np.array([[c in p for c in student.classes_] for p in pred])
    assert multilabel_metrics(gold, got)["micro_f1"] > 0.9  # the topics' words decide the labels
    proba = student.predict_proba(["goal match", "storm"])
    assert proba.shape == (2, 3) and not np.allclose(proba.sum(1), 1)  # independent sigmoids, not a softmax
    p = student.predict_proba(["goal match bank"])[0]
    top, second = np.sort(p)[-1], np.sort(p)[-2]
    between = float((top + second) / 2)  # one threshold for every label: only the most likely passes
    assert student.predict(["goal match bank"], threshold=between) == [[student.classes_[int(p.argmax())]]]
    with pytest.raises(ConfigError, match=r"threshold must be in \[0, 1\], got 1.5"):
        student.predict(["goal"], threshold=1.5)


def test_evaluate_reports_multi_label_metrics_and_per_label_json(files, student_dir):
    result = json.loads(ok(["evaluate", student_dir, "--data", files["test"], "--json"]).stdout)["student"]
    student = Student.from_pretrained(student_dir)
    test = read_dataset(files["test"])
    gold = get_task("multi-label").encode(student.classes_, test.labels)
    got = np.array([[c in p for c in student.classes_] for p in student.predict(test.texts)])
    assert result["micro_f1"] == pytest.approx(multilabel_metrics(gold, got)["micro_f1"])
    assert set(result["per_label"]) == {"money", "rain", "sport"} and result["per_label"]["sport"]["support"] > 0
    text = ok(["evaluate", student_dir, "--data", files["test"]]).stdout
    assert "micro-F1" in text and "Hamming loss" in text


def test_predict_prints_label_sets(student_dir):
    texts = ["goal match team", "bank storm price wind", "the news today", "cloud goal"]
    out = ok(["predict", student_dir], input="\n".join(texts) + "\n").stdout.splitlines()
    student = Student.from_pretrained(student_dir)
    assert out == [",".join(labels) for labels in student.predict(texts)]
    assert out[1] == "money,rain"
    rows = [json.loads(x) for x in ok(["predict", student_dir, "--jsonl", "--proba"],
                                      input='{"text": "bank storm", "id": 7}\n').stdout.splitlines()]
    assert rows[0]["labels"] == ["money", "rain"] and rows[0]["id"] == 7 and set(rows[0]["probabilities"]) == {
        "money", "rain", "sport"}
    everything = ok(["predict", student_dir, "--threshold", "0"], input="goal\n").stdout
    assert everything == "money,rain,sport\n"
    code, stdout, stderr = run_main(["predict", student_dir, "--threshold", "2"], stdin=b"goal\n")
    assert_user_error(code, stdout, stderr, "threshold must be in [0, 1], got 2")


def test_unseen_labels_in_dev_are_a_warning_with_their_count(files, tmp_path):
    dev = write_jsonl(tmp_path / "dev.jsonl", ["goal match", "bank", "snow"], [["sport"], ["money"], ["snow"]])
    res = ok(["distill", "--train", files["train"], "--dev", dev, "--out", tmp_path / "s", "--epochs", "2", *TINY])
    assert "1 labels of 1 kind(s) never seen in training ('snow') are ignored" in res.stderr


def test_compress_export_and_serve_a_multi_label_student(files, student_dir, tmp_path):
    small = tmp_path / "small"
    res = ok(["compress", student_dir, "--out", small, "--max-rows", "50", "--dev", files["dev"]])
    assert "dev micro-F1" in res.stderr
    meta = json.loads((small / "config.json").read_text())
    assert meta["task"] == "multi-label" and meta["metadata"]["dev"] == meta["metadata"]["compressed_dev"]["after"]
    pytest.importorskip("onnxruntime")
    ok(["export", student_dir, "--format", "onnx", "--out", tmp_path / "m.onnx"])
    import onnxruntime as ort

    student = Student.from_pretrained(student_dir)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    feeds = student.onnx_feeds(["goal match", "bank storm"])
    probs = session.run(["probabilities"], feeds)[0]
    np.testing.assert_allclose(probs, student.predict_proba(["goal match", "bank storm"]), atol=1e-5)
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["textdistill.task"] == "multi-label" and len(meta["textdistill.thresholds"].split(",")) == 3
    spec = json.loads((tmp_path / "m.featurizer.json").read_text())
    assert spec["decision"]["thresholds"] == student.decision["thresholds"]


def test_serve_answers_label_lists(student_dir):
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    import asyncio

    from textdistill.serving.http import create_app

    async def ask():
        app = create_app({"m": str(student_dir)})
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                return (await client.post("/v1/predict", json={"texts": ["goal match", "bank storm", "the"],
                                                               "probabilities": True})).json()

    answer = asyncio.run(ask())
    student = Student.from_pretrained(student_dir)
    assert answer["labels"] == student.predict(["goal match", "bank storm", "the"])
    assert answer["labels"][1] == ["money", "rain"] and answer["classes"] == ["money", "rain", "sport"]
    assert len(answer["probabilities"][0]) == 3


# -- teachers ------------------------------------------------------------------------------------------------------
def multi_label_teacher(out_dir, names=("money", "rain", "sport")):
    """A tiny random BERT classifier whose config says multi_label_classification."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from conftest import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=len(names),
                        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
                        problem_type="multi_label_classification", pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    BertForSequenceClassification(config).eval().save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


def test_distill_from_a_multi_label_teacher_with_every_family(files, tmp_path):
    pytest.importorskip("transformers")
    teacher = multi_label_teacher(tmp_path / "teacher")
    for family in ("dan", "cnn", "bilstm"):
        extra = ["--vectors", "none"] if family != "dan" else []
        res = ok(["distill", "--train", files["train"], "--dev", files["dev"], "--out", tmp_path / family,
                  "--teacher", teacher, "--cache", tmp_path / "cache", "--student", family, "--epochs", "2", *TINY,
                  *extra])
        assert "student dev micro-F1" in res.stderr and "teacher" in res.stderr
        assert Student.from_pretrained(tmp_path / family).multi_label


def test_strategies_that_cannot_combine_multi_label_teachers_say_so_before_any_work(files, tmp_path):
    pytest.importorskip("transformers")
    teacher = multi_label_teacher(tmp_path / "teacher")
    code, stdout, stderr = run_main(["distill", "--train", files["train"], "--dev", files["dev"], "--out",
                                     tmp_path / "s", "--teacher", teacher, "--teacher", teacher, "--teacher-strategy",
                                     "rl", "--cache", tmp_path / "cache"])
    assert_user_error(code, stdout, stderr, "--teacher-strategy rl works on single-label data, not multi-label",
                      "mean-probs")
    assert not (tmp_path / "cache").exists()  # nothing was labelled


def test_a_single_label_teacher_on_multi_label_data_is_an_error(files, tmp_path):
    from conftest import build_tiny_teacher

    teacher = build_tiny_teacher(tmp_path / "t", num_labels=3, label_names=["money", "rain", "sport"])
    code, stdout, stderr = run_main(["distill", "--train", files["train"], "--out", tmp_path / "s", "--teacher",
                                     teacher, "--cache", tmp_path / "cache"])
    assert_user_error(code, stdout, stderr, "is a single-label classifier but the data is multi-label")


def test_teacher_finetune_trains_a_multi_label_teacher_selected_on_micro_f1(files, tmp_path):
    pytest.importorskip("transformers")
    base = multi_label_teacher(tmp_path / "base")
    out = tmp_path / "ft"
    res = ok(["teacher", "finetune", "--base", base, "--train", files["train"], "--dev", files["dev"], "--out", out,
              "--epochs", "1", "--max-length", "16", "--batch-size", "32", "--lr", "1e-3"])
    assert "task: multi-label, 3 labels" in res.stderr
    config = json.loads((out / "config.json").read_text())
    card = json.loads((out / "teacher_card.json").read_text())
    assert config["problem_type"] == "multi_label_classification" and card["task"] == "multi-label"
    assert card["dev_metric"] == "micro_f1"
    from textdistill.teachers.huggingface import Teacher

    teacher = Teacher.from_pretrained(out)
    dev = read_dataset(files["dev"])
    gold = get_task("multi-label").encode(teacher.label_names, dev.labels)
    decided = get_task("multi-label").decide(teacher.logits(dev.texts))
    assert card["dev_score"] == pytest.approx(multilabel_metrics(gold, decided)["micro_f1"], abs=1e-6)


def test_bad_decision_settings_in_a_saved_model_are_one_line(student_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(student_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["decision"]["thresholds"] = [0.5, 2.0, 0.5]
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"decision thresholds must be 3 numbers in \[0, 1\]"):
        Student.from_pretrained(broken)


def test_a_new_multi_label_head_starts_at_each_labels_frequency(tmp_path):
    """Fine-tuning a multi-label teacher from a bare encoder starts its head at the labels' frequencies (bias =
    log(p / (1 - p))): from zero, rare labels' sigmoids start at 0.5 and on Reuters (90 topics) a teacher learned
    nothing above 0.5 in two epochs. A head that was trained before is left as it is."""
    pytest.importorskip("transformers")
    import numpy as np
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from textdistill.training.finetune import start_fresh_head_at_the_prior

    model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=16, num_labels=3))
    prior = np.array([0.5, 0.1, 0.0])
    start_fresh_head_at_the_prior(model, ["classifier.bias", "classifier.weight"], prior)
    probs = torch.sigmoid(model.classifier.bias.detach()).numpy()
    np.testing.assert_allclose(probs, [0.5, 0.1, 1e-4], rtol=1e-4)
    before = model.classifier.bias.detach().clone()
    start_fresh_head_at_the_prior(model, [], np.array([0.9, 0.9, 0.9]))  # not a fresh head: untouched
    assert torch.equal(model.classifier.bias.detach(), before)


@pytest.mark.parametrize("kind", ["dan", "bilstm"])
def test_a_multi_label_student_starts_at_each_labels_frequency(kind):
    """Students too: the output layer's bias starts at log(p / (1 - p)) of the labels' frequencies in what they
    first learn (GoEmotions: from zero, a DAN's dev micro-F1 was still climbing after the default epochs); the pipeline
    takes the frequencies from the teachers' mean probabilities, else from the gold labels; single-label tasks keep the
    family's own initialisation."""
    import numpy as np
    import torch

    from textdistill.pipeline import LabelledData, TransferSet, label_prior
    from textdistill.students.base import family as student_family
    from textdistill.tasks import get_task
    from textdistill.training.config import TrainConfig
    from textdistill.training.loop import Trainer

    texts = ["a great film", "a dull plot", "great and dull", "nothing at all"] * 3
    family = student_family(kind).adapter_class()()
    family.fit(texts, progress=False)
    encoded = family.encode(texts)
    prior = np.array([0.5, 0.1, 0.0])
    module = Trainer(family, TrainConfig(epochs=1), 3, progress=False, task="multi-label",
                     output_prior=prior).fit(encoded, [], None)
    np.testing.assert_allclose(torch.sigmoid(module.output.bias.detach()).numpy(), [0.5, 0.1, 1e-4], rtol=1e-3)
    plain = Trainer(family, TrainConfig(epochs=1), 3, progress=False, task="multi-label").fit(encoded, [], None)
    assert not np.allclose(torch.sigmoid(plain.output.bias.detach()).numpy(), [0.5, 0.1, 1e-4], rtol=1e-3)

    task = get_task("multi-label")
    gold = np.array([[1, 0, 0], [1, 1, 0], [-1, -1, -1], [0, 0, 0]], dtype=np.float32)  # the third is unlabeled
    data = LabelledData(None, None, [], task, None, gold, None)
    transfer = TransferSet(texts[:4], None, gold)
    np.testing.assert_allclose(label_prior(data, transfer, None), [2 / 3, 1 / 3, 0])

    class Signal:
        logits = [np.log(np.array([[1 / 3, 1, 1e-9]]) / (1 - np.array([[1 / 3, 1 - 1e-9, 1e-9]])))]

    np.testing.assert_allclose(label_prior(data, transfer, Signal()), [1 / 3, 1, 0], atol=1e-6)
    data.task = get_task("single-label")
    assert label_prior(data, transfer, None) is None
