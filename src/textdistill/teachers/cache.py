"""Teacher outputs on disk, keyed by teacher fingerprint and text, so no text is ever labelled twice.

Layout: ``<root>/<teacher fingerprint>/chunk-*.safetensors``, each chunk holding ``keys`` (uint64 text keys) and
``logits`` (float32, N x C). A chunk is written atomically (temporary file in the same folder, fsync, rename), so
labelling a large corpus chunk by chunk resumes after a kill and loses at most the chunk in progress. Chunks that
cannot be read (a half-written file from a crash, disk corruption) are skipped with a warning. Chunk names are
time + pid + random, or, for chunks written by distributed labelling (``textdistill.distributed``), a hash of the
chunk's keys (``content_chunk_name``): the same work always lands in the same file, so a retried or repeated chunk
replaces itself instead of adding a duplicate. Readers do not care which.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError, LabellingInterrupted, TextdistillError

CHUNK_PREFIX = "chunk-"
CHUNK_SUFFIX = ".safetensors"
TMP_SUFFIX = ".tmp"
FORMAT = "textdistill-teacher-cache-v1"
# UTF-8 never contains the byte 0xFF, so this separator cannot occur inside either text: (a, b) keys are unambiguous.
_PAIR_SEP = b"\xff"


def default_cache_root() -> Path:
    """$TEXTDISTILL_CACHE, else ~/.cache/textdistill/teacher-outputs (honouring $XDG_CACHE_HOME)."""
    env = os.environ.get("TEXTDISTILL_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "textdistill" / "teacher-outputs"


def _digest(text: str, pair: str | None) -> bytes:
    h = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8)
    if pair is not None:
        h.update(_PAIR_SEP)
        h.update(pair.encode("utf-8", "surrogatepass"))
    return h.digest()


def text_key(text: str, pair: str | None = None) -> int:
    """Stable 64-bit key of a text (and its second segment): blake2b-64 of the UTF-8 bytes, as a Python int."""
    return int.from_bytes(_digest(text, pair), "little")


def text_keys(texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
    """text_key for many texts at once, as a uint64 array."""
    if pairs is not None and len(pairs) != len(texts):
        raise DataError(f"got {len(texts)} texts but {len(pairs)} second segments (pairs)")
    try:
        if pairs is None:
            digests = b"".join(_digest(t, None) for t in texts)
        else:
            digests = b"".join(_digest(t, p) for t, p in zip(texts, pairs))
    except AttributeError:  # .encode on something that is not a string
        for seq in (texts, pairs or ()):
            for i, t in enumerate(seq):
                if not isinstance(t, str):
                    raise DataError(f"text #{i} is {type(t).__name__}, not a string") from None
        raise
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def content_chunk_name(keys: np.ndarray) -> str:
    """The deterministic chunk file name of a set of text keys: blake2b-128 of the sorted uint64 keys."""
    keys = np.sort(np.asarray(keys, dtype=np.uint64).reshape(-1))
    digest = hashlib.blake2b(keys.astype("<u8").tobytes(), digest_size=16).hexdigest()
    return f"{CHUNK_PREFIX}k{digest}{CHUNK_SUFFIX}"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class TeacherCache:
    """Logits of one teacher (named by its fingerprint) for the texts it has labelled, stored under root/fingerprint/.

    Chunk files are read once, lazily, into a sorted key array, so lookups of a million keys take milliseconds.
    """

    def __init__(self, root: str | os.PathLike, fingerprint: str, *, num_labels: int | None = None):
        if not fingerprint or any(c in fingerprint for c in "/\\") or fingerprint in (".", ".."):
            raise ValueError(f"bad teacher fingerprint {fingerprint!r}")
        self.root = Path(root).expanduser()
        self.fingerprint = fingerprint
        self.folder = self.root / fingerprint
        self.num_labels = num_labels
        self._keys: np.ndarray | None = None  # sorted, unique
        self._logits: np.ndarray | None = None
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._files: list[Path] = []  # chunk files whose rows are in memory

    def __repr__(self) -> str:
        return f"TeacherCache({str(self.folder)!r})"

    # -- reading -------------------------------------------------------------------------------------------------
    def chunk_files(self) -> list[Path]:
        """Finished chunk files on disk (temporary files are ignored by name)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir()
                      if p.name.startswith(CHUNK_PREFIX) and p.name.endswith(CHUNK_SUFFIX) and p.is_file())

    def _read_chunk(self, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(path))
            keys, logits = arrays["keys"], arrays["logits"]
            if keys.dtype != np.uint64 or keys.ndim != 1:
                raise ValueError(f"keys are {keys.dtype} {keys.shape}, expected 1-D uint64")
            if logits.dtype != np.float32 or logits.ndim != 2 or logits.shape[0] != keys.shape[0]:
                raise ValueError(f"logits are {logits.dtype} {logits.shape}, expected float32 ({len(keys)}, C)")
            if self.num_labels is not None and logits.shape[1] != self.num_labels:
                raise ValueError(f"{logits.shape[1]} classes, expected {self.num_labels}")
        except Exception as exc:  # a truncated or foreign file must not stop a long labelling run
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            warnings.warn(f"teacher cache: ignoring unreadable chunk {path} ({reason})", RuntimeWarning,
                          stacklevel=3)
            return None
        if self.num_labels is None:
            self.num_labels = int(logits.shape[1])
        return keys, logits

    def _load(self) -> None:
        if self._keys is not None:
            return
        self._keys = np.empty(0, dtype=np.uint64)
        self._logits = np.empty((0, self.num_labels or 0), dtype=np.float32)
        for path in self.chunk_files():
            chunk = self._read_chunk(path)
            if chunk is not None:
                self._pending.append(chunk)
                self._files.append(path)

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        self._load()
        if self._pending:
            keys = np.concatenate([self._keys] + [k for k, _ in self._pending])
            width = self.num_labels or 0
            logits = np.concatenate([self._logits.reshape(-1, width)] + [v for _, v in self._pending])
            self._keys, first = np.unique(keys, return_index=True)  # sorted; first occurrence of repeated keys wins
            self._logits = logits[first]
            self._pending = []
        return self._keys, self._logits

    def __len__(self) -> int:
        return len(self._merged()[0])

    def __contains__(self, key: int) -> bool:
        return bool(self.lookup(np.array([key], dtype=np.uint64))[0][0])

    def lookup(self, keys: Any) -> tuple[np.ndarray, np.ndarray]:
        """(found mask (N,), logits (N, C) with NaN rows where not found) for uint64 text keys."""
        keys = np.asarray(keys, dtype=np.uint64).reshape(-1)
        stored_keys, stored_logits = self._merged()
        width = self.num_labels or 0
        out = np.full((len(keys), width), np.nan, dtype=np.float32)
        if len(stored_keys) == 0 or len(keys) == 0:
            return np.zeros(len(keys), dtype=bool), out
        pos = np.searchsorted(stored_keys, keys)
        pos[pos == len(stored_keys)] = 0
        found = stored_keys[pos] == keys
        out[found] = stored_logits[pos[found]]
        return found, out

    # -- writing -------------------------------------------------------------------------------------------------
    def _write_atomic(self, keys: np.ndarray, logits: np.ndarray, tag: str = "", name: str | None = None) -> Path:
        from safetensors.numpy import save

        self.folder.mkdir(parents=True, exist_ok=True)
        if name is None:
            name = f"{CHUNK_PREFIX}{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{tag}{CHUNK_SUFFIX}"
        elif not (name.startswith(CHUNK_PREFIX) and name.endswith(CHUNK_SUFFIX)) or any(c in name for c in "/\\"):
            raise ValueError(f"bad chunk name {name!r}")
        final = self.folder / name
        tmp = self.folder / f".{name}{TMP_SUFFIX}"
        data = save({"keys": np.ascontiguousarray(keys), "logits": np.ascontiguousarray(logits)},
                    metadata={"format": FORMAT, "fingerprint": self.fingerprint})
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.folder)
        return final

    def add(self, keys: Any, logits: Any, name: str | None = None) -> None:
        """Store logits (N, C) for N text keys as one new chunk file, written atomically.

        ``name``: the file name (e.g. ``content_chunk_name(keys)``); a chunk of that name is replaced.
        """
        keys = np.asarray(keys, dtype=np.uint64).reshape(-1)
        logits = np.asarray(logits, dtype=np.float32)
        if logits.ndim != 2 or logits.shape[0] != len(keys):
            raise ValueError(f"logits shape {logits.shape} does not match {len(keys)} keys")
        self._load()
        if self.num_labels is None:
            self.num_labels = int(logits.shape[1])
        elif logits.shape[1] != self.num_labels:
            raise ValueError(f"logits have {logits.shape[1]} classes, the cache holds {self.num_labels}")
        if len(keys) == 0:
            return
        path = self._write_atomic(keys, logits, name=name)
        if path in self._files:  # the same chunk written again (deterministic name): its rows are held already
            return
        self._pending.append((keys.copy(), logits.copy()))
        self._files.append(path)

    def compact(self) -> None:
        """Merge all chunk files into one (atomically: the merged file is written before the old ones go)."""
        keys, logits = self._merged()
        if len(self._files) <= 1:
            return
        old = list(self._files)
        self._files = [self._write_atomic(keys, logits, tag="-compact")]
        for path in old:
            path.unlink(missing_ok=True)
        _fsync_dir(self.folder)


