"""The featurizer of a saved student as a language-neutral specification (JSON), with test vectors.

An exported ONNX graph takes table rows (DAN) or word ids (BiLSTM, CNN); this file says exactly how text becomes
them, so another language can reproduce the ids without textdistill: the normalisation, the character classes (as
runs of code points), the tokenizer's rules, the hash functions and constants, the n-gram formula, the vocabulary
in row order, and texts with their tokens, token hashes and ids to test an implementation against. 64-bit values
are written as 16-digit hex strings (JSON numbers lose precision above 2^53 in many languages).

Only version-2 featurizers with the built-in tokenizer can be specified this way (a custom ``token_pattern`` is a
Python regular expression, version 1 hashed with blake2b over a Python regex's tokens): those are refused.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..featurizers.spec import FNV_OFFSET, FNV_PRIME, MULT, ORDER_SALT  # noqa: F401  (re-exported)

FORMAT = "textdistill-featurizer-spec"
FORMAT_VERSION = 1

TEST_TEXTS = [
    "It's a charming and often affecting journey.", "NOT good, not bad!!! :)", "", "   \t\n ",
    "a boring<br />plot<BR>twist", "Ｆｕｌｌ ｗｉｄｔｈ ﬁlm №5", "Café au lait, naïve coöperation",
    "電影很好看，推薦！",
    "หนังเรื่องนี้ดีมาก", "こんにちは世界", "fun 🎬🎬 joy 👍🏽", "zero\u200bwidth\u00adsoft hyphen", "ΟΔΟΣ and İstanbul",
    "e\u0301 \u0301accent", "नमस्ते दुनिया", "x" * 40, "the the the the the", "tabs\tand\u00a0nbsp\u2003em space",
    "control\x07bell\x1funit", "don't won't can't", "$100 or 50% off... #1 @user", "mixed123numbers and_under_score",
]


def featurizer_spec(student, texts: list[str] | None = None) -> dict:
    """The specification (a JSON-able dict) of a DAN, BiLSTM or CNN student's featurizer, with test vectors for
    ``texts`` (default: a built-in set that exercises the tokenizer's corners)."""
    texts = list(TEST_TEXTS if texts is None else texts)
    body = student.featurizer_spec_body(texts)  # the family says which featurizer it has
    decision = {}
    if student.multi_label:
        decision = {"task": "multi-label", "output": "probabilities: an independent sigmoid per label",
                    "thresholds": student.decision.get("thresholds") or [0.5] * len(student.classes_),
                    "at_least_one": bool(student.decision.get("at_least_one"))}
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model_family": student.student_type,
            "pair": bool(getattr(student, "pair", False)), "classes": list(student.classes_),
            **({"decision": decision} if decision else {}), **body}


def write_spec(student, path: str | Path, texts: list[str] | None = None, overwrite: bool = True) -> Path:
    """Write the specification as JSON (atomically: a temporary file, then a rename)."""
    import json

    from ..persistence import write_text_atomically

    path = Path(path)
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists; pass --overwrite to replace it")
    spec = featurizer_spec(student, texts)
    write_text_atomically(path, json.dumps(spec, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path
