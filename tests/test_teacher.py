"""Teacher inference, the on-disk teacher-output cache and teacher fine-tuning, on a tiny random BERT."""

import json
import shutil
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from textdistill.errors import DataError, ModelError  # noqa: E402
from textdistill.training.finetune import FinetuneConfig, finetune_teacher  # noqa: E402
from textdistill.teachers.huggingface import Teacher  # noqa: E402
from textdistill.teachers.cache import (  # noqa: E402
    TeacherCache,
    default_cache_root,
    label_with_cache,
    text_key,
    text_keys,
)

REAL_LOGITS = Teacher.logits

TEXTS = [
    "the movie was great fun",
    "awful",
    "a very very boring film with a dull plot and bad actors , i hated it so much",
    "best story",
    "not good",
    "i loved this movie !",
    "",
    "what is the question ?",
    "so bad it was good",
    "the actors were quite good but the story was too dull",
]


@pytest.fixture(scope="module")
def teacher(tiny_teacher_dir):
    return Teacher.from_pretrained(tiny_teacher_dir, batch_size=4)


class SimulatedKill(Exception):
    pass


class CountingLogits:
    """Wraps Teacher.logits (via monkeypatch) to record every text it labels; optionally fails after some calls."""

    def __init__(self, fail_after_calls=None):
        self.original = REAL_LOGITS
        self.labelled: list[str] = []
        self.calls = 0
        self.fail_after_calls = fail_after_calls

    def __call__(self, teacher, texts, pairs=None, **kwargs):
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise SimulatedKill("simulated kill")
        self.calls += 1
        self.labelled.extend(texts)
        return self.original(teacher, texts, pairs, **kwargs)

    def install(self, monkeypatch):
        def logits(teacher, texts, pairs=None, **kwargs):
            return self(teacher, texts, pairs, **kwargs)

        monkeypatch.setattr(Teacher, "logits", logits)
        return self


# -- Teacher ---------------------------------------------------------------------------------------------------------
def test_logits_shape_dtype_and_labels(teacher):
    out = teacher.logits(TEXTS)
    assert out.shape == (len(TEXTS), 3) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert teacher.num_labels == 3
    assert teacher.label_names == ["class_0", "class_1", "class_2"]
    assert teacher.max_length == 128  # tokenizer model_max_length (128), under the 512 cap
    assert teacher.logits([]).shape == (0, 3)
    # different texts really give different outputs (the model is not constant)
    assert not np.allclose(out[0], out[1])


def test_order_restored_and_batching_invariant(tiny_teacher_dir, teacher):
    out = teacher.logits(TEXTS)
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    shuffled = teacher.logits([TEXTS[i] for i in perm])
    np.testing.assert_allclose(shuffled, out[perm], rtol=1e-5, atol=1e-5)
    one_by_one = Teacher.from_pretrained(tiny_teacher_dir, batch_size=1).logits(TEXTS)
    np.testing.assert_allclose(one_by_one, out, rtol=1e-4, atol=1e-5)


