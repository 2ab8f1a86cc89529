"""``textdistill auto``: train a small set of students, measure each on this machine, keep the one that fits.

The candidates (DANs of several sizes, a CNN, a BiLSTM by default) are distilled from the same teacher through the
shared teacher-output cache, so the teacher labels the transfer set once. Each is timed here, end to end (raw text
in, labels out, one BLAS thread), at batch 1 (the latency of one request) and 32. With a latency budget the most
accurate candidate within it is kept; with an accuracy floor alone, the fastest candidate above it; with both, the
most accurate of those that meet both. The kept student is copied to ``out`` with ``auto.json`` (every candidate's
numbers, the budget, the choice) and a report (``out/report/``: table and accuracy-vs-speed plot).

Candidates are trained into a work directory (``<out>.candidates/`` by default) and a finished one is not trained
again when the command is rerun with the same data and settings (after a kill, or with a new budget).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import option
from .errors import ConfigError, DataError, TextdistillError, check

_LATENCY = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|us|µs|s)?\s*$", re.IGNORECASE)


def parse_latency(text) -> float | None:
    """'0.2ms' / '200us' / '0.0002s' / '0.2' (milliseconds) -> milliseconds."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    m = _LATENCY.match(str(text))
    if not m:
        raise ConfigError(f"latency {text!r}: expected e.g. 0.2ms, 150us or 0.001s")
    value, unit = float(m.group(1)), (m.group(2) or "ms").lower()
    ms = value * {"ms": 1.0, "us": 1e-3, "µs": 1e-3, "s": 1e3}[unit]
    check(ms > 0, f"latency {text!r} must be > 0")
    return ms


@dataclass
class Candidate:
    """One student to try: a family and the options of its config (field names, as ``distill``'s flags)."""

    name: str
    student: str
    options: dict = field(default_factory=dict)

    def config(self, vectors: str | None = None):
        """The candidate's student config (``widths=3|4|5`` style tuples accepted); word vectors for families that
        have a ``vectors`` option."""
        import dataclasses

        from .config import base_type, walk_fields
        from .students.base import family, family_config

        config_class = family(self.student).config_class
        options = dict(self.options)
        tuples = {path.rsplit(".", 1)[-1] for _, _, path, tp in walk_fields(config_class) if base_type(tp) is tuple}
        for key in tuples & set(options):  # widths=3|4|5 (or one number)
            value = options[key]
            options[key] = tuple(int(v) for v in str(value).split("|")) if not isinstance(value, tuple) else value
        if vectors is not None and "vectors" in {f.name for f in dataclasses.fields(config_class)}:
            options.setdefault("vectors", vectors)
        return family_config(self.student, **options)


def presets() -> dict[str, Candidate]:
    """The candidates each registered family offers ``auto`` (``Student.auto_candidates``)."""
    from .students import FAMILIES

    out = {}
    for family_name, cls in FAMILIES.items():
        for name, options in getattr(cls, "auto_candidates", {}).items():
            out[name] = Candidate(name, family_name, dict(options))
    return out




