"""What the benchmark scripts share: the paths, a timestamped log, running the CLI as a user would, JSONL files."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def textdistill(*args, threads: int = 1) -> tuple[str, float]:
    """Run the CLI as a user would (one torch thread by default: a second heavy job may share the machine); returns
    the command line as shown in the results (paths relative to the repository, ../shared for the data) and its wall
    time."""
    cmd = [str(Path(sys.executable).parent / "textdistill"), "--threads", str(threads), *map(str, args)]
    shown = "textdistill " + " ".join(shlex.quote(str(a)).replace(str(ROOT) + "/", "").replace(str(SHARED), "../shared")
                                      for a in args)
    log(shown)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return shown, time.perf_counter() - started


def write_jsonl(path: Path, rows) -> Path:
    """One JSON object per line, written to a temporary file and renamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path
