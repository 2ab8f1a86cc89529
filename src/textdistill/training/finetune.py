"""Make a teacher: fine-tune a pretrained encoder (or classifier) on labelled texts (`textdistill teacher finetune`).

It runs on the trainer that trains students (``loop.Trainer``): the encoder is one more family adapter
(``ClassifierFamily``: tokenize, pad per batch, build the classifier, AdamW with warm-up and decay and gradient
clipping), the loss is the task's gold loss (cross-entropy, or binary cross-entropy for a multi-label teacher whose
config says ``problem_type="multi_label_classification"``), and the dev metric selects the weights kept (accuracy, or
micro-F1). The result is saved atomically as a Hugging Face model directory plus ``teacher_card.json``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DataError, ModelError
from ..persistence import check_can_write, write_dir_atomically
from ..tasks import get_task
from ..teachers.huggingface import (CARD_NAME, check_model_dir, first_line, load_classifier, looks_like_path,
                                    quiet_transformers, untrained_keys)
from .batching import RaggedRows
from .config import TrainConfig
from .head import start_at_the_prior
from .loop import Stage, Trainer, TrainingSet
from .objectives import GoldObjective

MULTI_LABEL = "multi_label_classification"


@dataclass
class FinetuneConfig:
    """Training settings; every field maps one-to-one onto a CLI flag."""

    epochs: float = 1.0
    lr: float = 5e-5
    batch_size: int = 32
    max_length: int = 128
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    grad_clip: float = 1.0
    seed: int = 0
    eval_every: int | None = None  # steps; None: evaluate once, at the end

    def __post_init__(self):
        if not self.epochs > 0:
            raise ConfigError("epochs must be > 0")
        if self.batch_size < 1 or self.max_length < 2:
            raise ConfigError("batch_size must be >= 1 and max_length >= 2")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError("warmup_ratio must be in [0, 1)")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.grad_clip > 0):
            raise ConfigError("lr and grad_clip must be > 0 and weight_decay >= 0")
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError("eval_every must be >= 1 (or None)")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed}")


class ClassifierModule(nn.Module):
    """A Hugging Face sequence classifier called the way the trainer calls a student: positional tensors in,
    float32 logits out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids=None, return_representation: bool = False):
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        logits = self.model(**kwargs).logits.float()
        return (logits, None) if return_representation else logits


class ScheduledAdamW:
    """AdamW (no weight decay on biases and norms) whose ``step`` clips the gradient norm first and moves the
    linear warm-up/decay schedule after: what the trainer steps like any optimizer."""

    def __init__(self, module: nn.Module, config: FinetuneConfig, total_steps: int, lr: float):
        decay, no_decay = [], []
        for _, p in module.named_parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        # clipped in the model's order: the total norm is a sum, and its last bits depend on the order
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=lr)
        warmup = int(round(config.warmup_ratio * total_steps))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.grad_clip = config.grad_clip

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        if self.grad_clip and self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


