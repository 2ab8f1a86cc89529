"""Encoded texts on disk: n-gram row ids in memory-mapped shards, read by the trainer batch by batch.

A shard store is a directory::

    meta.json                      {"format": "textdistill-shards-v1", "id", "texts", "ids", "shards": [...]}
    rows-00000.npy offsets-00000.npy   int32 row ids of the shard's texts; int64 offsets (texts + 1 entries)
    ...

Each shard is one encoding task's block of texts, written atomically (temporary name, fsync, rename) as its task
finishes, in any order; ``meta.json`` is written last and marks the store complete. A store is named by the hash of
what decides its contents (the featurizer's vocabulary and settings, the texts' keys, the block size), so a rerun
after a kill reuses every finished shard and encodes only the rest. ``ShardedRows`` memory-maps a complete store and
answers ``take(idx)`` as ``training.batching.RaggedRows`` does: the DAN family and the trainer cannot tell them
apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..featurizers.ngrams import NgramConfig, NgramFeaturizer
from ..persistence import write_json_atomically

FORMAT = "textdistill-shards-v1"
META = "meta.json"

_FEATURIZERS: dict[str, NgramFeaturizer] = {}  # per worker process: vocabulary digest -> fitted featurizer


def vocabulary_digest(config: NgramConfig, ranked_hashes: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    h.update(np.ascontiguousarray(ranked_hashes, dtype="<u8").tobytes())
    return h.hexdigest()


def store_id(vocabulary: str, keys: np.ndarray, block_size: int) -> str:
    """The name of the store of these texts (their keys, in order) under this vocabulary."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{FORMAT}\0{vocabulary}\0{block_size}\0".encode())
    h.update(np.ascontiguousarray(keys, dtype="<u8").tobytes())
    return h.hexdigest()


def fitted_featurizer(config: dict, ranked_hashes: np.ndarray, digest: str) -> NgramFeaturizer:
    """The featurizer with this vocabulary, built once per worker process."""
    featurizer = _FEATURIZERS.get(digest)
    if featurizer is None:
        _FEATURIZERS.clear()
        featurizer = NgramFeaturizer(NgramConfig(**config))
        featurizer.set_vocabulary(np.asarray(ranked_hashes, dtype=np.uint64))
        _FEATURIZERS[digest] = featurizer
    return featurizer


def encode_block(config: dict, ranked_hashes: np.ndarray, digest: str, texts: Sequence[str], step: int = 4096):
    """Row ids (int32) and offsets (int64, len(texts) + 1 entries) of one block of texts."""
    featurizer = fitted_featurizer(config, ranked_hashes, digest)
    parts = [featurizer.transform(list(texts[i:i + step])) for i in range(0, len(texts), step)]
    rows = np.concatenate([p[0] for p in parts]).astype(np.int32) if parts else np.zeros(0, dtype=np.int32)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    base, at = 0, 0
    for r, o in parts:
        offsets[at:at + len(o)] = o + base
        base += len(r)
        at += len(o)
    offsets[-1] = base
    return rows, offsets


def _save_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _shard_paths(folder: Path, index: int) -> tuple[Path, Path]:
    return folder / f"rows-{index:05d}.npy", folder / f"offsets-{index:05d}.npy"


def _finished_shard(folder: Path, index: int, texts: int) -> bool:
    """True when shard ``index`` is on disk, readable and of the expected number of texts."""
    rows_path, offsets_path = _shard_paths(folder, index)
    if not (rows_path.is_file() and offsets_path.is_file()):
        return False
    try:
        offsets = np.load(offsets_path, mmap_mode="r", allow_pickle=False)
        rows = np.load(rows_path, mmap_mode="r", allow_pickle=False)
        return offsets.shape == (texts + 1,) and int(offsets[-1]) == len(rows)
    except (OSError, ValueError):
        return False


