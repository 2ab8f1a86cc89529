"""Word n-gram featurizer: text -> rows of an embedding table, vectorised with numpy.

Tokens come from one regular expression (words, and every punctuation run as its own token, one-character tokens
kept). Each token gets a stable 64-bit hash; n-gram hashes are built from token hashes with a rolling hash over
the whole batch at once, so there is no Python loop per n-gram. The vocabulary is the top-K n-gram hashes by count;
lookup is a numpy-probed open-addressing hash table. Unknown n-grams are dropped, or, with ``buckets > 0``,
hashed into extra rows as fastText does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from itertools import chain
from typing import Iterable, Sequence

import numpy as np

from ..config import option
from ..errors import check

TOKEN_PATTERN = r"\w+|[^\w\s]+"
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio) for the rolling hash
_ORDER_SALT = np.uint64(0xD6E8FEB86659FD93)
_MEMO_LIMIT = 2_000_000
_SEP = "\x00"  # neither a word character nor whitespace, so between spaces it is always a token of its own
_JOIN = f" {_SEP} "
_SEP_HASH = 0  # no token hash is 0 in practice (2^-64), and the separator token is mapped to it explicitly


def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass
class NgramConfig:
    """Everything that decides which rows a text maps to; saved with the model."""

    min_n: int = option(1, "dan: shortest n-gram.")
    max_n: int = option(4, "dan: longest n-gram.", flag="max-ngram")
    max_features: int = option(1_000_000, "dan: top-K n-grams kept.", flag="vocab-size")
    min_count: int = option(1, "Drop n-grams (dan) or words (bilstm/cnn) seen fewer times.")
    buckets: int = option(0, "dan: hash buckets for unknown n-grams (fastText-style; 0 = drop them).")
    lowercase: bool = option(True, "Lowercase texts before tokenising.")
    strip_html: bool = option(True, "dan: read <br /> tags as spaces.")
    token_pattern: str = option(TOKEN_PATTERN, "Regular expression of a token.")

    def __post_init__(self):
        check(1 <= self.min_n <= self.max_n, f"bad n-gram range {self.min_n}..{self.max_n} (need 1 <= min_n <= max_n)")
        check(self.max_features >= 1, f"vocabulary size must be >= 1, got {self.max_features}")
        check(self.min_count >= 1 and self.buckets >= 0, "min_count must be >= 1 and buckets >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


class Tokenizer:
    """Regex tokenizer that keeps punctuation and one-character tokens; hashes tokens with a memo."""

    def __init__(self, pattern: str = TOKEN_PATTERN, lowercase: bool = True, strip_html: bool = True):
        self.pattern = re.compile(re.escape(_SEP) + "|(?:" + pattern + ")")  # the batch separator first, always
        self.lowercase = lowercase
        self.strip_html = strip_html
        self._whitespace_bounded = pattern == TOKEN_PATTERN  # its tokens never contain or span whitespace
        self._memo: dict[str, int] = {}
        self._chunk_memo: dict[str, tuple[int, ...]] = {}

    def normalize(self, text: str) -> str:
        if self.strip_html and "<" in text:
            text = _HTML_BREAK.sub(" ", text)
        return text.lower() if self.lowercase else text

    def tokenize(self, text: str) -> list[str]:
        return self.pattern.findall(self.normalize(text))

    def hash_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token hashes of all texts concatenated, and the number of tokens of each text."""
        if not texts:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        if self._whitespace_bounded:
            return self._hash_batch_by_chunks(texts)
        return self._hash_batch_by_regex(texts)

    def _hash_batch_by_chunks(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The default pattern never matches across whitespace, so a text's tokens are the tokens of its
        whitespace-separated chunks in order. ``str.split`` finds the chunks in C and a memo maps each chunk to its
        token hashes: most chunks of real text repeat ("the", "film,"), so the regex and hashing run once per
        distinct chunk rather than once per token.
        """
        memo = self._chunk_memo
        get = memo.get
        flat: list[int] = []
        lengths = np.empty(len(texts), dtype=np.int64)
        for k, text in enumerate(texts):
            if _SEP in text:  # as in the regex path, the separator character counts as a space
                text = text.replace(_SEP, " ")
            chunks = self.normalize(text).split()
            found = [get(c) for c in chunks]
            if None in found:
                if len(memo) > _MEMO_LIMIT:
                    memo.clear()
                for j, h in enumerate(found):
                    if h is None:
                        c = chunks[j]
                        found[j] = memo[c] = tuple(_token_hash(t) for t in self.pattern.findall(c))
            before = len(flat)
            flat.extend(chain.from_iterable(found))
            lengths[k] = len(flat) - before
        return np.array(flat, dtype=np.uint64), lengths

    def _hash_batch_by_regex(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Any pattern: the batch is normalised and tokenised as one string, texts joined by a separator that
        becomes a token of its own, so the regex engine runs once per batch rather than once per text."""
        if any(_SEP in t for t in texts):
            texts = [t.replace(_SEP, " ") for t in texts]
        joined = _JOIN.join(texts)
        tokens = self.pattern.findall(self.normalize(joined))
        memo = self._memo
        get = memo.get
        hashes = [get(tok) for tok in tokens]
        if None in hashes:
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
            for i, h in enumerate(hashes):
                if h is None:
                    tok = tokens[i]
                    h = memo.get(tok)
                    if h is None:
                        h = memo[tok] = _SEP_HASH if tok == _SEP else _token_hash(tok)
                    hashes[i] = h
        arr = np.array(hashes, dtype=np.uint64)
        is_sep = arr == _SEP_HASH
        seps = np.flatnonzero(is_sep)
        bounds = np.concatenate([[-1], seps, [len(arr)]])
        lengths = np.diff(bounds) - 1
        return arr[~is_sep], lengths.astype(np.int64)


def ngram_hashes(token_hashes: np.ndarray, lengths: np.ndarray, min_n: int, max_n: int):
    """All n-gram hashes (min_n..max_n) of a batch and the text index of each, in text order."""
    n_docs = len(lengths)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    parts, owners = [], []
    rolled = token_hashes
    with np.errstate(over="ignore"):
        for n in range(1, max_n + 1):
            if n > 1:
                if len(rolled) <= 1:
                    break
                rolled = rolled[:-1] * _MULT + token_hashes[n - 1 :]
            if n < min_n:
                continue
            owner = doc_of[: len(rolled)]
            if n > 1:
                keep = owner == doc_of[n - 1 :]
                h, owner = rolled[keep], owner[keep]
            else:
                h = rolled
            parts.append(h ^ (_ORDER_SALT * np.uint64(n)))
            owners.append(owner)
    if not parts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    h = np.concatenate(parts)
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return h[order], owner[order]


class NgramCounter:
    """Counts n-gram hashes over a stream of texts in bounded memory.

    Counts are merged chunk by chunk; when the table outgrows ``max_distinct`` the n-grams seen once are dropped
    (the standard approximate top-K trade: a rare n-gram can lose a few early counts, a frequent one cannot).
    """

    def __init__(self, config: NgramConfig, tokenizer: Tokenizer, max_distinct: int | None = None):
        self.config = config
        self.tokenizer = tokenizer
        self.max_distinct = max_distinct or max(20_000_000, 10 * config.max_features)
        self.keys = np.zeros(0, dtype=np.uint64)
        self.counts = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_size = 0

    def update(self, texts: Sequence[str]) -> None:
        th, lengths = self.tokenizer.hash_batch(texts)
        h, _ = ngram_hashes(th, lengths, self.config.min_n, self.config.max_n)
        u, c = np.unique(h, return_counts=True)
        self._pending.append((u, c))
        self._pending_size += len(u)
        if self._pending_size > self.max_distinct // 2:
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self.keys] + [u for u, _ in self._pending])
        counts = np.concatenate([self.counts] + [c for _, c in self._pending])
        self._pending, self._pending_size = [], 0
        u, inv = np.unique(keys, return_inverse=True)
        self.keys = u
        self.counts = np.bincount(inv, weights=counts, minlength=len(u)).astype(np.int64)
        if len(self.keys) > self.max_distinct:
            keep = self.counts > 1
            self.keys, self.counts = self.keys[keep], self.counts[keep]

    def top(self, k: int, min_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The k most frequent n-gram hashes (ties broken by hash for determinism) and their counts."""
        self._merge()
        keep = self.counts >= min_count
        keys, counts = self.keys[keep], self.counts[keep]
        order = np.lexsort((keys, -counts))[:k]
        return keys[order], counts[order]


class HashIndex:
    """Open-addressing hash table (linear probing) from n-gram hash to row, built and probed with numpy.

    A lookup costs about one random memory access per n-gram at load factor <= 0.5, where a binary search over
    a million sorted hashes costs twenty.
    """

    _FIB = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, keys: np.ndarray, rows: np.ndarray):
        n = len(keys)
        self.bits = max(4, int(np.ceil(np.log2(max(4 * n, 1)))))  # load factor <= 0.25: short probe chains
        size = 1 << self.bits
        self.mask = np.int64(size - 1)
        self.keys = np.zeros(size, dtype=np.uint64)
        self.rows = np.full(size, -1, dtype=np.int64)
        pending = np.arange(n)
        pos = self._slot(keys)
        while len(pending):
            p = pos[pending]
            free = self.rows[p] < 0
            cand, cpos = pending[free], p[free]
            taken, first = np.unique(cpos, return_index=True)
            winners = cand[first]
            self.keys[taken] = keys[winners]
            self.rows[taken] = rows[winners]
            placed = np.zeros(n, dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            pos[pending] = (pos[pending] + 1) & self.mask

    def _slot(self, h: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((h * self._FIB) >> np.uint64(64 - self.bits)).astype(np.int64)

    def lookup(self, h: np.ndarray) -> np.ndarray:
        """Row of each hash, -1 where the hash is not in the table."""
        out = np.full(len(h), -1, dtype=np.int64)
        todo = np.arange(len(h))
        pos = self._slot(h)
        while len(todo):
            rows = self.rows[pos]
            hit = (rows >= 0) & (self.keys[pos] == h[todo])
            out[todo[hit]] = rows[hit]
            go_on = (rows >= 0) & ~hit
            todo, pos = todo[go_on], (pos[go_on] + 1) & self.mask
        return out


class NgramFeaturizer:
    """Maps texts to embedding-table rows: ``transform(texts) -> (row_ids, offsets)`` for an EmbeddingBag."""

    def __init__(self, config: NgramConfig | None = None, **overrides):
        self.config = config or NgramConfig()
        if overrides:
            self.config = NgramConfig(**{**self.config.to_dict(), **overrides})
        c = self.config
        check(1 <= c.min_n <= c.max_n, f"bad n-gram range {c.min_n}..{c.max_n} (need 1 <= min_n <= max_n)")
        check(c.max_features >= 1, f"vocabulary size must be >= 1, got {c.max_features}")
        check(c.min_count >= 1 and c.buckets >= 0, "min_count must be >= 1 and buckets >= 0")
        self.tokenizer = Tokenizer(self.config.token_pattern, self.config.lowercase, self.config.strip_html)
        self.ranked_hashes_: np.ndarray | None = None  # vocabulary hashes; row i = i-th most frequent n-gram
        self.index_: HashIndex | None = None

    # -- vocabulary -----------------------------------------------------------------------------------------
    def fit(self, texts: Iterable[str], chunk_size: int = 20_000, progress: bool = False) -> "NgramFeaturizer":
        """Keep the ``max_features`` most frequent n-grams of ``texts``."""
        counter = NgramCounter(self.config, self.tokenizer)
        texts = list(texts)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="counting n-grams", unit="text", dynamic_ncols=True)
        for start in range(0, len(texts), chunk_size):
            chunk = texts[start : start + chunk_size]
            counter.update(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        keys, _ = counter.top(self.config.max_features, self.config.min_count)
        self.set_vocabulary(keys)
        return self

    def set_vocabulary(self, ranked_hashes: np.ndarray) -> None:
        """Install a vocabulary given as n-gram hashes ranked by frequency (row i = i-th most frequent)."""
        ranked_hashes = np.asarray(ranked_hashes, dtype=np.uint64)
        if len(np.unique(ranked_hashes)) != len(ranked_hashes):
            raise ValueError("vocabulary hashes are not unique")
        self.ranked_hashes_ = ranked_hashes
        self.index_ = HashIndex(ranked_hashes, np.arange(len(ranked_hashes), dtype=np.int64))

    @property
    def vocab_size(self) -> int:
        return 0 if self.ranked_hashes_ is None else len(self.ranked_hashes_)

    @property
    def num_rows(self) -> int:
        """Rows of the embedding table: the vocabulary plus the hash buckets."""
        return self.vocab_size + self.config.buckets

    def ranked_hashes(self) -> np.ndarray:
        """Vocabulary hashes in row order (for saving)."""
        return self.ranked_hashes_

    # -- hot path ---------------------------------------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Row ids of every known n-gram of every text, concatenated, and each text's start offset."""
        if self.index_ is None:
            raise RuntimeError("featurizer is not fitted")
        th, lengths = self.tokenizer.hash_batch(texts)
        h, owner = ngram_hashes(th, lengths, self.config.min_n, self.config.max_n)
        rows = self.index_.lookup(h)
        if self.config.buckets:
            miss = rows < 0
            rows[miss] = self.vocab_size + (h[miss] % np.uint64(self.config.buckets)).astype(np.int64)
        else:
            hit = rows >= 0
            rows, owner = rows[hit], owner[hit]
        counts = np.bincount(owner, minlength=len(texts))
        offsets = np.zeros(len(texts), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        return rows.astype(np.int64, copy=False), offsets
