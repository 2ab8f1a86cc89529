"""textdistill: distill transformer text classifiers into students that run hundreds of times faster on a CPU.

Predicting with a saved student needs only numpy and safetensors::

    from textdistill import Student
    student = Student.from_pretrained("student/")
    student.predict(["what a great film"]); student.predict_proba(["what a great film"])

Training (``distill``, ``Teacher``, ``finetune_teacher``) needs the ``train`` extra (torch, transformers).
"""

from .data import LabelMap, TextDataset, read_dataset
from .errors import DataError, ModelError, TextdistillError
from .students import BiLSTMStudent, CNNStudent, DANStudent, Student

__version__ = "0.1.0"

_LAZY = {
    "distill": ("pipeline", "distill"),
    "Teacher": ("teacher", "Teacher"),
    "TeacherCache": ("teacher_cache", "TeacherCache"),
    "label_with_cache": ("teacher_cache", "label_with_cache"),
    "finetune_teacher": ("finetune", "finetune_teacher"),
    "FinetuneConfig": ("finetune", "FinetuneConfig"),
    "TrainConfig": ("training.trainer", "TrainConfig"),
    "DANConfig": ("training.dan", "DANConfig"),
    "BiLSTMConfig": ("training.bilstm", "BiLSTMConfig"),
    "CNNConfig": ("training.cnn", "CNNConfig"),
    "WordConfig": ("words", "WordConfig"),
    "AugmentConfig": ("augment", "AugmentConfig"),
    "Augmenter": ("augment", "Augmenter"),
    "augment_texts": ("augment", "augment_texts"),
    "NgramConfig": ("ngrams", "NgramConfig"),
}


def __getattr__(name):
    """Heavy parts (torch, transformers) load on first use, so ``import textdistill`` stays light."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'textdistill' has no attribute {name!r}")


__all__ = ["Student", "DANStudent", "BiLSTMStudent", "CNNStudent", "TextDataset", "LabelMap", "read_dataset", "TextdistillError", "DataError",
           "ModelError", *_LAZY]
