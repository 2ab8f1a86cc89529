"""``textdistill report``: which student to pick. Every saved student and benchmark result in a folder, as a table
(Markdown and HTML) and a plot of accuracy against texts/s (log scale) with the teacher, the peers and the Pareto
front, one per evaluation set.

What is read (recursively):

- saved students (``config.json`` of format ``textdistill-student``): family, size, the dev metrics in their
  metadata; with ``data=`` they are measured here (accuracy on that file, texts/s at batch 32 and 1);
- measurements of ``bench`` (``textdistill bench --json``, ``evaluation.speed.bench_models``): a student (and its
  teacher) with accuracy and texts/s on a named file;
- ``benchmarks/run.py`` results (students with their bench records, peers such as fastText and TF-IDF + LR);
- ``auto.json`` of ``textdistill auto`` (its candidates' measurements, the budget and the choice).

Numbers are shown as they were measured (each record keeps its hardware); nothing is re-timed unless asked.
"""

from __future__ import annotations

import html
import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError, TextdistillError, require
from .scoring import headline

FORMAT = "textdistill-report"
SPEEDS = {"b32": ("texts_per_s", "texts/s at batch 32, end to end"),
          "b1": ("texts_per_s_b1", "texts/s at batch 1, end to end (1 / latency per text)")}


def family_colour(family: str | None) -> str:
    """A student family's colour in plots (the family says: ``Student.report_colour``)."""
    from ..students import FAMILIES

    return FAMILIES.get(family).report_colour if family in FAMILIES else "tab:purple"


@dataclass
class Entry:
    """One point of the report: a student, a teacher or a peer measured on one evaluation set (``task``)."""

    name: str
    kind: str  # "student", "teacher" or "peer"
    task: str
    family: str | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    texts_per_s: float | None = None  # batch 32, end to end
    texts_per_s_b1: float | None = None  # batch 1, end to end
    disk_bytes: int | None = None
    path: str | None = None
    source: str = ""
    hardware: str | None = None
    notes: list = field(default_factory=list)
    pareto: bool = False
    chosen: bool = False

    @property
    def latency_ms(self) -> float | None:
        return None if not self.texts_per_s_b1 else 1000.0 / self.texts_per_s_b1

    def to_dict(self) -> dict:
        return {**asdict(self), "latency_ms": self.latency_ms}


# -- reading ----------------------------------------------------------------------------------------------------
def task_name(path) -> str:
    """``/x/shared/data/sst2/dev.tsv.gz`` -> ``sst2/dev.tsv.gz`` (the data set's folder and file)."""
    if not path:
        return "unknown"
    parts = Path(str(path).split(",")[0].strip()).parts  # "imdb/test.csv.gz, seeded 5000-review sample"
    return "/".join(parts[-2:]) if len(parts) >= 2 else parts[-1]


def _rate(record: dict, batch: int) -> float | None:
    try:
        return float(record[f"batch_{batch}"]["end_to_end"]["texts_per_s"])
    except (KeyError, TypeError, ValueError):
        return None


def _hardware(record: dict) -> str | None:
    hw = record.get("hardware") if isinstance(record, dict) else None
    if isinstance(hw, dict) and hw.get("cpu"):
        return f"{hw['cpu']} ({hw.get('cores', '?')} cores)"
    return None


def _is_bench(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("student"), dict) and any(
        k.startswith("batch_") for k in obj["student"])


def _resolve(path, base: Path) -> str | None:
    if not path:
        return None
    p = Path(str(path))
    for candidate in ([p] if p.is_absolute() else [base / p, Path.cwd() / p, p]):
        if candidate.exists():
            return str(candidate.resolve())
    return str(p)


