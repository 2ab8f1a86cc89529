"""``textdistill serve``: saved students behind JSON over HTTP (FastAPI on uvicorn).

- ``POST /v1/predict`` ``{"texts": [...], "text_pairs"?: [...], "model"?: name, "probabilities"?: bool}`` ->
  ``{"labels": [...]}``, plus ``"probabilities"`` (one row per text, columns in the order of ``"classes"``) on request.
- ``GET /v1/models``: each model's labels, family, size, dev metrics and teacher. ``GET /health``: liveness and
  this worker's counters; ``GET /metrics``: the same and a latency histogram for Prometheus. OpenAPI at
  ``/openapi.json``, interactive docs at ``/docs``.

How a request is served: the body is read up to the size limit (a larger one is refused with 413 before it is
read), parsed with orjson and checked field by field, so every malformed request gets a 4xx with a one-line reason
and the server keeps serving. The texts then join their model's micro-batch: requests queued within
``batch_wait_ms`` of the first one (and those that arrive while a batch is being computed) are predicted together.
Prediction runs inline on the event loop: a DAN answers in microseconds per text, less than a hand-off to a thread
would cost. Parallelism comes from worker processes (``--workers``), which memory-map the same DAN table, so it is in
memory once however many workers serve it.

The predict route is a plain ASGI endpoint (FastAPI's per-request dependency solving and pydantic validation would
cost more than the model), documented in the OpenAPI schema from pydantic models. ``serve`` puts ``FastPath`` in
front of the FastAPI app, which hands ``POST /v1/predict`` to that endpoint before Starlette's middleware and
router (about half the server's CPU time per request goes there otherwise). Python's garbage collector is told to
leave the objects loaded at start-up alone (``gc.freeze``): a full collection would otherwise walk every loaded
library while requests wait, the main source of the latency tail under load.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import re
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import option
from ..errors import ConfigError, TextdistillError, check, require

ENV = "TEXTDISTILL_SERVE"  # how worker processes learn what to serve (JSON: models and settings)
FIELDS = ("texts", "text_pairs", "model", "probabilities")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass
class ServeConfig:
    """Settings of ``textdistill serve``; every field is a flag."""

    host: str = option("127.0.0.1", "Address to listen on (default 127.0.0.1; 0.0.0.0: every interface).")
    port: int = option(8000, "Port to listen on (default 8000; 0: a free port; the address is printed).")
    workers: int = option(1, "Worker processes (default 1). They memory-map the same DAN table: it is in memory once.")
    batch_wait_ms: float = option(2.0, "Longest a batch waits for requests still being received to join it (default "
                                       "2; a lone request never waits; 0: never wait).")
    max_batch: int = option(256, "Most texts predicted as one batch (default 256).")
    max_body: str = option("2MB", "Largest request body (default 2MB; e.g. 500KB; larger: 413).")
    max_texts: int = option(2048, "Most texts in one request (default 2048; more: 413).")
    graceful_timeout: float = option(30.0, "On SIGTERM or Ctrl-C: seconds in-flight requests get to finish "
                                           "(default 30).")
    access_log: bool = option(False, "Log every request (default off: it costs throughput).")
    log_level: str = option("warning", "Server log level: critical, error, warning (default), info or debug.")

    def __post_init__(self):
        from ..students.dan import parse_size

        check(isinstance(self.port, int) and 0 <= self.port <= 65535, f"port must be in 0..65535, got {self.port}")
        check(self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        check(self.batch_wait_ms >= 0, f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}")
        check(self.max_batch >= 1, f"max_batch must be >= 1, got {self.max_batch}")
        check(self.max_texts >= 1, f"max_texts must be >= 1, got {self.max_texts}")
        check(self.graceful_timeout >= 0, f"graceful_timeout must be >= 0, got {self.graceful_timeout}")
        check(self.log_level in LOG_LEVELS, f"log_level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        size = parse_size(self.max_body)
        check(size is not None and size >= 64, f"max_body must be at least 64 bytes, got {self.max_body!r}")

    @property
    def max_body_bytes(self) -> int:
        from ..students.dan import parse_size

        return int(parse_size(self.max_body))


class RequestError(Exception):
    """A request the server refuses: an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str, close: bool = False):
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


