"""The Hugging Face teacher: a sequence classifier that turns texts (or text pairs) into logits (``base.Teacher``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..persistence import hash_files
from ..errors import ConfigError, ModelError
from .base import checked_inputs

CARD_NAME = "teacher_card.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Files that decide what the tokenizer produces; hashed into the fingerprint when present.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "added_tokens.json",
)
# A tokenizer needs one of these (vocab.json needs merges.txt beside it); without them transformers would quietly
# build a default tokenizer that maps every word to [UNK].
TOKENIZER_VOCAB_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                         "tokenizer.model", "sentencepiece.model")
MAX_LENGTH_CAP = 512
MAX_TOKENS = 65_536  # padded tokens per forward pass on a GPU (MiniLM at 64 tokens: 1,024 texts)
MAX_BATCH = 4_096
PAIR_CLIP_CHARS_PER_TOKEN = 32


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def looks_like_path(path_or_id: str) -> bool:
    """True for strings that can only be a filesystem path, never a hub id like 'org/name'."""
    return (
        os.path.isabs(path_or_id)
        or path_or_id.startswith((".", "~"))
        or "\\" in path_or_id
        or path_or_id.count("/") > 1
    )


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def check_model_dir(folder: Path, what: str = "teacher directory", tokenizer: bool = True) -> None:
    """Raise ModelError (one line) unless folder looks like a saved Hugging Face model (with its tokenizer)."""
    if not folder.exists():
        raise ModelError(f"{what} {folder}: does not exist")
    if not folder.is_dir():
        raise ModelError(f"{what} {folder}: is not a directory")
    if not (folder / "config.json").is_file():
        raise ModelError(f"{what} {folder}: missing config.json")
    if not _weight_files(folder):
        raise ModelError(f"{what} {folder}: no model weights (*.safetensors or *.bin)")
    if tokenizer:
        check_tokenizer_files(folder, what)


def check_tokenizer_files(folder: Path, what: str = "teacher directory") -> None:
    """Raise ModelError naming the missing files unless folder holds a tokenizer's vocabulary."""
    present = [n for n in TOKENIZER_VOCAB_FILES if (folder / n).is_file()]
    if present == ["vocab.json"] and not (folder / "merges.txt").is_file():
        raise ModelError(f"{what} {folder}: has vocab.json but is missing merges.txt (the BPE tokenizer needs both); "
                         f"copy it from the base model")
    if not present:
        raise ModelError(f"{what} {folder}: missing the tokenizer files (tokenizer.json, or vocab.txt, or vocab.json "
                         f"+ merges.txt, or a sentencepiece model); copy them from the base model it was trained from")


def load_tokenizer(source: str | os.PathLike, what: str = "teacher directory"):
    """The tokenizer of a local model directory (checked first) or hub id, or a one-line ModelError."""
    from transformers import AutoTokenizer

    local = Path(os.fspath(source)).expanduser()
    if local.exists() or looks_like_path(os.fspath(source)):
        if not local.is_dir():
            raise ModelError(f"{what} {local}: no such directory")
        check_tokenizer_files(local, what)
    try:
        return AutoTokenizer.from_pretrained(os.fspath(source))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{what} {source}: cannot load its tokenizer ({first_line(exc)})") from None


def fingerprint_dir(folder: str | Path, max_length: int) -> str:
    """Stable hex id of a model directory's config, tokenizer files and weights (by content, not path) + max_length."""
    folder = Path(folder)
    names = [n for n in ("config.json",) + TOKENIZER_FILES if (folder / n).is_file()]
    names += [p.name for p in _weight_files(folder)]
    h = hash_files(folder, names, b"textdistill-teacher-v1")
    h.update(f"max_length={int(max_length)}".encode())
    return h.hexdigest()


def _resolve_local_snapshot(path_or_id: str) -> Path:
    """The local folder (hub cache snapshot) that holds a hub model's config.json."""
    from transformers.utils import cached_file

    return Path(cached_file(path_or_id, "config.json")).parent


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' progress bars and load reports (restored afterwards); errors still raise."""
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def weights_loading(folder: Path | None) -> dict:
    """from_pretrained arguments that keep pickle out: safetensors wherever the directory has them; where it has
    only a pickle-based file (pytorch_model.bin), torch's weights-only loader, with a one-line warning."""
    if folder is None or not folder.is_dir():
        return {}
    files = _weight_files(folder)
    if any(p.name.endswith(".safetensors") for p in files):
        return {"use_safetensors": True}
    if files:
        import warnings

        warnings.warn(f"{folder}: weights only in a pickle-based file ({files[0].name}); loading it with torch's "
                      f"weights-only loader (save the model with safetensors to avoid this)", UserWarning, stacklevel=3)
        return {"use_safetensors": False, "weights_only": True}
    return {}


