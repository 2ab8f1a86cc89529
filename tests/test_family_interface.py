"""A student family is one file: a toy family defined here alone goes through distill, predict, evaluate, serve,
export (a clear "cannot be exported" error) and auto, with no other file changed (issue 18, part 3)."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_cli import NEG, POS, assert_user_error, ok, run_main, write_tsv  # noqa: E402

from textdistill.config import option  # noqa: E402
from textdistill.persistence import load_tensors, save_tensors  # noqa: E402
from textdistill.students import FAMILIES, Student, register  # noqa: E402
from textdistill.training.batching import RaggedRows  # noqa: E402


@dataclass
class ToyConfig:
    toy_buckets: int = option(64, "toy: hash buckets of the bag of words.")
    toy_lr: float = option(0.05, "toy: learning rate of its table.")

    def to_dict(self) -> dict:
        return asdict(self)


def bucket_ids(texts, buckets: int):
    """Each text's words hashed to buckets (crc32), as ragged ids + offsets."""
    ids, offsets = [], []
    for text in texts:
        offsets.append(len(ids))
        ids.extend(zlib.crc32(w.encode()) % buckets for w in text.lower().split())
    return np.asarray(ids, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


class ToyModule(torch.nn.Module):
    def __init__(self, buckets: int, num_classes: int):
        super().__init__()
        self.table = torch.nn.EmbeddingBag(buckets, num_classes, mode="mean")
        torch.nn.init.zeros_(self.table.weight)

    def forward(self, rows, offsets, return_representation: bool = False):
        logits = self.table(rows, offsets)
        return (logits, logits) if return_representation else logits


class ToyFamily:
    """The training adapter (what the trainer calls)."""

    name = "toy"

    def __init__(self, config: ToyConfig | None = None):
        self.config = config or ToyConfig()

    def fit(self, texts, pairs=None, progress=True):
        if pairs is not None:
            raise ValueError("toy students read single texts")

    def encode(self, texts, pairs=None):
        return RaggedRows(*bucket_ids(texts, self.config.toy_buckets))

    def batch(self, encoded, idx):
        return encoded.take(idx)

    def build(self, num_classes: int):
        return ToyModule(self.config.toy_buckets, num_classes)

    def optimizers(self, module, lr: float, scale: float = 1.0):
        return [torch.optim.Adam(module.parameters(), lr=self.config.toy_lr * scale)]

    def export(self, module, labels, metadata):
        table = module.table.weight.detach().cpu().numpy().copy()
        return ToyStudent(table, labels, metadata)


@register
class ToyStudent(Student):
    """The runtime (numpy only)."""

    student_type = "toy"
    config_class = ToyConfig
    training_adapter = ToyFamily
    default_loss = "kl"
    description = "a hashed bag of words (a test's toy)"
    auto_candidates = {"toy": {}}

    def __init__(self, table, labels, metadata=None):
        super().__init__(labels, metadata)
        self.table = table

    def featurize(self, texts, pairs=None):
        return bucket_ids(texts, self.table.shape[0])

    def logits_from_features(self, features):
        ids, offsets = features
        ends = np.append(offsets[1:], len(ids))
        out = np.zeros((len(offsets), self.table.shape[1]), dtype=np.float32)
        for i, (a, b) in enumerate(zip(offsets, ends)):
            if b > a:
                out[i] = self.table[ids[a:b]].mean(0)
        return out

    def config(self):
        return {"buckets": int(self.table.shape[0]), "num_classes": int(self.table.shape[1])}

    def _save_weights(self, path: Path):
        save_tensors(path / "model.safetensors", {"table": self.table})

    @classmethod
    def _load(cls, path, config, labels, mmap=True):
        table = load_tensors(path / "model.safetensors", {"table": (config["buckets"], config["num_classes"])})
        return cls(np.asarray(table["table"]), labels, config.get("metadata"))


@pytest.fixture(autouse=True, scope="module")
def registered():
    yield
    FAMILIES.unregister("toy")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("toy")
    train = write_tsv(d / "train.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    dev = write_tsv(d / "dev.tsv", [("a great movie", "pos"), ("good fun", "pos"), ("a boring movie", "neg"),
                                    ("really bad", "neg")])
    return d, train, dev


def test_a_toy_family_goes_through_every_command(data, tmp_path):
    d, train, dev = data
    out = tmp_path / "toy"
    # distill: its options are flags, and another family's option is refused by name
    ok(["distill", "--student", "toy", "--train", train, "--dev", dev, "--out", out, "--epochs", "20",
        "--toy-buckets", "32"])
    assert json.loads((out / "config.json").read_text())["student_type"] == "toy"
    code, stdout, stderr = run_main(["distill", "--student", "toy", "--train", train, "--out", tmp_path / "x",
                                     "--lstm-dim", "4"])
    assert_user_error(code, stdout, stderr, "--lstm-dim does not apply to the toy student")
    # predict and evaluate
    result = ok(["predict", out], input="a great movie\nreally bad\n")
    assert result.stdout.split() == ["pos", "neg"]
    result = ok(["evaluate", out, "--data", dev, "--json"])
    assert json.loads(result.stdout)["student"]["accuracy"] == 1.0
    # export: the family defines no ONNX graph and no featurizer specification
    pytest.importorskip("onnx")
    code, stdout, stderr = run_main(["export", out, "--format", "onnx", "--out", tmp_path / "toy.onnx"])
    assert_user_error(code, stdout, stderr, "the toy family cannot be exported to ONNX")
    # auto: the family's candidates are tried with the others given
    result = ok(["auto", "--train", train, "--dev", dev, "--out", tmp_path / "auto", "--candidates", "toy",
                 "--min-accuracy", "0.5", "--measure-texts", "32", "--epochs", "20"])
    assert json.loads((tmp_path / "auto" / "auto.json").read_text())["chosen"] == "toy"


def test_a_toy_family_is_served(data, tmp_path):
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    import asyncio

    from textdistill.pipeline import distill
    from textdistill.serving.http import create_app

    d, train, dev = data
    student, _ = distill(train, dev=dev, student="toy", epochs=20, out=tmp_path / "toy", progress=False,
                         log=lambda *a: None)

    async def ask():
        app = create_app({"toy": str(tmp_path / "toy")})
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                models = (await client.get("/v1/models")).json()
                answer = (await client.post("/v1/predict", json={"texts": ["a great movie", "really bad"]})).json()
        return models, answer

    models, answer = asyncio.run(ask())
    assert answer["labels"] == ["pos", "neg"] == student.predict(["a great movie", "really bad"])
    assert models["models"][0]["family"] == "toy"