def test_gpu_batching_path_gives_the_plain_answers_on_the_cpu(tiny_teacher_dir, teacher):
    """What a GPU teacher runs (batches sized by tokens, tokenized in background threads, many batches copied back
    at once), forced on here on the CPU: the same logits, in the caller's order, as the plain loop."""
    texts = TEXTS * 7 + [f"text number {i} " * (i % 9) for i in range(40)]
    plain = teacher.logits(texts)
    fast = Teacher.from_pretrained(tiny_teacher_dir, batch_size=4)
    fast.pipelined, fast.max_tokens = True, 64  # small budgets: many batches of different sizes
    np.testing.assert_allclose(fast.logits(texts), plain, rtol=1e-4, atol=1e-5)
    lengths = np.array([len(t) for t in texts])
    order = np.argsort(-lengths, kind="stable")
    batches = fast.token_batches(order, lengths)
    assert np.array_equal(np.concatenate(batches), order)  # every row once, longest first
    assert len({len(b) for b in batches}) > 1  # sized by tokens: short texts travel in larger batches
    for b in batches:
        longest = min(lengths[b[0]] // 4 + 3, fast.max_length)
        assert len(b) == 1 or len(b) * longest <= fast.max_tokens


def test_pairs(teacher):
    firsts = ["what is a movie ?", "who loved it ?", "why"]
    seconds = ["a film", "i did", "because it was good fun and the story was great"]
    out = teacher.logits(firsts, seconds)
    assert out.shape == (3, 3)
    singles = [teacher.logits([f], [s])[0] for f, s in zip(firsts, seconds)]
    np.testing.assert_allclose(out, np.stack(singles), rtol=1e-4, atol=1e-5)
    assert not np.allclose(out, teacher.logits(firsts))  # the second segment is used
    with pytest.raises(DataError):
        teacher.logits(firsts, seconds[:2])


def test_truncation_of_long_texts(tiny_teacher_dir, teacher):
    long_text = "the movie was great fun " * 500  # ~2,500 tokens, far beyond 128 positions
    out = teacher.logits([long_text, "good"], progress=True)
    assert out.shape == (2, 3) and np.isfinite(out).all()
    # texts equal in their first max_length tokens get the same logits
    short = Teacher.from_pretrained(tiny_teacher_dir, max_length=8)
    a, b = short.logits(["the movie was great fun and good", "the movie was great fun and bad bad bad"])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    start = time.perf_counter()
    pair_out = short.logits([long_text, "fun"], [long_text, long_text])
    assert pair_out.shape == (2, 3) and time.perf_counter() - start < 5.0
    # clipping long pair segments (to 1,024 characters here) keeps the tokens the model sees
    tok, clip = short.tokenizer, 1024
    medium = "the movie was great fun " * 60  # 1,440 characters
    for a, b in [(medium, medium), ("fun", medium), (medium, "good bad"), (medium[:300], medium)]:
        full = tok(a, b, truncation=True, max_length=8)["input_ids"]
        assert tok(a[:clip], b[:clip], truncation=True, max_length=8)["input_ids"] == full


def test_teacher_card_sets_max_length(tiny_teacher_dir, tmp_path):
    copy = tmp_path / "t"
    shutil.copytree(tiny_teacher_dir, copy)
    (copy / "teacher_card.json").write_text(json.dumps({"max_length_for_inference": 16}))
    assert Teacher.from_pretrained(copy).max_length == 16
    assert Teacher.from_pretrained(copy, max_length=32).max_length == 32


def test_fingerprint_stable_across_loads_and_copies(tiny_teacher_dir, teacher, tmp_path):
    again = Teacher.from_pretrained(tiny_teacher_dir, batch_size=4)
    assert again.fingerprint == teacher.fingerprint
    assert len(teacher.fingerprint) >= 16 and int(teacher.fingerprint, 16) >= 0
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tiny_teacher_dir, copy)
    assert Teacher.from_pretrained(copy).fingerprint == teacher.fingerprint
    assert Teacher.from_pretrained(copy, max_length=64).fingerprint != teacher.fingerprint
    # different weights -> different fingerprint
    from conftest import build_tiny_teacher

    other = build_tiny_teacher(tmp_path / "other", seed=1)
    assert Teacher.from_pretrained(other).fingerprint != teacher.fingerprint


def test_missing_or_incomplete_dir_is_model_error(tiny_teacher_dir, tmp_path):
    with pytest.raises(ModelError) as err:
        Teacher.from_pretrained(tmp_path / "nope")
    assert "does not exist" in str(err.value) and "\n" not in str(err.value)

    no_weights = tmp_path / "no_weights"
    shutil.copytree(tiny_teacher_dir, no_weights)
    for p in no_weights.glob("*.safetensors"):
        p.unlink()
    with pytest.raises(ModelError) as err:
        Teacher.from_pretrained(no_weights)
    assert "weights" in str(err.value) and "\n" not in str(err.value)

    no_config = tmp_path / "no_config"
    shutil.copytree(tiny_teacher_dir, no_config)
    (no_config / "config.json").unlink()
    with pytest.raises(ModelError, match="missing config.json"):
        Teacher.from_pretrained(no_config)

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_teacher_dir, corrupt)
    weights = next(corrupt.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError) as err:
        Teacher.from_pretrained(corrupt)
    assert "\n" not in str(err.value)