def load_classifier(source: str, dtype: Any, folder: Path | None = None, **kwargs):
    """(model, loading info) from AutoModelForSequenceClassification.from_pretrained in the given dtype.

    Quietly: callers judge the returned missing/mismatched keys themselves. ``folder`` (the local directory) lets
    the loader prefer safetensors and load a pickle-based file only weights-only.
    """
    from transformers import AutoModelForSequenceClassification

    kwargs = {**weights_loading(Path(folder) if folder is not None else None), **kwargs}
    with quiet_transformers():
        try:
            return AutoModelForSequenceClassification.from_pretrained(source, dtype=dtype, output_loading_info=True,
                                                                      **kwargs)
        except TypeError:  # transformers < 4.56 only knows torch_dtype (and older ones no weights_only)
            kwargs.pop("weights_only", None)
            return AutoModelForSequenceClassification.from_pretrained(source, torch_dtype=dtype,
                                                                      output_loading_info=True, **kwargs)


def mismatched_weights(source: str, dtype, folder) -> str:
    """What does not fit when config.json and the weights disagree (a config naming 3 labels over 2-class weights),
    said in one self-contained line."""
    try:
        model, info = load_classifier(source, dtype, folder=folder, ignore_mismatched_sizes=True)
    except Exception as exc:  # another problem as well: say that one
        return f"cannot be loaded ({first_line(exc)})"
    parts = [f"{k[0]} is {tuple(k[1])} in the weights but {tuple(k[2])} by config.json" if isinstance(k, tuple) and
             len(k) == 3 else str(k) for k in info.get("mismatched_keys") or ()]
    labels = getattr(model.config, "num_labels", None)
    return (f"config.json does not match the weights ({'; '.join(parts[:2]) or 'parameter shapes differ'}); "
            f"config.json names {labels} labels: make id2label/label2id (num_labels) match the trained head")


