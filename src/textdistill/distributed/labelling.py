"""Teacher labelling on Ray Data, into the same on-disk cache as single-process labelling (``teachers/cache.py``).

The plan: the corpus's distinct texts, in the order they first occur, cut into chunks of ``chunk_size`` by
position; a chunk loses the texts the cache already holds (or an earlier input file claims) and a chunk left empty
is done. Each remaining chunk is one row of a Ray Dataset (one block), mapped by a pool of actors that each load
every teacher once (``ChunkLabeler``; GPU actors where the cluster has GPUs) and run it on the chunk in
length-sorted batches (``Teacher.logits``). The driver writes each returned chunk atomically under a name that is
the hash of its keys (``content_chunk_name``), so:

- a killed job rerun plans the same chunks minus the finished ones, and labels only those;
- a worker killed mid-chunk is restarted by Ray and its chunk retried; the chunk reaches the driver once (and a
  repeat would replace its own file, never add a duplicate);
- single-process labelling reads what Ray wrote and the other way round: the files are the same format.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import ClusterError, ConfigError
from ..teachers.cache import TeacherCache, content_chunk_name, text_keys
from .cluster import actor_pool, connected, first_line, gpus_per_worker, job_error, worker_count
from .config import RayConfig


@dataclass
class Chunk:
    """Texts of one corpus that one teacher still has to label: the unit of work, retry and writing."""

    teacher: int  # index into the job's teachers
    corpus: int  # index into the job's corpora
    position: int  # the chunk's place in the corpus (distinct texts in first-occurrence order / chunk_size)
    rows: np.ndarray  # rows of the corpus
    keys: np.ndarray  # their text keys


@dataclass
class LabellingReport:
    """What a job did: per teacher, texts found in the cache and texts labelled; per worker, texts and seconds."""

    texts: int = 0  # distinct texts over all corpora
    teachers: list = field(default_factory=list)  # {"name", "fingerprint", "cached", "labelled", "chunks"}
    workers: dict = field(default_factory=dict)  # "host:pid" -> {"texts", "seconds"}
    num_workers: int = 0
    seconds: float = 0.0  # from submitting the job to the last chunk written (actor start-up included)
    startup_seconds: float = 0.0  # reading the cache, planning, connecting to Ray
    labelling_seconds: float = 0.0  # from the first chunk's start on a worker to the last chunk written
    repeated_chunks: int = 0  # chunks that came back twice (a retried task): written once

    @property
    def labelled(self) -> int:
        return sum(t["labelled"] for t in self.teachers)


def plan_chunks(keys: np.ndarray, cache: TeacherCache, chunk_size: int, *, teacher: int = 0, corpus: int = 0,
                claimed: np.ndarray | None = None) -> list[Chunk]:
    """The chunks of one corpus that ``cache`` (and ``claimed``: keys another corpus of the job labels) lacks."""
    if chunk_size < 1:
        raise ConfigError("chunk_size must be >= 1")
    keys = np.asarray(keys, dtype=np.uint64)
    _, first = np.unique(keys, return_index=True)
    rows = np.sort(first)  # one row per distinct text, in corpus order
    ukeys = keys[rows]
    have = cache.lookup(ukeys)[0]
    if claimed is not None and len(claimed):
        have |= np.isin(ukeys, claimed)
    chunks = []
    for position, start in enumerate(range(0, len(rows), chunk_size)):
        todo = ~have[start:start + chunk_size]
        if todo.any():
            chunks.append(Chunk(teacher, corpus, position, rows[start:start + chunk_size][todo],
                                ukeys[start:start + chunk_size][todo]))
    return chunks


def pack_texts(texts: Sequence[str]) -> tuple[bytes, bytes]:
    """Texts as (UTF-8 bytes of all, int64 byte lengths): Arrow-safe for any Python string, no pickle."""
    parts = [t.encode("utf-8", "surrogatepass") for t in texts]
    return b"".join(parts), np.array([len(p) for p in parts], dtype="<i8").tobytes()


def unpack_texts(blob: bytes, lengths: bytes) -> list[str]:
    ends = np.cumsum(np.frombuffer(lengths, dtype="<i8"))
    starts = np.concatenate([[0], ends[:-1]]) if len(ends) else ends
    view = memoryview(blob)
    return [bytes(view[a:b]).decode("utf-8", "surrogatepass") for a, b in zip(starts.tolist(), ends.tolist())]


def _use_gpu(teacher) -> None:
    """A Hugging Face teacher's model on the actor's GPU, still in float32: the logits keep the teacher's
    fingerprint, so a cache filled on GPUs serves CPU runs (half precision would be a cache of its own)."""
    if hasattr(teacher, "model") and hasattr(teacher, "device"):
        teacher.model.to("cuda")
        teacher.device = "cuda"


class ChunkLabeler:
    """A Ray Data actor: loads every teacher once, then labels one chunk per row it is given."""

    def __init__(self, teachers, cpus: float = 1.0, gpus: float = 0.0):
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        threads = max(1, int(cpus))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import ray

        self.teachers = [ray.get(t) if isinstance(t, ray.ObjectRef) else t for t in teachers]
        torch = sys.modules.get("torch")  # imported by a torch teacher's unpickling; numpy teachers need none
        if torch is not None:
            torch.set_num_threads(threads)
        if gpus > 0:
            if torch is None or not torch.cuda.is_available():
                raise ClusterError(f"a labelling actor with {gpus:g} GPUs sees no CUDA device")
            for t in self.teachers:
                _use_gpu(t)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch) -> dict:
        """``batch``: a pyarrow table of chunk rows (binary columns stay bytes, trailing NULs and all)."""
        rows = batch.to_pylist()
        out = {name: [] for name in ("teacher", "corpus", "position", "keys", "logits", "seconds", "worker",
                                     "started")}
        for row in rows:
            teacher = self.teachers[row["teacher"]]
            texts = unpack_texts(row["texts"], row["text_lengths"])
            pairs = unpack_texts(row["pairs"], row["pair_lengths"]) if row["has_pairs"] else None
            out["started"].append(time.time())  # wall clock: the driver compares it with its own
            started = time.perf_counter()
            logits = np.ascontiguousarray(teacher.logits(texts, pairs, progress=False), dtype="<f4")
            if logits.shape != (len(texts), int(teacher.num_labels)):
                raise ClusterError(f"teacher {teacher.name} returned logits of shape {logits.shape} for "
                                   f"{len(texts)} texts")
            for name in ("teacher", "corpus", "position"):
                out[name].append(row[name])
            out["keys"].append(text_keys(texts, pairs).astype("<u8").tobytes())
            out["logits"].append(logits.tobytes())
            out["seconds"].append(time.perf_counter() - started)
            out["worker"].append(self.worker)
        return out


def _rows(chunks: list[Chunk], corpora) -> list[dict]:
    items = []
    for c in chunks:
        texts, pairs = corpora[c.corpus]
        blob, lengths = pack_texts([texts[i] for i in c.rows])
        pair_blob, pair_lengths = pack_texts([pairs[i] for i in c.rows]) if pairs is not None else (b"", b"")
        items.append({"teacher": c.teacher, "corpus": c.corpus, "position": c.position, "texts": blob,
                      "text_lengths": lengths, "has_pairs": pairs is not None, "pairs": pair_blob,
                      "pair_lengths": pair_lengths})
    return items


def put_teacher(ray, teacher):
    """The teacher in Ray's object store (serialised once; every actor reads it from there)."""
    try:
        return ray.put(teacher)
    except Exception as exc:  # a user's teacher holding a lock, a file handle, a CUDA context...
        cause = exc.__cause__ or exc  # Ray's own message is a multi-line report; the pickling error says it all
        raise ClusterError(f"teacher {getattr(teacher, 'name', teacher)!s} cannot be sent to Ray workers "
                           f"({type(cause).__name__}: {first_line(cause)})") from None


