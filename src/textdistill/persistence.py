"""Model directories: JSON + safetensors, written atomically and validated on load (never pickle)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ModelError

FORMAT_NAME = "textdistill-student"
FORMAT_VERSION = 1


def write_dir_atomically(out_dir: str | Path, write: Callable[[Path], None], overwrite: bool = True) -> Path:
    """Write a directory via ``write(tmp_dir)`` then swap it in, so a crash never leaves a half-written model."""
    out = Path(out_dir)
    check_can_write(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it owner-only; a model must be readable like any directory
    try:
        write(tmp)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise ModelError(f"{path.parent}: missing {path.name} (not a complete textdistill model directory)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: corrupt JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def save_tensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))


def load_tensors(path: Path, expected: dict[str, tuple] | None = None) -> dict[str, np.ndarray]:
    """Load a safetensors file, checking that the expected names and shapes are there."""
    from safetensors.numpy import load_file

    if not path.is_file():
        raise ModelError(f"{path.parent}: missing {path.name} (not a complete textdistill model directory)")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for truncated/garbled files
        raise ModelError(f"{path}: corrupt or truncated safetensors file ({exc})") from None
    for name, shape in (expected or {}).items():
        if name not in tensors:
            raise ModelError(f"{path}: tensor '{name}' is missing")
        got = tensors[name].shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
            raise ModelError(f"{path}: tensor '{name}' has shape {got}, expected {shape}")
    return tensors


def is_model_dir(path: Path) -> bool:
    """A directory textdistill wrote (a student or a teacher), which --overwrite may replace."""
    if (path / "teacher_card.json").is_file():
        return True
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def check_can_write(out_dir: str | Path, overwrite: bool) -> None:
    """Fail before hours of work, not after, when the output directory would be refused.

    --overwrite replaces an empty directory or a model directory, never any other directory with files in it.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ModelError(f"{out}: directory is not empty (pass --overwrite to replace it)")
        if not is_model_dir(out):
            raise ModelError(f"{out}: not a textdistill model directory; refusing to replace it (choose another --out)")


def write_text_atomically(path: str | Path, text: str) -> None:
    """Write a file through a temporary sibling and a rename: a reader never sees half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomically(path: str | Path, data) -> None:
    write_text_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
