"""textdistill: distill transformer text classifiers into students that run hundreds of times faster on a CPU.

Predicting with a saved student needs only numpy and safetensors::

    from textdistill import Student
    student = Student.from_pretrained("student/")
    student.predict(["what a great film"]); student.predict_proba(["what a great film"])

Training (``distill``, ``Teacher``, ``finetune_teacher``) needs the ``train`` extra (torch, transformers).
"""

from .data.readers import LabelMap, TextDataset, read_dataset
from .errors import DataError, ModelError, TextdistillError
from .students import BiLSTMStudent, CNNStudent, DANStudent, Student

__version__ = "0.2.0"

_LAZY = {
    "distill": ("pipeline", "distill"),
    "Teacher": ("teachers.huggingface", "Teacher"),
    "load_teacher": ("teachers.base", "load_teacher"),
    "StudentTeacher": ("teachers.student", "StudentTeacher"),
    "EmbeddingTeacher": ("teachers.embedding", "EmbeddingTeacher"),
    "PromptTeacher": ("teachers.prompt", "PromptTeacher"),
    "EndpointTeacher": ("teachers.endpoint", "EndpointTeacher"),
    "PromptSpec": ("teachers.prompting", "PromptSpec"),
    "check_teacher": ("teachers.check", "check_teacher"),
    "Plan": ("plan", "Plan"),
    "MultiLabelConfig": ("tasks.multi_label", "MultiLabelConfig"),
    "STRATEGIES": ("training.strategies", "STRATEGIES"),
    "RLConfig": ("training.strategies.rl", "RLConfig"),
    "RLWeightsConfig": ("training.strategies.rl_weights", "RLWeightsConfig"),
    "WeightedConfig": ("training.strategies.weighted", "WeightedConfig"),
    "ConfidenceConfig": ("training.strategies.confidence", "ConfidenceConfig"),
    "CAMKDConfig": ("training.strategies.camkd", "CAMKDConfig"),
    "TeacherCache": ("teachers.cache", "TeacherCache"),
    "label_with_cache": ("teachers.cache", "label_with_cache"),
    "finetune_teacher": ("training.finetune", "finetune_teacher"),
    "FinetuneConfig": ("training.finetune", "FinetuneConfig"),
    "TrainConfig": ("training.config", "TrainConfig"),
    "DANConfig": ("students.dan", "DANConfig"),
    "StorageConfig": ("students.dan", "StorageConfig"),
    "BiLSTMConfig": ("students.bilstm", "BiLSTMConfig"),
    "CNNConfig": ("students.cnn", "CNNConfig"),
    "WordConfig": ("featurizers.words", "WordConfig"),
    "AugmentConfig": ("data.augment", "AugmentConfig"),
    "Augmenter": ("data.augment", "Augmenter"),
    "augment_texts": ("data.augment", "augment_texts"),
    "NgramConfig": ("featurizers.ngrams", "NgramConfig"),
    "serve": ("serving.http", "serve"),
    "create_app": ("serving.http", "create_app"),
    "ServeConfig": ("serving.http", "ServeConfig"),
    "export_onnx": ("serving.onnx", "export_onnx"),
    "featurizer_spec": ("serving.spec", "featurizer_spec"),
    "report": ("evaluation.report", "report"),
    "auto": ("selection", "auto"),
    "AutoConfig": ("selection", "AutoConfig"),
    "RayConfig": ("distributed.config", "RayConfig"),
    "ShardConfig": ("distributed.config", "ShardConfig"),
    "label_on_ray": ("distributed.labelling", "label_on_ray"),
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
