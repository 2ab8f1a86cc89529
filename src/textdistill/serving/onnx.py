"""``textdistill export --format onnx``: a saved student as an ONNX graph, verified against onnxruntime.

The featurizer stays outside the graph (its specification is exported as JSON, ``spec.py``); the graph takes what
the featurizer gives:

- DAN: ``rows`` (int64 [N]: the table rows of every text's known n-grams, concatenated) and ``offsets`` (int64
  [B]: where each text starts in ``rows``), -> ``logits`` (float32 [B, classes]); pairs add ``rows_pair`` and
  ``offsets_pair``. The graph is built by hand, not traced from torch's EmbeddingBag (whose export loops over the
  bags one by one): one Gather of every row, then a segment sum (ScatterND with reduction add; the segment ids are
  a cumulative sum of marks at the text starts) and a division by the counts. A float16 table stays float16 (Cast
  after the Gather); an int8 table stays int8 with its per-row scales (dequantised after the Gather).
- BiLSTM: ``ids`` (int64 [B, T], padded with 0) and ``lengths`` (int64 [B]) -> ``logits``; the ONNX LSTM operator,
  bidirectional, with ``sequence_lens`` (torch's gate order i, f, g, o is reordered to ONNX's i, o, f, c).
- CNN: ``ids`` and ``lengths`` as the BiLSTM; positions past a text's end are zeroed, each width is a Conv, windows
  that start past ``length - width`` are masked out before the max over time (what the numpy runtime computes).

``OnnxModel`` runs an exported file on raw texts (the student's featurizer in Python, the graph in onnxruntime);
``verify`` compares it with the student.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelError, require

OPSET = 17
EXTERNAL_DATA_BYTES = 1_800_000_000  # protobuf files stop at 2 GB: larger weights go to a side file
TOLERANCE = 1e-4


class Graph:
    """A small builder over onnx.helper: unique names, initializers, nodes; each student family builds its graph
    with it (``Student.onnx_graph``). ``INT64``, ``INT32`` and ``FLOAT`` are ONNX element types."""

    def __init__(self):
        self.onnx = require("onnx", "onnx")
        from onnx import helper, numpy_helper

        self.INT64, self.INT32, self.FLOAT = (self.onnx.TensorProto.INT64, self.onnx.TensorProto.INT32,
                                              self.onnx.TensorProto.FLOAT)

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._names: set[str] = set()
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, name: str | None = None, dtype=None) -> str:
        arr = np.asarray(value, dtype=dtype)
        name = name or self.name("c")
        if name in self._names:
            return name
        self._names.add(name)
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")  # (np.ascontiguousarray makes 0-d arrays 1-d)
        self.initializers.append(self.numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        out = out or self.name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def ops(self, op_type: str, inputs, n_out: int, **attrs) -> list[str]:
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs

    def input(self, name: str, elem, shape):
        self.inputs.append(self.helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, name: str, elem, shape):
        self.outputs.append(self.helper.make_tensor_value_info(name, elem, shape))

    def model(self, doc: str, metadata: dict):
        graph = self.helper.make_graph(self.nodes, "textdistill_student", self.inputs, self.outputs,
                                       self.initializers)
        model = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", OPSET)],
                                       producer_name="textdistill", doc_string=doc)
        model.ir_version = 8  # readable by onnxruntime >= 1.10
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)
        return model

    # -- pieces shared by the families ----------------------------------------------------------------------
    def scalar_dim(self, tensor: str, axis: int) -> str:
        """Dimension ``axis`` of ``tensor`` as an int64 scalar."""
        return self.op("Squeeze", self.op("Gather", self.op("Shape", tensor), self.const([axis], dtype=np.int64),
                                          axis=0), self.const([0], dtype=np.int64))

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, prefix: str) -> str:
        """x @ weight.T + bias (torch's Linear)."""
        w = self.const(np.ascontiguousarray(weight, dtype=np.float32), f"{prefix}.weight")
        b = self.const(np.asarray(bias, dtype=np.float32), f"{prefix}.bias")
        return self.op("Gemm", x, w, b, transB=1)

    def head(self, h: str, weights: dict, folded: bool = False) -> str:
        """ReLU layer and output layer (with the first layer already in the table when ``folded``)."""
        if folded:
            z = self.op("Add", h, self.const(np.asarray(weights["hidden.bias"], dtype=np.float32), "hidden.bias"))
        else:
            z = self.linear(h, weights["hidden.weight"], weights["hidden.bias"], "hidden")
        z = self.op("Relu", z)
        return self.op("Gemm", z, self.const(np.asarray(weights["output.weight"], dtype=np.float32), "output.weight"),
                       self.const(np.asarray(weights["output.bias"], dtype=np.float32), "output.bias"), transB=1,
                       out="logits")

    def pair_features(self, h1: str, h2: str) -> str:
        prod = self.op("Mul", h1, h2)
        diff = self.op("Abs", self.op("Sub", h1, h2))
        return self.op("Concat", h1, h2, prod, diff, axis=1)

    def filled(self, shape: str, value, dtype) -> str:
        """A tensor of ``shape`` (an int64 1-D tensor) filled with ``value``."""
        return self.op("ConstantOfShape", shape, value=self.numpy_helper.from_array(np.full(1, value, dtype=dtype)))


def build_onnx(student):
    """The ONNX model (an ``onnx.ModelProto``) of a student: the family builds the graph (``onnx_graph``); a
    ``probabilities`` output is added (softmax, or a sigmoid per label for a multi-label student, whose tuned
    thresholds go into the metadata)."""
    g = Graph()
    doc = student.onnx_graph(g)
    g.output("logits", g.FLOAT, ["batch", len(student.labels)])
    if student.multi_label:
        g.op("Sigmoid", "logits", out="probabilities")
    else:
        g.op("Softmax", "logits", out="probabilities", axis=1)
    g.output("probabilities", g.FLOAT, ["batch", len(student.labels)])
    meta = {"textdistill.family": student.student_type, "textdistill.classes": ",".join(student.classes_),
            "textdistill.pair": int(bool(getattr(student, "pair", False))), "textdistill.task": student.task.name}
    if student.multi_label:
        thresholds = student.decision.get("thresholds") or [0.5] * len(student.labels)
        meta["textdistill.thresholds"] = ",".join(f"{t:g}" for t in thresholds)
        meta["textdistill.at_least_one"] = int(bool(student.decision.get("at_least_one")))
    return g.model(doc + (" Output probabilities: an independent sigmoid per label; a label is predicted when it "
                          "reaches its threshold (metadata textdistill.thresholds)." if student.multi_label else ""),
                   meta)


# -- running and checking ---------------------------------------------------------------------------------------
def onnx_inputs(student, texts, pairs=None) -> dict[str, np.ndarray]:
    """The graph's inputs for raw texts, from the student's own featurizer (``Student.onnx_feeds``)."""
    return student.onnx_feeds(list(texts), None if pairs is None else list(pairs))


class OnnxModel:
    """An exported file run by onnxruntime, fed by the student's featurizer: ``predict_logits(texts, pairs)``."""

    def __init__(self, path: str | Path, student, threads: int = 1):
        ort = require("onnxruntime", "onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.student = student

    def logits_from_feeds(self, feeds: dict) -> np.ndarray:
        return self.session.run(["logits"], feeds)[0]

    def predict_logits(self, texts, pairs=None, batch_size: int = 256) -> np.ndarray:
        texts = list(texts)
        out = [self.logits_from_feeds(onnx_inputs(self.student, texts[i : i + batch_size],
                                                  None if pairs is None else list(pairs)[i : i + batch_size]))
               for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.student.labels)), np.float32)

    def predict(self, texts, pairs=None) -> list[str]:
        return self.student.labels.decode(self.predict_logits(texts, pairs).argmax(-1))


