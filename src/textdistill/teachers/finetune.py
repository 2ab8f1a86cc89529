"""Make a teacher: fine-tune a pretrained encoder (or classifier) on labelled texts (`textdistill teacher finetune`).

The loop is plain PyTorch and reads top to bottom: AdamW (no weight decay on biases and norms), linear warm-up then
linear decay, gradient clipping, seeded shuffling, per-batch padding. The result is saved atomically as a Hugging Face
model directory plus ``teacher_card.json``, ready for ``Teacher.from_pretrained``.
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
import torch.nn.functional as F

from ..persistence import check_can_write, write_dir_atomically
from ..errors import ConfigError, DataError, ModelError
from .huggingface import (CARD_NAME, Teacher, first_line, load_classifier, looks_like_path, untrained_keys, check_model_dir,
                      quiet_transformers)


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


def _check_labels(name: str, label_ids: Any, n: int, num_labels: int) -> np.ndarray:
    ids = np.asarray(label_ids)
    if ids.shape != (n,):
        raise DataError(f"{name}: {ids.shape[0] if ids.ndim else 0} labels for {n} texts")
    if n and not np.issubdtype(ids.dtype, np.integer):
        raise DataError(f"{name}: label ids must be integers, got {ids.dtype}")
    if n and (ids.min() < 0 or ids.max() >= num_labels):
        raise DataError(f"{name}: label ids must be in [0, {num_labels - 1}], got {ids.min()}..{ids.max()}")
    return ids.astype(np.int64)


def _check_pairs(name: str, pairs: Sequence[str] | None, n: int) -> list[str] | None:
    if pairs is None:
        return None
    pairs = list(pairs)
    if len(pairs) != n:
        raise DataError(f"{name}: {len(pairs)} second segments (pairs) for {n} texts")
    return pairs


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only: biases and LayerNorm weights (all 1-D parameters) are not decayed."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


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
) -> dict:
    """Fine-tune ``base`` (a local folder or hub id) as a num_labels classifier and save it as a teacher in out_dir.

    A bare encoder (e.g. sentence-transformers all-MiniLM-L6-v2) gets a fresh classification head. With dev data the
    dev accuracy is measured at the end (and every ``eval_every`` steps) and the best weights are kept. Returns a
    metrics dict (dev_accuracy, best_step, steps, train_seconds, ...), also written into teacher_card.json.
    """
    from tqdm import tqdm
    from transformers import AutoTokenizer

    config = config or FinetuneConfig()
    out = Path(out_dir).expanduser()
    check_can_write(out, overwrite)  # fail before training, not after

    label_names = [str(n) for n in label_names]
    if len(label_names) != num_labels or len(set(label_names)) != num_labels:
        raise DataError(f"need {num_labels} distinct label names, got {label_names}")
    train_texts = list(train_texts)
    n_train = len(train_texts)
    if n_train == 0:
        raise DataError("no training texts")
    train_ids = _check_labels("training data", train_label_ids, n_train, num_labels)
    train_pairs = _check_pairs("training data", train_pairs, n_train)
    has_dev = dev_texts is not None and len(dev_texts) > 0
    if has_dev:
        dev_texts = list(dev_texts)
        if dev_label_ids is None:
            raise DataError("dev texts were given without dev labels")
        dev_ids = _check_labels("dev data", dev_label_ids, len(dev_texts), num_labels)
        dev_pairs = _check_pairs("dev data", dev_pairs, len(dev_texts))
        if (dev_pairs is None) != (train_pairs is None):
            raise DataError("training and dev data must both be text pairs or both single texts")

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    local = Path(str(base)).expanduser()
    if local.exists() or looks_like_path(str(base)):
        check_model_dir(local, "base model directory")
        base = str(local)
    torch.manual_seed(config.seed)  # the new head's initialisation and dropout
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model, info = load_classifier(base, torch.float32, folder=local if local.exists() else None,
                                      num_labels=num_labels, id2label=dict(enumerate(label_names)),
                                      label2id={n: i for i, n in enumerate(label_names)}, ignore_mismatched_sizes=True)
    except Exception as exc:
        raise ModelError(f"base model {base}: cannot be loaded ({first_line(exc)})") from None
    model.float().to(device)
    fresh = untrained_keys(info)  # a new classification head for a bare encoder or another label count

    steps_per_epoch = math.ceil(n_train / config.batch_size)
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch))
    warmup = int(round(config.warmup_ratio * total_steps))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    generator = torch.Generator().manual_seed(config.seed)
    scorer = Teacher(model, tokenizer, max_length=config.max_length, batch_size=config.batch_size, device=device,
                     fingerprint="", source=str(base))

    def dev_accuracy() -> float:
        model.eval()
        pred = scorer.logits(dev_texts, dev_pairs).argmax(axis=1)
        model.train()
        return float((pred == dev_ids).mean())

    best_acc, best_step, best_state, evals = -1.0, 0, None, []

    def evaluate(step: int) -> None:
        nonlocal best_acc, best_step, best_state
        acc = dev_accuracy()
        evals.append({"step": step, "dev_accuracy": round(acc, 6)})
        if acc > best_acc:
            best_acc, best_step = acc, step
            best_state = None if step == total_steps else {k: v.detach().clone() for k, v in model.state_dict().items()}
        if bar is not None:
            bar.write(f"step {step}: dev accuracy {acc:.4f} (best {best_acc:.4f} at step {best_step})")

    if progress and fresh:
        print(f"fine-tuning {base}: new randomly initialised weights for {', '.join(fresh)}", file=sys.stderr)
    bar = tqdm(total=total_steps, unit="step", desc="fine-tuning teacher", dynamic_ncols=True) if progress else None
    model.train()
    step, loss_ema, started = 0, None, time.perf_counter()
    try:
        while step < total_steps:
            order = torch.randperm(n_train, generator=generator).tolist()
            for start in range(0, n_train, config.batch_size):
                idx = order[start:start + config.batch_size]
                enc = tokenizer([train_texts[i] for i in idx],
                                [train_pairs[i] for i in idx] if train_pairs is not None else None,
                                padding=True, truncation=True, max_length=config.max_length, return_tensors="pt")
                enc = {k: v.to(device) for k, v in enc.items()}
                labels = torch.from_numpy(train_ids[idx]).to(device)
                loss = F.cross_entropy(model(**enc).logits.float(), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip and config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise ModelError(f"fine-tuning diverged at step {step} (loss {value}); try a lower --lr")
                loss_ema = value if loss_ema is None else 0.95 * loss_ema + 0.05 * value
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_ema:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
                if has_dev and config.eval_every and step % config.eval_every == 0 and step < total_steps:
                    evaluate(step)
                if step >= total_steps:
                    break
        train_seconds = time.perf_counter() - started
        if has_dev:
            evaluate(total_steps)
            if best_state is not None:  # an earlier evaluation beat the final weights
                model.load_state_dict(best_state)
    finally:
        if bar is not None:
            bar.close()

    model.eval()
    metrics = {
        "dev_accuracy": round(best_acc, 6) if has_dev else None,
        "best_step": best_step if has_dev else total_steps,
        "evaluations": evals,
        "steps": total_steps,
        "train_examples": n_train,
        "dev_examples": len(dev_texts) if has_dev else 0,
        "final_train_loss": round(loss_ema, 6) if loss_ema is not None else None,
        "train_seconds": round(train_seconds, 2),
        "device": device,
        "new_weights": fresh,
    }
    card = {
        "name": out.name,
        "base_model": str(base),
        "num_labels": num_labels,
        "label_names": label_names,
        "training": {**asdict(config), "train_examples": n_train, "steps": total_steps, "device": device,
                     "torch_threads": torch.get_num_threads(), "train_seconds": metrics["train_seconds"]},
        "dev_accuracy": metrics["dev_accuracy"],
        "dev_examples": metrics["dev_examples"],
        "best_step": metrics["best_step"],
        "max_length_for_inference": config.max_length,
        "created_by": "textdistill teacher finetune",
    }
    _save_atomic(out, model, tokenizer, card, overwrite)
    metrics["out_dir"] = str(out)
    return metrics


