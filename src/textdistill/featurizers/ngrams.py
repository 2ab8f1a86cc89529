"""Word n-gram featurizer: text -> rows of an embedding table.

Version 2 (new models): a text is normalised (NFKC, ``<br />`` as a space, lowercase), then cut into tokens by the
shipped character table (``charclasses``): runs of letters/digits are words, runs of punctuation are one token, each
CJK/kana/Thai character is a token of its own, combining marks stay with their letter, format characters are
dropped. A token's hash is FNV-1a 64 over its UTF-8 bytes with the murmur3 finaliser; n-gram hashes roll token
hashes. Two paths give exactly the same ids: compiled kernels (``kernels.py``, numba: the default) and numpy with a
regex per whitespace chunk (the fallback without numba, or ``TEXTDISTILL_KERNELS=numpy``).

Version 1 (models saved before): the regex ``\\w+|[^\\w\\s]+`` and blake2b token hashes, numpy only; such models load
and predict as before. A custom ``token_pattern`` also takes the regex path (no kernel).

The vocabulary is the top-K n-gram hashes by count (row i = i-th most frequent); lookup is an open-addressing hash
table. Unknown n-grams are dropped, or, with ``buckets > 0``, hashed into extra rows as fastText does.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from itertools import chain
from typing import Iterable, Sequence

import numpy as np

from ..config import option
from ..errors import ConfigError, check

TOKEN_PATTERN = r"\w+|[^\w\s]+"
FEATURIZER_VERSION = 2
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio) for the rolling hash
_ORDER_SALT = np.uint64(0xD6E8FEB86659FD93)
_MEMO_LIMIT = 2_000_000
_SEP = "\x00"  # v1: neither a word character nor whitespace, so between spaces it is always a token of its own
_JOIN = f" {_SEP} "
_SEP_HASH = 0  # no token hash is 0 in practice (2^-64), and the separator token is mapped to it explicitly
_MASK64 = (1 << 64) - 1
_FNV_OFFSET, _FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
KERNEL_ENV = "TEXTDISTILL_KERNELS"


def token_hash_v1(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def token_hash_v2(token: str) -> int:
    """FNV-1a 64 over the UTF-8 bytes (lone surrogates as their 3-byte form), then the murmur3 finaliser."""
    h = _FNV_OFFSET
    for b in token.encode("utf-8", "surrogatepass"):
        h = ((h ^ b) * _FNV_PRIME) & _MASK64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


@lru_cache(maxsize=1)
def kernels():
    """The compiled kernels, or None (numba missing, or ``TEXTDISTILL_KERNELS=numpy``): this machine's
    ahead-of-time build when there is one (``featurizers/aot.py``: no numba import), else numba's JIT kernels.
    ``TEXTDISTILL_KERNELS=numba`` skips the ahead-of-time build, ``aot`` requires it."""
    choice = os.environ.get(KERNEL_ENV, "auto").strip().lower()
    if choice not in ("auto", "numba", "numpy", "aot"):
        raise ConfigError(f"{KERNEL_ENV} must be auto, aot, numba or numpy, not {choice!r}")
    if choice == "numpy":
        return None
    if choice in ("auto", "aot"):
        from . import aot

        built = aot.load()
        if built is not None:
            return built
        if choice == "aot":
            raise ConfigError(f"{KERNEL_ENV}=aot but the kernels are not built for this machine: run `textdistill "
                              f"kernels build`")
    try:
        from . import kernels as module
    except ImportError:
        if choice == "numba":
            raise ConfigError(f"{KERNEL_ENV}=numba but numba is not installed (pip install numba)") from None
        return None
    return module


def bind_kernel(k, name: str, *args):
    """Kernel ``name`` of ``k`` (the ahead-of-time or the JIT kernels) with its constant arguments bound: a function
    of the arguments given as None."""
    if hasattr(k, "bind"):
        return k.bind(name, *args)
    fn = getattr(k, name)
    free = [i for i, v in enumerate(args) if v is None]

    def call(*values):
        full = list(args)
        for i, v in zip(free, values):
            full[i] = v
        return fn(*full)
    return call


def kernels_load_cheaply() -> bool:
    """Whether the compiled kernels load without numba (this machine's ahead-of-time build is there)."""
    if os.environ.get(KERNEL_ENV, "auto").strip().lower() not in ("auto", "aot"):
        return False
    from . import aot

    return aot.built_module() is not None


_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


def check_token_pattern(pattern: str, where: str = "token_pattern") -> re.Pattern:
    """Compile a user's token pattern; refuse one that does not compile, matches the empty string, uses
    backreferences, or nests quantifiers (``(a+)+``: exponential backtracking on a long word)."""
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{where} must be a non-empty regular expression")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where} {pattern!r} is not a valid regular expression ({exc})") from None
    if compiled.search("") is not None and compiled.fullmatch("") is not None:
        raise ConfigError(f"{where} {pattern!r} matches the empty string")
    if re.search(r"\\[1-9]|\(\?P=", pattern):
        raise ConfigError(f"{where} {pattern!r} uses a backreference (slow to match); refusing it")
    if _NESTED_QUANTIFIER.search(pattern):
        raise ConfigError(f"{where} {pattern!r} nests quantifiers (e.g. (a+)+), which can take exponential time; "
                          f"refusing it")
    return compiled


