"""The prediction kernels compiled ahead of time, once per machine: a plain C extension that loads without numba.

A process that predicts with the JIT kernels imports numba and LLVM (~0.5 s and ~120 MB before the first answer).
``textdistill kernels build`` (run by ``make install``) compiles the kernels a loaded DAN predicts with
(``featurizers/kernels.py``: tokenize, probe, pool, the folded head, the index build) with numba's ahead-of-time
compiler for this CPU into ``~/.cache/textdistill/kernels/<key>/``; ``kernels()`` then returns them through
``AotKernels``. The key covers the kernels' source, textdistill's, numba's and Python's versions and the machine,
so a stale build is never loaded. Training, and any kernel not compiled here, use the JIT kernels as before; without
a build (no C compiler, or never built) nothing changes.

The compiled functions check nothing about their arguments (a wrong dtype crashes the process), so every call goes
through ``AotKernels``, which converts each argument to the exact dtype, rank and layout its signature has and picks
the variant of a table's storage type (float32, float16 bits, int8).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import sys
from pathlib import Path

import numpy as np

ENV = "TEXTDISTILL_KERNEL_CACHE"
MODULE = "_textdistill_kernels"
TABLES = {"f4": "float32", "u2": "uint16", "i1": "int8"}
# name -> (argument kinds, result): an array kind is (dtype, ndim); "TABLE" is a 2-D table of any storage type;
# "i8"/"u8" are scalars.
SPECS = {
    "tokenize_hashes": ([("u1", 1), ("i8", 1), ("u1", 1)], "Tuple((u8[::1], i8[::1]))"),
    "ngram_rows": ([("u8", 1), ("i8", 1), "i8", "i8", ("u8", 2), "u8", "i8", "i8"], "UniTuple(i8[::1], 2)"),
    "pool_rows": ([("i8", 1), ("i8", 1), "TABLE", ("f4", 1), ("f4", 1)], "f4[:, ::1]"),
    "pool_texts": ([("u1", 1), ("i8", 1), ("u1", 1), "i8", "i8", ("u8", 2), "u8", "i8", "i8", "TABLE", ("f4", 1),
                    ("f4", 1)], "Tuple((f4[:, ::1], i8[::1]))"),
    "folded_head": ([("f4", 2), ("f4", 1), ("f4", 2), ("f4", 1)], "f4[:, ::1]"),
    "predict_folded": ([("u1", 1), ("i8", 1), ("u1", 1), "i8", "i8", ("u8", 2), "u8", "i8", "i8", "TABLE", ("f4", 1),
                        ("f4", 1), ("f4", 1), ("f4", 2), ("f4", 1)], "Tuple((f4[:, ::1], i8[::1]))"),
    "build_index": ([("u8", 1), ("i8", 1), "i8"], "Tuple((u8[:, ::1], i8))"),
}


def cache_root() -> Path:
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "textdistill" / "kernels"


def build_key() -> str:
    """What a build depends on: the kernels' source, the versions, the machine (without importing numba)."""
    from importlib.metadata import PackageNotFoundError, version

    here = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=12)
    for name in ("kernels.py", "aot.py"):
        h.update((here / name).read_bytes())
    try:
        numba_version = version("numba")
    except PackageNotFoundError:
        numba_version = "none"
    h.update(f"{numba_version}:{sys.version}:{platform.machine()}:{_cpu()}".encode())
    return h.hexdigest()