def test_bare_encoder_is_not_a_teacher(tmp_path):
    from conftest import build_tiny_tokenizer
    from transformers import BertConfig, BertModel

    tokenizer = build_tiny_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(tmp_path / "encoder")
    tokenizer.save_pretrained(tmp_path / "encoder")
    with pytest.raises(ModelError, match="not a trained classifier") as err:
        Teacher.from_pretrained(tmp_path / "encoder")
    assert "classifier.weight" in str(err.value) and "\n" not in str(err.value)
    # ... but it is a fine base for fine-tuning, which adds the head
    texts, labels = _tiny_task()
    metrics = finetune_teacher(str(tmp_path / "encoder"), texts, labels, 3, tmp_path / "ft", label_names=list("abc"),
                               config=FinetuneConfig(epochs=0.2, batch_size=8, max_length=16), progress=False)
    assert metrics["new_weights"] == ["classifier.bias", "classifier.weight"]
    assert Teacher.from_pretrained(tmp_path / "ft").num_labels == 3


def test_unknown_hub_id_offline_is_model_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        Teacher.from_pretrained("textdistill-test/no-such-model")
    assert "Hub" in str(err.value) and "\n" not in str(err.value)


# -- cache -----------------------------------------------------------------------------------------------------------
def test_text_keys():
    k = text_key("hello")
    assert isinstance(k, int) and 0 <= k < 2**64
    assert k == text_key("hello") != text_key("hello ")
    assert text_key("a", "b") != text_key("a") != text_key("ab")
    assert text_key("a", "bc") != text_key("ab", "c")
    assert text_key("a", "") != text_key("a")
    arr = text_keys(["hello", "a"], ["x", "b"])
    assert arr.dtype == np.uint64 and arr.tolist() == [text_key("hello", "x"), text_key("a", "b")]
    with pytest.raises(DataError, match="text #1 is NoneType"):
        text_keys(["a", None])


