"""What the prompted language-model teachers share: the prompt (a template, optional system text and few-shot
examples, or the model's chat template), one verbalizer per label, and how the answers' log-likelihoods become a
soft label.

A template names the text as ``{text}`` (and the second text of a pair as ``{text_pair}``); the verbalizer is the
continuation that means the label (" positive"). Few-shot examples are rendered with the same template followed by
their label's verbalizer, one per line block, before the text's own prompt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError


@dataclass
class PromptSpec:
    """The prompt of a text and the verbalizer of each label."""

    template: str
    verbalizers: dict  # label -> one string, or a list of strings (alternatives: their likelihoods add up)
    examples: list = field(default_factory=list)  # [{"text": ..., "label": ...}] (and "text_pair")
    system: str | None = None
    separator: str = "\n\n"

    def __post_init__(self):
        if not isinstance(self.template, str) or "{text}" not in self.template:
            raise ConfigError("template must contain {text} (where the text goes), e.g. \"Review: {text}\\nSentiment:\"")
        if not isinstance(self.verbalizers, dict) or len(self.verbalizers) < 2:
            raise ConfigError("verbalizers: map each label (at least two) to the answer that means it, e.g. "
                              "{\"pos\": \" positive\", \"neg\": \" negative\"}")
        clean = {}
        for label, words in self.verbalizers.items():
            items = [words] if isinstance(words, str) else list(words or [])
            if not items or not all(isinstance(w, str) and w.strip() for w in items):
                raise ConfigError(f"verbalizers: {label!r} needs a non-empty answer string (or a list of them)")
            clean[str(label)] = items
        self.verbalizers = clean
        for i, ex in enumerate(self.examples):
            if not isinstance(ex, dict) or not isinstance(ex.get("text"), str) or str(ex.get("label")) not in clean:
                raise ConfigError(f"examples[{i}]: needs \"text\" and a \"label\" that has a verbalizer")
        try:
            self.template.format(text="", text_pair="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"template: only {{text}} and {{text_pair}} can be filled in ({exc})") from None

    @property
    def labels(self) -> list[str]:
        return list(self.verbalizers)

    def render(self, text: str, pair: str | None = None) -> str:
        """The plain-text prompt (few-shot examples first) that the verbalizers continue."""
        shots = [self.template.format(text=ex["text"], text_pair=ex.get("text_pair", "")) +
                 self.verbalizers[str(ex["label"])][0] for ex in self.examples]
        return self.separator.join(shots + [self.template.format(text=text, text_pair=pair or "")])

    def messages(self, text: str, pair: str | None = None) -> list[dict]:
        """The prompt as chat messages (system, then one user/assistant turn per example, then the text)."""
        out = [{"role": "system", "content": self.system}] if self.system else []
        for ex in self.examples:
            out.append({"role": "user", "content": self.template.format(text=ex["text"],
                                                                        text_pair=ex.get("text_pair", ""))})
            out.append({"role": "assistant", "content": self.verbalizers[str(ex["label"])][0].strip()})
        out.append({"role": "user", "content": self.template.format(text=text, text_pair=pair or "")})
        return out

    def identity(self) -> dict:
        """What decides the answers (hashed into a teacher's fingerprint)."""
        return {"template": self.template, "verbalizers": self.verbalizers, "examples": self.examples,
                "system": self.system, "separator": self.separator}

    def parse(self, answer: str) -> int | None:
        """The label an answer names (its verbalizer, case and surrounding space ignored; the longest match wins),
        or None."""
        said = " ".join(answer.strip().lower().split())
        best, best_len = None, 0
        for k, words in enumerate(self.verbalizers.values()):
            for w in words:
                w = " ".join(w.strip().lower().split())
                if w and (said == w or said.startswith(w + " ") or said.startswith(w + ".") or said.startswith(w)) \
                        and len(w) > best_len:
                    best, best_len = k, len(w)
        return best


def spec_from(options: dict, base_dir: Path | None = None) -> tuple[PromptSpec, dict]:
    """(the PromptSpec, the other options) from a teacher spec's fields; ``examples`` may name a data file."""
    options = dict(options)
    examples = options.pop("examples", None) or []
    if isinstance(examples, str):
        from ..data.readers import read_dataset

        path = Path(examples)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        ds = read_dataset(path, require_label=True)
        examples = [{"text": t, "label": str(y), **({"text_pair": ds.pairs[i]} if ds.pairs else {})}
                    for i, (t, y) in enumerate(zip(ds.texts, ds.labels))]
    try:
        spec = PromptSpec(template=options.pop("template", None), verbalizers=options.pop("verbalizers", None),
                      examples=list(examples), system=options.pop("system", None),
                      separator=options.pop("separator", "\n\n"))
    except TypeError as exc:
        raise ConfigError(str(exc)) from None
    return spec, options


def fingerprint(kind: str, model_identity, spec: PromptSpec, extra: dict | None = None) -> str:
    data = {"kind": kind, "model": model_identity, "prompt": spec.identity(), **(extra or {})}
    return hashlib.blake2b(json.dumps(data, sort_keys=True, ensure_ascii=False).encode(), digest_size=16).hexdigest()


def label_scores(token_logprobs: list[np.ndarray], how: str = "sum") -> float:
    """One verbalizer's log-likelihood from its tokens' log-probabilities (sum, or mean per token)."""
    total = float(np.sum(token_logprobs))
    return total / max(len(token_logprobs), 1) if how == "mean" else total


def combine_alternatives(values: list[float]) -> float:
    """Alternatives of one label (" positive", " good"): their likelihoods add up (log-sum-exp)."""
    top = max(values)
    return float(top + np.log(np.sum(np.exp(np.asarray(values) - top))))