def entries_from_bench(record: dict, source: str, base: Path, name: str | None = None,
                       accuracy: float | None = None, task: str | None = None) -> list[Entry]:
    """A student (and its teacher) from one bench record."""
    task = task or task_name(record.get("data"))
    hw = _hardware(record)
    s = record["student"]
    path = _resolve(s.get("path"), base)
    metrics = s.get("metrics") or {}
    out = [Entry(name=name or Path(str(s.get("path", "student"))).name, kind="student", task=task,
                 family=s.get("type"), accuracy=accuracy if accuracy is not None else headline(metrics),
                 macro_f1=metrics.get("macro_f1"), texts_per_s=_rate(s, 32), texts_per_s_b1=_rate(s, 1),
                 disk_bytes=s.get("disk_bytes"), path=path, source=source, hardware=hw)]
    t = record.get("teacher")
    if isinstance(t, dict):
        tm = t.get("metrics") or {}
        out.append(Entry(name=Path(str(t.get("path", "teacher"))).name, kind="teacher", task=task, family="teacher",
                         accuracy=headline(tm), macro_f1=tm.get("macro_f1"), texts_per_s=_rate(t, 32),
                         texts_per_s_b1=_rate(t, 1), disk_bytes=t.get("disk_bytes"), path=t.get("path"),
                         source=source, hardware=hw))
    return out


def entries_from_json(data, source: str, base: Path) -> list[Entry]:
    """Every entry a results file holds, whichever of the known shapes it has."""
    out: list[Entry] = []
    if isinstance(data, dict) and data.get("format") == "textdistill-auto":
        for c in data.get("candidates", []):
            if _is_bench(c.get("bench")):
                got = entries_from_bench(c["bench"], source, base, name=c.get("name"))
                for e in got:
                    if e.kind == "student":
                        e.path = _resolve(c.get("dir"), base) or e.path
                        e.chosen = c.get("name") == data.get("chosen")
                out += got
        if data.get("teacher_dev") and not any(e.kind == "teacher" and e.accuracy is not None for e in out):
            out.append(Entry(name=data.get("teacher_name") or "teacher", kind="teacher",
                             task=task_name(data.get("dev_file")), family="teacher",
                             accuracy=headline(data["teacher_dev"]), source=source))
        return out
    if _is_bench(data):
        return entries_from_bench(data, source, base)
    if not isinstance(data, dict):
        return out
    default_task = task_name(data.get("test_file") or data.get("data"))
    students = data.get("students")
    if isinstance(students, dict):
        for name, item in students.items():
            if isinstance(item, dict) and _is_bench(item.get("bench")):
                task = task_name(item["bench"].get("data")) if item["bench"].get("data") else default_task
                out += entries_from_bench(item["bench"], source, base, name=name, accuracy=item.get("accuracy"),
                                          task=task)
    peers = data.get("peers")
    if isinstance(peers, dict):
        for name, item in peers.items():
            if isinstance(item, dict) and item.get("accuracy") is not None:
                out.append(Entry(name=name, kind="peer", task=default_task, family="peer",
                                 accuracy=item.get("accuracy"), texts_per_s=_rate(item, 32),
                                 texts_per_s_b1=_rate(item, 1), source=source, hardware=_hardware(data)))
    return out


def find_students(root: Path) -> list[Path]:
    out = []
    for config in sorted(root.rglob("config.json")):
        d = config.parent
        if any(part.startswith(".") and ".tmp-" in part for part in d.parts):
            continue
        try:
            if json.loads(config.read_text(encoding="utf-8")).get("format") == "textdistill-student":
                out.append(d)
        except (OSError, ValueError, AttributeError, RecursionError):
            continue
    return out


