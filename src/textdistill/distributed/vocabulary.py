"""The DAN's vocabulary as a map-reduce of n-gram counts on Ray, with bounded memory in every worker.

Map: each block of texts is counted by a task with an ``NgramCounter`` (the featurizer's own tokenizer and n-gram
hashes) and its counts are split into P partitions by ``hash % P``. Reduce: one actor per partition merges the
pieces as the blocks finish, holding at most ``max_distinct`` n-grams (past that it drops those seen once, the trade
single-process counting makes over the whole table), and in the end returns its partition's top K by count (ties
by hash). The driver keeps the top K of the P lists: every n-gram of the global top K is in its partition's top
K, so this is the ranking ``NgramFeaturizer.fit`` makes, exactly so when nothing had to be dropped.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from ..featurizers.ngrams import NgramConfig, NgramCounter, NgramFeaturizer

COUNT_STEP = 20_000  # texts per NgramCounter.update, as NgramFeaturizer.fit
MAX_PARTITIONS = 32  # reducers: each holds at most max_distinct n-grams, so 32 of them hold 640M+


def count_block(config: dict, texts: Sequence[str], partitions: int, max_distinct: int | None):
    """Map: n-gram hash counts of one block as ``partitions`` (keys, counts) pairs, split by ``hash % P``."""
    featurizer = NgramFeaturizer(NgramConfig(**config))
    counter = NgramCounter(featurizer.config, featurizer.tokenizer, max_distinct)
    for start in range(0, len(texts), COUNT_STEP):
        counter.update(texts[start:start + COUNT_STEP])
    counter.distinct()  # merges what is pending
    keys, counts = counter.keys, counter.counts
    part = (keys % np.uint64(partitions)).astype(np.int64)
    order = np.argsort(part, kind="stable")
    keys, counts, part = keys[order], counts[order], part[order]
    bounds = np.searchsorted(part, np.arange(partitions + 1))
    pieces = tuple((keys[a:b], counts[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
    return pieces if partitions > 1 else pieces[0]


def top_counts(keys: np.ndarray, counts: np.ndarray, k: int, min_count: int = 1):
    """The k largest counts seen at least min_count times, ties broken by hash (as ``NgramCounter.top``)."""
    keep = counts >= min_count
    keys, counts = keys[keep], counts[keep]
    order = np.lexsort((keys, -counts))[:k]
    return keys[order], counts[order]


class PartitionCounts:
    """Reduce: the counts of one hash partition, merged as pieces arrive, at most ``max_distinct`` held."""

    def __init__(self, max_distinct: int):
        self.max_distinct = max_distinct
        self.keys = np.zeros(0, dtype=np.uint64)
        self.counts = np.zeros(0, dtype=np.int64)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending_size = 0

    def add(self, piece) -> int:
        keys, counts = piece
        self.pending.append((np.array(keys), np.array(counts)))  # copies: the block's object can be freed
        self.pending_size += len(keys)
        if self.pending_size > self.max_distinct // 2:
            self.merge()
        return len(keys)

    def merge(self) -> None:
        if not self.pending:
            return
        keys = np.concatenate([self.keys] + [k for k, _ in self.pending])
        counts = np.concatenate([self.counts] + [c for _, c in self.pending])
        self.pending, self.pending_size = [], 0
        self.keys, inv = np.unique(keys, return_inverse=True)
        self.counts = np.bincount(inv, weights=counts, minlength=len(self.keys)).astype(np.int64)
        if len(self.keys) > self.max_distinct:
            keep = self.counts > 1
            self.keys, self.counts = self.keys[keep], self.counts[keep]

    def top(self, k: int, min_count: int):
        self.merge()
        keys, counts = top_counts(self.keys, self.counts, k, min_count)
        return keys, counts, len(self.keys)


def count_vocabulary(ray, config: NgramConfig, corpora: list[Sequence[str]], *, block_size: int, slots: int,
                     max_distinct: int | None = None, progress: bool = True, log=None):
    """(ranked hashes, counts, distinct n-grams) of the texts of ``corpora`` (lists of texts), counted on Ray.

    ``slots``: counting tasks that run at once; also the number of partitions (one reducer actor each, spread
    over the nodes), at most ``MAX_PARTITIONS``.
    """
    started = time.perf_counter()
    max_distinct = max_distinct or max(20_000_000, 10 * config.max_features)
    partitions = max(1, min(slots, MAX_PARTITIONS))
    settings = config.to_dict()
    count = ray.remote(num_cpus=1)(count_block).options(num_returns=partitions)
    reducer = ray.remote(num_cpus=0)(PartitionCounts).options(scheduling_strategy="SPREAD")
    reducers = [reducer.remote(max_distinct) for _ in range(partitions)]
    blocks = [(texts, start) for texts in corpora for start in range(0, len(texts), block_size)]
    total = sum(len(texts) for texts in corpora)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="text", dynamic_ncols=True, desc=f"counting n-grams on Ray ({slots} at once)")
    pending: dict = {}  # first result ref of a running map task -> (all its refs, texts)
    merging: list = []  # reducer calls not yet done
    try:
        def collect(all_done: bool = False) -> None:
            ready, _ = ray.wait(list(pending), num_returns=len(pending) if all_done else 1)
            for ref in ready:
                refs, n = pending.pop(ref)
                merging.extend(r.add.remote(piece) for r, piece in zip(reducers, refs))  # refs dropped: freed
                if bar is not None:
                    bar.update(n)
            while len(merging) > 4 * partitions:  # reducers keep up, so the finished blocks do not pile up
                done, _ = ray.wait(merging, num_returns=len(merging) - 2 * partitions)
                for ref in done:
                    merging.remove(ref)

        for texts, start in blocks:
            while len(pending) >= 2 * slots:  # at most two blocks per slot in flight
                collect()
            chunk = list(texts[start:start + block_size])
            refs = count.remote(settings, chunk, partitions, max_distinct)
            refs = list(refs) if partitions > 1 else [refs]
            pending[refs[0]] = (refs, len(chunk))
        if pending:
            collect(all_done=True)
        if bar is not None:
            bar.set_description("merging n-gram counts on Ray")
        ray.get(merging)
        reduced = ray.get([r.top.remote(config.max_features, config.min_count) for r in reducers])
    finally:
        if bar is not None:
            bar.close()
        for r in reducers:
            ray.kill(r)
    keys = np.concatenate([r[0] for r in reduced])
    counts = np.concatenate([r[1] for r in reduced])
    distinct = int(sum(r[2] for r in reduced))
    keys, counts = top_counts(keys, counts, config.max_features, config.min_count)
    if log is not None:
        log(f"vocabulary: {len(keys):,} of {distinct:,} distinct n-grams from {total:,} texts ({len(blocks)} blocks, "
            f"{partitions} partitions) in {time.perf_counter() - started:.1f}s")
    return keys, counts, distinct