class ClientGone(Exception):
    """The client disconnected before its request was read."""


# -- the models -------------------------------------------------------------------------------------------------
def model_specs(models) -> list[tuple[str, Any]]:
    """``[(name, path or Student)]`` from what a user passes: paths (``name=path`` names one), a dict
    ``{name: path or Student}``, or Student objects. Names default to the directory's name and must be unique."""
    from ..students import Student

    if isinstance(models, (str, Path, Student)):
        models = [models]
    items = list(models.items()) if isinstance(models, dict) else list(models)
    specs: list[tuple[str, Any]] = []
    for item in items:
        if isinstance(item, tuple):
            name, target = item
        elif isinstance(item, Student):
            name, target = f"model{len(specs) + 1}" if len(items) > 1 else "model", item
        else:
            text = str(item)
            name, sep, rest = text.partition("=")
            if sep and _NAME.match(name) and not Path(text).exists():
                target = Path(rest)
            else:
                target = Path(text)
                name = target.resolve().name if target.name in ("", ".", "..") else target.name
        name = str(name)
        if not _NAME.match(name):
            raise ConfigError(f"model name {name!r}: use letters, digits, '_', '.' and '-' (name=path names a model)")
        if any(name == n for n, _ in specs):
            raise ConfigError(f"two models are named {name!r}; name them apart with name=path")
        specs.append((name, target))
    if not specs:
        raise ConfigError("no model to serve")
    return specs


def teacher_summary(meta: dict):
    """The teacher(s) a student learned from, as /v1/models shows them (names and fingerprints, not paths)."""
    one = meta.get("teacher")
    if isinstance(one, dict):
        return {"name": Path(str(one.get("path", ""))).name or None, "fingerprint": one.get("fingerprint")}
    several = meta.get("teachers")
    if isinstance(several, list) and several:
        return [{"name": t.get("name"), "fingerprint": t.get("fingerprint")} for t in several if isinstance(t, dict)]
    return None


class ServedModel:
    """One model as the server holds it: the student, its answers' label names and its /v1/models entry."""

    def __init__(self, name: str, student, path: Path | None = None):
        from ..evaluation.speed import dir_size

        self.name, self.student, self.path = name, student, path
        self.classes = list(student.classes_)
        self.pair = bool(getattr(student, "pair", False))
        meta = student.metadata or {}
        describe = getattr(student, "describe", None)
        self.info = {
            "name": name, "family": student.student_type, "labels": self.classes, "pair": self.pair,
            "task": student.task.name,
            "size_bytes": dir_size(path) if path is not None else None,
            "description": describe() if callable(describe) else None,
            "dev": meta.get("dev"), "teacher_dev": meta.get("teacher_dev"), "teacher": teacher_summary(meta),
            "teacher_strategy": meta.get("teacher_strategy"),
            "compiled": bool(getattr(student, "compiled", False)),
        }
        self.batcher: MicroBatcher | None = None

    def predict_logits(self, texts: list[str], pairs: list[str] | None) -> np.ndarray:
        return self.student.predict_logits(texts, pairs)

    def answer(self, logits: np.ndarray, probabilities: bool) -> dict:
        """{"labels": a label per text (multi-label: a list of labels per text), "probabilities" and "classes"
        when asked (multi-label: each label's own probability)."""
        classes, student = self.classes, self.student
        if student.multi_label:
            labels = student.task.decode(classes, student.decide(logits))
        else:
            labels = [classes[i] for i in logits.argmax(axis=1).tolist()]
        out: dict = {"labels": labels}
        if probabilities:
            out["probabilities"] = student.task.probabilities(np.array(logits, dtype=np.float32))
            out["classes"] = classes
        return out


