"""Write a benchmark's generated section of the docs: the text between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` in the docs file that SECTIONS names for NAME.

These sections used to live in README.md; each is now in one file under docs/. Every benchmark script writes its
section through ``write_section`` and, for links inside it (plots), ``link``, so this mapping is the one place
that says where a section lives.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

SECTIONS = {  # NAME -> docs file holding its <!-- NAME:start --> ... <!-- NAME:end --> block
    "bench": "benchmarks.md",  # benchmarks/run.py table
    "multi": "teachers.md",  # benchmarks/multi_teacher.py table
    "serve": "serving.md",  # benchmarks/serve_load.py table --write
    "onnx": "serving.md",  # benchmarks/export_onnx.py table --write
    "auto": "auto.md",  # benchmarks/choose.py table --write
    "ray": "scale.md",  # benchmarks/ray_scale.py table
    "small": "small-data.md",  # benchmarks/small_data.py table
    "chinese": "chinese.md",  # benchmarks/chinese.py table
    "multilabel": "multilabel.md",  # benchmarks/multilabel.py table
    "speed": "speed.md",  # benchmarks/speed.py table
}


def section_file(name: str) -> Path:
    """The docs file that holds section NAME."""
    return DOCS / SECTIONS[name]


def link(path: Path | str, name: str) -> str:
    """A Markdown link target for PATH (absolute, or relative to the repository root) as seen from the docs file
    of section NAME: ``benchmarks/results/x.png`` -> ``../benchmarks/results/x.png``."""
    return Path(os.path.relpath(ROOT / path, section_file(name).parent)).as_posix()


def write_section(name: str, text: str) -> Path:
    """Replace what is between section NAME's markers in its docs file with TEXT; returns that file."""
    path = section_file(name)
    content = path.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in content or end not in content:
        raise SystemExit(f"{path} has no {name} markers")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + start + "\n" + text + "\n" + end + tail)
    print(f"wrote {path.relative_to(ROOT)} ({name} section)")
    return path
