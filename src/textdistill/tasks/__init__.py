"""Task types: what a label is (one class per text, or any set of labels), how outputs become decisions, which
metrics judge them and which losses train them. Each type is one file registered in ``TASKS``; the pipeline, the
trainer, the students and the reports ask the task, so nothing else branches on it."""

from .base import TASKS, Task, get_task, infer_task, register
from . import multi_label, single_label  # noqa: F401  (register the built-in types)

__all__ = ["TASKS", "Task", "get_task", "infer_task", "register"]