def load_models(models) -> list[ServedModel]:
    from ..students import Student

    served = []
    for name, target in model_specs(models):
        if isinstance(target, Student):
            served.append(ServedModel(name, target))
        else:
            served.append(ServedModel(name, Student.from_pretrained(target), Path(target)))
    return served


# -- micro-batching ---------------------------------------------------------------------------------------------
class MicroBatcher:
    """Collects the texts of concurrent requests to one model and predicts them as one batch, on the event loop.

    A request queues its texts and awaits a future. The batch is flushed on the loop's next pass (so the requests
    read in the same pass join it), except while other requests are still being received: then it waits for them,
    at most ``wait_s``. A batch that reaches ``max_batch`` texts is flushed at once. A lone request never waits. If
    a batch fails, its requests are predicted one by one, so only a request that itself fails gets the error.
    """

    def __init__(self, model: ServedModel, wait_s: float, max_batch: int, stats: "Stats"):
        self.model, self.wait_s, self.max_batch, self.stats = model, wait_s, max_batch, stats
        self._queue: list[tuple[list[str], list[str] | None, asyncio.Future]] = []
        self._queued = 0
        self._handle: asyncio.Handle | None = None
        self._delayed = False

    def submit(self, texts: list[str], pairs: list[str] | None, others_arriving: bool = False) -> asyncio.Future:
        """Queue a request; ``others_arriving``: requests are being received now and may join the batch."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((texts, pairs, future))
        self._queued += len(texts)
        if self._queued >= self.max_batch:
            self.expedite()
        elif self._handle is None:
            self._delayed = others_arriving and self.wait_s > 0
            self._handle = loop.call_later(self.wait_s, self.flush) if self._delayed else loop.call_soon(self.flush)
        return future

    @property
    def waiting(self) -> bool:
        """True while a batch waits for requests still being received."""
        return self._delayed

    def expedite(self) -> None:
        """Flush on the loop's next pass instead of waiting (the batch is full, or nobody else is arriving)."""
        if self._handle is not None and not self._delayed:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._delayed = False
        self._handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._handle = None
        self._delayed = False
        while self._queue:
            take, count = 0, 0
            while take < len(self._queue) and (take == 0 or count + len(self._queue[take][0]) <= self.max_batch):
                count += len(self._queue[take][0])
                take += 1
            batch, self._queue = self._queue[:take], self._queue[take:]
            self._queued -= count
            self._run(batch)

    def _run(self, batch) -> None:
        live = [item for item in batch if not item[2].done()]  # a cancelled request is not predicted
        if not live:
            return
        texts = [t for item in live for t in item[0]] if len(live) > 1 else live[0][0]
        pairs = None
        if self.model.pair:
            pairs = [p for item in live for p in item[1]] if len(live) > 1 else live[0][1]
        self.stats.batches += 1
        self.stats.batched_texts += len(texts)
        try:
            logits = self.model.predict_logits(texts, pairs)
        except Exception as exc:  # noqa: BLE001 - each request gets its own answer below
            if len(live) == 1:
                live[0][2].set_exception(exc)
                return
            for item in live:
                self._run([item])
            return
        start = 0
        for item_texts, _, future in live:
            end = start + len(item_texts)
            future.set_result(logits[start:end])
            start = end


# -- requests ---------------------------------------------------------------------------------------------------
def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _string_list(payload: dict, key: str, limit: int) -> list[str]:
    value = payload[key]
    if not isinstance(value, list):
        raise RequestError(422, f"'{key}' must be a list of strings, not {json_type(value)}")
    if not value:
        raise RequestError(422, f"'{key}' is empty: send at least one text")
    if len(value) > limit:
        raise RequestError(413, f"{len(value):,} texts in one request; the limit is {limit:,} (--max-texts)")
    if not all(type(t) is str for t in value):
        bad = next(i for i, t in enumerate(value) if type(t) is not str)
        raise RequestError(422, f"{key}[{bad}] is {json_type(value[bad])}, not a string")
    return value


LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Stats:
    """Counters of one worker process (GET /health as JSON, GET /metrics for Prometheus)."""

    def __init__(self):
        self.started = time.time()
        self.requests = self.texts = self.batches = self.batched_texts = self.rejected = self.failed = 0
        self.statuses: dict[int, int] = {}
        self.per_model: dict[str, list[int]] = {}  # name -> [requests, texts]
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0

    def observe(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def count(self, model: str, texts: int) -> None:
        row = self.per_model.setdefault(model, [0, 0])
        row[0] += 1
        row[1] += texts
        self.texts += texts

    def to_dict(self) -> dict:
        return {"pid": os.getpid(), "uptime_s": round(time.time() - self.started, 3), "requests": self.requests,
                "texts": self.texts, "batches": self.batches,
                "mean_batch": round(self.batched_texts / self.batches, 2) if self.batches else None,
                "rejected": self.rejected, "failed": self.failed}

    def prometheus(self) -> str:
        """This worker's counters in the Prometheus text format (each worker keeps its own: label ``pid``)."""
        pid = os.getpid()
        out = []

        def metric(name, kind, help_, samples):
            out.append(f"# HELP textdistill_{name} {help_}")
            out.append(f"# TYPE textdistill_{name} {kind}")
            for labels, value in samples:
                shown = ",".join(f'{k}="{v}"' for k, v in {"pid": pid, **labels}.items())
                out.append(f"textdistill_{name}{{{shown}}} {value}")

        metric("requests_total", "counter", "Predict requests by HTTP status.",
               [({"status": k}, v) for k, v in sorted(self.statuses.items())])
        metric("model_requests_total", "counter", "Predict requests answered, by model.",
               [({"model": m}, v[0]) for m, v in sorted(self.per_model.items())])
        metric("model_texts_total", "counter", "Texts classified, by model.",
               [({"model": m}, v[1]) for m, v in sorted(self.per_model.items())])
        metric("batches_total", "counter", "Batches predicted (concurrent requests share one).", [({}, self.batches)])
        metric("batched_texts_total", "counter", "Texts in those batches.", [({}, self.batched_texts)])
        cumulative, samples = 0, []
        for bound, n in zip((*LATENCY_BUCKETS, "+Inf"), self.buckets):
            cumulative += n
            samples.append(({"le": bound}, cumulative))
        metric("request_seconds", "histogram", "Predict request latency in the server (body read to answer sent).",
               [])
        for labels, value in samples:
            out.append(f'textdistill_request_seconds_bucket{{pid="{pid}",le="{labels["le"]}"}} {value}')
        out.append(f'textdistill_request_seconds_sum{{pid="{pid}"}} {self.latency_sum}')
        out.append(f'textdistill_request_seconds_count{{pid="{pid}"}} {cumulative}')
        metric("uptime_seconds", "gauge", "Seconds since this worker started.",
               [({}, round(time.time() - self.started, 3))])
        return "\n".join(out) + "\n"


class Service:
    """What one worker serves: the models, the limits, the counters; turns a request body into an answer."""

    def __init__(self, models: list[ServedModel], config: ServeConfig):
        self.models = {m.name: m for m in models}
        self.default = models[0]
        self.config = config
        self.max_body = config.max_body_bytes
        self.stats = Stats()
        self.receiving = 0
        for m in models:
            m.batcher = MicroBatcher(m, config.batch_wait_ms / 1000.0, config.max_batch, self.stats)

    def parse(self, body: bytes) -> tuple[ServedModel, list[str], list[str] | None, bool]:
        import orjson

        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "not JSON"
            raise RequestError(400, f"malformed JSON: {reason}" if body.strip() else "empty body: send a JSON "
                               "object like {\"texts\": [\"...\"]}") from None
        if not isinstance(payload, dict):
            raise RequestError(422, f"the body must be a JSON object like {{\"texts\": [\"...\"]}}, not "
                               f"{json_type(payload)}")
        unknown = [k for k in payload if k not in FIELDS]
        if unknown:
            raise RequestError(422, f"unknown field {unknown[0]!r} (expected: {', '.join(FIELDS)})")
        name = payload.get("model")
        if name is None:
            model = self.default
        elif not isinstance(name, str):
            raise RequestError(422, f"'model' must be a string, not {json_type(name)}")
        elif name not in self.models:
            raise RequestError(404, f"unknown model {name!r} (serving: {', '.join(self.models)})")
        else:
            model = self.models[name]
        if "texts" not in payload:
            raise RequestError(422, "missing field 'texts' (a list of strings)")
        texts = _string_list(payload, "texts", self.config.max_texts)
        pairs = None
        if payload.get("text_pairs") is not None:
            if not model.pair:
                raise RequestError(422, f"model {model.name!r} classifies single texts; drop 'text_pairs'")
            pairs = _string_list(payload, "text_pairs", self.config.max_texts)
            if len(pairs) != len(texts):
                raise RequestError(422, f"{len(texts)} texts but {len(pairs)} text_pairs: send one pair per text")
        elif model.pair:
            raise RequestError(422, f"model {model.name!r} classifies text pairs: send 'text_pairs' (one per text)")
        proba = payload.get("probabilities", False)
        if not isinstance(proba, bool):
            raise RequestError(422, f"'probabilities' must be true or false, not {json_type(proba)}")
        return model, texts, pairs, proba

    async def predict(self, scope, receive) -> dict:
        """Read, check and queue one request (``receiving`` counts the requests between arrival and queueing: a
        batch waits for them), then answer it."""
        self.receiving += 1
        try:
            body = await read_body(scope, receive, self.max_body)
            model, texts, pairs, proba = self.parse(body)
            self.stats.count(model.name, len(texts))
            future = model.batcher.submit(texts, pairs, others_arriving=self.receiving > 1)
        finally:
            self.receiving -= 1
            if self.receiving == 0:
                for m in self.models.values():
                    if m.batcher.waiting:
                        m.batcher.expedite()
        return model.answer(await future, proba)

    def warm_up(self) -> None:
        """One prediction per model, so the first request does not pay for loading the compiled kernels."""
        for m in self.models.values():
            m.predict_logits(["warm up"], ["warm up"] if m.pair else None)

    def flush_all(self) -> None:
        for m in self.models.values():
            m.batcher.flush()


async def _drain(receive, cap: int) -> bool:
    """Read and drop the rest of a body (at most ``cap`` bytes), so the client can read its 413 and the connection
    stays usable; False when the body is longer than that (the connection is then closed)."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
        if size > cap:
            return False


async def read_body(scope, receive, limit: int) -> bytes:
    """The request body, refused with 413 past ``limit`` bytes (by its Content-Length before reading it).

    A body up to a few times the limit is read and dropped before the 413 is sent (what a client that writes its
    whole body before reading expects); a longer one is not read at all and the connection is closed.
    """
    cap = max(4 * limit, 16 << 20)
    declared, expects_continue, encoding = None, False, b"identity"
    for key, value in scope.get("headers", ()):
        if key == b"content-encoding":
            encoding = value.strip().lower()
            if encoding not in (b"gzip", b"identity"):
                raise RequestError(415, f"Content-Encoding {value.decode('latin-1')!r} is not supported: send the "
                                   f"body as is or gzip-compressed", close=True)
        elif key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise RequestError(400, "Content-Length is not a number", close=True) from None
        elif key == b"expect" and value.lower() == b"100-continue":
            expects_continue = True
    if declared is not None and declared > limit:
        # a client waiting for "100 Continue" (curl, for large bodies) is told at once and never sends the body
        drained = not expects_continue and declared <= cap and await _drain(receive, cap)
        raise RequestError(413, f"request body of {declared:,} bytes; the limit is {limit:,} (--max-body)",
                           close=not drained)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            drained = not message.get("more_body", False) or await _drain(receive, cap)
            raise RequestError(413, f"request body over the limit of {limit:,} bytes (--max-body)", close=not drained)
        chunks.append(chunk)
        if not message.get("more_body", False):
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            return gunzip_body(body, limit) if encoding == b"gzip" else body


def gunzip_body(body: bytes, limit: int) -> bytes:
    """A gzip-encoded request body, decompressed; 400 if it is not gzip, 413 past ``limit`` bytes decompressed."""
    import zlib

    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise RequestError(400, f"Content-Encoding gzip but the body is not gzip data ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise RequestError(413, f"request body over the limit of {limit:,} bytes once decompressed (--max-body)")
    return out


async def send_json(send, status: int, data, close: bool = False) -> None:
    import orjson

    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class PredictEndpoint:
    """POST /v1/predict as a plain ASGI app (routed by Starlette, no per-request dependency solving)."""

    def __init__(self, service: Service):
        self.service = service

    async def __call__(self, scope, receive, send) -> None:
        service = self.service
        stats = service.stats
        stats.requests += 1
        started = time.perf_counter()
        try:
            answer = await service.predict(scope, receive)
        except ClientGone:
            return
        except RequestError as exc:
            stats.rejected += 1
            status, answer, close = exc.status, {"error": exc.message}, exc.close
        except TextdistillError as exc:  # e.g. a text the student refuses
            stats.rejected += 1
            status, answer, close = 422, {"error": str(exc).splitlines()[0]}, False
        except Exception as exc:  # noqa: BLE001 - one line to the client and the log; the server keeps serving
            stats.failed += 1
            _log(f"error: predict failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            status, answer, close = 500, {"error": f"internal error ({type(exc).__name__})"}, False
        else:
            status, close = 200, False
        await send_json(send, status, answer, close=close)
        stats.observe(status, time.perf_counter() - started)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the app ----------------------------------------------------------------------------------------------------
def _openapi_models():
    from pydantic import BaseModel, Field

    class PredictRequest(BaseModel):
        texts: list[str] = Field(..., min_length=1, description="Texts to classify.",
                                 examples=[["a gripping, beautifully shot film"]])
        text_pairs: list[str] | None = Field(None, description="The second text of each pair (pair models only).")
        model: str | None = Field(None, description="Which served model answers (default: the first).")
        probabilities: bool = Field(False, description="Also return class probabilities.")

    class PredictResponse(BaseModel):
        labels: list[str] | list[list[str]] = Field(..., description="The predicted label of each text (a "
                                                    "multi-label model: the list of each text's labels).")
        probabilities: list[list[float]] | None = Field(None, description="Per text, the probability of each class "
                                                        "in the order of 'classes' (when asked for; multi-label: "
                                                        "each label's own probability).")
        classes: list[str] | None = Field(None, description="Column order of 'probabilities'.")

    class ErrorResponse(BaseModel):
        error: str = Field(..., description="What is wrong with the request, in one line.")

    return PredictRequest, PredictResponse, ErrorResponse


def create_app(models, config: ServeConfig | None = None):
    """A FastAPI app serving ``models`` (paths, ``name=path``, a dict of names to paths or Students, or Students).

    Run it with any ASGI server, or use ``serve()``. The first model answers requests that name none.
    """
    fastapi = require("fastapi", "serve")
    require("orjson", "serve")
    from contextlib import asynccontextmanager

    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.exceptions import HTTPException
    from starlette.routing import Route

    from .. import __version__

    config = config or ServeConfig()
    served = models if models and all(isinstance(m, ServedModel) for m in models) else load_models(models)
    service = Service(served, config)

    @asynccontextmanager
    async def lifespan(app):
        import gc

        service.warm_up()
        gc.collect()
        gc.freeze()  # what is loaded now lives as long as the server: no collection pass walks it again
        if config.workers > 1 or config.log_level in ("info", "debug"):
            _log(f"[{os.getpid()}] ready")
        yield
        service.flush_all()

    app = fastapi.FastAPI(title="textdistill", version=__version__, lifespan=lifespan,
                          description="Fast text classifiers distilled from transformers: POST texts to "
                                      "/v1/predict.")
    app.state.service = service
    app.router.routes.append(Route("/v1/predict", PredictEndpoint(service), methods=["POST"]))

    @app.get("/health", summary="Liveness and this worker's counters")
    async def health():
        return {"status": "ok", "models": list(service.models), **service.stats.to_dict()}

    @app.get("/metrics", summary="This worker's counters in the Prometheus text format",
             response_class=PlainTextResponse)
    async def metrics():
        return PlainTextResponse(service.stats.prometheus(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", summary="The served models: labels, family, size, dev metrics, teacher")
    async def list_models():
        return {"default": service.default.name, "models": [m.info for m in service.models.values()]}

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422)

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        request, response, error = _openapi_models()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (request, response, error):
            components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")

        def ref(model):
            return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}

        schema["paths"]["/v1/predict"] = {"post": {
            "summary": "Classify texts", "operationId": "predict",
            "description": "Labels for texts (and text pairs), with probabilities on request. Concurrent requests "
                           "are micro-batched.",
            "requestBody": {"required": True, **ref(request)},
            "responses": {"200": {"description": "The labels", **ref(response)},
                          "400": {"description": "Malformed JSON", **ref(error)},
                          "404": {"description": "Unknown model", **ref(error)},
                          "413": {"description": "Body or number of texts over the limit", **ref(error)},
                          "422": {"description": "Missing field, wrong type, text that is not a string",
                                  **ref(error)}}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
    return app


class FastPath:
    """ASGI wrapper that hands ``POST /v1/predict`` straight to its endpoint, around Starlette's middleware and
    router (the endpoint answers every error itself); everything else goes to the app."""

    def __init__(self, app):
        self.app = app
        self.endpoint = PredictEndpoint(app.state.service)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/v1/predict" and scope["method"] == "POST":
            return await self.endpoint(scope, receive, send)
        return await self.app(scope, receive, send)


def app_from_environment():
    """The app of a worker process (uvicorn factory): what to serve comes from ``$TEXTDISTILL_SERVE``."""
    spec = json.loads(os.environ[ENV])
    config = ServeConfig(**spec["config"])
    return FastPath(create_app([(name, Path(path)) for name, path in spec["models"]], config))


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is a one-line error and port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(models, config: ServeConfig | None = None, log=_log, ready=None) -> None:
    """Serve ``models`` over HTTP until SIGTERM or Ctrl-C, then finish the requests in flight and return.

    ``ready(url)`` is called once the socket listens (before the workers have loaded the models).
    """
    uvicorn = require("uvicorn", "serve")
    require("fastapi", "serve")
    require("orjson", "serve")
    config = config or ServeConfig()
    served = load_models(models)  # a broken model directory fails here, in one line, before anything starts
    for m in served:
        if m.path is None and config.workers > 1:
            raise ConfigError("several workers load models from their directories: pass paths, not Student objects")
    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    options = dict(log_level=config.log_level, access_log=config.access_log, lifespan="on",
                   timeout_graceful_shutdown=config.graceful_timeout, server_header=False)
    names = ", ".join(f"{m.name} ({m.student.student_type}, {len(m.classes)} labels)" for m in served)
    log(f"serving {names} on {url} with {config.workers} worker{'s' if config.workers > 1 else ''}; "
        f"API docs at {url}/docs")
    if ready is not None:
        ready(url)
    import signal

    # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal; a no-op handler underneath lets this
    # function return (and the command exit 0) after a graceful stop.
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: None)
    try:
        if config.workers == 1:
            app = FastPath(create_app(served, config))
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            os.environ[ENV] = json.dumps({"models": [[m.name, str(m.path)] for m in served],
                                          "config": asdict(config)})
            uconfig = uvicorn.Config("textdistill.serving.http:app_from_environment", factory=True,
                                     workers=config.workers, **options)
            Multiprocess(uconfig, sockets=[sock]).run()
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log("server stopped")
