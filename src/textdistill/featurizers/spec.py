"""How a featurizer turns text into a model's inputs, as a language-neutral specification (JSON) with test vectors:
the normalisation, the character classes (as runs of code points), the tokenizer's rules, the hash functions and
constants, the n-gram formula, the vocabulary in row order. Each student family says which of these describes it
(``Student.featurizer_spec_body``); ``textdistill.serving.spec`` writes the file.

Only version-2 featurizers with the built-in tokenizer can be specified this way (a custom ``token_pattern`` is a
Python regular expression, version 1 hashed with blake2b over a Python regex's tokens): those are refused.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from ..errors import ConfigError

# The featurizer's constants (featurizers/ngrams.py and kernels.py); the spec test re-implements the featurizer
# from the written JSON alone and checks every id against the real one, so a drift cannot go unnoticed.
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
MULT, ORDER_SALT = 0x9E3779B97F4A7C15, 0xD6E8FEB86659FD93

TOKENIZER_RULES = [
    "Read the normalised text's code points in order, keeping one open token (or none) and its class.",
    "IGNORE: skipped; it neither ends a token nor joins one.",
    "SPACE: ends the open token.",
    "MARK: joins the open token; with no open token it opens a WORD token.",
    "WORD or PUNCT: joins the open token if that token has the same class, else ends it and opens a token of "
    "its own class.",
    "SPLIT: ends the open token and opens a SPLIT token (marks that follow join it; anything else ends it).",
    "At the end of the text the open token ends. A token is the sequence of code points that joined it.",
]


def _hex(values) -> list[str]:
    return [f"{int(v):016x}" for v in np.asarray(values, dtype=np.uint64).tolist()]


def _normalisation(lowercase: bool, strip_html: bool) -> dict:
    steps = ["NFKC (Unicode normalisation form KC), only when the text has a code point above U+007F"]
    if strip_html:
        steps.append("every match of the regular expression <br\\s*/?> (case-insensitive; \\s: Unicode white "
                     "space) is replaced by one space U+0020")
    if lowercase:
        steps.append("lowercase: the Unicode full lowercase mapping (SpecialCasing.txt included: U+0130 becomes "
                     "U+0069 U+0307, a final capital sigma becomes U+03C2), as Python's str.lower()")
    return {"steps": steps, "unicode_version": unicodedata.unidata_version, "nfkc_only_if_non_ascii": True,
            "html_breaks": strip_html, "html_break_pattern": "<br\\s*/?>" if strip_html else None,
            "lowercase": lowercase}


def _characters() -> dict:
    from . import charclasses

    runs = charclasses.spec()
    return {"classes": runs["classes"], "run_starts": runs["run_starts"], "run_classes": runs["run_classes"],
            "table_unicode_version": "14.0.0",
            "lookup": "the class of code point c is run_classes[i] for the largest i with run_starts[i] <= c "
                      "(run_classes index into classes; every code point 0..0x10FFFF has a class)",
            "meaning": {"space": "white space and control characters", "ignore": "format characters (Cf)",
                        "mark": "combining marks", "split": "letters of scripts written without spaces (CJK, "
                        "kana, Thai, Lao, Khmer, Myanmar, Yi): one token each",
                        "word": "letters, digits and '_'", "punct": "everything else: runs are one token"}}


def _refuse_unless_v2(version: int, pattern: str, what: str) -> None:
    from .ngrams import TOKEN_PATTERN

    if version != 2:
        raise ConfigError(f"{what} version {version} (a Python regex and blake2b hashes) has no portable "
                          "specification; retrain with this textdistill (featurizer version 2)")
    if pattern != TOKEN_PATTERN:
        raise ConfigError(f"{what} uses a custom token_pattern {pattern!r}, a Python regular expression; only the "
                          "built-in tokenizer has a portable specification")


def ngram_spec(f, texts: list[str], pair: bool) -> dict:
    """The specification of an n-gram featurizer (a DAN's), with test vectors for ``texts``."""
    from .ngrams import token_hash_v2

    c = f.config
    _refuse_unless_v2(c.version, c.token_pattern, "this DAN's featurizer")
    vectors = []
    rows, offsets = f.transform(texts)
    ends = np.append(offsets[1:], len(rows))
    tokenizer = f.tokenizer
    for i, text in enumerate(texts):
        tokens = tokenizer.tokenize(text)
        vectors.append({"text": text, "tokens": tokens, "token_hashes": _hex([token_hash_v2(t) for t in tokens]),
                        "rows": rows[offsets[i] : ends[i]].tolist()})
    return {
        "featurizer": "ngrams", "featurizer_version": c.version,
        "normalisation": _normalisation(c.lowercase, c.strip_html),
        "encoding": "UTF-8",
        "characters": _characters(),
        "tokenizer": {"rules": TOKENIZER_RULES},
        "token_hash": {
            "name": "FNV-1a 64 over the token's UTF-8 bytes, then the murmur3 64-bit finaliser (fmix64)",
            "fnv_offset": f"{FNV_OFFSET:016x}", "fnv_prime": f"{FNV_PRIME:016x}",
            "fnv1a": "h = fnv_offset; for each byte b: h = (h XOR b) * fnv_prime mod 2^64",
            "fmix64": "h ^= h >> 33; h = h * 0xff51afd7ed558ccd mod 2^64; h ^= h >> 33; "
                      "h = h * 0xc4ceb9fe1a85ec53 mod 2^64; h ^= h >> 33",
        },
        "ngrams": {
            "min_n": c.min_n, "max_n": c.max_n, "mult": f"{MULT:016x}", "order_salt": f"{ORDER_SALT:016x}",
            "hash": "for the n tokens with hashes t[a], ..., t[a+n-1]: g = t[a]; for j = 1 .. n-1: g = g * mult + "
                    "t[a+j] mod 2^64; then g = g XOR (order_salt * n mod 2^64)",
            "order": "within a text: n from min_n to max_n, and for each n the start position a from 0 to "
                     "tokens - n; a text with fewer than n tokens has no n-grams of that order",
        },
        "lookup": {
            "vocab_size": f.vocab_size, "buckets": c.buckets,
            "rule": "an n-gram whose hash is vocabulary[i] is row i; any other n-gram is "
                    + (f"row vocab_size + (g mod {c.buckets})" if c.buckets else "dropped"),
        },
        "model_input": {
            "rows": "int64 [N]: the rows of every text, texts concatenated in order",
            "offsets": "int64 [B]: the position in rows where each text starts (a text with no rows repeats the "
                       "next start)",
            **({"rows_pair": "the same for the second texts", "offsets_pair": "the same for the second texts"}
               if pair else {}),
        },
        "vocabulary_encoding": "hex64 (16 lowercase hex digits per hash, row order)",
        "vocabulary": _hex(f.ranked_hashes()),
        "test_vectors": vectors,
    }


def words_spec(vocab, texts: list[str], pair: bool) -> dict:
    """The specification of a word vocabulary (BiLSTM's, CNN's), with test vectors for ``texts``."""
    from .ngrams import normalize_text
    from .words import MASK, PAD, UNK

    c = vocab.config
    _refuse_unless_v2(c.version, c.token_pattern, "this student's word tokenizer")
    mask = normalize_text(c.mask_token, c.lowercase, True)
    vectors = []
    ids, offsets = vocab.encode(texts)
    ends = np.append(offsets[1:], len(ids))
    for i, text in enumerate(texts):
        vectors.append({"text": text, "tokens": vocab.tokenizer.tokenize(text),
                        "ids": ids[offsets[i] : ends[i]].tolist()})
    return {
        "featurizer": "words", "featurizer_version": c.version,
        "normalisation": _normalisation(c.lowercase, True),
        "encoding": "UTF-8",
        "characters": _characters(),
        "mask_token": {"text": mask, "id": MASK,
                       "rule": "the normalised text is cut at every occurrence of this string; each occurrence is a "
                               "token of its own (id 2) and the pieces between are tokenised as below"},
        "tokenizer": {"rules": TOKENIZER_RULES},
        "lookup": {"pad_id": PAD, "unknown_id": UNK, "max_tokens": c.max_tokens,
                   "rule": "a token's id is its index in vocabulary (exact string match); a token not in it is the "
                           "unknown id; only the first max_tokens tokens are kept; a text with no token is [pad_id]"},
        "model_input": {
            "ids": "int64 [B, T]: each text's ids, padded with pad_id to the longest text of the batch",
            "lengths": "int64 [B]: the number of ids of each text (>= 1)",
            **({"ids_pair": "the same for the second texts", "lengths_pair": "the same for the second texts"}
               if pair else {}),
        },
        "vocabulary": list(vocab.words),
        "test_vectors": vectors,
    }
