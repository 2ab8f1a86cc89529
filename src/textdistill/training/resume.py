"""Resuming an interrupted ``distill``: the training state at a step boundary, saved beside the output directory and
found again by a rerun of the same command.

The state is everything the loop needs to continue as if it had never stopped: the module's weights, each optimizer's
moments, the best checkpoint so far and its dev score, the position (stage, epoch, batch, step), numpy's generator as
it was at the start of the epoch (so the epoch's batch order is drawn again) and torch's generator (dropout). It is
stored as safetensors + JSON (never pickle) in ``<out>.resume/``, tagged with a fingerprint of the data, the
teachers' outputs and the settings: a rerun resumes only when all of them are the same. A resumed run produces the
same model as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError

RESUME_FORMAT = "textdistill-resume"
RESUME_VERSION = 1


def resume_dir(out: str | Path) -> Path:
    """Where the training state of an interrupted run into ``out`` is kept: ``<out>.resume`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".resume")


def fingerprint(*parts) -> str:
    """A hash of strings, numbers, arrays and (nested) lists or dicts of them: what a run trains from."""
    h = hashlib.blake2b(digest_size=16)

    def add(part):
        if part is None:
            h.update(b"\x00none")
        elif isinstance(part, np.ndarray):
            h.update(f"\x00array{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, (list, tuple)):
            h.update(f"\x00list{len(part)}".encode())
            if part and all(isinstance(p, str) for p in part):  # texts: one pass, each text length-prefixed
                h.update("".join(f"{len(p)}:{p}" for p in part).encode("utf-8", "surrogatepass"))
            else:
                for p in part:
                    add(p)
        elif isinstance(part, dict):
            add(json.dumps(part, sort_keys=True, default=str))
        else:
            h.update(f"\x00{type(part).__name__}:{part}".encode("utf-8", "surrogatepass"))

    for part in parts:
        add(part)
    return h.hexdigest()


@dataclass
class TrainingState:
    """Where training stopped and everything needed to continue from there (tensors as numpy arrays)."""

    fingerprint: str
    position: dict  # stage (index), epoch (0-based), batch (done in this epoch), step (done in this stage), where
    epoch_rng: dict  # numpy bit generator state at the start of the stopped epoch
    torch_rng: np.ndarray
    module: dict[str, np.ndarray]
    optimizers: list[dict]  # per optimizer: {"tensors": {name: array}, "state": JSON with tensor references}
    best_score: float | None = None
    best_where: str = ""
    best: dict[str, np.ndarray] | None = None
    history: list = field(default_factory=list)
    train_seconds: float = 0.0
    running: float | None = None
    objective: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        return self.position.get("where", "")

    def nbytes(self) -> int:
        arrays = list(self.module.values()) + list((self.best or {}).values())
        arrays += [a for opt in self.optimizers for a in opt["tensors"].values()]
        return int(sum(a.nbytes for a in arrays))


def optimizer_state(optimizer) -> dict:
    """An optimizer's ``state_dict()['state']`` as arrays + JSON (the param groups come from the new optimizer)."""
    import torch

    tensors, state = {}, {}
    for pid, entry in optimizer.state_dict()["state"].items():
        out = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                name = f"{pid}.{key}"
                tensors[name] = value.detach().cpu().numpy()
                out[key] = {"tensor": name}
            else:
                out[key] = value
        state[str(pid)] = out
    return {"tensors": tensors, "state": state}


def load_optimizer_state(optimizer, saved: dict) -> None:
    import torch

    state = {}
    for pid, entry in saved["state"].items():
        state[int(pid)] = {k: torch.from_numpy(np.array(saved["tensors"][v["tensor"]]))
                           if isinstance(v, dict) and "tensor" in v else v for k, v in entry.items()}
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})


def save_state(path: str | Path, state: TrainingState) -> Path:
    """Write the state atomically into ``path`` (a directory, replaced if it exists)."""
    from ..persistence import save_tensors, write_dir_atomically, write_json

    tensors = {f"module.{k}": v for k, v in state.module.items()}
    tensors["torch_rng"] = np.asarray(state.torch_rng, dtype=np.uint8)
    for k, v in (state.best or {}).items():
        tensors[f"best.{k}"] = v
    optimizers = []
    for i, opt in enumerate(state.optimizers):
        for name, value in opt["tensors"].items():
            tensors[f"optimizer{i}.{name}"] = value
        optimizers.append(opt["state"])
    meta = {"format": RESUME_FORMAT, "format_version": RESUME_VERSION, "fingerprint": state.fingerprint,
            "position": state.position, "epoch_rng": state.epoch_rng, "optimizers": optimizers,
            "best_score": state.best_score, "best_where": state.best_where, "has_best": state.best is not None,
            "history": state.history, "train_seconds": state.train_seconds, "running": state.running,
            "objective": state.objective}

    def write(tmp: Path) -> None:
        save_tensors(tmp / "state.safetensors", tensors)
        write_json(tmp / "state.json", meta)

    return write_dir_atomically(path, write, overwrite=True)  # replaces only a resume (or model) directory


def read_fingerprint(path: str | Path) -> str | None:
    """The fingerprint of a saved state, or None when there is none (or it is not readable)."""
    try:
        meta = json.loads((Path(path) / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta.get("fingerprint") if isinstance(meta, dict) and meta.get("format") == RESUME_FORMAT else None


def load_state(path: str | Path) -> TrainingState:
    """Read a state written by ``save_state``; a damaged one is a one-line ModelError."""
    from ..persistence import load_tensors, read_json

    path = Path(path)
    meta = read_json(path / "state.json")
    if meta.get("format") != RESUME_FORMAT or meta.get("format_version", 0) > RESUME_VERSION:
        raise ModelError(f"{path}: not a resume state this textdistill can read")
    tensors = load_tensors(path / "state.safetensors")
    try:
        module = {k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")}
        best = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")} if meta["has_best"] else None
        optimizers = []
        for i, opt in enumerate(meta["optimizers"]):
            prefix = f"optimizer{i}."
            optimizers.append({"state": opt, "tensors": {k[len(prefix):]: v for k, v in tensors.items()
                                                         if k.startswith(prefix)}})
        return TrainingState(fingerprint=meta["fingerprint"], position=meta["position"], epoch_rng=meta["epoch_rng"],
                             torch_rng=tensors["torch_rng"], module=module, optimizers=optimizers,
                             best_score=meta["best_score"], best_where=meta["best_where"], best=best,
                             history=meta["history"], train_seconds=float(meta["train_seconds"]),
                             running=meta["running"], objective=meta.get("objective") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: damaged resume state ({exc.__class__.__name__}: {exc})") from None
