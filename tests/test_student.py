"""DAN training, numpy inference, save/load round trip and corrupt-directory errors."""

import json
import shutil

import numpy as np
import pytest
import torch

from textdistill.data.readers import TextDataset
from textdistill.errors import ModelError
from textdistill.featurizers.ngrams import NgramConfig
from textdistill.pipeline import distill
from textdistill.students import DANStudent, Student
from textdistill.training.families.dan import DANConfig, DANFamily, DANModule
from textdistill.training.loop import TrainConfig

POS = ["a great film", "wonderful and moving", "i loved it", "great acting , great story", "a joy to watch"]
NEG = ["a dull film", "boring and slow", "i hated it", "bad acting , bad story", "a waste of time"]


def toy(n_rep=4):
    texts = (POS + NEG) * n_rep
    labels = (["pos"] * 5 + ["neg"] * 5) * n_rep
    return TextDataset(texts, None, labels, source="toy")


def small_config(**kw):
    return DANConfig(embedding_dim=16, hidden_dim=16, dropout=0.0, embedding_lr=0.05,
                     ngrams=NgramConfig(max_features=1000), **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("dan") / "student"
    student, report = distill(toy(), dev=toy(1), out=out, student_config=small_config(),
                              train_config=TrainConfig(epochs=15, loss="ce", lr=0.01, batch_size=8),
                              progress=False, log=lambda *a: None)
    return student, report, out


def test_gold_training_learns_the_toy_task(trained):
    student, report, _ = trained
    assert report.dev["accuracy"] == 1.0
    assert student.predict(["great film", "boring waste"]) == ["pos", "neg"]
    proba = student.predict_proba(["great film"])
    assert proba.shape == (1, 2) and abs(proba.sum() - 1) < 1e-6
    assert student.classes_ == ["neg", "pos"]


@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize("storage, atol", [({"dtype": "float32", "fold": False}, 1e-5), ({"dtype": "float32"}, 1e-5),
                                           ({"dtype": "float16"}, 2e-3), ({"dtype": "int8"}, 2e-2)])
def test_numpy_inference_matches_the_torch_module(backend, storage, atol):
    """Raw, folded (exact), float16 and int8 students give the torch module's logits, compiled or numpy."""
    from textdistill.data.readers import LabelMap
    from textdistill.students.dan import StorageConfig

    family = DANFamily(small_config(storage=StorageConfig(**storage)))
    family.fit(POS + NEG, progress=False)
    torch.manual_seed(0)
    module = family.build(2).eval()
    student = family.export(module, LabelMap(["neg", "pos"]), {}).set_backend(backend)
    assert student.folded == storage.get("fold", True) and student.table_dtype == storage["dtype"]
    texts = POS + NEG + ["", "unknown words only"]
    enc = family.encode(texts)
    with torch.no_grad():
        expected = module(*family.batch(enc, np.arange(len(texts)))).numpy()
    assert np.allclose(student.predict_logits(texts), expected, atol=atol)


def test_round_trip_gives_identical_predictions(trained):
    student, _, out = trained
    loaded = Student.from_pretrained(out)
    assert isinstance(loaded, DANStudent)
    texts = POS + NEG + ["something new", ""]
    assert np.array_equal(loaded.predict_logits(texts), student.predict_logits(texts))
    assert (out / "config.json").exists() and (out / "labels.json").exists()
    assert (out / "model.safetensors").exists() and (out / "vocab.safetensors").exists()


def test_saving_is_atomic_and_refuses_to_clobber(trained, tmp_path):
    student, _, _ = trained
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("user data")
    with pytest.raises(ModelError, match="not empty"):
        student.save_pretrained(target, overwrite=False)
    assert (target / "keep.txt").read_text() == "user data"
    with pytest.raises(ModelError, match="not a textdistill model directory"):
        student.save_pretrained(target, overwrite=True)
    assert (target / "keep.txt").read_text() == "user data"
    model_dir = tmp_path / "model"
    student.save_pretrained(model_dir)
    (model_dir / "stale").write_text("x")
    student.save_pretrained(model_dir, overwrite=True)
    assert not (model_dir / "stale").exists()
    assert (model_dir.stat().st_mode & 0o055) == 0o055  # readable by others, not owner-only like mkdtemp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "model.safetensors").unlink(), "missing model.safetensors"),
    (lambda d: (d / "config.json").write_text("{not json"), "corrupt JSON"),
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100]), "corrupt"),
    (lambda d: (d / "labels.json").write_text(json.dumps({"names": ["a", "b", "c"]})), "labels.json names 3"),
    (lambda d: (d / "config.json").write_text(json.dumps({"format": "other"})), "not a textdistill student"),
])
def test_corrupt_directories_fail_with_a_clear_message(trained, tmp_path, damage, message):
    _, _, out = trained
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    damage(copy)
    with pytest.raises(ModelError, match=message):
        Student.from_pretrained(copy)


def test_missing_directory(tmp_path):
    with pytest.raises(ModelError, match="no such model directory"):
        Student.from_pretrained(tmp_path / "nope")


def test_training_is_reproducible_with_a_seed():
    runs = []
    for _ in range(2):
        s, _ = distill(toy(), student_config=small_config(), progress=False, log=lambda *a: None,
                       train_config=TrainConfig(epochs=2, loss="ce", lr=0.01, batch_size=4, seed=3))
        runs.append(s.predict_logits(POS))
    assert np.array_equal(runs[0], runs[1])


def test_pair_module_pools_each_side():
    m = DANModule(10, 4, 8, 3, 0.0, pair=True)
    out = m(torch.tensor([1, 2, 3]), torch.tensor([0, 2]), torch.tensor([4, 5]), torch.tensor([0, 1]))
    assert out.shape == (2, 3)
    assert m.hidden.in_features == 16
