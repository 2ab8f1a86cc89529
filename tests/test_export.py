"""``textdistill export``: every family's ONNX graph reproduces the student under onnxruntime (logits within 1e-4,
same labels) without a per-text loop, the table keeps its storage type, and the featurizer specification is
complete: a featurizer written from the JSON alone (``spec_reference.py``, no textdistill imports) gets the same
ids as the library on ordinary and adversarial text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from serving_helpers import ROOT, corpus, tiny_dan, tiny_sequence, tricky_texts  # noqa: E402
from spec_reference import Reference  # noqa: E402

from textdistill.serving.onnx import OnnxModel, build_onnx, export_onnx, verify  # noqa: E402
from textdistill.serving.spec import TEST_TEXTS, write_spec  # noqa: E402
from textdistill.students import Student  # noqa: E402

STUDENTS = {
    "dan float32": lambda: tiny_dan(),
    "dan folded float16": lambda: tiny_dan(folded=True, dtype="float16"),
    "dan folded int8": lambda: tiny_dan(folded=True, dtype="int8"),
    "dan buckets int8": lambda: tiny_dan(buckets=37, dtype="int8"),
    "dan pairs": lambda: tiny_dan(pair=True),
    "bilstm": lambda: tiny_sequence("bilstm"),
    "bilstm pairs": lambda: tiny_sequence("bilstm", pair=True),
    "cnn": lambda: tiny_sequence("cnn", widths=(2, 3, 5)),
    "cnn pairs": lambda: tiny_sequence("cnn", pair=True),
}


def texts_and_pairs(student, n=60):
    texts = tricky_texts() + corpus(n, seed=21)
    return texts, (list(reversed(texts)) if student.pair else None)


@pytest.mark.parametrize("kind", list(STUDENTS))
def test_onnx_graph_reproduces_the_student(kind, tmp_path):
    student = STUDENTS[kind]()
    student.save_pretrained(tmp_path / "model")
    student = Student.from_pretrained(tmp_path / "model")  # as a user exports it: from its directory
    out = tmp_path / "model.onnx"
    assert export_onnx(student, out) == [out]
    texts, pairs = texts_and_pairs(student)
    ours = student.predict_logits(texts, pairs)
    theirs = OnnxModel(out, student).predict_logits(texts, pairs, batch_size=17)  # several batches, odd size
    assert np.abs(ours - theirs).max() <= 1e-4
    assert (ours.argmax(-1) == theirs.argmax(-1)).all()
    one = OnnxModel(out, student).predict_logits(texts[:1], None if pairs is None else pairs[:1])
    np.testing.assert_allclose(one, ours[:1], atol=1e-4)
    model = onnx.load(str(out))
    assert not {"Loop", "Scan", "If"} & {n.op_type for n in model.graph.node}  # no per-text control flow
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["textdistill.family"] == student.student_type and meta["textdistill.classes"] == ",".join(
        student.classes_)


@pytest.mark.parametrize("dtype, elem", [("float16", onnx.TensorProto.FLOAT16), ("int8", onnx.TensorProto.INT8)])
def test_the_table_keeps_its_storage_type(dtype, elem, tmp_path):
    student = tiny_dan(folded=True, dtype=dtype)
    model = build_onnx(student)
    table = next(t for t in model.graph.initializer if t.name == "embedding")
    assert table.data_type == elem and list(table.dims) == list(student.embedding.shape)
    assert any(t.name == "embedding.scale" for t in model.graph.initializer) == (dtype == "int8")


def test_texts_with_no_known_ngram_and_external_weights(tmp_path):
    student = tiny_dan(dtype="int8")
    out = tmp_path / "sub" / "m.onnx"
    written = export_onnx(student, out, external_data=True)
    assert written == [out, out.with_name("m.onnx.data")] and all(p.is_file() for p in written)
    texts = ["zzz qqq", "", "good", "xyzzy plugh", "fine fun"]  # unknown n-grams only, empty, known
    v = verify(out, student, texts)
    assert v.max_abs_diff <= 1e-4 and v.same_labels
    with pytest.raises(Exception, match="exists"):
        export_onnx(student, out)
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_export_cli_verifies_writes_the_spec_and_refuses_to_overwrite(tmp_path, capsys, monkeypatch):
    from textdistill.cli.app import main

    model = tmp_path / "student"
    tiny_sequence("cnn").save_pretrained(model)
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(corpus(40, seed=9)) + "\n", encoding="utf-8")

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["textdistill", "export", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code
        return code, capsys.readouterr().err

    out = tmp_path / "cnn.onnx"
    code, err = run(model, "--out", out, "--data", data)
    assert code == 0, err
    assert "labels identical" in err and "onnxruntime" in err and "texts/s at batch 32" in err
    assert out.is_file() and (tmp_path / "cnn.featurizer.json").is_file()
    code, err = run(model, "--out", out)
    assert code == 2 and err.strip().splitlines() == [f"error: {out} exists; pass --overwrite to replace it"]
    code, err = run(model, "--out", tmp_path / "x.bin")
    assert code == 2 and "a .onnx suffix" in err
    code, err = run(model, "--out", out, "--format", "tflite")
    assert code == 2 and "--format must be onnx or spec" in err
    code, err = run(tmp_path / "nope", "--out", out)
    assert code == 2 and "no such model directory" in err
    code, err = run(model, "--format", "spec", "--out", tmp_path / "only.json")
    assert code == 0 and json.loads((tmp_path / "only.json").read_text())["model_family"] == "cnn"


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv.gz").is_file(),
                    reason="../shared/data/sst2 is not here")
def test_real_sentences_through_onnx(tmp_path):
    from textdistill.data.readers import read_dataset

    texts = read_dataset(ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv.gz", label=None).texts[:400]
    for student in (tiny_dan(folded=True, dtype="float16"), tiny_sequence("bilstm"), tiny_sequence("cnn")):
        out = tmp_path / f"{student.student_type}.onnx"
        export_onnx(student, out)
        v = verify(out, student, texts)
        assert v.max_abs_diff <= 1e-4 and v.same_labels, v.line()


# -- the featurizer specification -------------------------------------------------------------------------------
def adversarial_texts(n=300, seed=0):
    """Random strings over code points chosen to hit every character class and the normalisation's corners."""
    rng = np.random.default_rng(seed)
    pools = [list("abcXYZ019_"), list(" \t\n\r\x0b\x0c\x1c\x85\xa0\u2003\u3000"), list(".,!?-'\"()[]:;$%"),
             ["\u0301", "\u0308", "\u0e48", "\u093f"], ["\u200b", "\u200d", "\u00ad", "\ufeff"],
             list("電影很好看こんにちはカタカナ"), list("หนังดีมาก"), ["🎬", "👍", "🏽", "\U0001f600"],
             list("ÉéİıΣσςẞßﬁﬂ①Ⅻ＠ｆ"), ["<br />", "<BR>", "<br/>", "[MASK]", "[mask]"], list("αβγдлянम")]
    out = []
    for _ in range(n):
        k = int(rng.integers(0, 30))
        out.append("".join(rng.choice(pools[int(rng.integers(len(pools)))]) for _ in range(k)))
    return out


