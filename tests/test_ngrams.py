import numpy as np
import pytest

from textdistill.featurizers.ngrams import NgramConfig, NgramCounter, NgramFeaturizer, Tokenizer, ngram_hashes


def test_tokenizer_keeps_punctuation_and_single_characters():
    tok = Tokenizer()
    assert tok.tokenize("It's a <br />GREAT movie!!! 10/10 :-)") == [
        "it", "'", "s", "a", "great", "movie", "!!!", "10", "/", "10", ":-)"]
    assert Tokenizer(lowercase=False).tokenize("I am A") == ["I", "am", "A"]


def _python_ngrams(tokens, lo, hi):
    return [tuple(tokens[i:i + n]) for n in range(lo, hi + 1) for i in range(len(tokens) - n + 1)]


def test_ngram_hashes_match_a_reference_enumeration_and_respect_text_boundaries():
    tok = Tokenizer()
    texts = ["a b c d e", "x y", "", "a b"]
    th, lengths = tok.hash_batch(texts)
    h, owner = ngram_hashes(th, lengths, 1, 4)
    for d, text in enumerate(texts):
        expected = _python_ngrams(tok.tokenize(text), 1, 4)
        assert (owner == d).sum() == len(expected)
    # the same n-gram has the same hash in different texts; "a b" bigram appears in texts 0 and 3
    h0 = set(h[owner == 0].tolist())
    h3 = set(h[owner == 3].tolist())
    assert h3 <= h0 and len(h3) == 3
    # no n-gram spans two texts: "e x" would be a cross-boundary bigram
    th2, l2 = tok.hash_batch(["e x"])
    cross, _ = ngram_hashes(th2, l2, 2, 2)
    assert cross[0] not in set(h.tolist())


def test_hashes_are_stable_across_featurizer_instances():
    a, _ = Tokenizer().hash_batch(["stable hashing please"])
    b, _ = Tokenizer().hash_batch(["stable hashing please"])
    assert np.array_equal(a, b)


def test_fit_keeps_top_k_by_count_and_rows_are_ranked():
    texts = ["good movie"] * 5 + ["bad movie"] * 3 + ["ugly"]
    f = NgramFeaturizer(max_n=2, max_features=3).fit(texts)
    assert f.vocab_size == 3
    # top 3: "movie" (8), "good" (5), "good movie" (5) -> tie broken deterministically; "ugly" (1) is out
    rows, offsets = f.transform(["movie", "ugly"])
    assert rows.tolist() == [0] and offsets.tolist() == [0, 1]
    rows, _ = f.transform(["good movie"])
    assert sorted(rows.tolist()) == [0, 1, 2]


def test_transform_drops_unknown_and_handles_empty_texts():
    f = NgramFeaturizer().fit(["the cat sat", "the dog ran"])
    rows, offsets = f.transform(["", "zebra", "the cat"])
    assert offsets.tolist() == [0, 0, 0]
    assert len(rows) == 3  # the, cat, "the cat"


def test_buckets_hash_unknown_ngrams_into_extra_rows():
    f = NgramFeaturizer(buckets=100).fit(["the cat sat"])
    assert f.num_rows == f.vocab_size + 100
    rows, offsets = f.transform(["zebra crossing"])
    assert len(rows) == 3 and all(f.vocab_size <= r < f.num_rows for r in rows)
    rows2, _ = f.transform(["zebra crossing"])
    assert rows.tolist() == rows2.tolist()


def test_counter_prunes_singletons_when_over_budget_but_keeps_frequent():
    tok = Tokenizer()
    counter = NgramCounter(NgramConfig(max_n=1, max_features=5), tok, max_distinct=50)
    rng = np.random.default_rng(0)
    for _ in range(20):
        noise = " ".join(f"w{rng.integers(1_000_000)}" for _ in range(30))
        counter.update([noise + " frequent frequent"])
    keys, counts = counter.top(1)
    th, _ = tok.hash_batch(["frequent"])
    from textdistill.featurizers.ngrams import _ORDER_SALT
    assert keys[0] == th[0] ^ _ORDER_SALT and counts[0] == 40
    assert len(counter.keys) <= 60


def test_bad_ngram_range_is_rejected():
    with pytest.raises(ValueError):
        NgramFeaturizer(min_n=3, max_n=2)


def test_batch_hashing_equals_text_by_text_hashing():
    tok = Tokenizer()
    texts = ["Hello, world!", "", "a\x00b", "  ", "<br />line two", "émigré café ?!"]
    hashes, lengths = tok.hash_batch(texts)
    assert lengths.tolist() == [len(tok.tokenize(t.replace("\x00", " "))) for t in texts]
    one_by_one = np.concatenate([tok.hash_batch([t])[0] for t in texts])
    assert np.array_equal(hashes, one_by_one)
    assert len(tok.hash_batch([])[0]) == 0


def test_whitespace_chunk_path_equals_the_regex_path():
    """The memoised chunk path (default pattern) must give exactly the tokens of one regex pass over the text."""
    tok = Tokenizer()
    assert tok._whitespace_bounded and not Tokenizer(pattern=r"\S+")._whitespace_bounded
    texts = ["film, film,film!! film", "snake_case x_1 __init__", "tab\there\nnew\u00a0nbsp\u2003em\u3000ideo",
             "a\x00b \x00", "emoji 👍🏽 ok…", "Ünïcödé ÀB 10/10 :-)", "\x1cfile\x1dsep", "<BR/>Mixed<br />breaks",
             "", "   ", "repeat repeat repeat"] * 2  # the second copy is served from the memo
    by_chunks = tok._hash_batch_by_chunks(texts)
    by_regex = tok._hash_batch_by_regex(texts)
    assert by_chunks[1].tolist() == by_regex[1].tolist()
    assert np.array_equal(by_chunks[0], by_regex[0])
    assert by_chunks[1].tolist()[:2] == [7, 3]  # film , film , film !! film: "!!" is one token; "_" is a word character


def test_hash_index_finds_every_key_and_rejects_others():
    from textdistill.featurizers.ngrams import HashIndex

    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2**63, 5000, dtype=np.uint64))
    index = HashIndex(keys, np.arange(len(keys)))
    assert np.array_equal(index.lookup(keys), np.arange(len(keys)))
    others = rng.integers(0, 2**63, 1000, dtype=np.uint64)
    others = others[~np.isin(others, keys)]
    assert (index.lookup(others) == -1).all()
