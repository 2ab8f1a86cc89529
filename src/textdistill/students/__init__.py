"""Student families; importing this package registers them for ``Student.from_pretrained``."""

from .base import STUDENT_TYPES, Student
from .bilstm import BiLSTMStudent
from .cnn import CNNStudent
from .dan import DANStudent

__all__ = ["STUDENT_TYPES", "Student", "DANStudent", "BiLSTMStudent", "CNNStudent"]
