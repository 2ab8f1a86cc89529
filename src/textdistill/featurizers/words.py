"""Word vocabulary of the sequence students (BiLSTM, CNN): text -> word ids, vectorised per batch.

Ids 0, 1 and 2 are reserved for padding, unknown words and the mask token that augmentation writes (the
teacher's own mask token, e.g. ``[MASK]``, so the teacher reads it as a mask and the student as one word).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

from ..config import option
from ..errors import check
from .ngrams import TOKEN_PATTERN, UnicodeTokenizer, normalize_text

PAD, UNK, MASK = 0, 1, 2
RESERVED = ["<pad>", "<unk>", "<mask>"]
_SEP = "\x00"
_JOIN = f" {_SEP} "
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


@dataclass
class WordConfig:
    """How texts become word ids; saved with the model."""

    max_words: int = option(100_000, "bilstm/cnn: word vocabulary size.")
    min_count: int = option(1, "Drop n-grams (dan) or words (bilstm/cnn) seen fewer times.")
    max_tokens: int = option(256, "bilstm/cnn: words read per text.")
    lowercase: bool = option(True, "Lowercase texts before tokenising.")
    mask_token: str = option("[MASK]", cli=False)  # the teacher's mask token, set by the pipeline
    token_pattern: str = option(TOKEN_PATTERN, "Regular expression of a token.")
    version: int = option(2, cli=False)  # 2: the n-gram featurizer's tokens (CJK/Thai split, NFKC); 1: the old regex

    def __post_init__(self):
        check(self.max_words >= 1, f"max_words must be >= 1, got {self.max_words}")
        check(self.min_count >= 1, f"min_count must be >= 1, got {self.min_count}")
        check(self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}")
        check(bool(self.mask_token.strip()), "mask_token must not be empty")
        check(self.version in (1, 2), f"unknown word tokenizer version {self.version} (this textdistill knows 1, 2)")

    def to_dict(self) -> dict:
        return asdict(self)


class WordTokenizer:
    """Word tokenizer: the n-gram featurizer's tokens (version 2) or the old regex (version 1); the mask token that
    augmentation writes is kept whole."""

    def __init__(self, config: WordConfig):
        self.config = config
        mask = config.mask_token.lower() if config.lowercase else config.mask_token
        self.mask = mask
        self.pattern = re.compile(re.escape(_SEP) + "|" + re.escape(mask) + "|(?:" + config.token_pattern + ")")

    def _normalize(self, text: str) -> str:
        if "<" in text:
            text = _HTML_BREAK.sub(" ", text)
        return text.lower() if self.config.lowercase else text

    def tokenize(self, text: str) -> list[str]:
        return self.pattern.findall(self._normalize(text.replace(_SEP, " ")))

    def tokenize_batch(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """All tokens of the batch in order (separators removed) and the token count of each text."""
        if not texts:
            return [], np.zeros(0, dtype=np.int64)
        if any(_SEP in t for t in texts):
            texts = [t.replace(_SEP, " ") for t in texts]
        tokens = self.pattern.findall(self._normalize(_JOIN.join(texts)))
        seps = [i for i, t in enumerate(tokens) if t == _SEP] if len(texts) > 1 else []
        bounds = np.array([-1, *seps, len(tokens)], dtype=np.int64)
        lengths = np.diff(bounds) - 1
        if seps:
            tokens = [t for t in tokens if t != _SEP]
        return tokens, lengths


class UnicodeWordTokenizer(WordTokenizer):
    """Version 2: tokens by the shared character table (CJK and Thai characters one token each, marks kept with
    their letter, NFKC), memoised per whitespace chunk; the mask token is cut out before tokenising."""

    def __init__(self, config: WordConfig):
        super().__init__(config)
        self._tok = UnicodeTokenizer(config.token_pattern, config.lowercase, strip_html=True)
        self._memo: dict[str, tuple[str, ...]] = {}
        self.mask = normalize_text(config.mask_token, config.lowercase, True)

    def _chunk_tokens(self, chunk: str) -> tuple[str, ...]:
        got = self._memo.get(chunk)
        if got is None:
            if len(self._memo) > 2_000_000:
                self._memo.clear()
            got = self._memo[chunk] = tuple(self._tok.tokenize(chunk))
        return got

    def tokenize(self, text: str) -> list[str]:
        normalized = self._tok.normalize(text)
        pieces = normalized.split(self.mask) if self.mask in normalized else [normalized]
        out: list[str] = []
        for i, piece in enumerate(pieces):
            if i:
                out.append(self.mask)
            for chunk in piece.split():
                out.extend(self._chunk_tokens(chunk))
        return out

    def tokenize_batch(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        tokens: list[str] = []
        lengths = np.empty(len(texts), dtype=np.int64)
        for k, text in enumerate(texts):
            before = len(tokens)
            tokens.extend(self.tokenize(text))
            lengths[k] = len(tokens) - before
        return tokens, lengths


def word_tokenizer(config: WordConfig) -> WordTokenizer:
    """The tokenizer a word config asks for."""
    return UnicodeWordTokenizer(config) if config.version == 2 else WordTokenizer(config)


class WordVocab:
    """Word list (index = id) built from training texts by frequency; ``encode`` gives ragged id arrays."""

    def __init__(self, words: Sequence[str], config: WordConfig | None = None):
        self.config = config or WordConfig()
        self.tokenizer = word_tokenizer(self.config)
        words = list(words)
        if words[: len(RESERVED)] != RESERVED:
            words = RESERVED + [w for w in words if w not in RESERVED]
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.index[self.tokenizer.mask] = MASK

    @classmethod
    def build(cls, texts: Iterable[str], config: WordConfig | None = None, chunk: int = 10_000) -> "WordVocab":
        config = config or WordConfig()
        tok = word_tokenizer(config)
        counts: Counter = Counter()
        texts = list(texts)
        for start in range(0, len(texts), chunk):
            counts.update(tok.tokenize_batch(texts[start : start + chunk])[0])
        counts.pop(tok.mask, None)
        ranked = sorted((w for w, c in counts.items() if c >= config.min_count), key=lambda w: (-counts[w], w))
        return cls(RESERVED + ranked[: max(config.max_words - len(RESERVED), 0)], config)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Word ids of all texts concatenated (truncated to ``max_tokens``) and each text's start offset.

        A text with no token becomes one padding id, so every sequence has length >= 1.
        """
        tokens, lengths = self.tokenizer.tokenize_batch(list(texts))
        get = self.index.get
        ids = np.fromiter((get(t, UNK) for t in tokens), dtype=np.int64, count=len(tokens))
        limit = self.config.max_tokens
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        if len(lengths) and (lengths.max(initial=0) > limit or lengths.min(initial=1) == 0):
            pos = np.arange(len(ids)) - np.repeat(starts, lengths)
            ids = ids[pos < limit]
            kept = np.minimum(lengths, limit)
            empty = kept == 0
            if empty.any():  # insert one PAD for each empty text
                kept_starts = np.zeros(len(kept), dtype=np.int64)
                np.cumsum(kept[:-1], out=kept_starts[1:])
                ids = np.insert(ids, kept_starts[empty], PAD)
                kept = np.maximum(kept, 1)
            lengths = kept
            starts = np.zeros(len(lengths), dtype=np.int64)
            np.cumsum(lengths[:-1], out=starts[1:])
        return ids, starts


def pad_batch(ids: np.ndarray, offsets: np.ndarray, min_width: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Ragged ids -> a (batch, longest) matrix padded with PAD, and the lengths."""
    ends = np.append(offsets[1:], len(ids))
    lengths = (ends - offsets).astype(np.int64)
    width = max(int(lengths.max(initial=0)), min_width)
    out = np.zeros((len(offsets), width), dtype=np.int64)
    rows = np.repeat(np.arange(len(offsets)), lengths)
    cols = np.arange(len(ids)) - np.repeat(offsets, lengths)
    out[rows, cols] = ids
    return out, lengths