def collect(folders, data=None, limit: int = 2000, log=None) -> list[Entry]:
    """Entries from every student and results file under ``folders``; students without a measurement on ``data``
    (a TextDataset or a path) are measured on it here."""
    from ..students import Student

    folders = [Path(f) for f in ([folders] if isinstance(folders, (str, Path)) else folders)]
    entries: list[Entry] = []
    student_dirs: list[Path] = []
    for root in folders:
        if not root.exists():
            raise ConfigError(f"no such folder: {root}")
        if root.is_file():
            files, dirs = [root], []
        else:
            dirs = find_students(root)
            inside = {d.resolve() for d in dirs}
            files = [p for p in sorted(root.rglob("*.json"))
                     if p.parent.resolve() not in inside or p.name == "auto.json"]
        student_dirs += dirs
        for f in files:
            if f.name in ("config.json", "labels.json", "teachers.json", "report.json") or ".featurizer." in f.name:
                continue
            try:
                data_ = json.loads(f.read_text(encoding="utf-8"))
                entries += entries_from_json(data_, str(f), f.parent)
            except (OSError, ValueError):
                continue
            except RecursionError:  # nested deeper than the reader (or the report) can follow
                if log is not None:
                    log(f"warning: skipping {f}: its JSON is nested too deeply to read")
                continue
    measured_paths = {e.path for e in entries if e.kind == "student" and e.path}
    ds = None
    if data is not None:
        from ..data.readers import TextDataset, read_dataset

        ds = data if isinstance(data, TextDataset) else read_dataset(data, require_label=True, limit=limit)
    for d in student_dirs:
        resolved = str(d.resolve())
        if (d / "auto.json").is_file():
            continue  # the copy auto made of its choice: the candidate it copied is reported
        try:
            student = Student.from_pretrained(d)
        except TextdistillError as exc:  # one broken directory does not stop the report
            if log:
                log(f"warning: skipped {d}: {exc}")
            continue
        meta = student.metadata or {}
        on_task = ds is not None and any(e.path == resolved and e.task == task_name(ds.source) for e in entries)
        if ds is not None and not on_task:
            from .speed import bench_models

            if log:
                log(f"measuring {d} on {ds.source} ...")
            record = bench_models(d, ds, limit=limit)
            entries += entries_from_bench(record, f"measured here ({ds.source})", d.parent, name=d.name)
            continue
        if resolved in measured_paths:
            for e in entries:
                if e.path == resolved and e.family is None:
                    e.family = student.student_type
            continue
        dev = (meta.get("compressed_dev") or {}).get("after") or meta.get("dev") or {}  # compress re-measures
        from .speed import dir_size

        task = f"dev set of the run on {task_name(meta.get('train_file'))}"  # not measured: grouped by training data
        entries.append(Entry(name=d.name, kind="student", task=task,
                             family=student.student_type, accuracy=headline(dev),
                             macro_f1=dev.get("macro_f1"), disk_bytes=dir_size(d), path=resolved,
                             source=str(d / "config.json"),
                             notes=["not measured: pass --data to time it"]))
        teacher_dev = meta.get("teacher_dev") or {}
        if headline(teacher_dev) is not None:
            name = Path(str((meta.get("teacher") or {}).get("path", "teacher"))).name
            entries.append(Entry(name=name, kind="teacher", task=task,
                                 family="teacher", accuracy=headline(teacher_dev), source=str(d / "config.json")))
    return merge(entries)


def merge(entries: list[Entry]) -> list[Entry]:
    """One entry per (task, kind, name, path): speeds are the median of the measurements, the rest the first
    known value."""
    groups: dict[tuple, list[Entry]] = {}
    for e in entries:
        key = (e.task, e.kind, e.name if e.kind != "student" else (e.path or e.name), e.name if e.kind == "student"
               else None)
        groups.setdefault(key, []).append(e)
    out = []
    for same in groups.values():
        first = same[0]
        for attr in ("family", "accuracy", "macro_f1", "disk_bytes", "path", "hardware"):
            if getattr(first, attr) is None:
                setattr(first, attr, next((getattr(e, attr) for e in same if getattr(e, attr) is not None), None))
        for attr in ("texts_per_s", "texts_per_s_b1"):
            values = [getattr(e, attr) for e in same if getattr(e, attr)]
            setattr(first, attr, statistics.median(values) if values else None)
        first.chosen = any(e.chosen for e in same)
        if len(same) > 1:
            first.source = "; ".join(dict.fromkeys(e.source for e in same))
        out.append(first)
    return out


def mark_pareto(entries: list[Entry], speed: str = "b32") -> None:
    """Flag the entries no other entry beats on both accuracy and speed (per task)."""
    attr = SPEEDS[speed][0]
    for e in entries:
        e.pareto = False
    for task in {e.task for e in entries}:
        points = sorted((e for e in entries if e.task == task and e.accuracy is not None and getattr(e, attr)),
                        key=lambda e: (-getattr(e, attr), -e.accuracy))
        best = -math.inf
        for e in points:
            if e.accuracy > best:
                e.pareto = True
                best = e.accuracy


