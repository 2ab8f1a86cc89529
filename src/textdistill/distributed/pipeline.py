"""What ``distill(..., ray=...)`` runs on Ray besides labelling: the DAN's vocabulary counted as a map-reduce, the
transfer set encoded into memory-mapped shards, and a family that streams training batches from them.

Families without an n-gram featurizer (BiLSTM, CNN: small word vocabularies and encodings) build theirs locally.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from ..teachers.cache import text_keys
from .cluster import connected, task_slots
from .config import RayConfig, ShardConfig
from .shards import encode_to_shards, store_id, vocabulary_digest
from .streaming import StreamingFamily
from .vocabulary import count_vocabulary


def default_shard_root() -> Path:
    """$TEXTDISTILL_SHARDS, else ~/.cache/textdistill/shards (honouring $XDG_CACHE_HOME)."""
    env = os.environ.get("TEXTDISTILL_SHARDS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "textdistill" / "shards"


def supports_sharding(family) -> bool:
    """True for families whose inputs are n-gram rows of an ``NgramFeaturizer`` (the DAN)."""
    return (hasattr(family, "featurizer") and hasattr(family.featurizer, "set_vocabulary") and hasattr(family, "pair")
            and hasattr(family, "scale_to_data"))


class ShardedInputs:
    """The encoded transfer set of one ``distill --ray`` run and where it lives (removed by ``cleanup``)."""

    def __init__(self, family, encoded, folder: Path, keep: bool):
        self.family, self.encoded, self.folder, self.keep = family, encoded, folder, keep

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)


def fit_and_encode(family, texts, pairs, ray: RayConfig, shards: ShardConfig | None = None, *, progress=True,
                   log=print) -> ShardedInputs:
    """Fit the family's vocabulary on Ray, encode ``texts`` (and ``pairs``) into shards, and return a family that
    streams batches from them with the encoded set (``family.batch(encoded, idx)`` works unchanged)."""
    shards = shards or ShardConfig()
    texts = list(texts)
    pairs = list(pairs) if pairs is not None else None
    keys = text_keys(texts, pairs)
    with connected(ray, log) as ray_module:
        slots = task_slots(ray, ray_module)
        config = family.featurizer.config
        corpora = [texts] + ([pairs] if pairs is not None else [])
        run = hashlib.blake2b(json_bytes(config.to_dict()) + np.ascontiguousarray(keys).tobytes(),
                              digest_size=12).hexdigest()
        keep = shards.shard_dir is not None
        folder = Path(shards.shard_dir).expanduser() if keep else default_shard_root() / run
        ranked, counts, distinct = load_vocabulary(folder, run)
        if ranked is None:
            ranked, counts, distinct = count_vocabulary(ray_module, config, corpora, block_size=shards.block_size,
                                                        slots=slots, max_distinct=shards.max_distinct,
                                                        progress=progress, log=log)
            save_vocabulary(folder, run, ranked, counts, distinct)
        elif log is not None:
            log(f"vocabulary: {len(ranked):,} n-grams from an earlier run in {folder}")
        family.pair = pairs is not None
        family.scale_to_data(len(texts))  # what fit() does besides counting: settings left to the data size
        family.featurizer.set_vocabulary(ranked, counts)
        family.featurizer.distinct_ngrams_ = distinct
        vocab = vocabulary_digest(config, ranked)
        first = encode_to_shards(ray_module, family.featurizer, texts, folder / "texts", block_size=shards.block_size,
                                 slots=slots, store=store_id(vocab, keys, shards.block_size), progress=progress,
                                 log=log)
        second = None
        if pairs is not None:
            second = encode_to_shards(ray_module, family.featurizer, pairs, folder / "pairs",
                                      block_size=shards.block_size, slots=slots,
                                      store=store_id(vocab + ":pairs", keys, shards.block_size), progress=progress,
                                      log=log, what="second segments")
    return ShardedInputs(StreamingFamily(family, shards.shuffle_window), (first, second), folder, keep)


def json_bytes(data: dict) -> bytes:
    import json

    return json.dumps(data, sort_keys=True).encode()


VOCABULARY_FILE = "vocabulary.npz"


def save_vocabulary(folder: Path, run: str, ranked: np.ndarray, counts: np.ndarray, distinct: int) -> None:
    """The counted vocabulary beside the shards, so a rerun after a kill does not count again."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{VOCABULARY_FILE}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, ranked=ranked, counts=counts, distinct=np.array([distinct], dtype=np.int64),
                 run=np.frombuffer(run.encode(), dtype=np.uint8))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / VOCABULARY_FILE)


def load_vocabulary(folder: Path, run: str):
    """(ranked, counts, distinct) saved by an earlier run of the same texts and settings, else Nones."""
    path = folder / VOCABULARY_FILE
    if not path.is_file():
        return None, None, None
    try:
        with np.load(path, allow_pickle=False) as data:
            if data["run"].tobytes() != run.encode():
                return None, None, None
            return data["ranked"].astype(np.uint64), data["counts"].astype(np.int64), int(data["distinct"][0])
    except (OSError, ValueError, KeyError):
        return None, None, None
