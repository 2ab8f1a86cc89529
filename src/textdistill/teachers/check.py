"""``teacher check``: a teacher on a labelled sample before the expensive run: how good it is, what it answers, how
fast, and (for a served model) how many tokens, what labelling a corpus would cost and how long it would take."""

from __future__ import annotations

import time

import numpy as np

from ..data.readers import LabelMap, TextDataset
from .cache import TeacherCache, text_keys


def check_teacher(teacher, sample: TextDataset, cache_root, *, teacher_labels=None, corpus_texts: int | None = None,
                  price_in: float | None = None, price_out: float | None = None, log=None) -> dict:
    """The teacher's score on ``sample`` (accuracy, or micro-F1 for a multi-label teacher), its answers' label
    distribution against the gold one, the unparsed answers, its throughput on the texts it labelled now, and for
    ``corpus_texts`` texts the projected tokens, cost (``price_in``/``price_out`` per million prompt/completion
    tokens) and time. Answers go through the cache: a rerun costs nothing (and measures no throughput)."""
    from ..tasks import get_task, infer_task
    from .signal import align_teachers, label_teachers

    task = get_task(getattr(teacher, "task", None) or infer_task(sample.labels).name)
    names = sample.label_names or task.label_names(sample.labels)
    labels = LabelMap(names)
    aligned = align_teachers([teacher], labels, teacher_labels, log, task=task)
    cached = _cached(teacher, sample, cache_root)
    before = dict(getattr(teacher, "stats", {}) or {})
    started = time.perf_counter()
    signal = label_teachers(aligned, sample.texts, sample.pairs, cache_root, progress=True)
    seconds = time.perf_counter() - started
    logits = signal.logits[0]
    answered = np.isfinite(logits).all(axis=1)
    gold = task.encode(names, sample.labels, sample.source, log)
    pred = task.decide(np.nan_to_num(logits[answered], nan=0.0))
    metrics = task.metrics(gold[answered], pred, names)
    report = {"teacher": teacher.name, "fingerprint": teacher.fingerprint, "task": task.name, "n": len(sample),
              "answered": int(answered.sum()), "unparsed": int((~answered).sum()), "metrics": metrics,
              "score_name": task.headline, "score": task.score(metrics),
              "label_distribution": _distribution(task, names, gold[answered], pred),
              "labelled_now": len(sample) - cached, "seconds": round(seconds, 2)}
    if report["labelled_now"]:
        report["texts_per_s"] = report["labelled_now"] / max(seconds, 1e-9)
    stats = getattr(teacher, "stats", None)
    if stats:
        used = {k: stats[k] - before.get(k, 0) for k in ("prompt_tokens", "completion_tokens", "requests",
                                                         "retries", "hard", "soft", "unparsed")}
        report["endpoint"] = {**used, "unparsed_examples": list(stats.get("unparsed_examples", []))}
        if corpus_texts and report["labelled_now"]:
            report["projection"] = _projection(used, report, corpus_texts, price_in, price_out)
    elif corpus_texts and report.get("texts_per_s"):
        report["projection"] = {"texts": corpus_texts, "hours": corpus_texts / report["texts_per_s"] / 3600}
    return report


def _cached(teacher, sample: TextDataset, cache_root) -> int:
    cache = TeacherCache(cache_root, teacher.fingerprint, num_labels=int(teacher.num_labels))
    found, _ = cache.lookup(text_keys(sample.texts, sample.pairs))
    return int(found.sum())


def _distribution(task, names, gold, pred) -> dict:
    """How often each label is the gold answer and the teacher's, on the answered texts."""
    if task.name == "single-label":
        g = np.bincount(gold, minlength=len(names))
        p = np.bincount(pred, minlength=len(names))
    else:
        g, p = (np.asarray(gold) > 0.5).sum(0), np.asarray(pred).sum(0)
    return {n: {"gold": int(g[i]), "teacher": int(p[i])} for i, n in enumerate(names)}


def _projection(used: dict, report: dict, corpus: int, price_in, price_out) -> dict:
    per_text_in = used["prompt_tokens"] / report["labelled_now"]
    per_text_out = used["completion_tokens"] / report["labelled_now"]
    out = {"texts": corpus, "prompt_tokens": int(per_text_in * corpus), "completion_tokens": int(per_text_out * corpus),
           "hours": corpus / report["texts_per_s"] / 3600 if report.get("texts_per_s") else None}
    if price_in is not None or price_out is not None:
        out["cost"] = (out["prompt_tokens"] * (price_in or 0) + out["completion_tokens"] * (price_out or 0)) / 1e6
    return out


def format_check(report: dict) -> str:
    m = report["metrics"]
    lines = [f"teacher {report['teacher']} ({report['task']}) on {report['n']:,} labelled texts: "
             f"{report['score_name'].replace('_', '-')} {report['score']:.4f}"
             + (f", macro-F1 {m['macro_f1']:.4f}" if "macro_f1" in m else ""),
             f"answered {report['answered']:,}, unparsed {report['unparsed']:,}"]
    if report.get("texts_per_s"):
        lines.append(f"throughput: {report['texts_per_s']:,.1f} texts/s ({report['labelled_now']:,} labelled now in "
                     f"{report['seconds']:.1f}s)")
    else:
        lines.append("throughput: not measured (every text came from the cache)")
    lines.append("labels (gold / teacher): " + ", ".join(f"{n} {v['gold']}/{v['teacher']}"
                                                        for n, v in report["label_distribution"].items()))
    e = report.get("endpoint")
    if e:
        lines.append(f"endpoint: {e['requests']:,} requests, {e['retries']:,} retries, {e['prompt_tokens']:,} prompt + "
                     f"{e['completion_tokens']:,} completion tokens; soft labels {e['soft']:,}, hard (no logprobs) "
                     f"{e['hard']:,}, unparsed {e['unparsed']:,}")
        for example in e["unparsed_examples"][:3]:
            lines.append(f"  unparsed answer: {example[:100]!r}")
    p = report.get("projection")
    if p:
        text = f"labelling {p['texts']:,} texts: "
        if "prompt_tokens" in p:
            text += f"~{p['prompt_tokens']:,} prompt + {p['completion_tokens']:,} completion tokens, "
        if p.get("cost") is not None:
            text += f"~{p['cost']:,.2f} in your currency, "
        text += f"~{p['hours']:.1f} h at this rate" if p.get("hours") is not None else "time not measured"
        lines.append(text)
    return "\n".join(lines)
