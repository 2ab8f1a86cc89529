"""The prompted language-model teacher, served: any OpenAI-compatible endpoint (vLLM, llama.cpp's server, Ollama,
hosted APIs) answers each text's prompt; the soft label comes from the log-probabilities of the first answer token.

- ``api: chat`` (``/chat/completions`` with ``logprobs``/``top_logprobs``) or ``api: completions`` (``/completions``
  with ``logprobs``). A label's probability is the mass of the top tokens its verbalizer starts with; a server that
  returns no log-probabilities gives a hard label parsed from the answer text (counted as such), and an answer that
  names no label is recorded as unparsed: its text gets no teacher output, and a run with more than
  ``max_unparsed`` of them stops with a message instead of training on garbage.
- The API key comes from the environment variable ``api_key_env`` (default ``OPENAI_API_KEY``) at request time; it
  is never stored, logged or written anywhere.
- At most ``concurrency`` requests in flight, at most ``requests_per_minute`` started per minute, a ``timeout`` per
  request, retries with exponential backoff on timeouts, connection errors, 429 and 5xx (a ``Retry-After`` header
  is honoured).
- The output cache is written every ``2 x concurrency`` texts and on Ctrl-C, so a kill loses at most the requests
  in flight. The fingerprint covers the URL, the model name and the prompt; a remote model can change under the
  same name, which the teacher warns about when it is built.

A spec file::

    {"kind": "openai", "url": "http://localhost:8000/v1", "model": "Qwen/Qwen2.5-7B-Instruct",
     "template": "Review: {text}\\nIs this review positive or negative?", "verbalizers": {"pos": "positive",
     "neg": "negative"}, "concurrency": 16}
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, ModelError
from .base import PartialOutputs, checked_inputs, register_kind, unanswered
from .prompting import PromptSpec, fingerprint, spec_from

APIS = ("chat", "completions")
RETRY_STATUS = (408, 409, 425, 429, 500, 502, 503, 504)
HARD_MARGIN = math.log(0.01)  # a hard label's other classes, as logits


class TeacherGaveUp(ModelError):
    """The endpoint's answers cannot be trusted (too many unparsed): the finished ones travel with the error."""

    def __init__(self, message: str, done: np.ndarray, logits: np.ndarray):
        super().__init__(message)
        self.done, self.logits = done, logits


class RateLimiter:
    """At most ``per_minute`` request starts in any minute (evenly spaced), shared by the worker threads."""

    def __init__(self, per_minute: float | None):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        if start > now:
            time.sleep(start - now)