def label_corpora_on_ray(teachers: list, corpora: list, *, cache_root, ray: RayConfig | str = "auto",
                         chunk_size: int = 2048, progress: bool = True, log=None) -> LabellingReport:
    """Fill the cache with every teacher's logits for every text of ``corpora`` (a list of (texts, pairs or None))
    in one Ray job. Texts a teacher's cache holds cost nothing; a rerun after a kill labels only what is missing.
    """
    config = RayConfig.of(ray) or RayConfig(address="auto")
    started = time.perf_counter()
    report = LabellingReport()
    caches = [TeacherCache(cache_root, t.fingerprint, num_labels=int(t.num_labels)) for t in teachers]
    keys = [text_keys(texts, pairs) for texts, pairs in corpora]
    report.texts = len(np.unique(np.concatenate(keys))) if keys else 0
    chunks: list[Chunk] = []
    for k, (teacher, cache) in enumerate(zip(teachers, caches)):
        claimed: list[np.ndarray] = []
        before = len(chunks)
        for j, corpus_keys in enumerate(keys):
            mine = plan_chunks(corpus_keys, cache, chunk_size, teacher=k, corpus=j,
                               claimed=np.concatenate(claimed) if claimed else None)
            chunks += mine
            claimed.append(np.unique(corpus_keys))
        todo = sum(len(c.keys) for c in chunks[before:])
        report.teachers.append({"name": teacher.name, "fingerprint": teacher.fingerprint, "labelled": todo,
                                "cached": report.texts - todo, "chunks": len(chunks) - before})
    if log is not None:
        for t in report.teachers:
            log(f"teacher {t['name']}: {t['cached']:,} of {report.texts:,} distinct texts cached, {t['labelled']:,} "
                f"to label in {t['chunks']:,} chunks")
    if not chunks:
        report.startup_seconds = time.perf_counter() - started
        return report

    with connected(config, log) as ray_module:
        import ray.data

        gpus = gpus_per_worker(config, ray_module, teachers)
        report.num_workers = workers = min(worker_count(config, ray_module, gpus), len(chunks))
        refs = [put_teacher(ray_module, t) for t in teachers]  # held for the whole job: restarted actors need them
        dataset = ray.data.from_items(_rows(chunks, corpora), override_num_blocks=len(chunks))
        labelled = dataset.map_batches(
            ChunkLabeler, fn_constructor_kwargs={"teachers": refs, "cpus": config.cpus_per_worker, "gpus": gpus},
            batch_size=1, compute=actor_pool(ray.data, config, ray_module, workers, gpus),
            num_cpus=config.cpus_per_worker, num_gpus=gpus or None, batch_format="pyarrow")
        report.startup_seconds = time.perf_counter() - started
        expected = {(c.teacher, c.corpus, c.position): c for c in chunks}
        done: set = set()
        bar = None
        if progress:
            from tqdm import tqdm

            kind = f"{workers} GPU workers" if gpus > 0 else f"{workers} workers"
            bar = tqdm(total=sum(len(c.keys) for c in chunks), unit="text", dynamic_ncols=True,
                       desc=f"teacher labelling on Ray ({kind})")
        work_started = time.perf_counter()
        first_start = None
        try:
            for row in labelled.iter_rows():
                ident = (int(row["teacher"]), int(row["corpus"]), int(row["position"]))
                if ident in done:
                    report.repeated_chunks += 1
                    continue
                chunk = expected[ident]
                got = np.frombuffer(row["keys"], dtype="<u8").astype(np.uint64)
                if not np.array_equal(np.sort(got), np.sort(chunk.keys)):
                    raise ClusterError(f"chunk {ident} came back with other texts than were sent")
                cache = caches[chunk.teacher]
                logits = np.frombuffer(row["logits"], dtype="<f4").reshape(len(got), cache.num_labels)
                cache.add(got, logits, name=content_chunk_name(got))
                done.add(ident)
                first_start = min(first_start or row["started"], row["started"])
                stats = report.workers.setdefault(row["worker"], {"texts": 0, "seconds": 0.0})
                stats["texts"] += len(got)
                stats["seconds"] += float(row["seconds"])
                if bar is not None:
                    bar.update(len(got))
        except (ClusterError, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise job_error(exc, "teacher labelling") from None
        finally:
            if bar is not None:
                bar.close()
        report.seconds = time.perf_counter() - work_started
        report.labelling_seconds = time.time() - first_start if first_start is not None else 0.0
        missing = set(expected) - done
        if missing:
            raise ClusterError(f"{len(missing)} chunks never came back from Ray (rerun to label them)")
    if log is not None:
        rate = report.labelled / max(report.seconds, 1e-9)
        log(f"labelled {report.labelled:,} texts on {workers} Ray workers in {report.seconds:.1f}s "
            f"({rate:,.1f} texts/s; {report.labelled / max(report.labelling_seconds, 1e-9):,.1f} texts/s once the "
            f"workers were up; start-up {report.startup_seconds:.1f}s)")
    return report


def label_on_ray(teachers, texts: Sequence[str], pairs: Sequence[str] | None = None, *, cache_root,
                 ray: RayConfig | str = "auto", chunk_size: int = 2048, progress: bool = True,
                 log=None) -> LabellingReport:
    """Fill the cache with each teacher's logits for ``texts`` (and ``pairs``) on Ray; see the module docstring.

    ``teachers``: one teacher object or a list (anything with the teacher protocol; it travels to the workers
    through Ray's object store). Read the logits afterwards with ``label_with_cache`` (which then labels nothing).
    """
    if not isinstance(teachers, (list, tuple)):
        teachers = [teachers]
    texts = list(texts)
    pairs = list(pairs) if pairs is not None else None
    return label_corpora_on_ray(list(teachers), [(texts, pairs)], cache_root=cache_root, ray=ray,
                                chunk_size=chunk_size, progress=progress, log=log)