def _cpu() -> str:
    """The CPU's model and flags (a build for one CPU's instructions must not load on another's)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    keep = [line for line in text.splitlines() if line.startswith(("model name", "flags"))][:2]
    return "|".join(keep)


def build_dir() -> Path:
    return cache_root() / build_key()


def _signature(kinds, result: str, table: str | None) -> str:
    args = []
    for kind in kinds:
        if kind == "TABLE":
            args.append(f"{table}[:, ::1]")
        elif isinstance(kind, tuple):
            dtype, ndim = kind
            args.append(f"{dtype}[{', '.join([':'] * (ndim - 1) + ['::1'])}]")
        else:
            args.append(kind)
    return f"{result}({', '.join(args)})"


def exports() -> list[tuple[str, str, str]]:
    """(exported name, kernel name, signature) of every function the build compiles."""
    out = []
    for name, (kinds, result) in SPECS.items():
        if "TABLE" in kinds:
            out += [(f"{name}__{t}", name, _signature(kinds, result, t)) for t in TABLES]
        else:
            out.append((name, name, _signature(kinds, result, None)))
    return out


def build(log=print) -> Path:
    """Compile the prediction kernels for this machine (needs numba and a C compiler); the directory of the build."""
    import shutil
    import tempfile
    import time

    from numba.pycc import CC

    from . import kernels

    target = build_dir()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="textdistill-kernels-"))
    try:
        cc = CC(MODULE)
        cc.output_dir = str(work)
        cc.target_cpu = "host"
        cc.verbose = False
        for exported, name, signature in exports():
            cc.export(exported, signature)(getattr(kernels, name).py_func)
        cc.compile()
        built = next(work.glob(f"{MODULE}*"))
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f".{built.name}.tmp"
        shutil.copy2(built, tmp)
        os.replace(tmp, target / built.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"compiled the prediction kernels in {time.perf_counter() - started:.0f}s: {target}")
    load.cache_clear()
    return target


def built_module() -> Path | None:
    folder = build_dir()
    if not folder.is_dir():
        return None
    return next((p for p in folder.glob(f"{MODULE}*") if not p.name.startswith(".")), None)


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_LOADED: dict = {}


def load():
    """``AotKernels`` over this machine's build, or None when there is none."""
    if "kernels" not in _LOADED:
        path = built_module()
        try:
            _LOADED["kernels"] = AotKernels(_load_module(path)) if path is not None else None
        except (ImportError, OSError):  # a build of another interpreter: the JIT kernels serve
            _LOADED["kernels"] = None
    return _LOADED["kernels"]


load.cache_clear = _LOADED.clear


_DTYPES = {"u1": np.uint8, "u2": np.uint16, "u8": np.uint64, "i1": np.int8, "i8": np.int64, "f4": np.float32}


def _argument(value, kind):
    if isinstance(kind, tuple):
        dtype, ndim = kind
        array = np.ascontiguousarray(value, dtype=_DTYPES[dtype])
        if array.ndim != ndim:
            raise ValueError(f"expected a {ndim}-d array, got {array.ndim}-d")
        return array
    return np.uint64(value) if kind == "u8" else np.int64(value)


class AotKernels:
    """The compiled module behind the kernels module's names; every argument is converted to its exact type first.
    A name it does not compile falls back to the JIT kernels."""

    compiled_ahead = True

    def __init__(self, module):
        self.module = module
        for name, (kinds, _) in SPECS.items():
            setattr(self, name, self._wrap(name, kinds))

    def _wrap(self, name: str, kinds):
        module = self.module
        table_at = kinds.index("TABLE") if "TABLE" in kinds else None
        if table_at is None:
            fn = getattr(module, name)

            def call(*args):
                return fn(*(_argument(a, k) for a, k in zip(args, kinds)))
        else:
            variants = {np.dtype(TABLES[t]): getattr(module, f"{name}__{t}") for t in TABLES}

            def call(*args):
                table = np.ascontiguousarray(args[table_at])
                fn = variants.get(table.dtype)
                if fn is None or table.ndim != 2:
                    raise ValueError(f"no compiled {name} for a {table.ndim}-d {table.dtype} table")
                return fn(*(table if i == table_at else _argument(a, k) for i, (a, k) in enumerate(zip(args, kinds))))
        call.__name__ = name
        return call

    def bind(self, name: str, *args):
        """``name`` with its constant arguments converted once: a function of the arguments given as None (for a
        hot loop: only those are converted per call)."""
        kinds = SPECS[name][0]
        table_at = kinds.index("TABLE") if "TABLE" in kinds else None
        fn = getattr(self.module, name) if table_at is None else None
        fixed = list(args)
        for i, (value, kind) in enumerate(zip(args, kinds)):
            if value is None:
                continue
            if i == table_at:
                table = np.ascontiguousarray(value)
                fn = {np.dtype(TABLES[t]): getattr(self.module, f"{name}__{t}") for t in TABLES}.get(table.dtype)
                if fn is None or table.ndim != 2:
                    raise ValueError(f"no compiled {name} for a {table.ndim}-d {table.dtype} table")
                fixed[i] = table
            else:
                fixed[i] = _argument(value, kind)
        free = [i for i, v in enumerate(args) if v is None]
        if fn is None:
            raise ValueError(f"bind {name}: its table must be given")
        if free == [0, 1] and len(args) > 2:
            rest = tuple(fixed[2:])
            k0, k1 = kinds[0], kinds[1]

            def two(a, b):
                return fn(_argument(a, k0), _argument(b, k1), *rest)
            return two

        def call(*values):
            full = list(fixed)
            for i, v in zip(free, values):
                full[i] = _argument(v, kinds[i])
            return fn(*full)
        return call

    def __getattr__(self, name):  # a kernel not compiled ahead of time: the JIT one
        from . import kernels

        return getattr(kernels, name)