def untrained_keys(info: dict) -> list[str]:
    """Parameters that from_pretrained had to initialise randomly (absent or of another shape in the checkpoint)."""
    keys = set(info.get("missing_keys") or ())
    keys |= {k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys") or ()}
    return sorted(keys)


def _default_label_names(names: list[str]) -> bool:
    return all(n == f"LABEL_{i}" for i, n in enumerate(names))


class Teacher:
    """A Hugging Face sequence classifier that produces logits for texts (and text pairs).

    Build it with ``Teacher.from_pretrained(path_or_hub_id)``; call ``logits(texts, pairs)`` for a float32
    (N, num_labels) array. ``fingerprint`` identifies the weights, config, tokenizer and max_length, so cached
    outputs are reused exactly when they would be recomputed identically.
    """

    def __init__(self, model, tokenizer, *, max_length: int, batch_size: int, device: str, fingerprint: str,
                 source: str, name: str | None = None):
        self.name = name or Path(str(source)).name or str(source)
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.device = device
        self.fingerprint = fingerprint
        self.source = source
        self.max_tokens = MAX_TOKENS
        self.tokenizer_threads = max(1, min(4, (os.cpu_count() or 2) - 1))
        self._pipelined: bool | None = None
        self.num_labels: int = int(model.config.num_labels)
        # independent sigmoid outputs (a multi-label classifier) or a softmax over classes
        problem = getattr(model.config, "problem_type", None)
        self.task = "multi-label" if problem == "multi_label_classification" else "single-label"
        id2label = getattr(model.config, "id2label", None) or {}
        names = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(self.num_labels)]
        self.label_names: list[str] | None = None if _default_label_names(names) else names

    def __repr__(self) -> str:
        return (f"Teacher({self.source!r}, num_labels={self.num_labels}, max_length={self.max_length}, "
                f"device={self.device!r}, fingerprint={self.fingerprint[:12]}...)")

    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike, *, max_length: int | None = None, batch_size: int = 32,
                        device: str | None = None) -> "Teacher":
        """Load a local model directory (or a hub id when online) as a float32 teacher in eval mode.

        max_length None -> ``teacher_card.json`` "max_length_for_inference" if the directory has one, else the
        tokenizer's model_max_length capped at 512 (and at the model's position embeddings).
        """
        from transformers import AutoTokenizer

        if batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        source = os.fspath(path_or_id)
        local = Path(source).expanduser()
        if local.exists() or looks_like_path(source):
            check_model_dir(local)
            folder = local
            load_from = str(local)
        else:
            try:
                folder = _resolve_local_snapshot(source)
            except Exception as exc:
                offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
                why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else first_line(exc)
                raise ModelError(
                    f"teacher {source!r}: no such local directory, and it cannot be loaded from the "
                    f"Hugging Face Hub ({why})"
                ) from None
            load_from = source
            check_tokenizer_files(folder, "teacher")

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        # float16 matmuls are slow (or unsupported) on CPU: compute in float32 there; keep the stored dtype on GPU.
        dtype: Any = "auto" if device.startswith("cuda") else torch.float32
        try:
            model, info = load_classifier(load_from, dtype, folder=folder)
            tokenizer = AutoTokenizer.from_pretrained(load_from)
        except Exception as exc:
            if "mismatched_sizes" in str(exc):
                raise ModelError(f"teacher {source}: {mismatched_weights(load_from, dtype, folder)}") from None
            raise ModelError(f"teacher {source}: cannot be loaded ({first_line(exc)})") from None
        untrained = untrained_keys(info)
        if untrained:
            shown = ", ".join(untrained[:3]) + (f" and {len(untrained) - 3} more" if len(untrained) > 3 else "")
            raise ModelError(f"teacher {source}: not a trained classifier (no weights for {shown}); "
                             f"fine-tune it first with `textdistill teacher finetune`")
        if not device.startswith("cuda"):
            model = model.float()
        model.to(device).eval()

        if max_length is None:
            max_length = _card_max_length(folder)
        positions = getattr(model.config, "max_position_embeddings", None)
        if max_length is None:
            max_length = min(int(getattr(tokenizer, "model_max_length", MAX_LENGTH_CAP) or MAX_LENGTH_CAP),
                             MAX_LENGTH_CAP)
            if isinstance(positions, int) and positions > 0:
                max_length = min(max_length, positions)
        if isinstance(positions, int) and 0 < positions < max_length:
            raise ConfigError(f"max_length {max_length} exceeds the teacher's {positions} positions")
        if max_length < 2:
            raise ConfigError(f"max_length must be >= 2, got {max_length}")
        fingerprint = fingerprint_dir(folder, max_length)
        dtype_name = str(next(model.parameters()).dtype).replace("torch.", "")
        if dtype_name != "float32":  # half-precision logits differ slightly: keep them in a cache of their own
            fingerprint = hashlib.blake2b(f"{fingerprint}:{dtype_name}".encode(), digest_size=16).hexdigest()
        return cls(model, tokenizer, max_length=max_length, batch_size=batch_size, device=device,
                   fingerprint=fingerprint, source=source)

    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, progress: Any = False) -> np.ndarray:
        """Float32 logits (N, num_labels) for texts (and their second segments), in input order.

        Texts are batched by similar length (longest first) and padded per batch; inputs longer than max_length are
        truncated (longest segment first for pairs). On a CPU a batch is ``batch_size`` texts; on a GPU it is sized
        by tokens (``max_tokens``) and the next batches are tokenized in background threads while the GPU runs the
        current one. progress=True shows a tqdm bar; a tqdm bar object is updated instead. A Ctrl-C raises
        ``PartialOutputs`` with the batches finished so far.
        """
        texts, pairs = checked_inputs(texts, pairs)
        n = len(texts)
        out = np.empty((n, self.num_labels), dtype=np.float32)
        if n == 0:
            return out
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        if pairs is not None:
            lengths += np.array([len(p) for p in pairs], dtype=np.int64)
        order = np.argsort(-lengths, kind="stable")  # longest first: any memory problem shows up at once
        bar, own_bar = _progress_bar(progress, n)
        done = np.zeros(n, dtype=bool)
        run = self._run_pipelined if self.pipelined else self._run
        try:
            with torch.inference_mode():
                run(texts, pairs, order, lengths, out, done, bar)
        except KeyboardInterrupt:
            from .base import PartialOutputs

            raise PartialOutputs(done, out) from None
        finally:
            if own_bar:
                bar.close()
        return out

    @property
    def pipelined(self) -> bool:
        """Token-sized batches and background tokenization: on a GPU (a test may turn it on anywhere)."""
        return self._pipelined if self._pipelined is not None else self.device.startswith("cuda")

    @pipelined.setter
    def pipelined(self, value: bool | None) -> None:
        self._pipelined = value

    def _run(self, texts, pairs, order, lengths, out, done, bar) -> None:
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self.tokenize([texts[i] for i in idx], None if pairs is None else [pairs[i] for i in idx])
            out[idx] = self.forward(enc).float().cpu().numpy()
            done[idx] = True
            if bar is not None:
                bar.update(len(idx))

    def token_batches(self, order: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """Batches of rows (longest first) holding at most ``max_tokens`` padded tokens each (estimated from the
        characters, ~4 per token, capped at max_length), and at most ``MAX_BATCH`` texts."""
        est = np.minimum(lengths[order] // 4 + 3, self.max_length)
        batches, start = [], 0
        while start < len(order):
            longest = int(est[start])
            size = max(1, min(MAX_BATCH, self.max_tokens // max(longest, 1), len(order) - start))
            batches.append(order[start:start + size])
            start += size
        return batches

    def _run_pipelined(self, texts, pairs, order, lengths, out, done, bar) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        batches = iter(self.token_batches(order, lengths))
        pending, ready = deque(), []

        def encode(idx):
            enc = self.encode_batch([texts[i] for i in idx], None if pairs is None else [pairs[i] for i in idx])
            return {k: v.pin_memory() if self.device.startswith("cuda") else v for k, v in enc.items()}

        def flush() -> None:
            if not ready:
                return
            rows = np.concatenate([idx for idx, _ in ready])
            out[rows] = torch.cat([z for _, z in ready]).cpu().numpy()  # one copy (and sync) for many batches
            done[rows] = True
            if bar is not None:
                bar.update(len(rows))
            ready.clear()

        with ThreadPoolExecutor(self.tokenizer_threads) as pool:
            for _ in range(self.tokenizer_threads + 1):
                idx = next(batches, None)
                if idx is not None:
                    pending.append((idx, pool.submit(encode, idx)))
            try:
                while pending:
                    idx, future = pending.popleft()
                    enc = future.result()
                    nxt = next(batches, None)
                    if nxt is not None:
                        pending.append((nxt, pool.submit(encode, nxt)))
                    logits = self.forward({k: v.to(self.device, non_blocking=True) for k, v in enc.items()})
                    ready.append((idx, logits.float()))
                    if len(ready) >= 16:
                        flush()
            finally:
                for _, future in pending:
                    future.cancel()
                flush()

    def tokenize(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict:
        """One batch -> padded, truncated input tensors on the teacher's device."""
        return {k: v.to(self.device) for k, v in self.encode_batch(texts, pairs).items()}

    def encode_batch(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict:
        """One batch -> padded, truncated input tensors (on the CPU)."""
        second = None
        if pairs is not None:
            # The Rust tokenizer builds every overflow combination of a truncated pair (quadratic: ~10 s for two
            # 2,500-token segments); clipping pair segments to 32 characters per kept token first avoids that and,
            # short of pathological texts, keeps the same first max_length tokens.
            clip = max(1024, PAIR_CLIP_CHARS_PER_TOKEN * self.max_length)
            texts = [t[:clip] for t in texts]
            second = [p[:clip] for p in pairs]
        return dict(self.tokenizer(list(texts), second, padding=True, truncation=True, max_length=self.max_length,
                                   return_tensors="pt"))

    def forward(self, encoded: dict):
        """Logits tensor of one tokenized batch (call under torch.inference_mode)."""
        return self.model(**encoded).logits

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """Argmax class ids (N,)."""
        return self.logits(texts, pairs).argmax(axis=1)


def _card_max_length(folder: Path) -> int | None:
    card = folder / CARD_NAME
    if not card.is_file():
        return None
    try:
        value = json.loads(card.read_text(encoding="utf-8")).get("max_length_for_inference")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"teacher directory {folder}: unreadable {CARD_NAME} ({first_line(exc)})") from None
    return int(value) if value else None


def _progress_bar(progress: Any, total: int):
    """(bar, owned): a new tqdm bar for progress=True, the caller's bar object as is, or None."""
    if progress is True:
        from tqdm import tqdm

        return tqdm(total=total, desc="teacher", unit="text", dynamic_ncols=True), True
    if progress is not False and progress is not None and hasattr(progress, "update"):
        return progress, False
    return None, False
