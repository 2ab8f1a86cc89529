"""Batches from ragged per-text id arrays: vectorised gathering, and length-bucketed batch orders."""

from __future__ import annotations

import numpy as np
import torch


class RaggedRows:
    """Row ids of many texts in CSR form, with vectorised batch gathering."""

    def __init__(self, rows: np.ndarray, offsets: np.ndarray):
        self.rows, self.offsets = rows, offsets
        self.ends = np.append(offsets[1:], len(rows))

    def take(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        starts, ends = self.offsets[idx], self.ends[idx]
        lens = ends - starts
        new_offsets = np.zeros(len(idx), dtype=np.int64)
        np.cumsum(lens[:-1], out=new_offsets[1:])
        gather = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(new_offsets - starts, lens)
        return torch.from_numpy(self.rows[gather]), torch.from_numpy(new_offsets)

    def __len__(self) -> int:
        return len(self.offsets)

    def lengths(self) -> np.ndarray:
        return self.ends - self.offsets


def bucketed_batches(rows: np.ndarray, lengths: np.ndarray, batch_size: int, rng, pool: int = 50) -> list:
    """Shuffle, sort by length within pools of ``pool`` batches, cut into batches, shuffle the batches.

    Batches of similar lengths waste little on padding (an LSTM step costs the same for a pad as for a word),
    and the order stays random enough for SGD.
    """
    order = rows[rng.permutation(len(rows))]
    span = batch_size * pool
    batches = []
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