@dataclass
class NgramConfig:
    """Everything that decides which rows a text maps to; saved with the model."""

    min_n: int = option(1, "dan: shortest n-gram.")
    max_n: int = option(4, "dan: longest n-gram.", flag="max-ngram")
    max_features: int = option(1_000_000, "dan: most n-grams kept (the vocabulary is also limited by --min-count).",
                               flag="vocab-size")
    min_count: int = option(1, "Drop n-grams (dan) or words (bilstm/cnn) seen fewer times.")
    buckets: int = option(0, "dan: hash buckets for unknown n-grams (fastText-style; 0 = drop them).")
    lowercase: bool = option(True, "Lowercase texts before tokenising.")
    strip_html: bool = option(True, "dan: read <br /> tags as spaces.")
    token_pattern: str = option(TOKEN_PATTERN, "Regular expression of a token (the default: words, punctuation runs "
                                               "and CJK/Thai characters by the built-in character table).")
    version: int = option(FEATURIZER_VERSION, cli=False)  # 1: models saved before textdistill 0.2

    def __post_init__(self):
        check(isinstance(self.min_n, int) and isinstance(self.max_n, int) and 1 <= self.min_n <= self.max_n,
              f"bad n-gram range {self.min_n}..{self.max_n} (need 1 <= min_n <= max_n)")
        check(self.max_n <= 8, f"n-grams longer than 8 tokens teach nothing and cost a lot (max_n={self.max_n})")
        check(self.max_features >= 1, f"vocabulary size must be >= 1, got {self.max_features}")
        check(self.min_count >= 1 and self.buckets >= 0, "min_count must be >= 1 and buckets >= 0")
        check(self.version in (1, 2), f"unknown featurizer version {self.version} (this textdistill knows 1 and 2)")

    def to_dict(self) -> dict:
        return asdict(self)


def hash_chunks(texts: Sequence[str], chunks_of, hash_chunk, memo: dict) -> tuple[np.ndarray, np.ndarray]:
    """Token hashes of all texts and each text's token count, where a text's tokens are those of its whitespace
    chunks in order: ``hash_chunk`` runs once per distinct chunk (most chunks of real text repeat: "the", "film,")
    and is memoised in ``memo``."""
    get = memo.get
    flat: list[int] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    for k, text in enumerate(texts):
        chunks = chunks_of(text)
        found = [get(c) for c in chunks]
        if None in found:
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
            for j, h in enumerate(found):
                if h is None:
                    found[j] = memo[chunks[j]] = hash_chunk(chunks[j])
        before = len(flat)
        flat.extend(chain.from_iterable(found))
        lengths[k] = len(flat) - before
    return np.array(flat, dtype=np.uint64), lengths


class Tokenizer:
    """Version-1 tokenizer: one regex (punctuation and one-character tokens kept), blake2b hashes, memoised."""

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
        def chunks_of(text: str) -> list[str]:
            if _SEP in text:  # as in the regex path, the separator character counts as a space
                text = text.replace(_SEP, " ")
            return self.normalize(text).split()

        findall = self.pattern.findall
        return hash_chunks(texts, chunks_of, lambda c: tuple(token_hash_v1(t) for t in findall(c)), self._chunk_memo)

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
                        h = memo[tok] = _SEP_HASH if tok == _SEP else token_hash_v1(tok)
                    hashes[i] = h
        arr = np.array(hashes, dtype=np.uint64)
        is_sep = arr == _SEP_HASH
        seps = np.flatnonzero(is_sep)
        bounds = np.concatenate([[-1], seps, [len(arr)]])
        lengths = np.diff(bounds) - 1
        return arr[~is_sep], lengths.astype(np.int64)


