"""Distributed labelling, vocabulary, encoding and streaming (issue 12) on a local Ray (2 CPUs, started once).

Skipped where Ray is not installed (``pip install 'textdistill[ray]'``); the parts that need no Ray (batch orders,
the CLI's flag checks) run everywhere.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import build_tiny_teacher

from textdistill.distributed.streaming import window_batches
from textdistill.teachers.cache import TeacherCache

ROOT = Path(__file__).resolve().parents[1]


# -- needs no Ray --------------------------------------------------------------------------------------------------
def test_window_batches_shuffle_like_the_trainer_when_rows_fit_one_window():
    rows = np.arange(1000)
    got = window_batches(rows, 64, np.random.default_rng(3), window=1000)
    order = rows[np.random.default_rng(3).permutation(1000)]  # what Trainer._batches does in memory
    expected = [order[s:s + 64] for s in range(0, 1000, 64)]
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_window_batches_visit_every_row_once_window_by_window():
    rows = np.arange(10, 1010)
    batches = window_batches(rows, 50, np.random.default_rng(0), window=300)
    flat = np.concatenate(batches)
    assert np.array_equal(np.sort(flat), rows)  # every row exactly once
    # each batch stays inside one window of 300 consecutive rows
    assert all(len(np.unique((b - 10) // 300)) == 1 for b in batches)
    assert not np.array_equal(flat, rows)  # and the epoch is shuffled


def run_cli(*args, timeout=300, **env_vars):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           **env_vars}
    return subprocess.run([sys.executable, "-m", "textdistill.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_ray_flags_without_ray_are_a_one_line_error(tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("a\nb\n")
    res = run_cli("label", "--teacher", tmp_path / "missing", "--input", texts, "--workers", "2")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["error: --workers needs --ray"]


def test_without_ray_installed_the_error_names_the_extra(monkeypatch):
    from textdistill.distributed.cluster import import_ray
    from textdistill.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'textdistill\[ray\]'"):
        import_ray()


class FakeCluster:
    def __init__(self, **resources):
        self.resources = resources

    def cluster_resources(self):
        return self.resources


def test_gpu_actors_where_the_cluster_has_gpus_and_a_teacher_runs_torch():
    from textdistill.distributed.cluster import gpus_per_worker, worker_count
    from textdistill.distributed.config import RayConfig
    from textdistill.errors import ClusterError

    torch_teacher, numpy_teacher = type("T", (), {"model": None})(), object()
    gpu_cluster, cpu_cluster = FakeCluster(CPU=32, GPU=4), FakeCluster(CPU=32)
    auto = RayConfig(address="auto")
    assert gpus_per_worker(auto, gpu_cluster, [numpy_teacher, torch_teacher]) == 1.0
    assert worker_count(auto, gpu_cluster, 1.0) == 4  # one actor per GPU
    assert gpus_per_worker(auto, gpu_cluster, [numpy_teacher]) == 0.0  # a saved student needs no GPU
    assert gpus_per_worker(auto, cpu_cluster, [torch_teacher]) == 0.0 and worker_count(auto, cpu_cluster, 0.0) == 32
    assert worker_count(RayConfig(address="auto", cpus_per_worker=4), cpu_cluster, 0.0) == 8
    half = RayConfig(address="auto", num_gpus_per_worker=0.5)
    assert gpus_per_worker(half, gpu_cluster, [torch_teacher]) == 0.5 and worker_count(half, gpu_cluster, 0.5) == 8
    with pytest.raises(ClusterError, match="--num-gpus-per-worker 1: the cluster has 0 GPUs"):
        worker_count(RayConfig(address="auto", num_gpus_per_worker=1), cpu_cluster, 1.0)


def test_a_damaged_shard_store_is_a_one_line_error(tmp_path):
    from textdistill.distributed.shards import ShardedRows
    from textdistill.errors import DataError

    (tmp_path / "meta.json").write_text(json.dumps({"format": "textdistill-shards-v1", "shards": [
        {"index": 0, "texts": 3, "ids": 5}]}))
    np.save(tmp_path / "rows-00000.npy", np.arange(5, dtype=np.int32))
    np.save(tmp_path / "offsets-00000.npy", np.array([0, 2, 4], dtype=np.int64))  # 2 texts, meta says 3
    with pytest.raises(DataError, match="shard store .*: unreadable .*does not match meta.json"):
        ShardedRows(tmp_path)
    np.save(tmp_path / "offsets-00000.npy", np.array([0, 2, 2, 5], dtype=np.int64))
    rows, offsets = ShardedRows(tmp_path).gather(np.array([2, 0, 1]))
    assert rows.tolist() == [2, 3, 4, 0, 1] and offsets.tolist() == [0, 3, 5]


def test_label_with_several_teachers_fills_each_cache(tmp_path):
    teachers = [build_tiny_teacher(tmp_path / f"t{s}", num_labels=2, seed=s) for s in (0, 1)]
    data = tmp_path / "texts.txt"
    data.write_text("".join(f"good movie {i}\n" for i in range(30)))
    res = run_cli("--threads", "1", "label", "--teacher", teachers[0], "--teacher", teachers[1], "--input", data,
                  "--cache", tmp_path / "cache")
    assert res.returncode == 0, res.stderr
    folders = sorted((tmp_path / "cache").iterdir())
    assert len(folders) == 2  # one fingerprint each
    assert all(len(TeacherCache(tmp_path / "cache", f.name)) == 30 for f in folders)


# -- on a local Ray --------------------------------------------------------------------------------------------------
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'textdistill[ray]')")
pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'textdistill[ray]')")

from textdistill.distributed.labelling import label_on_ray  # noqa: E402
from textdistill.teachers.cache import label_with_cache, text_keys  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    import logging

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fake teachers below travel by value
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


class FakeTeacher:
    """A numpy teacher: logits from the text keys, so any process computes the same; ``delay`` per call."""

    name, num_labels, label_names, source = "fake", 2, None, "fake"

    def __init__(self, fingerprint="fake-v1", delay=0.0, die_once_marker=None):
        self.fingerprint, self.delay, self.marker = fingerprint, delay, die_once_marker

    def logits(self, texts, pairs=None, progress=False):
        time.sleep(self.delay)
        if self.marker is not None and not os.path.exists(self.marker):  # the first call anywhere kills its worker
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        keys = text_keys(texts, pairs)
        return np.stack([(keys % 97).astype(np.float32), (keys % 89).astype(np.float32)], axis=1)


def chunk_keys(cache_dir: Path) -> dict:
    from safetensors.numpy import load_file

    return {p.name: load_file(str(p))["keys"] for p in sorted(cache_dir.glob("chunk-*.safetensors"))}


def test_ray_labels_equal_single_process_for_several_teachers_in_one_job(local_ray, tmp_path):
    from textdistill.teachers.base import load_teachers

    teachers = load_teachers([str(build_tiny_teacher(tmp_path / f"t{s}", num_labels=3, seed=s)) for s in (0, 1)])
    texts = [f"the movie was {'very ' * (i % 5)}good {i}" for i in range(150)] + ["the plot"] * 3 + ["nul\x00 text"]
    report = label_on_ray(teachers, texts, cache_root=tmp_path / "ray", ray="auto", chunk_size=40, progress=False)
    assert report.texts == 152 and [t["labelled"] for t in report.teachers] == [152, 152]
    for teacher in teachers:
        single = label_with_cache(teacher, texts, cache_root=tmp_path / "single", chunk_size=40, progress=False)
        from_ray = label_with_cache(teacher, texts, cache_root=tmp_path / "ray", progress=False)  # labels nothing
        np.testing.assert_allclose(from_ray, single, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(single, teacher.logits(texts), rtol=1e-5, atol=1e-6)
        names = list(chunk_keys(tmp_path / "ray" / teacher.fingerprint))
        assert len(names) == 4 and all(n.startswith("chunk-k") for n in names)  # 152 texts / 40: named by keys
    # and the other way round: Ray finds what single-process labelling stored, and labels nothing
    again = label_on_ray(teachers, texts[::-1], cache_root=tmp_path / "single", ray="auto", progress=False)
    assert again.labelled == 0 and again.num_workers == 0


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(local_ray, tmp_path):
    marker = tmp_path / "killed"
    teacher = FakeTeacher(delay=0.05, die_once_marker=str(marker))
    texts = [f"text {i}" for i in range(160)]
    report = label_on_ray(teacher, texts, cache_root=tmp_path, ray="auto", chunk_size=16, progress=False)
    assert marker.exists()  # a worker did die (SIGKILL) during the job
    assert report.labelled == 160
    stored = chunk_keys(tmp_path / teacher.fingerprint)
    keys = np.concatenate(list(stored.values()))
    assert len(stored) == 10 and len(keys) == 160 and len(np.unique(keys)) == 160  # every text once, in one chunk
    np.testing.assert_array_equal(np.sort(keys), np.sort(text_keys(texts)))
    out = label_with_cache(FakeTeacher(), texts, cache_root=tmp_path, progress=False)
    np.testing.assert_array_equal(out, FakeTeacher().logits(texts))


KILLED_DRIVER = textwrap.dedent('''
    import sys, time
    import numpy as np
    import ray
    from textdistill.distributed.labelling import label_on_ray
    from textdistill.teachers.cache import text_keys

    class SlowTeacher:
        name, num_labels, label_names, source, fingerprint = "fake", 2, None, "fake", "fake-v1"
        def logits(self, texts, pairs=None, progress=False):
            time.sleep(0.5)
            keys = text_keys(texts, pairs)
            return np.stack([(keys % 97).astype(np.float32), (keys % 89).astype(np.float32)], axis=1)

    ray.init(address=sys.argv[1])
    texts = [f"text {i}" for i in range(int(sys.argv[3]))]
    label_on_ray(SlowTeacher(), texts, cache_root=sys.argv[2], ray="auto", chunk_size=8, progress=False)
    print("finished")
''')


def test_a_killed_job_resumes_without_relabelling_finished_chunks(local_ray, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(KILLED_DRIVER)
    folder = tmp_path / "cache" / "fake-v1"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    address = local_ray.get_runtime_context().gcs_address
    proc = subprocess.Popen([sys.executable, str(script), address, str(tmp_path / "cache"), "200"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while len(list(folder.glob("chunk-*.safetensors"))) < 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # the driver dies mid-job
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = {name: (folder / name).stat().st_mtime_ns for name in chunk_keys(folder)}
    finished = np.concatenate(list(chunk_keys(folder).values()))
    assert 3 <= len(before) < 25, "the job was not killed midway"

    texts = [f"text {i}" for i in range(200)]
    report = label_on_ray(FakeTeacher(), texts, cache_root=tmp_path / "cache", ray="auto", chunk_size=8,
                          progress=False)
    assert report.labelled == 200 - len(finished)  # only what the killed run had not finished
    after = chunk_keys(folder)
    assert {n: (folder / n).stat().st_mtime_ns for n in before} == before  # finished chunks untouched
    keys = np.concatenate(list(after.values()))
    assert len(keys) == 200 and len(np.unique(keys)) == 200
    assert len(after) == 25  # the same 25 chunks a run without the kill writes (chunks are cut by position)
    np.testing.assert_array_equal(label_with_cache(FakeTeacher(), texts, cache_root=tmp_path / "cache",
                                                   progress=False), FakeTeacher().logits(texts))


def test_vocabulary_map_reduce_equals_single_process_fit(local_ray):
    from textdistill.distributed.vocabulary import count_vocabulary
    from textdistill.featurizers.ngrams import NgramConfig, NgramFeaturizer

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(3000)]
    config = NgramConfig(max_features=1000, min_count=2)  # 1,416 n-grams are seen twice: the cap applies
    keys, counts, distinct = count_vocabulary(local_ray, config, [texts[:1700], texts[1700:]], block_size=400,
                                              slots=3, progress=False)
    fitted = NgramFeaturizer(config).fit(texts)
    np.testing.assert_array_equal(keys, fitted.ranked_hashes())
    np.testing.assert_array_equal(counts, fitted.counts_)
    assert distinct == fitted.distinct_ngrams_ and len(keys) == 1000


def test_distill_on_ray_trains_the_same_student_from_shards(local_ray, tmp_path):
    """Pairs, so both segments go through shards; the vocabulary, the encoding and the batches are those of the
    in-memory run, so the two students are the same numbers."""
    from textdistill.data.readers import TextDataset
    from textdistill.distributed.config import ShardConfig
    from textdistill.distributed.shards import ShardedRows
    from textdistill.pipeline import distill
    from textdistill.students.dan import DANConfig
    from textdistill.training.config import TrainConfig

    teacher = build_tiny_teacher(tmp_path / "teacher", num_labels=2, label_names=["no", "yes"])
    rng = np.random.default_rng(1)
    words = "what who is the movie good bad plot story actors fun dull a it".split()

    def pairs(n, labelled=True):
        a = [" ".join(rng.choice(words, size=rng.integers(2, 7))) + f" {i}" for i in range(n)]
        b = [" ".join(rng.choice(words, size=rng.integers(2, 9))) for _ in range(n)]
        return TextDataset(a, b, [str(rng.choice(["no", "yes"])) for _ in range(n)] if labelled else None)

    train, dev, extra = pairs(120), pairs(40), pairs(300, labelled=False)
    shard_dir = tmp_path / "shards"
    common = dict(teacher=str(teacher), dev=dev, unlabeled=[extra], progress=False, log=lambda m: None,
                  student_config=DANConfig(embedding_dim=8, hidden_dim=8),
                  train_config=TrainConfig(epochs=2, finetune_epochs=1, batch_size=16))
    on_ray, report = distill(train, cache=tmp_path / "cache", ray="auto",
                             shards=ShardConfig(block_size=100, shard_dir=str(shard_dir)), **common)
    assert report.teachers[0]["fingerprint"] in {p.name for p in (tmp_path / "cache").iterdir()}
    first = ShardedRows(shard_dir / "texts")
    assert len(first.meta["shards"]) == 5 and len(first) == 420 and (shard_dir / "pairs" / "meta.json").is_file()
    in_memory, _ = distill(train, cache=tmp_path / "cache", **common)
    np.testing.assert_array_equal(on_ray.featurizer.ranked_hashes(), in_memory.featurizer.ranked_hashes())
    np.testing.assert_allclose(on_ray.predict_logits(dev.texts, dev.pairs),
                               in_memory.predict_logits(dev.texts, dev.pairs), rtol=1e-5, atol=1e-6)
    # the shards hold exactly the in-memory encoding, and take() gathers batches as RaggedRows does
    from textdistill.training.families.dan import DANFamily

    family = DANFamily(DANConfig(embedding_dim=8, hidden_dim=8))
    family.featurizer.set_vocabulary(on_ray.featurizer.ranked_hashes())
    texts = list(train.texts) + list(extra.texts)
    ragged, _ = family.encode(texts)
    idx = np.array([419, 0, 250, 99, 100, 101, 7, 7])
    for got, want in zip(first.take(idx), ragged.take(idx)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_label_cli_on_ray_then_single_process_labels_nothing(local_ray, tmp_path):
    teacher = build_tiny_teacher(tmp_path / "teacher", num_labels=2)
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": f"good movie {i}"}) + "\n" for i in range(50)))
    address = local_ray.get_runtime_context().gcs_address
    res = run_cli("--threads", "1", "label", "--teacher", teacher, "--input", data, "--cache", tmp_path / "cache",
                  "--ray", address, "--workers", "1", "--chunk-size", "20")
    assert res.returncode == 0, res.stderr
    assert f"{data}: 50 texts labelled" in res.stderr and "teacher labelling on Ray (1 workers)" in res.stderr
    folder = next((tmp_path / "cache").iterdir())
    assert len(list(folder.glob("chunk-k*.safetensors"))) == 3
    again = run_cli("label", "--teacher", teacher, "--input", data, "--cache", tmp_path / "cache")
    assert again.returncode == 0 and "teacher labelling" not in again.stderr  # all 50 found in Ray's chunks
    assert len(TeacherCache(tmp_path / "cache", folder.name)) == 50


def test_an_unreachable_cluster_is_a_one_line_error_not_a_hang(tmp_path):
    data = tmp_path / "texts.txt"
    data.write_text("a good movie\n")
    started = time.time()
    res = run_cli("label", "--teacher", build_tiny_teacher(tmp_path / "t"), "--input", data, "--cache",
                  tmp_path / "cache", "--ray", "127.0.0.1:1")
    assert res.returncode == 2 and time.time() - started < 60
    lines = res.stderr.strip().splitlines()  # checked before anything is read or labelled: the only line
    assert len(lines) == 1 and lines[0].startswith("error: --ray 127.0.0.1:1: nothing answers at 127.0.0.1:1")


def test_a_teacher_that_cannot_travel_to_the_workers_is_a_one_line_error(local_ray, tmp_path):
    import threading

    from textdistill.errors import ClusterError

    teacher = FakeTeacher()
    teacher.lock = threading.Lock()  # cannot be pickled
    with pytest.raises(ClusterError, match="teacher fake cannot be sent to Ray workers .*lock"):
        label_on_ray(teacher, ["a", "b"], cache_root=tmp_path, ray="auto", progress=False)


def test_distill_cli_with_and_without_ray_saves_the_same_student(local_ray, tmp_path):
    from textdistill.students import Student

    teacher = build_tiny_teacher(tmp_path / "teacher", num_labels=2, label_names=["neg", "pos"])
    rng = np.random.default_rng(2)
    words = "good great fun bad awful dull movie film plot the a very".split()

    def write(name, n, labelled=True):
        rows = [{"text": " ".join(rng.choice(words, size=rng.integers(2, 8))) + f" {name}{i}"} for i in range(n)]
        if labelled:
            for r in rows:
                r["label"] = str(rng.choice(["neg", "pos"]))
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    train, dev, extra = write("train", 80), write("dev", 30), write("extra", 200, labelled=False)
    common = ["--threads", "1", "distill", "--teacher", teacher, "--train", train, "--dev", dev, "--unlabeled", extra,
              "--cache", tmp_path / "cache", "--epochs", "1", "--finetune-epochs", "1", "--embedding-dim", "8",
              "--hidden-dim", "8", "--dtype", "float32"]
    address = local_ray.get_runtime_context().gcs_address
    shards = tmp_path / "shards"
    on_ray = run_cli(*common, "--out", tmp_path / "ray", "--ray", address, "--block-size", "64",
                     TEXTDISTILL_SHARDS=str(shards))
    assert on_ray.returncode == 0, on_ray.stderr
    assert "vocabulary:" in on_ray.stderr and "encoding: 280 texts into 5 shards" in on_ray.stderr
    assert str(shards) in on_ray.stderr and not any(shards.iterdir())  # the default shards go once it is saved
    plain = run_cli(*common, "--out", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    texts = [json.loads(line)["text"] for line in dev.read_text().splitlines()]
    a, b = Student.from_pretrained(tmp_path / "ray"), Student.from_pretrained(tmp_path / "plain")
    np.testing.assert_allclose(a.predict_logits(texts), b.predict_logits(texts), rtol=1e-5, atol=1e-6)
