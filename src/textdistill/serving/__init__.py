"""Serving and exporting saved students: an HTTP endpoint (``http.py``), ONNX files (``onnx.py``) and the
featurizer specification other languages reproduce the ids from (``spec.py``).

Nothing here is imported by ``import textdistill``; each module imports its optional dependencies (the ``serve``
and ``onnx`` extras) when it is used.
"""

_LAZY = {
    "ServeConfig": ("http", "ServeConfig"),
    "create_app": ("http", "create_app"),
    "serve": ("http", "serve"),
    "export_onnx": ("onnx", "export_onnx"),
    "OnnxModel": ("onnx", "OnnxModel"),
    "featurizer_spec": ("spec", "featurizer_spec"),
    "write_spec": ("spec", "write_spec"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'textdistill.serving' has no attribute {name!r}")


__all__ = list(_LAZY)
