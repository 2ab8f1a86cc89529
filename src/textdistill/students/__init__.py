"""Student families (numpy runtimes); importing this package registers the built-in ones."""

from .base import FAMILIES, Student, register
from .bilstm import BiLSTMStudent
from .cnn import CNNStudent
from .dan import DANStudent

__all__ = ["FAMILIES", "Student", "register", "DANStudent", "BiLSTMStudent", "CNNStudent"]
