"""The DAN runtime a user ships: thread safety, no process-wide side effects, memory-mapped loading, compression,
and one-line errors for every kind of broken model directory."""

import json
import shutil
import threading

import numpy as np
import pytest
import torch

from textdistill.data.readers import LabelMap
from textdistill.errors import ConfigError, ModelError
from textdistill.featurizers.ngrams import NgramConfig, kernels
from textdistill.students import DANStudent, Student
from textdistill.students.dan import DANConfig, StorageConfig, parse_size
from textdistill.training.families.dan import DANFamily

WORDS = "good bad great awful fine dull fun boring film movie plot actor story scene joy waste".split()


def corpus(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(1, 12)))) for _ in range(n)]


def make_student(storage=None, dim=16, hidden=8, seed=0, ngrams=None):
    """A DAN with random weights: as trained (unfolded float32) without ``storage``, else stored so."""
    family = DANFamily(DANConfig(embedding_dim=dim, hidden_dim=hidden, dropout=0.0,
                                 ngrams=ngrams or NgramConfig(max_n=3, min_count=1),
                                 storage=storage or StorageConfig()))
    family.fit(corpus(), progress=False)
    torch.manual_seed(seed)
    module = family.build(3).eval()
    return family.export(module, LabelMap(["a", "b", "c"]), {}, raw=storage is None), family, module


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    student, _, _ = make_student(StorageConfig(dtype="int8"))
    out = tmp_path_factory.mktemp("dan") / "student"
    student.save_pretrained(out)
    return out


def test_one_student_shared_by_16_threads_gives_the_single_thread_answers(saved):
    student = Student.from_pretrained(saved)
    batches = [corpus(37, seed=s) + ["", "zzz unknown"] for s in range(24)]
    expected = [student.predict_logits(b) for b in batches]
    results, errors = {}, []

    def work(t):
        try:
            for round_ in range(6):
                i = (t + round_) % len(batches)
                results[(t, round_)] = (i, student.predict_logits(batches[i], batch_size=16))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert len(results) == 16 * 6
    for i, got in results.values():
        assert np.array_equal(got, expected[i])


def test_predicting_changes_no_process_wide_setting(saved):
    from threadpoolctl import threadpool_info

    student = Student.from_pretrained(saved)
    before = (torch.get_num_threads(), [(i["internal_api"], i["num_threads"]) for i in threadpool_info()])
    student.predict(corpus(100))
    student.predict("one text")
    after = (torch.get_num_threads(), [(i["internal_api"], i["num_threads"]) for i in threadpool_info()])
    assert before == after


def test_weights_are_memory_mapped_and_loading_is_fast(saved):
    import time

    started = time.perf_counter()
    student = Student.from_pretrained(saved)
    assert time.perf_counter() - started < 2.0
    import mmap

    base = student.embedding
    while isinstance(getattr(base, "base", None), np.ndarray):
        base = base.base
    assert isinstance(base.base, memoryview) and isinstance(base.base.obj, mmap.mmap)  # the mapped file, no copy
    assert not student.embedding.flags.writeable


@pytest.mark.parametrize("storage, atol", [(StorageConfig(dtype="float16"), 2e-3), (StorageConfig(dtype="int8"), 3e-2),
                                           (StorageConfig(dtype="float32", fold=False), 1e-6)])
def test_compressed_students_predict_like_the_original(storage, atol, tmp_path):
    raw, family, module = make_student()
    texts = corpus(200, seed=5)
    small = raw.compressed(dtype=storage.dtype, fold=storage.fold)
    assert np.allclose(small.predict_logits(texts), raw.predict_logits(texts), atol=atol)
    small.save_pretrained(tmp_path / "m")
    loaded = Student.from_pretrained(tmp_path / "m")
    assert np.array_equal(loaded.predict_logits(texts), small.predict_logits(texts))
    assert loaded.table_dtype == storage.dtype and loaded.folded == storage.fold


def test_pruning_keeps_the_most_frequent_rows_or_the_largest_and_fits_a_size_budget(tmp_path):
    from textdistill.evaluation.speed import dir_size

    raw, _, _ = make_student()
    vocab = raw.featurizer.vocab_size
    by_freq = raw.compressed(max_rows=50, prune_by="frequency")
    assert by_freq.featurizer.vocab_size == 50
    assert np.array_equal(by_freq.featurizer.ranked_hashes(), raw.featurizer.ranked_hashes()[:50])
    by_norm = raw.compressed(max_rows=50, prune_by="norm", fold=True)
    folded = raw.folded_copy()
    norms = np.linalg.norm(folded.embedding, axis=1)
    kept = set(by_norm.featurizer.ranked_hashes().tolist())
    top = set(raw.featurizer.ranked_hashes()[np.argsort(-norms)[:50]].tolist())
    assert kept == top
    budget = 30_000
    fitted = raw.compressed(dtype="int8", max_size=budget)
    fitted.save_pretrained(tmp_path / "fitted")
    assert dir_size(tmp_path / "fitted") <= budget and 0 < fitted.featurizer.vocab_size < vocab
    assert parse_size("50MB") == 50_000_000 and parse_size("1MiB") == 2**20 and parse_size("12") == 12
    with pytest.raises(ConfigError, match="size"):
        parse_size("fifty")
    with pytest.raises(ConfigError, match="not even one row"):
        raw.compressed(max_size=10)