@dataclass
class Verification:
    texts: int
    max_abs_diff: float
    same_labels: bool
    label_agreement: float
    source: str

    def line(self) -> str:
        labels = "identical" if self.same_labels else f"{self.label_agreement:.2%} equal"
        return (f"onnxruntime vs textdistill on {self.texts:,} texts ({self.source}): max |logit difference| "
                f"{self.max_abs_diff:.2e}, labels {labels}")


def verify(path, student, texts, pairs=None, source: str = "texts") -> Verification:
    model = OnnxModel(path, student)
    ours = student.predict_logits(texts, pairs)
    theirs = model.predict_logits(texts, pairs)
    diff = float(np.abs(ours - theirs).max()) if len(texts) else 0.0
    agree = float((ours.argmax(-1) == theirs.argmax(-1)).mean()) if len(texts) else 1.0
    return Verification(len(texts), diff, agree == 1.0, agree, source)


def probe_texts(student, n: int = 300, seed: int = 0) -> list[str]:
    """Texts made of the vocabulary's own words (sequence students) or of common words and odd characters (any
    student), for verifying an export when no data file is given."""
    rng = np.random.default_rng(seed)
    words = list(getattr(getattr(student, "vocab", None), "words", [])[3:2000]) or (
        "the a film movie good bad great not very and but it is was this that plot story boring fun".split())
    odd = ["", "   ", "!!!", "<br />", "Café", "電影", "หนัง", "🎬", "\u200b", "ﬁ", "x" * 300]
    texts = [" ".join(rng.choice(words, int(rng.integers(1, 40)))) for _ in range(n)]
    return texts + odd


# -- writing ----------------------------------------------------------------------------------------------------
def export_onnx(student, out: str | Path, overwrite: bool = False, external_data: bool | None = None) -> list[Path]:
    """Write ``student`` (a Student or a model directory) as ONNX to ``out``; returns the files written.

    Written through a temporary directory and renamed: an interrupted export leaves nothing half-written. Weights
    over ~1.8 GB go to ``out + ".data"`` (ONNX external data; protobuf files stop at 2 GB) unless
    ``external_data`` says otherwise.
    """
    onnx = require("onnx", "onnx")
    student = _as_student(student)
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    if out.is_dir():
        raise ConfigError(f"{out} is a directory; --out names the .onnx file to write")
    model = build_onnx(student)
    size = sum(len(t.raw_data) for t in model.graph.initializer)
    external = size > EXTERNAL_DATA_BYTES if external_data is None else bool(external_data)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    written = [out]
    try:
        target = tmp / out.name
        if external:
            onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=out.name + ".data", size_threshold=1024)
            written.append(out.with_name(out.name + ".data"))
        else:
            onnx.save_model(model, str(target))
        onnx.checker.check_model(str(target))
        for path in reversed(written):  # the data file first: the .onnx never points at a missing one
            os.replace(tmp / path.name, path)
        stale = out.with_name(out.name + ".data")
        if not external and stale.exists() and overwrite:
            stale.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def _as_student(student):
    from ..students import Student

    if isinstance(student, (str, Path)):
        return Student.from_pretrained(student)
    if not isinstance(student, Student):
        raise ModelError(f"expected a Student or a model directory, got {type(student).__name__}")
    return student