def _keep_partial(cache: TeacherCache, keys: np.ndarray, stop: KeyboardInterrupt) -> int:
    """Store the batches a teacher finished before a Ctrl-C (``PartialOutputs``); how many texts that was."""
    done = getattr(stop, "done", None)
    if done is None:
        return 0
    logits = np.asarray(stop.logits, dtype=np.float32)
    keep = done & np.isfinite(logits).all(axis=1)
    if keep.any():
        cache.add(keys[keep], logits[keep])
    return int(keep.sum())


def _who(teacher) -> str:
    return f"teacher {getattr(teacher, 'name', '') or getattr(teacher, 'fingerprint', '')[:12]}"


def label_with_cache(teacher, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                     cache_root: str | os.PathLike, chunk_size: int = 2048, progress: bool = True) -> np.ndarray:
    """Teacher logits (N, C) for texts in input order, labelling only texts the cache does not hold yet.

    The missing unique texts are labelled in chunks of chunk_size; each chunk is stored before the next starts, so a
    killed run resumes where it stopped. ``teacher`` needs ``fingerprint``, ``num_labels`` and ``logits(texts,
    pairs, progress=...)``.
    """
    if chunk_size < 1:
        raise ConfigError("chunk_size must be >= 1")
    chunk_size = min(chunk_size, int(getattr(teacher, "cache_chunk_size", chunk_size)))  # an expensive teacher's
    texts = list(texts)
    pairs = list(pairs) if pairs is not None else None
    keys = text_keys(texts, pairs)
    cache = TeacherCache(cache_root, teacher.fingerprint, num_labels=int(teacher.num_labels))
    found, out = cache.lookup(keys)
    if found.all():
        return out

    missing_rows = np.flatnonzero(~found)
    uniq_keys, first = np.unique(keys[missing_rows], return_index=True)  # sorted keys, first row of each
    todo = missing_rows[first]
    todo_order = np.argsort(todo, kind="stable")  # label in input order
    uniq_logits = np.empty((len(uniq_keys), cache.num_labels), dtype=np.float32)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(uniq_keys), unit="text", dynamic_ncols=True,
                   desc=f"teacher labelling ({int(found.sum()):,} of {len(texts):,} cached)")
    labelled = 0
    try:
        for start in range(0, len(todo_order), chunk_size):
            sel = todo_order[start:start + chunk_size]
            rows = todo[sel]
            before = bar.n if bar is not None else 0
            try:
                logits = np.asarray(teacher.logits([texts[i] for i in rows],
                                                   [pairs[i] for i in rows] if pairs is not None else None,
                                                   progress=bar if bar is not None else False), dtype=np.float32)
            except KeyboardInterrupt as stop:
                kept = _keep_partial(cache, uniq_keys[sel], stop)
                raise LabellingInterrupted(
                    f"labelling stopped by Ctrl-C: {labelled + kept:,} texts labelled by {_who(teacher)} in this "
                    f"run are kept in the cache ({cache.folder}); rerun the same command to resume with the "
                    f"{len(uniq_keys) - labelled - kept:,} left") from None
            except TextdistillError as stop:  # a teacher that gives up (too many unanswerable texts) says why
                if getattr(stop, "done", None) is None:
                    raise
                kept = _keep_partial(cache, uniq_keys[sel], stop)
                raise type(stop)(f"{stop} ({labelled + kept:,} texts answered in this run are kept in the "
                                 f"cache)", stop.done, stop.logits) from None
            answered = np.isfinite(logits).all(axis=1)  # a row without an answer is not cached: a rerun asks again
            cache.add(uniq_keys[sel][answered], logits[answered])
            labelled += int(answered.sum())
            uniq_logits[sel] = logits
            if bar is not None and bar.n < before + len(sel):  # a teacher that does not drive the bar itself
                bar.update(before + len(sel) - bar.n)
    finally:
        if bar is not None:
            bar.close()

    out[missing_rows] = uniq_logits[np.searchsorted(uniq_keys, keys[missing_rows])]
    return out