def encode_to_shards(ray, featurizer: NgramFeaturizer, texts: Sequence[str], folder: Path, *, block_size: int,
                     slots: int, store: str, progress: bool = True, log=None, what: str = "texts") -> "ShardedRows":
    """Encode ``texts`` into a shard store in ``folder`` with Ray tasks; finished shards of an earlier run are
    kept. Returns the store, memory-mapped."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / META
    if meta_path.is_file():
        try:
            rows = ShardedRows(folder)
            if rows.meta.get("id") == store and len(rows) == len(texts):
                if log is not None:
                    log(f"encoding: {len(texts):,} {what} already in {folder}")
                return rows
        except DataError:
            pass
        meta_path.unlink()
    started = time.perf_counter()
    starts = range(0, len(texts), block_size)
    blocks = [(i, start, min(len(texts), start + block_size)) for i, start in enumerate(starts)]
    todo = [b for b in blocks if not _finished_shard(folder, b[0], b[2] - b[1])]
    config = featurizer.config.to_dict()
    digest = vocabulary_digest(featurizer.config, featurizer.ranked_hashes())
    vocab_ref = ray.put(featurizer.ranked_hashes())
    encode = ray.remote(num_cpus=1)(encode_block)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), initial=len(texts) - sum(b[2] - b[1] for b in todo), unit="text",
                   dynamic_ncols=True, desc=f"encoding {what} on Ray ({slots} at once)")
    pending: dict = {}
    try:
        def write_finished(all_done: bool = False) -> None:
            ready, _ = ray.wait(list(pending), num_returns=len(pending) if all_done else 1)
            for ref in ready:
                index, n = pending.pop(ref)
                rows, offsets = ray.get(ref)
                rows_path, offsets_path = _shard_paths(folder, index)
                _save_atomic(rows_path, rows)
                _save_atomic(offsets_path, offsets)  # last: a shard counts as finished once both are there
                if bar is not None:
                    bar.update(n)

        for index, start, end in todo:
            while len(pending) >= 2 * slots:
                write_finished()
            ref = encode.remote(config, vocab_ref, digest, list(texts[start:end]))
            pending[ref] = (index, end - start)
        while pending:
            write_finished()
    finally:
        if bar is not None:
            bar.close()
    shards = []
    ids = 0
    for index, start, end in blocks:
        offsets = np.load(_shard_paths(folder, index)[1], mmap_mode="r", allow_pickle=False)
        shards.append({"index": index, "texts": end - start, "ids": int(offsets[-1])})
        ids += int(offsets[-1])
    write_json_atomically(meta_path, {"format": FORMAT, "id": store, "texts": len(texts), "ids": ids,
                                  "vocabulary": digest, "shards": shards})
    if log is not None:
        log(f"encoding: {len(texts):,} {what} into {len(blocks)} shards ({ids:,} n-gram ids, "
            f"{ids * 4 / 1e9:.2f} GB) in {folder}, {time.perf_counter() - started:.1f}s "
            f"({len(blocks) - len(todo)} shards reused)")
    return ShardedRows(folder)


class ShardedRows:
    """Row ids of many texts in memory-mapped CSR shards; ``take(idx)`` gathers a batch as ``RaggedRows`` does.

    In memory: each text's shard-local start and end (8 bytes per text); the ids stay on disk until read.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / META).read_text(encoding="utf-8"))
            if self.meta.get("format") != FORMAT:
                raise ValueError(f"format {self.meta.get('format')!r}")
            self.rows, starts, ends, shard = [], [], [], []
            for k, entry in enumerate(self.meta["shards"]):
                rows_path, offsets_path = _shard_paths(self.folder, int(entry["index"]))
                rows = np.load(rows_path, mmap_mode="r", allow_pickle=False)
                offsets = np.load(offsets_path, mmap_mode="r", allow_pickle=False)
                if offsets.shape != (int(entry["texts"]) + 1,) or int(offsets[-1]) != len(rows):
                    raise ValueError(f"shard {entry['index']} does not match meta.json")
                self.rows.append(rows.view(np.ndarray))  # a plain view of the map: slicing it costs nothing
                starts.append(np.asarray(offsets[:-1], dtype=np.int32 if len(rows) < 2**31 else np.int64))
                ends.append(np.asarray(offsets[1:], dtype=starts[-1].dtype))
                shard.append(np.full(len(offsets) - 1, k, dtype=np.int32))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"shard store {self.folder}: unreadable ({exc})") from None
        cat = lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)  # noqa: E731
        self.starts, self.ends, self.shard = cat(starts, np.int32), cat(ends, np.int32), cat(shard, np.int32)

    def __len__(self) -> int:
        return len(self.shard)

    def gather(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """(row ids int64, offsets int64) of texts ``idx``, in that order (numpy)."""
        idx = np.asarray(idx, dtype=np.int64)
        starts, ends = self.starts[idx], self.ends[idx]
        lens = (ends - starts).astype(np.int64)
        offsets = np.zeros(len(idx), dtype=np.int64)
        np.cumsum(lens[:-1], out=offsets[1:])
        rows = self.rows
        pieces = [rows[s][a:b] for s, a, b in zip(self.shard[idx].tolist(), starts.tolist(), ends.tolist())]
        out = np.concatenate(pieces).astype(np.int64) if pieces else np.zeros(0, dtype=np.int64)
        return out, offsets

    def take(self, idx) -> tuple:
        """torch tensors (row ids, offsets) of texts ``idx``, for an EmbeddingBag."""
        import torch

        rows, offsets = self.gather(idx)
        return torch.from_numpy(rows), torch.from_numpy(offsets)

    def lengths(self) -> np.ndarray:
        return (self.ends - self.starts).astype(np.int64)

    def nbytes(self) -> int:
        """Bytes of n-gram ids on disk."""
        return sum(r.nbytes for r in self.rows)
