"""Tiny students built without torch (random weights over a fitted vocabulary) and a real server started on a free
loopback port, for the serving and export tests."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from textdistill.data.readers import LabelMap
from textdistill.featurizers.ngrams import NgramConfig, NgramFeaturizer
from textdistill.featurizers.words import WordConfig, WordVocab
from textdistill.students import BiLSTMStudent, CNNStudent, DANStudent

ROOT = Path(__file__).resolve().parent.parent
WORDS = ("good bad great awful fine dull fun boring film movie plot actor story scene joy waste not very the a and "
         "but really").split()
LABELS = ["negative", "neutral", "positive"]


def corpus(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(1, 14)))) for _ in range(n)]


def tricky_texts():
    """Texts that exercise the featurizer's corners next to ordinary ones."""
    return ["a great film", "Not GOOD, not bad!!!", "", "   ", "boring<br />plot", "the plot... really?", "café film",
            "ﬁlm ｇｏｏｄ", "電影很好看", "หนังดีมาก", "fun 🎬🎬 joy", "zero\u200bwidth joy", "tab\tand\nnewline good",
            "unknownword", "x" * 500, "good " * 200]


def tiny_dan(pair=False, dtype="float32", folded=False, buckets=0, dim=12, hidden=10, seed=0):
    rng = np.random.default_rng(seed)
    f = NgramFeaturizer(NgramConfig(max_n=3, min_count=1, buckets=buckets)).fit(corpus(), progress=False)
    rows = f.num_rows
    head_in = dim * (4 if pair else 1)
    weights = {"embedding": rng.normal(0, 1, (rows, dim)).astype(np.float32),
               "hidden.weight": rng.normal(0, 0.5, (hidden, head_in)).astype(np.float32),
               "hidden.bias": rng.normal(0, 0.1, hidden).astype(np.float32),
               "output.weight": rng.normal(0, 0.5, (len(LABELS), hidden)).astype(np.float32),
               "output.bias": rng.normal(0, 0.1, len(LABELS)).astype(np.float32)}
    student = DANStudent(f, weights, LabelMap(LABELS), pair=pair, metadata={
        "dev": {"n": 10, "accuracy": 0.7}, "teacher": {"path": "/somewhere/tiny-teacher", "fingerprint": "abc123"}})
    if folded or dtype != "float32":
        student = student.compressed(dtype=dtype, fold=folded)
    return student


def _sequence_weights(kind, vocab_size, dim, classes, pair, rng, lstm=6, filters=5, widths=(2, 3), hidden=7):
    w = {"embedding.weight": rng.normal(0, 1, (vocab_size, dim)).astype(np.float32)}
    if kind == "bilstm":
        for suffix in ("", "_reverse"):
            w[f"lstm.weight_ih_l0{suffix}"] = rng.normal(0, 0.4, (4 * lstm, dim)).astype(np.float32)
            w[f"lstm.weight_hh_l0{suffix}"] = rng.normal(0, 0.4, (4 * lstm, lstm)).astype(np.float32)
            w[f"lstm.bias_ih_l0{suffix}"] = rng.normal(0, 0.1, 4 * lstm).astype(np.float32)
            w[f"lstm.bias_hh_l0{suffix}"] = rng.normal(0, 0.1, 4 * lstm).astype(np.float32)
        feats = 2 * lstm
    else:
        for j, width in enumerate(widths):
            w[f"convs.{j}.weight"] = rng.normal(0, 0.4, (filters, dim, width)).astype(np.float32)
            w[f"convs.{j}.bias"] = rng.normal(0, 0.1, filters).astype(np.float32)
        feats = filters * len(widths)
    head_in = feats * (4 if pair else 1)
    w["hidden.weight"] = rng.normal(0, 0.4, (hidden, head_in)).astype(np.float32)
    w["hidden.bias"] = rng.normal(0, 0.1, hidden).astype(np.float32)
    w["output.weight"] = rng.normal(0, 0.4, (classes, hidden)).astype(np.float32)
    w["output.bias"] = rng.normal(0, 0.1, classes).astype(np.float32)
    return w


def tiny_sequence(kind, pair=False, seed=0, widths=(2, 3), max_tokens=40):
    rng = np.random.default_rng(seed)
    vocab = WordVocab.build(corpus(), WordConfig(max_tokens=max_tokens))
    weights = _sequence_weights(kind, len(vocab), 9, len(LABELS), pair, rng, widths=widths)
    if kind == "bilstm":
        return BiLSTMStudent(vocab, weights, LabelMap(LABELS), pair=pair)
    return CNNStudent(vocab, weights, LabelMap(LABELS), pair=pair, widths=widths)


# -- a real server ----------------------------------------------------------------------------------------------
class RunningServer:
    def __init__(self, args, env=None):
        full_env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
                        HF_HUB_OFFLINE="1", **(env or {}))
        self.cmd = [sys.executable, "-m", "textdistill.cli", "serve", *map(str, args), "--host", "127.0.0.1",
                    "--port", "0"]
        self.proc = subprocess.Popen(self.cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=full_env)
        self.lines: list[str] = []
        self.url = None
        deadline = time.time() + 90
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r" on http://([\d.]+):(\d+) ", line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                self.url = f"http://{self.host}:{self.port}"
                break
        if self.url is None:
            self.proc.kill()
            raise RuntimeError("server did not start: " + "".join(self.lines) + (self.proc.stderr.read() or ""))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_healthy()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_healthy(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                status, _ = self.get("/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server never became healthy: " + "".join(self.lines))

    def connection(self, timeout=30):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def get(self, path):
        conn = self.connection()
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def post(self, body, conn=None, path="/v1/predict", headers=None):
        """(status, parsed JSON) of one POST; ``body`` a dict (sent as JSON) or raw bytes."""
        own = conn is None
        conn = conn or self.connection()
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            r = conn.getresponse()
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
        finally:
            if own:
                conn.close()

    def stop(self, sig=None, timeout=60):
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
