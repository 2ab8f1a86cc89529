"""Featurizer version 2: the compiled kernels and the numpy path give exactly the same ids, on every kind of text;
the ids are pinned (a saved model keeps meaning the same thing across releases); CJK and Thai are split."""

import numpy as np
import pytest

from textdistill.featurizers import charclasses
from textdistill.featurizers.ngrams import (KernelTokenizer, NgramConfig, NgramFeaturizer, UnicodeTokenizer,
                                            kernels, token_hash_v2)

needs_numba = pytest.mark.skipif(kernels() is None, reason="numba not installed")

TRICKY = [
    "", " ", "   \t\n ", "Hello, world!!! It's a <BR/>test :-)", "<br />line two<br/>three<BR >four",
    "今天天气很好，我很开心", "東京タワーに行きました。", "ภาษาไทยง่ายนิดเดียว", "한국어 문장입니다",
    "naïve café e\u0301 ñ", "a\u200bb soft\xadhyphen \ufeffbom", "emoji 👨‍👩‍👧 ok 👍🏽👍🏽 🙂", "\x00\x01ctrl\x1cx\x7f",
    "tab\tnew\nline\u00a0nbsp\u2003em\u3000ideo\u2028ls\u2029ps\x85nel", "ＡＢＣ１２３ ﬁ ½ ²", "İstanbul ΣΑΣ ΌΣΟΣ ß",
    "lone \ud800 surrogate \udfff", "snake_case __init__ x_1 _", "٣٤ arabic مرحبا بالعالم", "हिन्दी भाषा",
    "film, film,film!! film", "10/10 :-) $5.99 #tag @user http://x.y/z?a=1&b=2", "a" * 300 + " " + "b" * 5,
    "\u0301\u0301 leading marks", "x\u0301\u0302y", "...", "!?!?", "中a中b", "Ⅻ ⑧ ㊙", "\U00020000\U0002a6d6 ext-b",
    "mixed中文English日本語한국어ไทย", "\u0e01\u0e34\u0e4a", "under_score_中",
]


def _random_texts(n=300, seed=0):
    """Random strings over a mix of ASCII, Latin-1, combining marks, CJK, emoji, controls, spaces and format chars."""
    rng = np.random.default_rng(seed)
    pools = [range(32, 127), range(0xA0, 0x250), range(0x300, 0x370), range(0x4E00, 0x4E80), range(0x3040, 0x30FF),
             range(0x0E00, 0x0E7F), range(0x1F300, 0x1F64F), range(0, 32), [0x200B, 0x200D, 0xAD, 0xFEFF, 0x2028],
             range(0xFF01, 0xFF5E), range(0x0900, 0x097F), [0x20, 0x20, 0x20, 0x09, 0x0A, 0x3000, 0xA0]]
    out = []
    for _ in range(n):
        length = int(rng.integers(0, 60))
        chars = []
        for _ in range(length):
            pool = pools[int(rng.integers(len(pools)))]
            chars.append(chr(int(rng.choice(list(pool)))))
        out.append("".join(chars))
    return out


@needs_numba
@pytest.mark.parametrize("lowercase, strip_html", [(True, True), (False, False)])
def test_compiled_and_numpy_tokenizers_give_the_same_hashes(lowercase, strip_html):
    texts = TRICKY + _random_texts()
    slow = UnicodeTokenizer(lowercase=lowercase, strip_html=strip_html)
    fast = KernelTokenizer(lowercase=lowercase, strip_html=strip_html)
    a, la = slow.hash_batch(texts)
    b, lb = fast.hash_batch(texts)
    assert la.tolist() == lb.tolist()
    assert np.array_equal(a, b)
    for text in TRICKY:  # and text by text (the batch boundary changes nothing)
        assert np.array_equal(slow.hash_batch([text])[0], fast.hash_batch([text])[0])
    again = slow.hash_batch(texts)  # the second pass is served from the numpy path's memo
    assert np.array_equal(again[0], a)