def corpus_with_odd_words():
    """Training text whose vocabulary holds n-grams with marks, CJK, punctuation runs, so lookups are exercised."""
    return corpus(200) + TEST_TEXTS * 3 + adversarial_texts(200, seed=1)


def _dan_over(texts, buckets=0):
    from textdistill.data.readers import LabelMap
    from textdistill.featurizers.ngrams import NgramConfig, NgramFeaturizer
    from textdistill.students import DANStudent

    f = NgramFeaturizer(NgramConfig(max_n=3, min_count=1, buckets=buckets)).fit(texts, progress=False)
    rng = np.random.default_rng(0)
    w = {"embedding": rng.normal(size=(f.num_rows, 4)).astype(np.float32),
         "hidden.weight": rng.normal(size=(3, 4)).astype(np.float32), "hidden.bias": np.zeros(3, np.float32),
         "output.weight": rng.normal(size=(2, 3)).astype(np.float32), "output.bias": np.zeros(2, np.float32)}
    return DANStudent(f, w, LabelMap(["a", "b"]))


@pytest.mark.parametrize("buckets", [0, 50])
def test_a_featurizer_written_from_the_spec_alone_gets_the_dan_rows(buckets, tmp_path):
    student = _dan_over(corpus_with_odd_words(), buckets)
    path = write_spec(student, tmp_path / "spec.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert spec["format"] == "textdistill-featurizer-spec" and spec["featurizer"] == "ngrams"
    assert len(spec["vocabulary"]) == student.featurizer.vocab_size
    ref = Reference(path)
    for vector in spec["test_vectors"]:  # the written test vectors follow from the written rules
        assert ref.tokens(ref.normalise(vector["text"])) == vector["tokens"]
        assert [f"{ref.token_hash(t):016x}" for t in vector["tokens"]] == vector["token_hashes"]
        assert ref.rows_of(vector["text"]) == vector["rows"]
    texts = TEST_TEXTS + tricky_texts() + adversarial_texts() + corpus(100, seed=4)
    rows, offsets = student.featurizer.transform(texts)
    ends = np.append(offsets[1:], len(rows))
    known = 0
    for i, text in enumerate(texts):
        expected = rows[offsets[i] : ends[i]].tolist()
        assert ref.rows_of(text) == expected, repr(text)
        known += len(expected)
    assert known > 1000  # the comparison is over real lookups, not empty lists


def test_a_featurizer_written_from_the_spec_alone_gets_the_word_ids(tmp_path):
    from textdistill.data.readers import LabelMap
    from textdistill.featurizers.words import WordConfig, WordVocab
    from textdistill.students import CNNStudent

    vocab = WordVocab.build(corpus_with_odd_words(), WordConfig(max_tokens=25))
    base = tiny_sequence("cnn")
    student = CNNStudent(vocab, {**base.weights, "embedding.weight": np.zeros((len(vocab), 9), np.float32)},
                         LabelMap(base.classes_), widths=base.widths)
    path = write_spec(student, tmp_path / "words.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert spec["featurizer"] == "words" and spec["vocabulary"][:3] == ["<pad>", "<unk>", "<mask>"]
    ref = Reference(path)
    for vector in spec["test_vectors"]:
        assert ref.ids_of(vector["text"]) == vector["ids"]
    texts = TEST_TEXTS + tricky_texts() + adversarial_texts(seed=3) + ["a [MASK] film", "[MASK]", "x [mask]y"]
    ids, offsets = vocab.encode(texts)
    ends = np.append(offsets[1:], len(ids))
    for i, text in enumerate(texts):
        assert ref.ids_of(text) == ids[offsets[i] : ends[i]].tolist(), repr(text)


def test_the_reference_needs_nothing_from_textdistill():
    source = (Path(__file__).parent / "spec_reference.py").read_text()
    assert "textdistill" not in source.split('"""', 2)[2]  # only in its docstring


def test_featurizers_without_a_portable_spec_are_refused(tmp_path):
    from textdistill.errors import ConfigError
    from textdistill.featurizers.ngrams import NgramConfig, NgramFeaturizer

    student = tiny_dan()
    student.featurizer = NgramFeaturizer(NgramConfig(token_pattern=r"\w+", min_count=1)).fit(corpus(), progress=False)
    with pytest.raises(ConfigError, match="custom token_pattern"):
        write_spec(student, tmp_path / "x.json")
    student.featurizer = NgramFeaturizer(NgramConfig(version=1, min_count=1)).fit(corpus(), progress=False)
    with pytest.raises(ConfigError, match="version 1"):
        write_spec(student, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
