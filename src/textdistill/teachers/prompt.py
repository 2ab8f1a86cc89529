"""The prompted language-model teacher, local: a Hugging Face causal LM (or sequence-to-sequence LM) reads a prompt
and the soft label is the softmax over each label's verbalizer log-likelihood as the prompt's continuation.

- Multi-token verbalizers are scored in full: log p(v1 | prompt) + log p(v2 | prompt, v1) + ... (``normalize:
  mean`` divides by the number of tokens). Alternatives of one label (" positive", " good") add their likelihoods.
- Tokenizer pitfalls (a leading space, the last prompt token merging with the answer's first) are handled as
  language-model evaluation does: prompt and prompt + answer are tokenized whole, and the answer is what follows
  their common prefix.
- Batched: a causal LM reads each text's prompt once (left-padded, with its positions) and the key/value cache of
  the shared prefix is repeated for every label's continuation; an encoder-decoder encodes the prompt once and
  decodes every label against it. On a GPU the model runs in half precision.
- The model's chat template is used when it has one (``chat: auto``): few-shot examples become earlier turns.

A spec file::

    {"kind": "prompt", "model": "path/to/Qwen2.5-1.5B-Instruct",
     "template": "Review: {text}\\nIs this review positive or negative?", "chat": "auto",
     "verbalizers": {"pos": "positive", "neg": "negative"}, "examples": "fewshot.tsv"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, ModelError
from .base import checked_inputs, register_kind, unanswered
from .prompting import PromptSpec, combine_alternatives, fingerprint, spec_from

CHAT = ("auto", True, False)


@register_kind
class PromptTeacher:
    """Label texts by the likelihood a language model gives each label's verbalizer after a prompt."""

    kind = "prompt"
    task = "single-label"

    def __init__(self, model: str, spec: PromptSpec, *, chat="auto", batch_size: int = 8, max_length: int = 2048,
                 normalize: str = "sum", device: str | None = None, name: str | None = None,
                 source: str | None = None):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        from .huggingface import check_model_dir, fingerprint_dir, first_line, quiet_transformers

        if chat not in CHAT:
            raise ConfigError(f"chat must be auto, true or false, not {chat!r}")
        if normalize not in ("sum", "mean"):
            raise ConfigError(f"normalize must be sum or mean, not {normalize!r}")
        if batch_size < 1 or max_length < 8:
            raise ConfigError("batch_size must be >= 1 and max_length >= 8")
        folder = Path(model).expanduser()
        if folder.exists():
            check_model_dir(folder, "language model directory")
        if device in (None, "auto"):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            with quiet_transformers():
                config = AutoConfig.from_pretrained(model)
                self.seq2seq = bool(getattr(config, "is_encoder_decoder", False))
                loader = AutoModelForSeq2SeqLM if self.seq2seq else AutoModelForCausalLM
                dtype = torch.float16 if device.startswith("cuda") else torch.float32
                self.model = loader.from_pretrained(model, dtype=dtype).to(device).eval()
                self.tokenizer = AutoTokenizer.from_pretrained(model)
        except Exception as exc:
            raise ModelError(f"language model {model}: cannot be loaded ({first_line(exc)})") from None
        self.spec, self.device, self.batch_size, self.max_length = spec, device, int(batch_size), int(max_length)
        self.normalize = normalize
        self.use_chat = (chat is True or (chat == "auto" and getattr(self.tokenizer, "chat_template", None)
                                         and not self.seq2seq))
        self.label_names = spec.labels
        self.num_labels = len(self.label_names)
        self.source = source or str(model)
        self.name = name or (Path(source).stem if source else Path(str(model)).name)
        identity = fingerprint_dir(folder, self.max_length) if folder.is_dir() else str(model)
        self.disk_bytes = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else None
        self.fingerprint = fingerprint(self.kind, [identity, str(dtype)], spec,
                                       {"chat": bool(self.use_chat), "normalize": normalize})

    @classmethod
    def from_spec(cls, spec: dict, base_dir: Path, source: str, max_length: int | None = None, device=None, **_):
        prompt, options = spec_from(spec, base_dir)
        model = options.pop("model", None)
        if not model:
            raise ConfigError(f"teacher spec {source}: a prompt teacher needs \"model\" (a language model directory "
                              f"or hub id)")
        if not Path(model).is_absolute() and (base_dir / model).exists():
            model = str(base_dir / model)
        if max_length is not None:
            options["max_length"] = max_length
        try:
            return cls(model, prompt, device=device, source=source, **options)
        except TypeError as exc:
            raise ConfigError(f"teacher spec {source}: {exc}".replace("__init__() ", "")) from None

    # -- tokens -----------------------------------------------------------------------------------------------------
    def prompt_text(self, text: str, pair: str | None = None) -> str:
        if self.use_chat:
            return self.tokenizer.apply_chat_template(self.spec.messages(text, pair), tokenize=False,
                                                      add_generation_prompt=True)
        return self.spec.render(text, pair)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=not self.use_chat)["input_ids"]

    def split(self, prompt: str, answer: str) -> tuple[list[int], list[int]]:
        """(context ids, continuation ids): prompt + answer tokenized whole; the continuation is what follows the
        common prefix with the prompt tokenized alone (so a token merged across the boundary is scored)."""
        answer = answer.strip() if self.use_chat else answer
        full, alone = self._encode(prompt + answer), self._encode(prompt)
        common = 0
        for a, b in zip(full, alone):
            if a != b:
                break
            common += 1
        common = min(common, len(full) - 1)  # at least one token to score
        context, continuation = full[:common], full[common:]
        if len(full) > self.max_length:
            cut = len(full) - self.max_length  # keep the end: the text's own prompt and the answer
            context = context[cut:]
        return context, continuation

    # -- scoring ----------------------------------------------------------------------------------------------------
    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, progress: Any = False
               ) -> np.ndarray:
        """Each label's verbalizer log-likelihood (N, labels); softmax of a row is the teacher's soft label."""
        from .base import PartialOutputs

        texts, pairs = checked_inputs(texts, pairs)
        out, done = unanswered(len(texts), self.num_labels)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        try:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                out[idx] = self.score_batch([texts[i] for i in idx], None if pairs is None else [pairs[i] for i in idx])
                done[idx] = True
                if progress is not False and progress is not None and hasattr(progress, "update"):
                    progress.update(len(idx))
        except KeyboardInterrupt:
            raise PartialOutputs(done, out) from None
        return out

    def score_batch(self, texts: list[str], pairs: list[str] | None) -> np.ndarray:
        """(B, labels) log-likelihoods of the verbalizers for one batch."""
        import torch

        prompts = [self.prompt_text(t, None if pairs is None else pairs[i]) for i, t in enumerate(texts)]
        answers = [(k, a) for k, words in enumerate(self.spec.verbalizers.values()) for a in words]
        with torch.inference_mode():
            if self.seq2seq:
                values = self._score_seq2seq(prompts, answers)
            else:
                values = self._score_causal(prompts, answers)
        out = np.empty((len(texts), self.num_labels), dtype=np.float32)
        for i in range(len(texts)):
            for k in range(self.num_labels):
                out[i, k] = combine_alternatives([values[i][j] for j, (kk, _) in enumerate(answers) if kk == k])
        return out

    def _finish(self, logprobs: list[float]) -> float:
        total = float(np.sum(logprobs))
        return total / max(len(logprobs), 1) if self.normalize == "mean" else total

    def _score_causal(self, prompts: list[str], answers: list[tuple[int, str]]) -> list[list[float]]:
        """The shared prefix of each prompt once (left-padded, with positions), its cache repeated for every
        answer; texts whose answers have different contexts (a merged boundary) are scored one sequence each."""
        import torch

        splits = [[self.split(p, a) for _, a in answers] for p in prompts]
        shared = [all(s[0] == row[0][0] for s in row) for row in splits]
        values = [[0.0] * len(answers) for _ in prompts]
        rows = [i for i, ok in enumerate(shared) if ok]
        if rows:
            batch = self._prefix_then_answers([splits[i] for i in rows], torch)
            for i, v in zip(rows, batch):
                values[i] = v
        for i, ok in enumerate(shared):
            if not ok:
                values[i] = [self._finish(self.reference_logprobs(c, v)) for c, v in splits[i]]
        return values

    def _prefix_then_answers(self, splits: list[list[tuple[list[int], list[int]]]], torch) -> list[list[float]]:
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        contexts = [row[0][0] for row in splits]
        width = max(len(c) for c in contexts)
        ids = torch.tensor([[pad] * (width - len(c)) + c for c in contexts], device=self.device)
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts], device=self.device)
        positions = (mask.cumsum(1) - 1).clamp_min(0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        first = torch.log_softmax(out.logits[:, -1].float(), -1)  # predicts each answer's first token
        n_answers = len(splits[0])
        cache = out.past_key_values
        cache.batch_repeat_interleave(n_answers)
        conts = [v for row in splits for _, v in row]
        cwidth = max(len(v) for v in conts)
        cont = torch.tensor([v + [pad] * (cwidth - len(v)) for v in conts], device=self.device)
        cmask = torch.tensor([[1] * len(v) + [0] * (cwidth - len(v)) for v in conts], device=self.device)
        full_mask = torch.cat([mask.repeat_interleave(n_answers, 0), cmask], 1)
        lengths = mask.sum(1).repeat_interleave(n_answers, 0)
        cpos = lengths[:, None] + torch.arange(cwidth, device=self.device)[None, :]
        logits = self.model(input_ids=cont, attention_mask=full_mask, position_ids=cpos, past_key_values=cache,
                            use_cache=True).logits.float()
        logp = torch.log_softmax(logits, -1)
        values = []
        for i, row in enumerate(splits):
            scores = []
            for j, (_, v) in enumerate(row):
                r = i * n_answers + j
                token_logprobs = [float(first[i, v[0]])] + [float(logp[r, t - 1, v[t]]) for t in range(1, len(v))]
                scores.append(self._finish(token_logprobs))
            values.append(scores)
        return values

    def _score_seq2seq(self, prompts: list[str], answers: list[tuple[int, str]]) -> list[list[float]]:
        """Encode each prompt once; decode every answer against it (teacher forcing) in one batch."""
        import torch

        enc = self.tokenizer(prompts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        encoder_out = self.model.get_encoder()(**enc)
        n = len(answers)
        hidden = encoder_out.last_hidden_state.repeat_interleave(n, 0)
        mask = enc["attention_mask"].repeat_interleave(n, 0)
        targets = [self.tokenizer(a, add_special_tokens=False)["input_ids"] or [self.tokenizer.unk_token_id]
                   for _, a in answers] * len(prompts)
        width = max(len(t) for t in targets)
        start = self.model.config.decoder_start_token_id
        pad = self.model.config.pad_token_id or 0
        dec_in = torch.tensor([[start] + t[:-1] + [pad] * (width - len(t)) for t in targets], device=self.device)
        dec_mask = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in targets], device=self.device)
        logits = self.model(encoder_outputs=(hidden,), attention_mask=mask, decoder_input_ids=dec_in,
                            decoder_attention_mask=dec_mask).logits.float()
        logp = torch.log_softmax(logits, -1)
        values = []
        for i in range(len(prompts)):
            values.append([self._finish([float(logp[i * n + j, t, targets[i * n + j][t]])
                                         for t in range(len(targets[i * n + j]))]) for j in range(n)])
        return values

    def reference_logprobs(self, context: list[int], continuation: list[int]) -> list[float]:
        """The unbatched reference: one forward pass over context + continuation, no padding, no cache."""
        import torch

        ids = torch.tensor([context + continuation], device=self.device)
        with torch.inference_mode():
            logp = torch.log_softmax(self.model(input_ids=ids).logits.float(), -1)[0]
        return [float(logp[len(context) + t - 1, tok]) for t, tok in enumerate(continuation)]

    def __repr__(self) -> str:
        return (f"PromptTeacher({self.source!r}, labels={self.label_names}, chat={bool(self.use_chat)}, "
                f"fingerprint={self.fingerprint[:12]}...)")