def test_default_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTDISTILL_CACHE", str(tmp_path / "c"))
    assert default_cache_root() == tmp_path / "c"
    monkeypatch.delenv("TEXTDISTILL_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_root().parts[-3:] == (".cache", "textdistill", "teacher-outputs")


def test_cache_lookup_add_and_reload(tmp_path):
    cache = TeacherCache(tmp_path, "abc123")
    assert len(cache) == 0 and not (tmp_path / "abc123").exists()  # created lazily
    keys = np.array([5, 1, 2**63 + 7], dtype=np.uint64)
    logits = np.arange(6, dtype=np.float32).reshape(3, 2)
    cache.add(keys, logits)
    cache.add(np.array([9], dtype=np.uint64), np.array([[9.0, 9.5]], dtype=np.float32))
    found, got = cache.lookup(np.array([1, 3, 2**63 + 7, 9], dtype=np.uint64))
    assert found.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(got[[0, 2, 3]], [[2, 3], [4, 5], [9, 9.5]])
    assert np.isnan(got[1]).all()
    fresh = TeacherCache(tmp_path, "abc123")
    assert len(fresh) == 4
    np.testing.assert_array_equal(fresh.lookup(keys)[1], logits)
    assert not TeacherCache(tmp_path, "other").lookup(keys)[0].any()  # keyed by fingerprint
    fresh.compact()
    assert len(fresh.chunk_files()) == 1 and len(TeacherCache(tmp_path, "abc123")) == 4


def test_cache_lookup_many_keys_is_fast(tmp_path):
    import time

    cache = TeacherCache(tmp_path, "big")
    keys = np.random.default_rng(0).integers(0, 2**63, size=200_000, dtype=np.int64).astype(np.uint64)
    cache.add(keys, np.zeros((len(keys), 2), dtype=np.float32))
    start = time.perf_counter()
    found, _ = TeacherCache(tmp_path, "big").lookup(keys[::-1])
    assert found.all() and time.perf_counter() - start < 2.0


def test_corrupt_chunk_and_tmp_leftovers_are_ignored(tmp_path):
    cache = TeacherCache(tmp_path, "fp")
    cache.add(np.array([1, 2], dtype=np.uint64), np.ones((2, 3), dtype=np.float32))
    folder = tmp_path / "fp"
    good = cache.chunk_files()[0]
    (folder / "chunk-99999999999999999999-1-dead.safetensors").write_bytes(good.read_bytes()[:-5])  # truncated
    (folder / "chunk-99999999999999999999-2-beef.safetensors").write_bytes(b"not a safetensors file")
    (folder / ".chunk-0-0-0.safetensors.tmp").write_bytes(b"half written")
    with pytest.warns(RuntimeWarning, match="ignoring unreadable chunk") as record:
        fresh = TeacherCache(tmp_path, "fp")
        found, got = fresh.lookup(np.array([1, 2, 3], dtype=np.uint64))
    assert found.tolist() == [True, True, False] and (got[:2] == 1).all()
    assert len(record) == 2 and not any(".tmp" in str(w.message) for w in record)


def test_label_with_cache_labels_each_text_once(teacher, tmp_path, monkeypatch):
    counter = CountingLogits().install(monkeypatch)
    texts = TEXTS + TEXTS[:4]  # duplicates within the request
    out = label_with_cache(teacher, texts, cache_root=tmp_path, chunk_size=3, progress=True)
    expected = counter.original(teacher, texts)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert sorted(counter.labelled) == sorted(TEXTS)  # each unique text exactly once
    assert counter.calls == 4  # ceil(10 unique / 3)

    counter.labelled.clear()
    again = label_with_cache(teacher, texts[::-1], cache_root=tmp_path, progress=False)
    assert counter.labelled == []
    np.testing.assert_allclose(again, expected[::-1], rtol=1e-5, atol=1e-6)

    more = label_with_cache(teacher, ["brand new text", TEXTS[0]], cache_root=tmp_path, progress=False)
    assert counter.labelled == ["brand new text"]
    np.testing.assert_allclose(more[1], expected[0], rtol=1e-5, atol=1e-6)


def test_label_with_cache_pairs(teacher, tmp_path):
    firsts, seconds = ["a", "a", "b"], ["x", "y", "x"]
    out = label_with_cache(teacher, firsts, seconds, cache_root=tmp_path, progress=False)
    np.testing.assert_allclose(out, teacher.logits(firsts, seconds), rtol=1e-5, atol=1e-6)
    single = label_with_cache(teacher, ["a"], cache_root=tmp_path, progress=False)
    np.testing.assert_allclose(single, teacher.logits(["a"]), rtol=1e-5, atol=1e-6)


def test_label_with_cache_resumes_after_kill(teacher, tmp_path, monkeypatch):
    texts = [f"{w} movie {i}" for i, w in enumerate(["good", "bad", "dull", "great", "fun"] * 4)]  # 20 texts
    killer = CountingLogits(fail_after_calls=2).install(monkeypatch)
    with pytest.raises(SimulatedKill):
        label_with_cache(teacher, texts, cache_root=tmp_path, chunk_size=6, progress=True)
    assert len(killer.labelled) == 12 and len(TeacherCache(tmp_path, teacher.fingerprint)) == 12

    resumed = CountingLogits().install(monkeypatch)
    out = label_with_cache(teacher, texts, cache_root=tmp_path, chunk_size=6, progress=False)
    assert sorted(resumed.labelled) == sorted(set(texts) - set(killer.labelled))
    assert len(resumed.labelled) == 8
    fresh = resumed.original(teacher, texts)
    np.testing.assert_allclose(out, fresh, rtol=1e-5, atol=1e-6)


# -- fine-tuning -----------------------------------------------------------------------------------------------------
def _tiny_task():
    pos = ["good movie", "great fun", "i loved it", "best film", "really good story", "great actors",
           "fun fun fun", "loved the plot", "so good", "the best movie", "good good", "very great",
           "what a great film", "i love this"]
    neg = ["bad movie", "awful", "i hated it", "worst film", "really boring story", "bad actors",
           "dull dull", "hated the plot", "so bad", "the worst movie", "boring boring", "very awful",
           "what a dull film", "i hate this"]
    texts = pos + neg + ["a question ?", "who is it ?", "what is this", "why", "how", "when is it ?",
                         "where is it", "yes or no ?", "is it ?", "who ?", "what ?", "why not ?"]
    labels = np.array([0] * len(pos) + [1] * len(neg) + [2] * 12)
    return texts, labels


def test_finetune_saves_a_loadable_teacher(tiny_teacher_dir, tmp_path):
    texts, labels = _tiny_task()
    names = ["positive", "negative", "question"]
    out = tmp_path / "ft"
    cfg = FinetuneConfig(epochs=1, lr=1e-3, batch_size=8, max_length=24, eval_every=2)
    metrics = finetune_teacher(str(tiny_teacher_dir), texts, labels, 3, out, label_names=names,
                               dev_texts=texts[::3], dev_label_ids=labels[::3], config=cfg, progress=True)
    assert metrics["steps"] == 5 and metrics["dev_examples"] == 14
    assert len(metrics["evaluations"]) == 3  # steps 2, 4 and the end
    assert metrics["dev_metric"] == "accuracy" and metrics["dev_score"] == metrics["dev_accuracy"]
    scores = [e["dev_accuracy"] for e in metrics["evaluations"]]
    assert metrics["dev_accuracy"] == max(scores)
    assert metrics["best_step"] == (2, 4, 5)[scores.index(max(scores))]  # the first evaluation with the best score
    files = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "teacher_card.json"} <= files
    card = json.loads((out / "teacher_card.json").read_text())
    assert card["max_length_for_inference"] == 24 and card["base_model"] == str(tiny_teacher_dir)
    assert card["dev_accuracy"] == metrics["dev_accuracy"] and card["training"]["lr"] == 1e-3
    assert "train_seconds" in card["training"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left behind

    # the kept weights are the best evaluation's: the saved teacher, re-loaded, scores exactly that on dev
    t = Teacher.from_pretrained(out)
    assert t.label_names == names and t.max_length == 24
    acc = (t.logits(texts[::3]).argmax(1) == labels[::3]).mean()
    assert metrics["dev_accuracy"] == pytest.approx(acc, abs=1e-6)
    # training changed the weights
    base_logits = Teacher.from_pretrained(tiny_teacher_dir, max_length=24).logits(texts[:5])
    assert not np.allclose(t.logits(texts[:5]), base_logits)


def test_finetune_records_the_step_of_each_evaluation(tiny_teacher_dir, tmp_path):
    texts, labels = _tiny_task()
    cfg = FinetuneConfig(epochs=1, lr=1e-3, batch_size=8, max_length=24, eval_every=2)
    metrics = finetune_teacher(str(tiny_teacher_dir), texts, labels, 3, tmp_path / "ft",
                               label_names=["positive", "negative", "question"], dev_texts=texts[::3],
                               dev_label_ids=labels[::3], config=cfg, progress=False)
    assert len(metrics["evaluations"]) == 3
    assert [e["step"] for e in metrics["evaluations"]] == [2, 4, 5]  # every 2 steps, and the end (5 steps)


def test_finetune_learns_and_changes_label_count(tiny_teacher_dir, tmp_path):
    texts, labels = _tiny_task()
    keep = labels < 2  # a two-class task from a three-class base: the head is replaced
    cfg = FinetuneConfig(epochs=6, lr=5e-3, batch_size=8, max_length=16, warmup_ratio=0.1, seed=0)
    metrics = finetune_teacher(str(tiny_teacher_dir), [t for t, k in zip(texts, keep) if k], labels[keep], 2,
                               tmp_path / "two", label_names=["pos", "neg"], config=cfg, progress=False)
    assert metrics["dev_accuracy"] is None
    assert metrics["new_weights"] == ["classifier.bias", "classifier.weight"]
    t = Teacher.from_pretrained(tmp_path / "two")
    assert t.num_labels == 2
    train_acc = (t.predict([t_ for t_, k in zip(texts, keep) if k]) == labels[keep]).mean()
    assert train_acc >= 0.9


def test_finetune_refuses_non_empty_out_dir(tiny_teacher_dir, tmp_path):
    texts, labels = _tiny_task()
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    cfg = FinetuneConfig(epochs=0.1, batch_size=8, max_length=16)
    with pytest.raises(ModelError, match="not empty") as err:
        finetune_teacher(str(tiny_teacher_dir), texts, labels, 3, out, label_names=["a", "b", "c"], config=cfg,
                         progress=False)
    assert "\n" not in str(err.value) and (out / "keep.txt").read_text() == "precious"
    with pytest.raises(ModelError, match="not a textdistill model directory"):  # --overwrite spares non-models
        finetune_teacher(str(tiny_teacher_dir), texts, labels, 3, out, label_names=["a", "b", "c"], config=cfg,
                         progress=False, overwrite=True)
    (out / "keep.txt").unlink()
    finetune_teacher(str(tiny_teacher_dir), texts, labels, 3, out, label_names=["a", "b", "c"], config=cfg,
                     progress=False)
    (out / "stale.txt").write_text("old")
    finetune_teacher(str(tiny_teacher_dir), texts, labels, 3, out, label_names=["a", "b", "c"], config=cfg,
                     progress=False, overwrite=True)
    assert not (out / "stale.txt").exists() and (out / "teacher_card.json").exists()


def test_finetune_bad_inputs(tiny_teacher_dir, tmp_path):
    texts, labels = _tiny_task()
    with pytest.raises(DataError):
        finetune_teacher(str(tiny_teacher_dir), texts, labels[:-1], 3, tmp_path / "x", label_names=["a", "b", "c"])
    with pytest.raises(DataError):
        finetune_teacher(str(tiny_teacher_dir), texts, labels, 2, tmp_path / "x", label_names=["a", "b"])
    with pytest.raises(ModelError, match="does not exist"):
        finetune_teacher(str(tmp_path / "nope"), texts, labels, 3, tmp_path / "x", label_names=["a", "b", "c"])


def test_a_pickle_only_teacher_loads_weights_only_with_a_warning_and_safetensors_wins_where_both_exist(tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    from conftest import build_tiny_teacher

    src = build_tiny_teacher(tmp_path / "src", num_labels=2)
    model = AutoModelForSequenceClassification.from_pretrained(str(src))
    pickled = tmp_path / "pickled"
    shutil.copytree(src, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.warns(UserWarning, match="pickle-based.*weights-only"):
        teacher = Teacher.from_pretrained(str(pickled))
    reference = Teacher.from_pretrained(str(src))
    assert np.allclose(teacher.logits(["a b c", "d"]), reference.logits(["a b c", "d"]), atol=1e-6)
    both = tmp_path / "both"
    shutil.copytree(src, both)
    torch.save({k: torch.zeros_like(v) for k, v in model.state_dict().items()}, both / "pytorch_model.bin")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the safetensors file is used, the (zeroed) pickle ignored
        chosen = Teacher.from_pretrained(str(both))
    assert np.allclose(chosen.logits(["a b c"]), reference.logits(["a b c"]), atol=1e-6)


def test_finetuning_clips_in_model_order_and_saves_the_padding_it_trained_with(tiny_teacher_dir, tmp_path):
    """Gradients are clipped over the parameters in the model's order (the norm is a sum: another order changes its
    last bits, and a teacher rebuilt from the same seed would differ), and the saved tokenizer records the padding
    used in training, as teachers built by earlier versions do (their files, hence cache fingerprints, match)."""
    import json

    from torch import nn

    from textdistill.training.finetune import ScheduledAdamW

    module = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    opt = ScheduledAdamW(module, FinetuneConfig(), total_steps=10, lr=1e-3)
    assert [id(p) for p in opt.params] == [id(p) for p in module.parameters()]
    texts, labels = _tiny_task()
    finetune_teacher(str(tiny_teacher_dir), texts, labels, 3, tmp_path / "ft", label_names=list("abc"),
                     config=FinetuneConfig(epochs=0.2, batch_size=8, max_length=16), progress=False)
    saved = json.loads((tmp_path / "ft" / "tokenizer.json").read_text())
    assert saved["padding"] is not None and saved["padding"]["strategy"] == "BatchLongest"
