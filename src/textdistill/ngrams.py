"""Word n-gram featurizer: text -> rows of an embedding table, vectorised with numpy.

Tokens come from one regular expression (words, and every punctuation run as its own token, one-character tokens
kept). Each token gets a stable 64-bit hash; n-gram hashes are built from token hashes with a rolling hash over
the whole batch at once, so there is no Python loop per n-gram. The vocabulary is a sorted array of the top-K
n-gram hashes by count; lookup is one ``np.searchsorted``. Unknown n-grams are dropped, or, with ``buckets > 0``,
hashed into extra rows as fastText does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

TOKEN_PATTERN = r"\w+|[^\w\s]+"
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio) for the rolling hash
_ORDER_SALT = np.uint64(0xD6E8FEB86659FD93)
_MEMO_LIMIT = 2_000_000


def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


@dataclass
class NgramConfig:
    """Everything that decides which rows a text maps to; saved with the model."""

    min_n: int = 1
    max_n: int = 4
    max_features: int = 1_000_000
    min_count: int = 1
    buckets: int = 0
    lowercase: bool = True
    strip_html: bool = True
    token_pattern: str = TOKEN_PATTERN

    def to_dict(self) -> dict:
        return asdict(self)


class Tokenizer:
    """Regex tokenizer that keeps punctuation and one-character tokens; hashes tokens with a memo."""

    def __init__(self, pattern: str = TOKEN_PATTERN, lowercase: bool = True, strip_html: bool = True):
        self.pattern = re.compile(pattern)
        self.lowercase = lowercase
        self.strip_html = strip_html
        self._memo: dict[str, int] = {}

    def normalize(self, text: str) -> str:
        if self.strip_html and "<" in text:
            text = _HTML_BREAK.sub(" ", text)
        return text.lower() if self.lowercase else text

    def tokenize(self, text: str) -> list[str]:
        return self.pattern.findall(self.normalize(text))

    def hash_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token hashes of all texts concatenated, and the number of tokens of each text."""
        findall = self.pattern.findall
        norm = self.normalize
        token_lists = [findall(norm(t)) for t in texts]
        lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
        tokens = [tok for toks in token_lists for tok in toks]
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
                        h = memo[tok] = _token_hash(tok)
                    hashes[i] = h
        return np.array(hashes, dtype=np.uint64), lengths


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


class NgramFeaturizer:
    """Maps texts to embedding-table rows: ``transform(texts) -> (row_ids, offsets)`` for an EmbeddingBag."""

    def __init__(self, config: NgramConfig | None = None, **overrides):
        self.config = config or NgramConfig()
        if overrides:
            self.config = NgramConfig(**{**self.config.to_dict(), **overrides})
        if not 1 <= self.config.min_n <= self.config.max_n:
            raise ValueError(f"bad n-gram range {self.config.min_n}..{self.config.max_n}")
        self.tokenizer = Tokenizer(self.config.token_pattern, self.config.lowercase, self.config.strip_html)
        self.sorted_hashes_: np.ndarray | None = None  # vocabulary hashes, sorted for searchsorted
        self.sorted_rows_: np.ndarray | None = None  # row of each sorted hash (rows are ranked by count)

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
        order = np.argsort(ranked_hashes, kind="stable")
        self.sorted_hashes_ = ranked_hashes[order]
        self.sorted_rows_ = order.astype(np.int64)

    @property
    def vocab_size(self) -> int:
        return 0 if self.sorted_hashes_ is None else len(self.sorted_hashes_)

    @property
    def num_rows(self) -> int:
        """Rows of the embedding table: the vocabulary plus the hash buckets."""
        return self.vocab_size + self.config.buckets

    def ranked_hashes(self) -> np.ndarray:
        """Vocabulary hashes in row order (for saving)."""
        out = np.empty_like(self.sorted_hashes_)
        out[self.sorted_rows_] = self.sorted_hashes_
        return out

    # -- hot path ---------------------------------------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Row ids of every known n-gram of every text, concatenated, and each text's start offset."""
        if self.sorted_hashes_ is None:
            raise RuntimeError("featurizer is not fitted")
        th, lengths = self.tokenizer.hash_batch(texts)
        h, owner = ngram_hashes(th, lengths, self.config.min_n, self.config.max_n)
        vocab = self.sorted_hashes_
        if len(vocab):
            pos = np.searchsorted(vocab, h)
            np.minimum(pos, len(vocab) - 1, out=pos)
            hit = vocab[pos] == h
        else:
            pos = np.zeros(len(h), dtype=np.int64)
            hit = np.zeros(len(h), dtype=bool)
        if self.config.buckets:
            rows = np.where(
                hit,
                self.sorted_rows_[pos] if len(vocab) else 0,
                self.vocab_size + (h % np.uint64(self.config.buckets)).astype(np.int64),
            )
        else:
            rows, owner = self.sorted_rows_[pos[hit]], owner[hit]
        counts = np.bincount(owner, minlength=len(texts))
        offsets = np.zeros(len(texts), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        return rows.astype(np.int64, copy=False), offsets