def normalize_text(text: str, lowercase: bool = True, strip_html: bool = True) -> str:
    """Version-2 normalisation, shared by both paths: NFKC (non-ASCII text only), ``<br />`` -> space, lowercase."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if strip_html and "<" in text:
        text = _HTML_BREAK.sub(" ", text)
    return text.lower() if lowercase else text


@lru_cache(maxsize=1)
def _unicode_regexes():
    from . import charclasses

    token, _, ignore = charclasses.patterns()
    table = charclasses.table()
    # SPACE-class characters that str.split() does not split on (controls): made spaces first. If this Python
    # split on a character the table does not call a space, str.split could not be used: fall back to a regex.
    extra = [cp for cp in np.flatnonzero(table == charclasses.SPACE).tolist() if not chr(cp).isspace()]
    splits_more = any(chr(cp).isspace() and table[cp] != charclasses.SPACE for cp in range(0x3100))
    extra_re = re.compile("[" + "".join(re.escape(chr(cp)) for cp in extra) + "]")
    space_re = re.compile("[" + "".join(re.escape(chr(cp)) for cp in np.flatnonzero(
        table == charclasses.SPACE).tolist()) + "]+")
    return token, ignore, extra_re, (space_re if splits_more else None)


class UnicodeTokenizer:
    """Version-2 tokenizer, numpy path: the character table as regexes, hashed per whitespace chunk with a memo.

    ``pattern`` other than the default replaces the table's token rule by that regex (applied after
    normalisation); the hashes are version 2's either way.
    """

    def __init__(self, pattern: str = TOKEN_PATTERN, lowercase: bool = True, strip_html: bool = True):
        self.lowercase, self.strip_html = lowercase, strip_html
        self.default_pattern = pattern == TOKEN_PATTERN
        token, ignore, extra, space = _unicode_regexes()
        self._token = token if self.default_pattern else check_token_pattern(pattern)
        self._ignore, self._extra_space, self._space = ignore, extra, space
        self._chunk_memo: dict[str, tuple[int, ...]] = {}

    def normalize(self, text: str) -> str:
        return normalize_text(text, self.lowercase, self.strip_html)

    def chunks(self, text: str) -> list[str]:
        """The normalised text's whitespace-separated chunks, format characters deleted."""
        text = self.normalize(text)
        if not text.isascii():
            text = self._ignore.sub("", text)
        if self._extra_space.search(text):
            text = self._extra_space.sub(" ", text)
        return self._space.split(text) if self._space is not None else text.split()

    def tokenize(self, text: str) -> list[str]:
        if not self.default_pattern:
            text = self.normalize(text)
            return self._token.findall(self._ignore.sub("", text) if not text.isascii() else text)
        return [t for chunk in self.chunks(text) for t in self._token.findall(chunk)]

    def hash_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if not self.default_pattern:
            per_text = [[token_hash_v2(t) for t in self.tokenize(text)] for text in texts]
            lengths = np.array([len(p) for p in per_text], dtype=np.int64)
            return np.array(list(chain.from_iterable(per_text)), dtype=np.uint64), lengths
        findall = self._token.findall
        return hash_chunks(texts, self.chunks, lambda c: tuple(token_hash_v2(t) for t in findall(c)), self._chunk_memo)