# -- writing ----------------------------------------------------------------------------------------------------
def _fmt(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "acc":
        return f"{value:.4f}"
    if kind == "rate":
        return f"{value:,.0f}"
    if kind == "ms":
        return f"{value:.3f}"
    if kind == "mb":
        return f"{value / 1e6:,.1f}"
    if kind == "pct":
        return f"{value:.1%}"
    return str(value)


def _rows(entries: list[Entry], speed: str):
    attr = SPEEDS[speed][0]
    teacher = max((e.accuracy for e in entries if e.kind == "teacher" and e.accuracy is not None), default=None)
    order = sorted(entries, key=lambda e: (e.kind != "teacher", -(getattr(e, attr) or 0), -(e.accuracy or 0)))
    for e in order:
        share = e.accuracy / teacher if teacher and e.accuracy is not None and e.kind != "teacher" else None
        mark = ("chosen " if e.chosen else "") + ("Pareto" if e.pareto else "")
        yield [mark.strip(), e.name, e.kind, e.family or "-", _fmt(e.accuracy, "acc"), _fmt(share, "pct"),
               _fmt(e.texts_per_s, "rate"), _fmt(e.texts_per_s_b1, "rate"), _fmt(e.latency_ms, "ms"),
               _fmt(e.disk_bytes, "mb")]


HEADER = ["", "model", "kind", "family", "accuracy (micro-F1 if multi-label)", "% of teacher", "texts/s b32", "texts/s b1", "ms/text b1",
          "disk MB"]


def markdown(entries: list[Entry], speed: str = "b32", title: str = "Students", plots: dict | None = None,
             extra: str = "") -> str:
    lines = [f"# {title}", ""]
    if extra:
        lines += [extra, ""]
    for task in sorted({e.task for e in entries}):
        group = [e for e in entries if e.task == task]
        lines += [f"## {task}", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in _rows(group, speed)]
        hardware = sorted({e.hardware for e in group if e.hardware})
        lines += ["", "Pareto: no other model here is both more accurate and faster "
                  f"({SPEEDS[speed][1]}). Measured on: {', '.join(hardware) or 'not recorded'}."]
        notes = [f"{e.name}: {n}" for e in group for n in e.notes]
        if notes:
            lines += [""] + [f"- {n}" for n in notes]
        if plots and task in plots:
            lines += ["", f"![accuracy against speed]({plots[task]})"]
        lines.append("")
    return "\n".join(lines)


def html_page(entries: list[Entry], speed: str = "b32", title: str = "Students", plots: dict | None = None,
              extra: str = "") -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>"
             "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2),td:nth-child(3),"
             "td:nth-child(4){text-align:left}tr.pareto{background:#eef6ff}tr.chosen{font-weight:bold}</style>"
             f"</head><body><h1>{esc(title)}</h1>"]
    if extra:
        parts.append(f"<p>{esc(extra)}</p>")
    for task in sorted({e.task for e in entries}):
        group = [e for e in entries if e.task == task]
        parts.append(f"<h2>{esc(task)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in HEADER) + "</tr>")
        for row in _rows(group, speed):
            cls = " ".join(c for c in ("pareto" if "Pareto" in row[0] else "", "chosen" if "chosen" in row[0] else "")
                           if c)
            parts.append(f"<tr class='{cls}'>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        parts.append("</table><p>Pareto: no other model here is both more accurate and faster "
                     f"({esc(SPEEDS[speed][1])}).</p>")
        if plots and task in plots:
            parts.append(f"<img src='{esc(plots[task])}' alt='accuracy against speed' style='max-width:100%'>")
    parts.append("</body></html>")
    return "".join(parts)


def plot(entries: list[Entry], path: Path, task: str, speed: str = "b32", budget_ms: float | None = None) -> bool:
    """Accuracy against texts/s (log x) for one task: students by family, the teacher, peers, the Pareto front.
    False when there is nothing to draw (no entry with both numbers)."""
    attr, label = SPEEDS[speed]
    group = [e for e in entries if e.task == task]
    points = [e for e in group if e.accuracy is not None and getattr(e, attr)]
    if not points:
        return False
    matplotlib = require("matplotlib", "plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    labels_at: dict[tuple, list[str]] = {}  # models at the same point share one label
    for e in points:
        labels_at.setdefault((getattr(e, attr), e.accuracy), []).append(e.name + (" (chosen)" if e.chosen else ""))
    for (x, y), names in labels_at.items():
        ax.annotate(" / ".join(names), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    for e in points:
        x = getattr(e, attr)
        if e.kind == "teacher":
            ax.scatter([x], [e.accuracy], marker="*", s=220, color="black", zorder=4, label="teacher")
        elif e.kind == "peer":
            ax.scatter([x], [e.accuracy], marker="D", s=45, color="grey", zorder=3, label="peer")
        else:
            ax.scatter([x], [e.accuracy], s=70 if e.chosen else 45, zorder=3,
                       color=family_colour(e.family), edgecolors="red" if e.chosen else None,
                       linewidths=2 if e.chosen else 0, label=e.family or "student")
    front = sorted((e for e in points if e.pareto), key=lambda e: getattr(e, attr))
    if len(front) > 1:
        ax.plot([getattr(e, attr) for e in front], [e.accuracy for e in front], "--", color="tab:red", lw=1,
                zorder=2, label="Pareto front")
    for e in group:
        if e.kind == "teacher" and e.accuracy is not None and not getattr(e, attr):
            ax.axhline(e.accuracy, color="black", ls=":", lw=1, label="teacher (speed not measured)")
    if budget_ms:
        ax.axvline(1000.0 / budget_ms, color="tab:red", ls=":", lw=1, label=f"latency budget {budget_ms:g} ms")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="lower left")
    ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("accuracy")
    ax.set_title(task, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def is_report_dir(path: Path) -> bool:
    try:
        return json.loads((path / "report.json").read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def write_report(entries: list[Entry], out, speed: str = "b32", title: str = "Which student to pick",
                 overwrite: bool = False, budget_ms: float | None = None, extra: str = "",
                 as_subdir_of_tmp: Path | None = None) -> Path:
    """report.md, report.html, report.json and one PNG per task into ``out``, written to a temporary directory and
    renamed (an existing report is replaced only with ``overwrite``; another directory never)."""
    if speed not in SPEEDS:
        raise ConfigError(f"speed must be b32 or b1, not {speed!r}")
    out = Path(out)
    if as_subdir_of_tmp is None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            if not overwrite:
                raise ConfigError(f"{out}: exists and is not empty (pass --overwrite to replace a report)")
            if not is_report_dir(out):
                raise ConfigError(f"{out}: not a textdistill report; refusing to replace it (choose another --out)")
    mark_pareto(entries, speed)

    def write(tmp: Path) -> None:
        plots = {}
        tasks = sorted({e.task for e in entries})
        for i, task in enumerate(tasks):
            name = "report.png" if len(tasks) == 1 else f"report-{i + 1}.png"
            if plot(entries, tmp / name, task, speed, budget_ms):
                plots[task] = name
        (tmp / "report.md").write_text(markdown(entries, speed, title, plots, extra), encoding="utf-8")
        (tmp / "report.html").write_text(html_page(entries, speed, title, plots, extra), encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps({"format": FORMAT, "format_version": 1, "speed": speed,
                                                     "entries": [e.to_dict() for e in entries]}, indent=2) + "\n",
                                         encoding="utf-8")

    if as_subdir_of_tmp is not None:  # inside a directory that is itself being written atomically
        out.mkdir(parents=True, exist_ok=True)
        write(out)
        return out
    from ..persistence import swap_in_dir

    return swap_in_dir(out, write)


def report(folders, out, data=None, speed: str = "b32", limit: int = 2000, overwrite: bool = False,
           title: str = "Which student to pick", log=None) -> list[Entry]:
    """The Python API of ``textdistill report``: collect, then write; returns the entries."""
    entries = collect(folders, data=data, limit=limit, log=log)
    if not entries:
        shown = [folders] if isinstance(folders, (str, Path)) else list(folders)
        raise ConfigError(f"no saved student or benchmark result under {', '.join(map(str, shown))}")
    write_report(entries, out, speed=speed, title=title, overwrite=overwrite)
    return entries