def test_version_1_students_still_load_and_predict(tmp_path):
    """A directory written before featurizer versions (no "version", no "folded", float32) loads as it was."""
    raw, _, _ = make_student(ngrams=NgramConfig(max_n=2, min_count=1, version=1))
    raw.compressed(dtype="float32", fold=False).save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["featurizer"]["version"], config["folded"], config["table_dtype"]
    config["format_version"] = 1
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    loaded = Student.from_pretrained(tmp_path / "old")
    assert loaded.featurizer.config.version == 1 and not loaded.folded
    texts = corpus(50, seed=9)
    assert np.allclose(loaded.predict_logits(texts), raw.predict_logits(texts), atol=1e-6)


def _edit_config(d, **changes):
    config = json.loads((d / "config.json").read_text())
    for key, value in changes.items():
        if key.startswith("featurizer."):
            config["featurizer"][key.split(".", 1)[1]] = value
        else:
            config[key] = value
    (d / "config.json").write_text(json.dumps(config))


def _dup_vocab(d):
    from safetensors.numpy import load_file, save_file

    vocab = load_file(str(d / "vocab.safetensors"))["ngram_hashes"]
    vocab[1] = vocab[0]
    save_file({"ngram_hashes": vocab}, str(d / "vocab.safetensors"))


def _reshape_weights(d):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(d / "model.safetensors"))
    tensors["output.weight"] = tensors["output.weight"][:, :-1]
    save_file(tensors, str(d / "model.safetensors"))


def _nan_head(d):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(d / "model.safetensors"))
    tensors["output.bias"] = np.full_like(tensors["output.bias"], np.nan)
    save_file(tensors, str(d / "model.safetensors"))


@pytest.mark.parametrize("damage, fragment", [
    (lambda d: _edit_config(d, **{"featurizer.token_pattern": "(unclosed"}), "not a valid regular expression"),
    (lambda d: _edit_config(d, **{"featurizer.token_pattern": r"(\w+)+$"}), "exponential"),
    (lambda d: _edit_config(d, **{"featurizer.token_pattern": r"(a)\1"}), "backreference"),
    (lambda d: _edit_config(d, **{"featurizer.token_pattern": r"x*"}), "empty string"),
    (lambda d: _edit_config(d, format_version=99), "newer textdistill"),
    (lambda d: _edit_config(d, **{"featurizer.version": 7}), "featurizer version 7"),
    (lambda d: _edit_config(d, **{"featurizer.min_n": 3, "featurizer.max_n": 2}), "n-gram range"),
    (lambda d: _edit_config(d, table_dtype="bfloat3"), "table_dtype"),
    (lambda d: _edit_config(d, vocab_size=7), "shape"),
    (_dup_vocab, "duplicate n-gram hashes"),
    (_reshape_weights, "shape"),
    (_nan_head, "NaN"),
    (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:-100]), "truncated"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json"), "corrupt"),
    (lambda d: (d / "vocab.safetensors").unlink(), "missing vocab.safetensors"),
])
def test_broken_model_directories_are_one_line_errors_naming_the_directory(saved, tmp_path, damage, fragment):
    copy = tmp_path / "broken"
    shutil.copytree(saved, copy)
    damage(copy)
    with pytest.raises(ModelError) as info:
        Student.from_pretrained(copy)
    message = str(info.value)
    assert fragment in message and str(copy) in message and "\n" not in message


@pytest.mark.skipif(kernels() is None, reason="numba not installed")
def test_compiled_and_numpy_runtimes_agree_on_a_saved_student(saved):
    fast = Student.from_pretrained(saved)
    slow = Student.from_pretrained(saved).set_backend("numpy")
    assert fast.compiled and not slow.compiled
    texts = corpus(300, seed=3) + ["", "今天", "unknown"]
    assert np.allclose(fast.predict_logits(texts), slow.predict_logits(texts), atol=1e-5)
    assert fast.known_ngrams(texts).tolist() == slow.known_ngrams(texts).tolist()
    assert fast.known_ngrams(["", "zzz qqq"]).tolist() == [0, 0]


def test_a_prediction_only_install_without_numba_torch_or_scipy_gives_the_same_answers(saved):
    """numpy + safetensors are all predicting needs: the same logits come out with numba, torch and scipy absent."""
    import subprocess
    import sys

    texts = corpus(50, seed=11) + ["", "unknown"]
    code = f"""
import sys, json
for name in ("numba", "torch", "scipy", "transformers", "sklearn"):
    sys.modules[name] = None  # importing any of them now fails
from textdistill.students import Student
s = Student.from_pretrained({str(saved)!r})
assert not s.compiled
print(json.dumps(s.predict_logits({texts!r}).tolist()))
"""
    import os

    env = {**os.environ, "TEXTDISTILL_KERNEL_CACHE": str(saved.parent / "no-kernels-built-here")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    got = np.array(json.loads(proc.stdout))
    assert np.allclose(got, Student.from_pretrained(saved).predict_logits(texts), atol=1e-5)