class KernelTokenizer:
    """Version-2 tokenizer, compiled path: normalise in Python (C-level string methods), tokenise and hash in numba."""

    def __init__(self, lowercase: bool = True, strip_html: bool = True):
        from . import charclasses

        self.lowercase, self.strip_html = lowercase, strip_html
        self.kernels = kernels()
        self.classes = charclasses.table()
        self._fallback = UnicodeTokenizer(TOKEN_PATTERN, lowercase, strip_html)

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """UTF-8 bytes of the normalised texts, concatenated, and the byte offset of each (plus the end)."""
        lower, html = self.lowercase, self.strip_html
        if len(texts) == 1:  # one text (a request, batch 1): no list building
            data = normalize_text(texts[0], lower, html).encode("utf-8", "surrogatepass")
            return np.frombuffer(data, dtype=np.uint8), np.array([0, len(data)], dtype=np.int64)
        parts = [normalize_text(t, lower, html).encode("utf-8", "surrogatepass") for t in texts]
        starts = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=starts[1:])
        return np.frombuffer(b"".join(parts), dtype=np.uint8), starts

    def tokenize(self, text: str) -> list[str]:
        return self._fallback.tokenize(text)

    def hash_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        data, starts = self.encode(texts)
        return self.kernels.tokenize_hashes(data, starts, self.classes)