@register_kind
class EndpointTeacher:
    """Label texts with a served language model over the OpenAI API."""

    kind = "openai"
    task = "single-label"

    def __init__(self, url: str, model: str, spec: PromptSpec, *, api: str = "chat",
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8, requests_per_minute: float | None = None,
                 timeout: float = 60.0, retries: int = 6, top_logprobs: int = 20, max_tokens: int | None = None,
                 max_unparsed: float = 0.05, name: str | None = None, source: str | None = None, warn=None):
        if api not in APIS:
            raise ConfigError(f"api must be chat or completions, not {api!r}")
        if not str(url).startswith(("http://", "https://")):
            raise ConfigError(f"url must start with http:// or https://, not {url!r}")
        if concurrency < 1 or retries < 0 or timeout <= 0 or not 1 <= top_logprobs <= 20:
            raise ConfigError("concurrency must be >= 1, retries >= 0, timeout > 0, top_logprobs in 1..20")
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ConfigError(f"requests_per_minute must be > 0, got {requests_per_minute}")
        if not 0 <= max_unparsed <= 1:
            raise ConfigError(f"max_unparsed must be in [0, 1], got {max_unparsed}")
        self.url, self.model, self.spec, self.api = str(url).rstrip("/"), str(model), spec, api
        self.api_key_env = api_key_env
        self.concurrency, self.timeout, self.retries, self.top = int(concurrency), float(timeout), int(retries), \
            int(top_logprobs)
        self.max_tokens = max_tokens or 1 + max(len(w.split()) for ws in spec.verbalizers.values() for w in ws)
        self.max_unparsed = float(max_unparsed)
        self.limiter = RateLimiter(requests_per_minute)
        self.label_names = spec.labels
        self.num_labels = len(self.label_names)
        self.cache_chunk_size = 2 * self.concurrency  # a kill loses at most the requests in flight
        self.source = source or f"{self.url}#{self.model}"
        self.name = name or (Path(source).stem if source else self.model.split("/")[-1])
        self.fingerprint = fingerprint(self.kind, [self.url, self.model, api], spec,
                                       {"top_logprobs": self.top, "max_tokens": self.max_tokens})
        self.stats = {"requests": 0, "retries": 0, "soft": 0, "hard": 0, "unparsed": 0, "prompt_tokens": 0,
                      "completion_tokens": 0, "seconds": 0.0, "unparsed_examples": []}
        self._stats_lock = threading.Lock()
        (warn or _warn)(f"teacher {self.name}: answers are cached by URL, model name and prompt; a remote model "
                        f"can change under the same name (clear the cache of fingerprint {self.fingerprint[:12]} "
                        f"after it does)")

    @classmethod
    def from_spec(cls, spec: dict, base_dir: Path, source: str, **_):
        prompt, options = spec_from(spec, base_dir)
        missing = [k for k in ("url", "model") if not options.get(k)]
        if missing:
            raise ConfigError(f"teacher spec {source}: an openai teacher needs {' and '.join(map(repr, missing))}")
        if "api_key" in options:
            raise ConfigError(f"teacher spec {source}: never write an API key into a file; name the environment "
                              f"variable that holds it with \"api_key_env\"")
        try:
            return cls(options.pop("url"), options.pop("model"), prompt, source=source, **options)
        except TypeError as exc:
            raise ConfigError(f"teacher spec {source}: {exc}".replace("__init__() ", "")) from None

    def __repr__(self) -> str:
        return f"EndpointTeacher({self.url!r}, model={self.model!r}, api={self.api}, labels={self.label_names})"

    # -- the teacher protocol ---------------------------------------------------------------------------------------
    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *, progress: Any = False
               ) -> np.ndarray:
        """Per text, log-probabilities of each label (NaN rows for answers that name no label)."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        texts, pairs = checked_inputs(texts, pairs)
        out, done = unanswered(len(texts), self.num_labels)
        pool = ThreadPoolExecutor(self.concurrency)
        try:
            futures = {pool.submit(self.answer, t, None if pairs is None else pairs[i]): i for i, t in enumerate(texts)}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    i = futures[future]
                    out[i] = future.result()
                    done[i] = True
                    if progress is not False and progress is not None and hasattr(progress, "update"):
                        progress.update(1)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise PartialOutputs(done, out) from None
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        self._check_parsed(done, out)
        return out

    def _check_parsed(self, done: np.ndarray, out: np.ndarray) -> None:
        s = self.stats
        answered = s["soft"] + s["hard"] + s["unparsed"]
        if answered >= 20 and s["unparsed"] > self.max_unparsed * answered:
            shown = "; ".join(repr(a[:60]) for a in s["unparsed_examples"][:3])
            raise TeacherGaveUp(f"teacher {self.name}: {s['unparsed']:,} of {answered:,} answers "
                                f"({s['unparsed'] / answered:.0%}) name no label (e.g. {shown}); stopping rather "
                                f"than training on them: check the template and verbalizers with `textdistill "
                                f"teacher check`, or raise max_unparsed", done, out)

    # -- one request --------------------------------------------------------------------------------------------------
    def answer(self, text: str, pair: str | None = None) -> np.ndarray:
        """One text's label log-probabilities (NaN if the answer names no label)."""
        if self.api == "chat":
            body = {"model": self.model, "messages": self.spec.messages(text, pair), "temperature": 0,
                    "max_tokens": self.max_tokens, "logprobs": True, "top_logprobs": self.top}
            path = "/chat/completions"
        else:
            body = {"model": self.model, "prompt": self.spec.render(text, pair), "temperature": 0,
                    "max_tokens": self.max_tokens, "logprobs": self.top}
            path = "/completions"
        reply = self.post(path, body)
        return self.read_reply(reply)

    def read_reply(self, reply: dict) -> np.ndarray:
        """Label log-probabilities from a reply: soft from its top log-probabilities, else hard from its text."""
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] if self.api == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError):
            raise ModelError(f"teacher {self.name}: the server's reply has no answer ({str(reply)[:120]})") from None
        usage = reply.get("usage") or {}
        top = _top_logprobs(choice, self.api)
        scores = self.soft_label(top) if top else None
        kind = "soft"
        if scores is None:
            label = self.spec.parse(text or "")
            if label is None:
                kind, scores = "unparsed", np.full(self.num_labels, np.nan, dtype=np.float32)
            else:
                kind, scores = "hard", np.full(self.num_labels, HARD_MARGIN, dtype=np.float32)
                scores[label] = 0.0
        with self._stats_lock:
            self.stats[kind] += 1
            self.stats["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            self.stats["completion_tokens"] += int(usage.get("completion_tokens") or 0)
            examples = self.stats["unparsed_examples"]
            if kind == "unparsed" and len(examples) < 5 and str(text) not in examples:
                self.stats["unparsed_examples"].append(str(text))
        return scores

    def soft_label(self, top: dict[str, float]) -> np.ndarray | None:
        """Each label's log-probability: the mass of the top first tokens its verbalizer starts with (a token that
        starts several labels' verbalizers counts for none); a label with none gets less than the least likely top
        token. None when no top token starts any verbalizer."""
        words = [[" ".join(w.strip().lower().split()) for w in ws] for ws in self.spec.verbalizers.values()]
        mass = np.zeros(self.num_labels)
        for token, logprob in top.items():
            t = token.strip().lower()
            if not t:
                continue
            owners = [k for k, ws in enumerate(words) if any(w.startswith(t) for w in ws)]
            if len(owners) == 1:
                mass[owners[0]] += math.exp(logprob)
        if not mass.any():
            return None
        floor = 0.5 * math.exp(min(top.values()))
        return np.log(np.where(mass > 0, mass, floor)).astype(np.float32)

    def post(self, path: str, body: dict) -> dict:
        """POST JSON with retries; the parsed reply."""
        data = json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            self.limiter.wait()
            request = urllib.request.Request(self.url + path, data=data, method="POST",
                                             headers={"Content-Type": "application/json", **self._auth()})
            started = time.perf_counter()
            delay = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                self._count(time.perf_counter() - started)
                try:
                    return json.loads(raw)
                except ValueError:
                    problem = f"a reply that is not JSON ({raw[:80]!r})"
            except urllib.error.HTTPError as exc:
                self._count(time.perf_counter() - started)
                problem = f"HTTP {exc.code} {_error_text(exc)}"
                if exc.code not in RETRY_STATUS:
                    raise ModelError(f"teacher {self.name}: {self.url + path} answered {problem}") from None
                delay = _retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
                self._count(time.perf_counter() - started)
                problem = f"no answer ({getattr(exc, 'reason', None) or type(exc).__name__})"
            if attempt == self.retries:
                raise ModelError(f"teacher {self.name}: {self.url + path} gave {problem} {self.retries + 1} times; "
                                 f"giving up (texts answered so far are in the cache)")
            with self._stats_lock:
                self.stats["retries"] += 1
            time.sleep(delay if delay is not None else min(60.0, 0.5 * 2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _auth(self) -> dict:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _count(self, seconds: float) -> None:
        with self._stats_lock:
            self.stats["requests"] += 1
            self.stats["seconds"] += seconds


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, UserWarning, stacklevel=3)


def _top_logprobs(choice: dict, api: str) -> dict[str, float] | None:
    """{token: logprob} of the first answer position, or None when the server sent none."""
    logprobs = choice.get("logprobs")
    if not logprobs:
        return None
    try:
        if api == "chat":
            first = logprobs["content"][0]
            top = {e["token"]: float(e["logprob"]) for e in first.get("top_logprobs") or []}
            top.setdefault(first["token"], float(first["logprob"]))
        else:
            top = {k: float(v) for k, v in (logprobs["top_logprobs"][0] or {}).items()}
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return top or None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (a number of seconds or an HTTP date), capped at 5 minutes."""
    if not value:
        return None
    try:
        return min(300.0, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return min(300.0, max(0.0, when.timestamp() - time.time()))
    except (TypeError, ValueError):
        return None


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read() or b"{}")
        message = (data.get("error") or {}).get("message") if isinstance(data.get("error"), dict) else data.get("error")
        return f"({str(message)[:160]})" if message else ""
    except (ValueError, OSError):
        return ""
