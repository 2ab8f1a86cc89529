"""A featurizer written from an exported specification (JSON) alone, as another language would write it.

Deliberately imports nothing from textdistill: the spec test checks that following the written rules reproduces
the library's ids exactly. Only the standard library (``unicodedata`` for NFKC, ``str.lower``, ``re`` for the
<br /> rule) and the JSON file are used.
"""

from __future__ import annotations

import bisect
import json
import re
import unicodedata

MASK64 = (1 << 64) - 1


class Reference:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.spec = json.load(f)
        s = self.spec
        chars = s["characters"]
        self.class_names = chars["classes"]
        self.starts = chars["run_starts"]
        self.run_classes = [self.class_names[c] for c in chars["run_classes"]]
        norm = s["normalisation"]
        self.lowercase = norm["lowercase"]
        self.br = re.compile(norm["html_break_pattern"], re.IGNORECASE) if norm["html_breaks"] else None
        if s["featurizer"] == "ngrams":
            h = s["token_hash"]
            self.fnv_offset, self.fnv_prime = int(h["fnv_offset"], 16), int(h["fnv_prime"], 16)
            ng = s["ngrams"]
            self.min_n, self.max_n = ng["min_n"], ng["max_n"]
            self.mult, self.salt = int(ng["mult"], 16), int(ng["order_salt"], 16)
            self.buckets, self.vocab_size = s["lookup"]["buckets"], s["lookup"]["vocab_size"]
            self.rows = {int(x, 16): i for i, x in enumerate(s["vocabulary"])}
        else:
            self.words = {w: i for i, w in enumerate(s["vocabulary"])}
            self.mask = s["mask_token"]["text"]
            self.mask_id = s["mask_token"]["id"]
            lookup = s["lookup"]
            self.pad, self.unk, self.max_tokens = lookup["pad_id"], lookup["unknown_id"], lookup["max_tokens"]

    # -- shared -------------------------------------------------------------------------------------------------
    def normalise(self, text: str) -> str:
        if any(ord(ch) > 0x7F for ch in text):
            text = unicodedata.normalize("NFKC", text)
        if self.br is not None:
            text = self.br.sub(" ", text)
        return text.lower() if self.lowercase else text

    def char_class(self, ch: str) -> str:
        return self.run_classes[bisect.bisect_right(self.starts, ord(ch)) - 1]

    def tokens(self, text: str) -> list[str]:
        """The tokenizer rules of the spec, applied to already normalised text."""
        out: list[str] = []
        current: list[str] = []
        state = None
        for ch in text:
            c = self.char_class(ch)
            if c == "ignore":
                continue
            if c == "space":
                if state is not None:
                    out.append("".join(current))
                state, current = None, []
                continue
            if c == "mark":
                if state is None:
                    state, current = "word", []
                current.append(ch)
            elif c in ("word", "punct"):
                if state != c:
                    if state is not None:
                        out.append("".join(current))
                    state, current = c, []
                current.append(ch)
            else:  # split
                if state is not None:
                    out.append("".join(current))
                state, current = "split", [ch]
        if state is not None:
            out.append("".join(current))
        return out

    # -- n-gram DAN ---------------------------------------------------------------------------------------------
    def token_hash(self, token: str) -> int:
        h = self.fnv_offset
        for b in token.encode("utf-8"):
            h = ((h ^ b) * self.fnv_prime) & MASK64
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & MASK64
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & MASK64
        return h ^ (h >> 33)

    def rows_of(self, text: str) -> list[int]:
        t = [self.token_hash(tok) for tok in self.tokens(self.normalise(text))]
        out = []
        for n in range(self.min_n, self.max_n + 1):
            for a in range(0, len(t) - n + 1):
                g = t[a]
                for j in range(1, n):
                    g = (g * self.mult + t[a + j]) & MASK64
                g ^= (self.salt * n) & MASK64
                row = self.rows.get(g)
                if row is not None:
                    out.append(row)
                elif self.buckets:
                    out.append(self.vocab_size + g % self.buckets)
        return out

    # -- word students ------------------------------------------------------------------------------------------
    def word_tokens(self, text: str) -> list[str]:
        pieces = self.normalise(text).split(self.mask)
        out: list[str] = []
        for i, piece in enumerate(pieces):
            if i:
                out.append(self.mask)
            out.extend(self.tokens(piece))
        return out

    def ids_of(self, text: str) -> list[int]:
        ids = [self.mask_id if tok == self.mask else self.words.get(tok, self.unk) for tok in self.word_tokens(text)]
        return ids[: self.max_tokens] or [self.pad]