def make_tokenizer(config: NgramConfig, backend: str = "auto"):
    """The tokenizer of a featurizer config: the compiled one where it applies, else the numpy one."""
    if config.version == 1:
        if config.token_pattern != TOKEN_PATTERN:
            check_token_pattern(config.token_pattern)
        return Tokenizer(config.token_pattern, config.lowercase, config.strip_html)
    if backend != "numpy" and config.token_pattern == TOKEN_PATTERN and kernels() is not None:
        return KernelTokenizer(config.lowercase, config.strip_html)
    return UnicodeTokenizer(config.token_pattern, config.lowercase, config.strip_html)


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

    def __init__(self, config: NgramConfig, tokenizer, max_distinct: int | None = None):
        self.config = config
        self.tokenizer = tokenizer
        self.max_distinct = max_distinct or max(20_000_000, 10 * config.max_features)
        self.keys = np.zeros(0, dtype=np.uint64)
        self.counts = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_size = 0

    def update(self, texts: Sequence[str]) -> None:
        th, lengths = self.tokenizer.hash_batch(texts)
        h, _ = all_ngram_hashes(th, lengths, self.config.min_n, self.config.max_n)
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

    def distinct(self) -> int:
        self._merge()
        return len(self.keys)

    def top(self, k: int, min_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The k most frequent n-gram hashes (ties broken by hash for determinism) and their counts."""
        self._merge()
        keep = self.counts >= min_count
        keys, counts = self.keys[keep], self.counts[keep]
        order = np.lexsort((keys, -counts))[:k]
        return keys[order], counts[order]


def all_ngram_hashes(th: np.ndarray, lengths: np.ndarray, min_n: int, max_n: int):
    """ngram_hashes, compiled when the kernels are there (same values, same order)."""
    k = kernels()
    if k is not None and len(lengths):
        return k.ngram_hashes(th, lengths.astype(np.int64, copy=False), min_n, max_n)
    return ngram_hashes(th, lengths, min_n, max_n)


class HashIndex:
    """Open-addressing hash table (linear probing) from n-gram hash to row: ``table`` is (slots, 2) uint64 holding
    [key, row + 1] (0 = empty), so a probe reads one cache line; load factor <= 0.5. Built by the compiled kernel
    when numba is there (milliseconds for a million keys), else by numpy; probed by both paths identically.
    """

    _FIB = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, keys: np.ndarray, rows: np.ndarray, compiled: bool = True):
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        n = len(keys)
        self.bits = index_bits(n)
        size = 1 << self.bits
        self.mask = np.int64(size - 1)
        k = kernels() if compiled else None
        if k is not None and n:
            self.table, self.duplicates = k.build_index(keys, rows, self.bits)
            return
        ordered = np.sort(keys)  # (numpy 2's hash-based np.unique takes ~0.7 s on a million keys; a sort ~0.05 s)
        self.duplicates = int((ordered[1:] == ordered[:-1]).sum()) if n > 1 else 0
        self.table = np.zeros((size, 2), dtype=np.uint64)
        pending = np.arange(n)
        pos = self._slot(keys)
        while len(pending):
            p = pos[pending]
            free = self.table[p, 1] == 0
            cand, cpos = pending[free], p[free]
            taken, first = np.unique(cpos, return_index=True)
            winners = cand[first]
            self.table[taken, 0] = keys[winners]
            self.table[taken, 1] = (rows[winners] + 1).astype(np.uint64)
            placed = np.zeros(n, dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            pos[pending] = (pos[pending] + 1) & self.mask

    @property
    def shift(self) -> np.uint64:
        return np.uint64(64 - self.bits)

    def _slot(self, h: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((h * self._FIB) >> np.uint64(64 - self.bits)).astype(np.int64)

    def lookup(self, h: np.ndarray) -> np.ndarray:
        """Row of each hash, -1 where the hash is not in the table."""
        out = np.full(len(h), -1, dtype=np.int64)
        todo = np.arange(len(h))
        pos = self._slot(h)
        keys, stored = self.table[:, 0], self.table[:, 1]
        while len(todo):
            row1 = stored[pos]
            occupied = row1 != 0
            hit = occupied & (keys[pos] == h[todo])
            out[todo[hit]] = row1[hit].astype(np.int64) - 1
            go_on = occupied & ~hit
            todo, pos = todo[go_on], (pos[go_on] + 1) & self.mask
        return out


def index_bits(n: int) -> int:
    """Slots of the lookup table: a power of two, load factor <= 0.5."""
    return max(4, int(np.ceil(np.log2(max(2 * n, 1)))))


class NgramFeaturizer:
    """Maps texts to embedding-table rows: ``transform(texts) -> (row_ids, offsets)`` for an EmbeddingBag."""

    def __init__(self, config: NgramConfig | None = None, backend: str = "auto", **overrides):
        self.config = config or NgramConfig()
        if overrides:
            self.config = NgramConfig(**{**self.config.to_dict(), **overrides})
        self.backend = backend
        self.tokenizer = make_tokenizer(self.config, backend)
        self.ranked_hashes_: np.ndarray | None = None  # vocabulary hashes; row i = i-th most frequent n-gram
        self.counts_: np.ndarray | None = None  # training counts of the vocabulary (when known)
        self.distinct_ngrams_: int | None = None  # distinct n-grams seen when fitting
        self.index_: HashIndex | None = None

    @property
    def compiled(self) -> bool:
        """True when texts are featurised by the compiled kernels."""
        return isinstance(self.tokenizer, KernelTokenizer)

    def with_backend(self, backend: str) -> "NgramFeaturizer":
        """The same featurizer (vocabulary shared, not copied) on another backend: ``auto`` or ``numpy``."""
        other = NgramFeaturizer(self.config, backend=backend)
        other.ranked_hashes_, other.counts_, other.index_ = self.ranked_hashes_, self.counts_, self.index_
        other.distinct_ngrams_ = self.distinct_ngrams_
        return other

    # -- vocabulary -----------------------------------------------------------------------------------------
    def fit(self, texts: Iterable[str], chunk_size: int = 20_000, progress: bool = False) -> "NgramFeaturizer":
        """Keep the ``max_features`` most frequent n-grams of ``texts`` seen at least ``min_count`` times."""
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
        self.distinct_ngrams_ = counter.distinct()
        keys, counts = counter.top(self.config.max_features, self.config.min_count)
        self.set_vocabulary(keys, counts)
        return self

    def set_vocabulary(self, ranked_hashes: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Install a vocabulary given as n-gram hashes ranked by frequency (row i = i-th most frequent)."""
        ranked_hashes = np.asarray(ranked_hashes, dtype=np.uint64)
        index = HashIndex(ranked_hashes, np.arange(len(ranked_hashes), dtype=np.int64), compiled=self.backend != "numpy")
        if index.duplicates:
            raise ValueError("vocabulary hashes are not unique")
        self.ranked_hashes_ = ranked_hashes
        self.counts_ = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.index_ = index

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
        c = self.config
        if self.compiled:
            th, lengths = self.tokenizer.hash_batch(texts)
            idx = self.index_
            return self.tokenizer.kernels.ngram_rows(th, lengths, c.min_n, c.max_n, idx.table, idx.shift,
                                                     c.buckets, self.vocab_size)
        th, lengths = self.tokenizer.hash_batch(texts)
        h, owner = ngram_hashes(th, lengths, c.min_n, c.max_n)
        rows = self.index_.lookup(h)
        if c.buckets:
            miss = rows < 0
            rows[miss] = self.vocab_size + (h[miss] % np.uint64(c.buckets)).astype(np.int64)
        else:
            hit = rows >= 0
            rows, owner = rows[hit], owner[hit]
        counts = np.bincount(owner, minlength=len(texts))
        offsets = np.zeros(len(texts), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        return rows.astype(np.int64, copy=False), offsets
