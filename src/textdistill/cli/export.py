"""``textdistill export``: a saved student as an ONNX file (verified against onnxruntime) and its featurizer's
specification (JSON with test vectors), for runtimes other than Python."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import PairCol, TextCol, load_student, say

FORMATS = ("onnx", "spec")


def spec_path(onnx_path: Path) -> Path:
    """student.onnx -> student.featurizer.json"""
    return onnx_path.with_name(onnx_path.stem + ".featurizer.json")


def export(
    model: Path = typer.Argument(..., help="A saved student directory (dan, bilstm or cnn)."),
    format: str = typer.Option("onnx", "--format", help="onnx: the model as an ONNX graph (+ the featurizer "
                               "specification beside it); spec: only the featurizer specification (JSON)."),
    out: Path = typer.Option(..., help="File to write: F.onnx (onnx) or F.json (spec)."),
    data: Optional[Path] = typer.Option(None, help="Texts to verify the ONNX file on (any supported data file; "
                                        "default: texts made of the model's vocabulary and odd characters)."),
    limit: int = typer.Option(2000, help="Verify on at most this many texts of --data."),
    spec: bool = typer.Option(True, "--spec/--no-spec", help="With --format onnx, also write the featurizer "
                              "specification as OUT's name + .featurizer.json."),
    external_data: Optional[bool] = typer.Option(None, "--external-data/--no-external-data", help="Weights in a "
                                                 "side file OUT.data (default: only when over 1.8 GB, as protobuf "
                                                 "files stop at 2 GB)."),
    overwrite: bool = typer.Option(False, help="Replace existing output files."),
    text_column: Optional[str] = TextCol, pair_column: Optional[str] = PairCol,
):
    """Export a student: ONNX (verified against onnxruntime: max |logit difference| <= 1e-4, same labels) or the
    featurizer's specification."""
    from ..errors import ConfigError, ModelError, check
    from ..serving.spec import write_spec

    check(format in FORMATS, f"--format must be onnx or spec, not {format!r}")
    check(limit >= 1, "--limit must be >= 1")
    student = load_student(model)
    if format == "spec":
        write_spec(student, out, overwrite=overwrite)
        say(f"wrote {out}: the {student.student_type} featurizer's specification with test vectors")
        return
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"--out {out}: name the ONNX file with a .onnx suffix")
    side = spec_path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    if spec and side.exists() and not overwrite:
        raise ConfigError(f"{side} exists; pass --overwrite to replace it")
    from ..serving.onnx import TOLERANCE, export_onnx, probe_texts, verify

    texts, pairs, source = None, None, "texts made of the vocabulary"
    if data is not None:
        from ..data.readers import read_dataset

        ds = read_dataset(data, text=text_column, text_pair=pair_column, label=None, limit=limit,
                          allow_empty_text=True)
        if bool(student.pair) != (ds.pairs is not None):
            raise ConfigError(f"{data}: the student classifies {'text pairs' if student.pair else 'single texts'} "
                              f"but the file has {'pairs' if ds.pairs is not None else 'single texts'}")
        texts, pairs, source = ds.texts, ds.pairs, str(data)
    else:
        texts = probe_texts(student)
        pairs = list(reversed(texts)) if student.pair else None
    written = export_onnx(student, out, overwrite=overwrite, external_data=external_data)
    result = verify(out, student, texts, pairs, source=source)
    if result.max_abs_diff > TOLERANCE or not result.same_labels:
        for path in written:
            path.unlink(missing_ok=True)
        raise ModelError(f"the ONNX graph does not reproduce {model}: {result.line()} (files removed)")
    size = sum(p.stat().st_size for p in written)
    say(f"wrote {', '.join(map(str, written))} ({size / 1e6:,.1f} MB)")
    say(result.line())
    rates = _rates(out, student, texts, pairs)
    say(f"texts/s at batch 32 on {rates['n']:,} texts, one thread, model only: onnxruntime {rates['onnx']:,.0f}, "
        f"textdistill {rates['numpy']:,.0f}")
    if spec:
        write_spec(student, side, overwrite=True)
        say(f"wrote {side}: how texts become the graph's inputs (featurizer specification and test vectors)")


def _rates(path, student, texts, pairs, batch_size=32) -> dict:
    """Model-only texts/s of the ONNX graph and of the student's own runtime on the same features."""
    from ..evaluation.speed import timed_rate
    from ..serving.onnx import OnnxModel, onnx_inputs

    texts = texts[:2000]
    pairs = None if pairs is None else pairs[:2000]
    n = len(texts)
    model = OnnxModel(path, student)
    spans = [(i, min(n, i + batch_size)) for i in range(0, n, batch_size)]
    feeds = {s: onnx_inputs(student, texts[s[0]:s[1]], None if pairs is None else pairs[s[0]:s[1]]) for s in spans}
    feats = {s: student.featurize(texts[s[0]:s[1]], None if pairs is None else pairs[s[0]:s[1]]) for s in spans}
    onnx_rate = timed_rate(lambda a, b: model.logits_from_feeds(feeds[(a, b)]), n, batch_size, 3, 10)
    numpy_rate = timed_rate(lambda a, b: student.logits_from_features(feats[(a, b)]), n, batch_size, 3, 10)
    return {"n": n, "onnx": onnx_rate["texts_per_s"], "numpy": numpy_rate["texts_per_s"]}