@needs_numba
@pytest.mark.parametrize("buckets", [0, 50])
def test_compiled_and_numpy_featurizers_give_the_same_rows(buckets):
    texts = TRICKY + _random_texts(200, seed=1)
    config = NgramConfig(max_n=3, buckets=buckets, min_count=1)
    fast = NgramFeaturizer(config).fit(texts[::2])
    slow = NgramFeaturizer(config, backend="numpy").fit(texts[::2])
    assert fast.compiled and not slow.compiled
    assert np.array_equal(fast.ranked_hashes(), slow.ranked_hashes())
    rows_a, off_a = fast.transform(texts)
    rows_b, off_b = slow.transform(texts)
    assert np.array_equal(off_a, off_b) and np.array_equal(rows_a, rows_b)


def test_pinned_token_hashes_and_rows():
    """These values are part of the saved-model format: changing them silently breaks every saved student."""
    assert token_hash_v2("hello") == 0xE9C562C0FDB23244  # fmix64(FNV-1a 64 "hello" = 0xa430d84680aabd0b)
    assert token_hash_v2("中") == 0xF507B576262C5441
    assert token_hash_v2("!!!") == 0x673C7826FAD5900B
    tok = UnicodeTokenizer()
    assert tok.hash_batch(["Hello!!!"])[0].tolist() == [token_hash_v2("hello"), token_hash_v2("!!!")]
    f = NgramFeaturizer(NgramConfig(max_n=2, min_count=1), backend="numpy").fit(["a b a", "b c"])
    assert f.ranked_hashes().tolist() == [6073763670534861768, 13299072731448553283, 10683690743198920545,
                                          11664826390905322653, 14828696799776940621, 17965865001776936760]
    rows, offsets = f.transform(["a b", "c a", "zzz"])
    assert rows.tolist() == [0, 1, 2, 3, 0] and offsets.tolist() == [0, 3, 5]


def test_scripts_without_spaces_are_split_into_characters():
    tok = UnicodeTokenizer()
    assert tok.tokenize("今天天气很好，我很开心") == ["今", "天", "天", "气", "很", "好", ",", "我", "很", "开", "心"]
    assert tok.tokenize("東京タワー") == ["東", "京", "タ", "ワ", "ー"]
    assert tok.tokenize("ภาษา") == ["ภ", "า", "ษ", "า"]
    assert tok.tokenize("한국어 문장") == ["한국어", "문장"]  # Korean has spaces: words stay whole
    assert tok.tokenize("中a中b") == ["中", "a", "中", "b"]


def test_marks_stay_with_their_letter_and_text_is_nfkc_normalised():
    tok = UnicodeTokenizer()
    assert tok.tokenize("cafe\u0301") == tok.tokenize("café") == ["café"]  # NFKC composes
    assert tok.tokenize("हिन्दी") == ["हिन्दी"]  # Devanagari vowel signs are marks: one word, not four pieces
    assert tok.tokenize("ＡＢＣ１２３ ﬁ") == ["abc123", "fi"]  # full-width forms and ligatures folded
    assert tok.tokenize("co\xadoperate zero\u200bwidth") == ["cooperate", "zerowidth"]  # format characters dropped
    assert tok.tokenize("It's <br />GREAT!!! 10/10 :-)") == ["it", "'", "s", "great", "!!!", "10", "/", "10", ":-)"]
    assert tok.tokenize("a\x00b\x01c\x1cd") == ["a", "b", "c", "d"]  # control characters separate tokens


def test_character_table_is_the_shipped_one():
    table = charclasses.table()
    assert table.shape == (0x110000,) and not table.flags.writeable
    for ch, cls in [("a", "word"), ("_", "word"), ("7", "word"), ("中", "split"), ("あ", "split"), ("ก", "split"),
                    ("\u0e31", "mark"), ("\u0301", "mark"), ("\u200b", "ignore"), ("\x00", "space"),
                    ("\u3000", "space"), ("!", "punct"), ("😀", "punct"), ("한", "word")]:
        assert charclasses.NAMES[table[ord(ch)]] == cls, ch
    spec = charclasses.spec()
    assert spec["run_starts"][0] == 0 and len(spec["run_starts"]) == len(spec["run_classes"]) > 100


def test_version_1_featurizer_still_gives_version_1_ids():
    from textdistill.featurizers.ngrams import Tokenizer

    f = NgramFeaturizer(NgramConfig(version=1, min_count=1)).fit(["the cat sat", "the dog ran"])
    assert isinstance(f.tokenizer, Tokenizer)
    rows, offsets = f.transform(["the cat", "zebra"])
    assert len(rows) == 3 and offsets.tolist() == [0, 3]
