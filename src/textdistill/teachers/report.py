"""``textdistill teacher report``: how a student's teachers did and how its strategy used them, from the
``teachers.json`` saved beside the model (numpy-free JSON; matplotlib only for the plot)."""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingExtraError, ModelError
from ..persistence import read_json

TEACHERS_FILE = "teachers.json"
POLICY_FILE = "policy.safetensors"


def read_record(model_dir: str | Path) -> dict:
    """The teachers record of a saved student; a one-line ModelError when there is none."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"no such model directory: {model_dir}")
    path = model_dir / TEACHERS_FILE
    if not path.is_file():
        raise ModelError(f"{model_dir}: no {TEACHERS_FILE} (the student was trained without a teacher, or by a "
                         f"textdistill older than the multi-teacher strategies)")
    record = read_json(path)
    if record.get("format") != "textdistill-teachers" or not isinstance(record.get("teachers"), list):
        raise ModelError(f"{path}: not a textdistill teachers record")
    return record


def _fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report(record: dict) -> str:
    """A readable table: per teacher dev accuracy, agreement, and selection rate / mean weight, overall and per
    class; then the strategy's history by epoch."""
    selection = record.get("selection") or {}
    measure = selection.get("measure", "mean weight")
    teachers = record["teachers"]
    names = [t["name"] for t in teachers]
    config = ", ".join(f"{k}={v}" for k, v in (record.get("strategy_config") or {}).items())
    lines = [f"strategy: {record.get('strategy')}" + (f" ({config})" if config else "")
             + f"; loss {record.get('loss')}, temperature {record.get('temperature')}"]
    dev = record.get("student_dev") or {}
    if dev:
        lines.append(f"student dev accuracy {dev.get('accuracy', 0):.4f}"
                     + (f"; training {record['training_s']:.1f}s" if record.get("training_s") is not None else ""))
    width = max([len(n) for n in names] + [7])
    classes = list((selection.get("per_class") or {}).keys())
    head = f"{'teacher':<{width}}  {'dev acc':>7}  {'agree':>6}  {measure:>14}"
    head += "".join(f"  {c[:10]:>10}" for c in classes)
    lines += ["", head, "-" * len(head)]
    for t in teachers:
        agreement = t.get("agreement") or {}
        mean_agreement = sum(agreement.values()) / len(agreement) if agreement else None
        overall = (selection.get("overall") or {}).get(t["name"])
        row = (f"{t['name']:<{width}}  {_fmt(t.get('dev_accuracy')):>7}  {_fmt(mean_agreement, 3):>6}  "
               f"{_fmt(overall):>14}")
        row += "".join(f"  {_fmt(selection['per_class'][c].get(t['name'])):>10}" for c in classes)
        lines.append(row)
    if classes:
        lines.append(f"(per-class columns: {measure} on texts of that class: the gold label, or the teachers' mean "
                     f"argmax where a text has none)")
    if any(t.get("agreement") for t in teachers):
        on = teachers[0].get("agreement_on", "dev")
        lines += ["", f"agreement (argmax, on {on}):"]
        for t in teachers:
            lines.append(f"  {t['name']:<{width}}  " + ", ".join(f"{o} {v:.3f}" for o, v in t["agreement"].items()))
    history = selection.get("history") or []
    if history:
        lines += ["", f"{measure} by epoch:"]
        lines.append(f"  {'stage':<18} {'epoch':>5}  {'phase':<26}" + "".join(f" {n[:12]:>12}" for n in names))
        for h in history:
            lines.append(f"  {h['stage'][:18]:<18} {h['epoch']:>5}  {h.get('phase', '')[:26]:<26}"
                         + "".join(f" {_fmt(h['values'].get(n)):>12}" for n in names))
    return "\n".join(lines)


def _short_phase(phase: str) -> str:
    for prefix, short in (("warm-up", "warm-up"), ("policy pre-training", "pre-train"), ("policy and student", "joint"),
                          ("fixed", "")):
        if phase.startswith(prefix):
            return short
    return phase[:10]


def plot_history(record: dict, path: str | Path) -> Path:
    """A PNG of the selection rate (or mean weight) of each teacher over training."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("--plot needs matplotlib: pip install 'textdistill[plot]' (or pip install "
                                "matplotlib)") from None
    import os

    selection = record.get("selection") or {}
    history = selection.get("history") or []
    if not history:
        raise ModelError("the teachers record has no per-epoch history to plot")
    names = [t["name"] for t in record["teachers"]]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    xs = list(range(1, len(history) + 1))
    for n in names:
        ax.plot(xs, [h["values"].get(n) for h in history], marker="o", label=n)
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{h['epoch']}\n{_short_phase(h.get('phase', ''))}" for h in history], fontsize=7)
    ax.set_xlabel("epoch (phase)")
    ax.set_ylabel(selection.get("measure", "mean weight"))
    ax.set_ylim(0, 1.02)
    ax.set_title(f"teacher {selection.get('measure', 'weight')} over training ({record.get('strategy')})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
