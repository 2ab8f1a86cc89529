"""Model directories: JSON + safetensors, written atomically and validated on load (never pickle)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ModelError

FORMAT_NAME = "textdistill-student"
FORMAT_VERSION = 2  # 2: featurizer v2, folded / float16 / int8 DAN tables; version-1 directories still load


def hash_files(folder: Path, names: list[str], salt: bytes) -> "hashlib._Hash":
    """blake2b-128 over the files' names and bytes, in the order given (a directory's identity by content)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(salt + b"\0")
    for name in names:
        h.update(name.encode() + b"\0")
        with open(folder / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h


def write_dir_atomically(out_dir: str | Path, write: Callable[[Path], None], overwrite: bool = True) -> Path:
    """Write a directory via ``write(tmp_dir)`` then swap it in, so a crash never leaves a half-written model."""
    out = Path(out_dir)
    check_can_write(out, overwrite)
    return swap_in_dir(out, write)


def swap_in_dir(out: Path, write: Callable[[Path], None]) -> Path:
    """Write ``out`` via ``write(tmp_dir)`` in a temporary sibling, then rename it into place (replacing what was
    there, which the caller has checked may go): readers see the old directory or the new one, never half of one."""
    out = Path(out)
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
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # safetensors writes 0600; a model must be readable like any file


_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
           "BOOL": np.bool_}


def mmap_tensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only memory maps: loading costs no copy, a process pays only for
    the pages it reads, and processes serving the same file share them. The header is validated first (every
    tensor inside the file, sizes that match their shapes), so a truncated or garbled file is one clear error."""
    import json

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ModelError(f"{path}: corrupt or truncated safetensors file (no header)")
        n = int.from_bytes(head, "little")
        if n <= 0 or 8 + n > size or n > 100_000_000:
            raise ModelError(f"{path}: corrupt or truncated safetensors file (header of {n} bytes, file {size})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, ValueError):
            raise ModelError(f"{path}: corrupt or truncated safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: corrupt or truncated safetensors file (bad header)")
    base = 8 + n
    out = {}
    mapped = None
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = np.dtype(_DTYPES[info["dtype"]])
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{path}: corrupt or truncated safetensors file (bad entry {name!r})") from None
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if begin < 0 or end < begin or end - begin != count * dtype.itemsize:
            raise ModelError(f"{path}: corrupt or truncated safetensors file ({name!r} has {end - begin} bytes "
                             f"for shape {shape} {dtype})")
        if base + end > size:
            raise ModelError(f"{path}: corrupt or truncated safetensors file (tensor {name!r} ends past the end of "
                             f"the file)")
        if count == 0:
            out[name] = np.zeros(shape, dtype=dtype)
            continue
        if mapped is None:
            mapped = _map_file(path)
        out[name] = np.frombuffer(mapped, dtype=dtype, count=count, offset=base + begin).reshape(shape)
    return out


def _map_file(path: Path):
    """The whole file mapped read-only, marked for random access: a lookup table is read a row here and a row there,
    so the kernel should neither read ahead nor map neighbouring pages in (which would make a process's resident
    memory the whole table after a few thousand lookups)."""
    import mmap

    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        mapped.madvise(mmap.MADV_RANDOM)
    return mapped


def load_tensors(path: Path, expected: dict[str, tuple] | None = None, mmap: bool = False) -> dict[str, np.ndarray]:
    """Load a safetensors file (memory-mapped with ``mmap``), checking that the expected names and shapes are there.

    ``expected`` maps a tensor name to its shape (None for any size in that dimension) or to (shape, dtypes).
    """
    from safetensors.numpy import load_file

    if not path.is_file():
        raise ModelError(f"{path.parent}: missing {path.name} (not a complete textdistill model directory)")
    if mmap:
        tensors = mmap_tensors(path)
    else:
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
    """A directory textdistill wrote (a student, a teacher, the training state of an interrupted run), which
    --overwrite may replace."""
    if (path / "teacher_card.json").is_file():
        return True
    for name, format_name in (("config.json", FORMAT_NAME), ("state.json", "textdistill-resume")):
        try:
            if json.loads((path / name).read_text(encoding="utf-8")).get("format") == format_name:
                return True
        except (OSError, ValueError, AttributeError):
            pass
    return False


def is_interrupted_model(path: Path) -> bool:
    """A student saved by a ``distill`` that Ctrl-C stopped (``"interrupted": true`` in its metadata)."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        return config.get("format") == FORMAT_NAME and bool((config.get("metadata") or {}).get("interrupted"))
    except (OSError, ValueError, AttributeError):
        return False


def check_writable_place(path: str | Path, what: str = "output", shown: str | Path | None = None) -> None:
    """Fail now, in one line, unless files can be created in directory ``path`` (made first if missing): not when
    a regular file stands where a directory on its way should be, or the place is read-only for this process.

    Writability is tested by creating and removing a temporary file in the nearest existing directory, which also
    holds for root (for whom ``os.access`` says yes to a read-only mount) and for network file systems.
    """
    path = Path(path).expanduser()
    parent = path
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    shown = path if shown is None else shown
    if parent.exists() and not parent.is_dir():
        raise ModelError(f"{what} {shown}: {parent} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".textdistill-write-test-", dir=parent)
    except OSError as exc:
        raise ModelError(f"{what} {shown}: cannot write in {parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def check_can_write(out_dir: str | Path, overwrite: bool, what: str = "--out") -> None:
    """Fail before hours of work, not after, when the output directory would be refused or cannot be written.

    --overwrite replaces an empty directory or a model directory, never any other directory with files in it. The
    directory is written beside itself (a temporary sibling, then a rename), so its parent must be writable.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ModelError(f"{out}: directory is not empty (pass --overwrite to replace it)")
        if not is_model_dir(out):
            raise ModelError(f"{out}: not a textdistill model directory; refusing to replace it (choose another --out)")
    check_writable_place(out.absolute().parent, what, out)


def check_can_write_file(path: str | Path, overwrite: bool = True, what: str = "output") -> None:
    """The same for an output file: not a directory, not refused (exists without ``overwrite``), writable."""
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{what} {path}: is a directory; name a file")
    if path.exists() and not overwrite:
        raise ModelError(f"{what} {path}: exists; pass --overwrite to replace it")
    check_writable_place(path.absolute().parent, what, path)


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