class ClassifierFamily:
    """The trainer's adapter for a Hugging Face classifier: texts are tokenized once (truncated to max_length) and
    padded per batch; batches come in the order a seeded torch generator draws them."""

    name = "teacher"

    def __init__(self, base: str, folder: Path | None, num_labels: int, label_names: list[str], config: FinetuneConfig,
                 task, total_steps: int):
        from transformers import AutoTokenizer

        self.base, self.folder, self.num_labels, self.label_names = base, folder, num_labels, label_names
        self.config, self.task, self.total_steps = config, task, total_steps
        self.eval_batch_size = max(config.batch_size, 32)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.fresh: list[str] = []
        self.prior: np.ndarray | None = None  # multi-label: each label's frequency in training (see ``build``)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(base)
        except Exception as exc:
            raise ModelError(f"base model {base}: cannot be loaded ({first_line(exc)})") from None

    def encode(self, texts, pairs=None):
        enc = self.tokenizer(list(texts), None if pairs is None else list(pairs), truncation=True,
                             max_length=self.config.max_length)
        keys = [k for k in ("input_ids", "token_type_ids") if k in enc]
        lengths = np.array([len(ids) for ids in enc["input_ids"]], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return {k: RaggedRows(np.concatenate([np.asarray(v, dtype=np.int64) for v in enc[k]]), offsets)
                for k in keys}

    def batch(self, encoded, idx) -> tuple:
        rows = {k: v.take(np.asarray(idx)) for k, v in encoded.items()}
        features = []
        for i in range(len(idx)):
            item = {}
            for k, (flat, offsets) in rows.items():
                end = offsets[i + 1] if i + 1 < len(offsets) else len(flat)
                item[k] = flat[offsets[i]:end].tolist()
            features.append(item)
        padded = self.tokenizer.pad(features, return_tensors="pt")
        return (padded["input_ids"], padded["attention_mask"], padded.get("token_type_ids"))

    def epoch_batches(self, encoded, rows: np.ndarray, batch_size: int, rng) -> list:
        order = torch.randperm(len(rows), generator=self.generator).numpy()
        return [rows[order[s:s + batch_size]] for s in range(0, len(rows), batch_size)]

    def build(self, num_classes: int) -> ClassifierModule:
        options = {"num_labels": self.num_labels, "id2label": dict(enumerate(self.label_names)),
                   "label2id": {n: i for i, n in enumerate(self.label_names)}, "ignore_mismatched_sizes": True}
        if self.task.name == "multi-label":
            options["problem_type"] = MULTI_LABEL
        try:
            model, info = load_classifier(self.base, torch.float32, folder=self.folder, **options)
        except Exception as exc:
            raise ModelError(f"base model {self.base}: cannot be loaded ({first_line(exc)})") from None
        self.fresh = untrained_keys(info)  # a new classification head for a bare encoder or another label count
        if self.prior is not None:
            start_fresh_head_at_the_prior(model, self.fresh, self.prior)
        return ClassifierModule(model.float())

    def optimizers(self, module: ClassifierModule, lr: float, scale: float = 1.0) -> list:
        return [ScheduledAdamW(module, self.config, self.total_steps, lr * scale)]


def start_fresh_head_at_the_prior(model, fresh: list[str], prior: np.ndarray) -> None:
    """The new head's output bias starts at each label's frequency (``head.start_at_the_prior``)."""
    params = dict(model.named_parameters())
    for name in fresh:
        if name.endswith("bias") and start_at_the_prior(params.get(name), prior):
            return


def _label_ids(name: str, label_ids: Any, n: int, num_labels: int, task) -> np.ndarray:
    ids = np.asarray(label_ids)
    if task.name == "multi-label":
        if ids.shape != (n, num_labels):
            raise DataError(f"{name}: multi-label targets of shape {ids.shape}, expected ({n}, {num_labels})")
        return ids.astype(np.float32)
    if ids.shape != (n,):
        raise DataError(f"{name}: {ids.shape[0] if ids.ndim else 0} labels for {n} texts")
    if n and not np.issubdtype(ids.dtype, np.integer):
        raise DataError(f"{name}: label ids must be integers, got {ids.dtype}")
    if n and (ids.min() < 0 or ids.max() >= num_labels):
        raise DataError(f"{name}: label ids must be in [0, {num_labels - 1}], got {ids.min()}..{ids.max()}")
    return ids.astype(np.int64)


def _pairs(name: str, pairs: Sequence[str] | None, n: int) -> list[str] | None:
    if pairs is None:
        return None
    pairs = list(pairs)
    if len(pairs) != n:
        raise DataError(f"{name}: {len(pairs)} second segments (pairs) for {n} texts")
    return pairs


def _save_atomic(out: Path, model, tokenizer, card: dict, overwrite: bool) -> None:
    """Write the teacher into a temporary folder beside out, then rename it into place."""

    def write(tmp: Path) -> None:
        with quiet_transformers():
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
        (tmp / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        if not any(p.name.endswith(".safetensors") for p in tmp.iterdir()):
            raise ModelError(f"saving {out}: no safetensors weights were written")

    write_dir_atomically(out, write, overwrite=overwrite)


def finetune_teacher(
    base: str,
    train_texts: Sequence[str],
    train_label_ids: Any,
    num_labels: int,
    out_dir: str | os.PathLike,
    *,
    label_names: Sequence[str],
    train_pairs: Sequence[str] | None = None,
    dev_texts: Sequence[str] | None = None,
    dev_pairs: Sequence[str] | None = None,
    dev_label_ids: Any = None,
    config: FinetuneConfig | None = None,
    progress: bool = True,
    overwrite: bool = False,
    device: str | None = None,
    task=None,
) -> dict:
    """Fine-tune ``base`` (a local folder or hub id) as a num_labels classifier and save it as a teacher in out_dir.

    A bare encoder (e.g. sentence-transformers all-MiniLM-L6-v2) gets a fresh classification head. ``task``
    ``"multi-label"`` (label ids then a 0/1 matrix) trains independent sigmoid outputs with binary cross-entropy and
    saves the problem type in the config. With dev data the dev metric (accuracy, or micro-F1) is measured at the end
    (and every ``eval_every`` steps) and the best weights are kept. Returns a metrics dict (dev_score, dev_accuracy,
    best_step, steps, train_seconds, ...), also written into teacher_card.json.
    """
    config = config or FinetuneConfig()
    task = get_task(task)
    out = Path(out_dir).expanduser()
    check_can_write(out, overwrite)  # fail before training, not after
    label_names = [str(n) for n in label_names]
    if len(label_names) != num_labels or len(set(label_names)) != num_labels:
        raise DataError(f"need {num_labels} distinct label names, got {label_names}")
    train_texts = list(train_texts)
    n_train = len(train_texts)
    if n_train == 0:
        raise DataError("no training texts")
    train_gold = _label_ids("training data", train_label_ids, n_train, num_labels, task)
    train_pairs = _pairs("training data", train_pairs, n_train)
    has_dev = dev_texts is not None and len(dev_texts) > 0
    dev_gold = None
    if has_dev:
        dev_texts = list(dev_texts)
        if dev_label_ids is None:
            raise DataError("dev texts were given without dev labels")
        dev_gold = _label_ids("dev data", dev_label_ids, len(dev_texts), num_labels, task)
        dev_pairs = _pairs("dev data", dev_pairs, len(dev_texts))
        if (dev_pairs is None) != (train_pairs is None):
            raise DataError("training and dev data must both be text pairs or both single texts")
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    local = Path(str(base)).expanduser()
    if local.exists() or looks_like_path(str(base)):
        check_model_dir(local, "base model directory")
        base = str(local)
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch))
    family = ClassifierFamily(str(base), local if local.exists() else None, num_labels, label_names, config, task,
                              total_steps)
    if task.name == "multi-label" and n_train:
        family.prior = train_gold.mean(0)
    train_config = TrainConfig(epochs=math.ceil(total_steps / steps_per_epoch), batch_size=config.batch_size,
                               lr=config.lr, seed=config.seed, eval_every=config.eval_every or 0)
    trainer = Trainer(family, train_config, num_labels, progress=progress, log=_say, task=task, device=device)
    stage = Stage("fine-tuning teacher", GoldObjective(train_gold, task), np.arange(n_train), train_config.epochs,
                  max_steps=total_steps, evaluate_epochs=False)
    dev_set = TrainingSet(family.encode(dev_texts, dev_pairs), dev_gold) if has_dev else None
    started = time.perf_counter()
    module = trainer.fit(family.encode(train_texts, train_pairs), [stage], dev_set)
    if progress and family.fresh:
        _say(f"fine-tuned {base}: new randomly initialised weights for {', '.join(family.fresh)}")
    return _save_teacher(out, module.model, family, trainer, config, task, n_train, dev_texts if has_dev else [],
                         total_steps, time.perf_counter() - started, device, overwrite, str(base))


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _step_of(where: str) -> int | None:
    """The step a trainer history entry names ("fine-tuning teacher step 120" -> 120)."""
    head, _, number = where.rpartition(" ")
    return int(number) if head.endswith("step") and number.isdigit() else None