def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_candidates(spec) -> list[Candidate]:
    """``"dan-64,cnn,dan:embedding_dim=32:hidden_dim=16"``: presets by name, or a family with its options."""
    if isinstance(spec, (list, tuple)) and all(isinstance(c, Candidate) for c in spec):
        items = list(spec)
    else:
        parts = spec.split(",") if isinstance(spec, str) else list(spec)
        items = []
        for part in (p.strip() for p in parts):
            if not part:
                continue
            if part in presets():
                items.append(presets()[part])
                continue
            head, *settings = part.split(":")
            label, _, family = head.rpartition("=")  # small=dan:embedding_dim=32 names the candidate "small"
            from .students import FAMILIES

            if family not in FAMILIES:
                raise ConfigError(f"candidate {part!r}: not a preset ({', '.join(presets())}) nor a student family "
                                  f"({', '.join(FAMILIES.names())}) with options (dan:embedding_dim=64:hidden_dim=64)")
            options = {}
            for s in settings:
                key, sep, value = s.partition("=")
                if not sep or not key:
                    raise ConfigError(f"candidate {part!r}: options are field=value, separated by ':'")
                options[key.strip().replace("-", "_")] = _value(value.strip())
            items.append(Candidate(label or part.replace(":", "-").replace("=", ""), family, options))
    if not items:
        raise ConfigError("no candidates to try")
    names = [c.name for c in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"candidates named twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    return items


@dataclass
class AutoConfig:
    """How ``auto`` chooses; every field is a flag."""

    latency_budget: str | None = option(None, "Most time per text, e.g. 0.2ms or 150us: end to end (raw text in, "
                                              "label out) at --latency-batch, measured here.")
    min_accuracy: float | None = option(None, "Lowest dev accuracy (multi-label: micro-F1) to accept; alone, the "
                                              "fastest student above it is "
                                              "kept.")
    candidates: str | None = option(None, "Students to try, comma-separated: presets (each family's: dan-64, "
                                          "dan-128, dan-256, cnn, bilstm) or family:field=value:... "
                                          "(small=dan:embedding_dim=32:hidden_dim=32, cnn:widths=3|4). Default: "
                                          "every preset.")
    latency_batch: int = option(1, "Batch size the latency is measured at: 1 (default: one text per request) or 32.")
    measure_texts: int = option(1000, "Dev texts each candidate is timed on (default 1000).")
    measure_teacher: bool = option(True, "Also time the teacher, for the report (default on; a few hundred texts).")
    vectors: str | None = option(None, "Word vectors of the cnn/bilstm candidates: glove (default), a GloVe/word2vec "
                                       "file, or none.")

    def __post_init__(self):
        check(self.latency_budget is not None or self.min_accuracy is not None,
              "give --latency-budget (e.g. 0.2ms) or --min-accuracy (e.g. 0.85), or both")
        parse_latency(self.latency_budget)
        check(self.min_accuracy is None or 0 < self.min_accuracy <= 1,
              f"min_accuracy must be in (0, 1], got {self.min_accuracy}")
        check(self.latency_batch in (1, 32), f"latency_batch must be 1 or 32, got {self.latency_batch}")
        check(self.measure_texts >= 32, f"measure_texts must be >= 32, got {self.measure_texts}")
        parse_candidates(self.candidate_list())

    def candidate_list(self) -> str:
        return self.candidates or ",".join(presets())


@dataclass
class AutoResult:
    student: object  # the kept Student
    chosen: str
    path: Path
    candidates: list[dict]
    report_dir: Path


def _dataset_key(ds) -> str:
    h = hashlib.sha256()
    for seq in (ds.texts, ds.pairs or [], ds.labels or []):
        h.update("\x00".join(map(str, seq)).encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
    return h.hexdigest()


def _key(candidate: Candidate, config, train_config, train, dev, unlabeled, teachers) -> str:
    from . import __version__
    from .pipeline import config_dict

    parts = {"version": __version__, "name": candidate.name, "student": candidate.student,
             "config": config_dict(config), "train": config_dict(train_config) if train_config else None,
             "data": [_dataset_key(d) for d in [train, dev, *unlabeled]],
             "teachers": [getattr(t, "fingerprint", str(t)) for t in teachers]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def choose(rows: list[dict], budget_ms: float | None, min_accuracy: float | None) -> dict | None:
    """The kept candidate: most accurate within the budget (and above the floor), or the fastest above the floor."""
    ok = [r for r in rows if r.get("accuracy") is not None and r.get("latency_ms") is not None]
    if budget_ms is not None:
        ok = [r for r in ok if r["latency_ms"] <= budget_ms]
    if min_accuracy is not None:
        ok = [r for r in ok if r["accuracy"] >= min_accuracy]
    if not ok:
        return None
    if budget_ms is not None:
        return max(ok, key=lambda r: (r["accuracy"], -r["latency_ms"]))
    return min(ok, key=lambda r: (r["latency_ms"], -r["accuracy"]))


REPEATS = 15


def time_teacher(teacher, dev, teacher_dev: dict | None, n: int = 256) -> dict:
    """The teacher's texts/s at batch 32 and 1 on ``n`` dev texts (one pass each: it is slow), with its dev metrics
    from the distillation run; the shape of a bench record's ``teacher``."""
    from .evaluation.speed import dir_size, teacher_speed

    texts = dev.texts[:n]
    pairs = None if dev.pairs is None else dev.pairs[:n]
    source = str(getattr(teacher, "source", ""))
    return {"path": source, "disk_bytes": dir_size(source) if source and Path(source).is_dir() else None,
            "metrics": teacher_dev or {}, "n_timed": len(texts),
            "batch_32": teacher_speed(teacher, texts, pairs, 32, repeats=1),
            "batch_1": teacher_speed(teacher, texts[:64], None if pairs is None else pairs[:64], 1, repeats=1)}


def _read(ds, what: str):
    from .data.readers import TextDataset, read_dataset

    if isinstance(ds, TextDataset):
        return ds
    if ds is None:
        raise DataError(f"auto needs a {what} file")
    return read_dataset(ds, require_label=what in ("train", "dev"))


def auto(train, dev, out, *, teacher=None, unlabeled=None, config: AutoConfig | None = None, train_config=None,
         cache_root=None, work_dir=None, overwrite: bool = False, log=print, progress: bool = True) -> AutoResult:
    """Train the candidates (``config.candidates``) on ``train`` (+ ``unlabeled``) from ``teacher``, measure each on
    ``dev`` here, keep the one that fits the budget, and save it to ``out`` with ``auto.json`` and a report."""
    from .evaluation.report import entries_from_json, write_report
    from .evaluation.scoring import headline
    from .evaluation.speed import bench_models
    from .persistence import check_can_write, write_dir_atomically, write_json, write_json_atomically
    from .pipeline import distill
    from .plan import Plan
    from .students import Student
    from .teachers.base import load_teachers

    config = config or AutoConfig(latency_budget="0.2ms")
    budget_ms = parse_latency(config.latency_budget)
    candidates = parse_candidates(config.candidate_list())
    train, dev = _read(train, "train"), _read(dev, "dev")
    unlabeled = [_read(u, "unlabeled") for u in (unlabeled or [])]
    out = Path(out)
    check_can_write(out, overwrite)  # before hours of training, not after
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".candidates")
    if work.resolve() == out.resolve():
        raise ConfigError("--work-dir must differ from --out")
    configs = {c.name: c.config(config.vectors) for c in candidates}  # a bad option fails now
    teachers = load_teachers(teacher) if teacher is not None else []
    if cache_root is None and teachers:
        from .teachers.cache import default_cache_root

        cache_root = default_cache_root()
    (work / "stamps").mkdir(parents=True, exist_ok=True)
    (work / "measurements").mkdir(parents=True, exist_ok=True)
    rows, records = [], {}
    teacher_dev, teacher_timed = None, False
    started = time.perf_counter()
    for i, cand in enumerate(candidates):
        cdir, stamp = work / cand.name, work / "stamps" / f"{cand.name}.json"
        key = _key(cand, configs[cand.name], train_config, train, dev, unlabeled, teachers)
        done = stamp.is_file() and (cdir / "config.json").is_file() and json.loads(stamp.read_text()).get("key") == key
        t0 = time.perf_counter()
        if done:
            log(f"[{i + 1}/{len(candidates)}] {cand.name}: trained before with these settings; reusing {cdir}")
            teacher_dev = teacher_dev or json.loads(stamp.read_text()).get("teacher_dev")
        else:
            log(f"[{i + 1}/{len(candidates)}] {cand.name}: training a {cand.student} student ...")
            try:
                plan = Plan.build(train, out=cdir, teacher=teachers or None, dev=dev, unlabeled=unlabeled,
                                  student=cand.student, student_config=configs[cand.name], train_config=train_config,
                                  cache=cache_root, overwrite=True)
                _, rep = distill(plan, progress=progress, log=log)
            except TextdistillError as exc:
                log(f"[{i + 1}/{len(candidates)}] {cand.name}: skipped, training failed: {exc}")
                continue
            teacher_dev = teacher_dev or (rep.teacher_dev or None)
            write_json_atomically(stamp, {"key": key, "teacher_dev": rep.teacher_dev or None,
                                          "trained_s": round(time.perf_counter() - t0, 1)})
        # 15 passes per batch size: a pass of a DAN over 1000 texts takes ~10 ms, and the median of three such
        # passes on a shared machine can be off by 3x
        record = bench_models(cdir, dev, limit=config.measure_texts, batch_sizes=(32, 1), repeats=REPEATS)
        if config.measure_teacher and teachers and not teacher_timed and hasattr(teachers[0], "tokenize"):
            record["teacher"] = time_teacher(teachers[0], dev, teacher_dev)
            teacher_timed = True
        write_json_atomically(work / "measurements" / f"{cand.name}.json", record)
        records[cand.name] = record
        s = record["student"]
        rate = s[f"batch_{config.latency_batch}"]["end_to_end"]["texts_per_s"]
        row = {"name": cand.name, "family": cand.student, "options": cand.options, "dir": str(cdir.resolve()),
               "accuracy": headline(s.get("metrics")), "latency_ms": 1000.0 / rate,
               "texts_per_s_b32": s["batch_32"]["end_to_end"]["texts_per_s"],
               "texts_per_s_b1": s["batch_1"]["end_to_end"]["texts_per_s"], "disk_bytes": s.get("disk_bytes"),
               "bench": record}
        rows.append(row)
        elapsed = time.perf_counter() - started
        left = elapsed / (i + 1) * (len(candidates) - i - 1)
        log(f"[{i + 1}/{len(candidates)}] {cand.name}: dev accuracy {row['accuracy']:.4f}, "
            f"{row['latency_ms']:.3f} ms per text at batch {config.latency_batch}, "
            f"{row['texts_per_s_b32']:,.0f} texts/s at batch 32 ({elapsed:.0f}s so far, ~{left:.0f}s left)")
    if not rows:
        raise ConfigError("every candidate failed to train; see the messages above")
    best = choose(rows, budget_ms, config.min_accuracy)
    summary = {"format": "textdistill-auto", "format_version": 1, "chosen": best["name"] if best else None,
               "latency_budget_ms": budget_ms, "min_accuracy": config.min_accuracy,
               "latency_batch": config.latency_batch, "dev_file": str(dev.source), "train_file": str(train.source),
               "teacher_dev": teacher_dev, "teacher_name": Path(str(getattr(teachers[0], "source", ""))).name
               if teachers else None, "candidates": rows}
    speed = "b1" if config.latency_batch == 1 else "b32"
    limits = " and ".join(x for x in (f"latency <= {budget_ms:g} ms per text" if budget_ms else "",
                                      f"dev accuracy >= {config.min_accuracy}" if config.min_accuracy else "") if x)
    if best is None:
        write_json_atomically(work / "auto.json", summary)
        entries = entries_from_json(summary, str(work / "auto.json"), work)
        write_report(entries, work / "report", speed=speed, overwrite=True, budget_ms=budget_ms,
                     title="textdistill auto: no candidate fits", extra=f"Constraint: {limits}.")
        closest = min(rows, key=lambda r: r["latency_ms"])
        raise ConfigError(f"no candidate meets {limits} (fastest: {closest['name']}, {closest['latency_ms']:.3f} ms, "
                          f"accuracy {closest['accuracy']:.4f}); see {work / 'report' / 'report.md'}")
    chosen_dir = Path(best["dir"])

    def write(tmp: Path) -> None:
        for item in chosen_dir.iterdir():
            if item.is_file():
                shutil.copy2(item, tmp / item.name)
        summary_out = {**summary, "copied_from": str(chosen_dir)}
        write_json(tmp / "auto.json", summary_out)
        entries = entries_from_json(summary_out, str(tmp / "auto.json"), tmp)
        write_report(entries, tmp / "report", speed=speed, budget_ms=budget_ms, as_subdir_of_tmp=tmp,
                     title=f"textdistill auto: {best['name']} kept", extra=f"Constraint: {limits}. Kept: "
                     f"{best['name']} (dev accuracy {best['accuracy']:.4f}, {best['latency_ms']:.3f} ms per text).")

    write_dir_atomically(out, write, overwrite=overwrite)
    log(f"kept {best['name']}: dev accuracy {best['accuracy']:.4f}, {best['latency_ms']:.3f} ms per text "
        f"({limits}); saved to {out}, report in {out / 'report'}")
    return AutoResult(Student.from_pretrained(out), best["name"], out, rows, out / "report")