def _save_teacher(out: Path, model, family: ClassifierFamily, trainer: Trainer, config: FinetuneConfig, task,
                  n_train: int, dev_texts: list, total_steps: int, seconds: float, device: str, overwrite: bool,
                  base: str) -> dict:
    metric = trainer.config.select_metric
    evals = [{"step": _step_of(h["where"]), f"dev_{metric}": round(h[f"dev_{metric}"], 6)} for h in trainer.history
             if h.get(f"dev_{metric}") is not None]
    has_dev = bool(dev_texts)
    best_step = (_step_of(trainer.best_where) or total_steps) if has_dev else total_steps
    score = round(float(trainer.best_score), 6) if has_dev else None
    metrics = {
        "dev_score": score, "dev_metric": metric if has_dev else None,
        "dev_accuracy": score if has_dev and metric == "accuracy" else None,
        "best_step": best_step, "evaluations": evals, "steps": total_steps, "train_examples": n_train,
        "dev_examples": len(dev_texts), "train_seconds": round(seconds, 2), "device": device,
        "new_weights": family.fresh, "task": task.name,
    }
    card = {
        "name": out.name, "base_model": base, "num_labels": family.num_labels, "label_names": family.label_names,
        "task": task.name,
        "training": {**asdict(config), "train_examples": n_train, "steps": total_steps, "device": device,
                     "torch_threads": torch.get_num_threads(), "train_seconds": metrics["train_seconds"]},
        "dev_score": score, "dev_metric": metrics["dev_metric"], "dev_accuracy": metrics["dev_accuracy"],
        "dev_examples": len(dev_texts), "best_step": best_step, "max_length_for_inference": config.max_length,
        "created_by": "textdistill teacher finetune",
    }
    model.eval()
    # a fast tokenizer saves its padding state: record the padding training used (to the longest in the batch), so
    # the saved files, and with them the teacher's fingerprint in the output cache, match a teacher built before
    family.tokenizer(["x"], padding=True, truncation=True, max_length=config.max_length)
    _save_atomic(out, model.cpu(), family.tokenizer, card, overwrite)
    metrics["out_dir"] = str(out)
    return metrics
