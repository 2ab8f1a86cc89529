"""Load test of ``textdistill serve`` (a committed script, not a unit test).

Starts a server on 127.0.0.1 (a free port) for a saved student, then drives it with closed-loop clients over
keep-alive HTTP/1.1 connections (asyncio, one process): concurrency 1, 16 and 64, single texts and batches of 32,
``--duration`` seconds each (and at most ``--max-requests`` requests). Every answer is checked against the same
student's in-process predictions. A last phase mixes 1,000 malformed requests (bad JSON, missing fields, wrong
types, texts that are not strings, oversized bodies, unknown models, ...) into 64 clients' single-text load: each
must get its 4xx, every valid request its right answer, and no worker may die (the worker pids are compared).
The in-process batch-32 throughput of the same student is measured first, in this process.

    python benchmarks/serve_load.py run --model runs/serve/sst2-dan [--workers 1] [--duration 30]
    python benchmarks/serve_load.py table      # docs/serving.md section + plot from benchmarks/results/serve-load.json

Run it on a quiet machine, under the CPU lock: ``flock /tmp/textdistill-cpu2.lock python benchmarks/...``.
The load generator shares the machine with the server; its CPU time is reported next to the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
RESULTS = ROOT / "benchmarks" / "results" / "serve-load.json"
PLOT = ROOT / "benchmarks" / "results" / "serve-load.png"
DATA = ROOT.parent / "shared" / "data" / "sst2"


# -- texts and expected answers ---------------------------------------------------------------------------------
def load_texts(limit: int) -> list[str]:
    from textdistill.data.readers import read_dataset

    texts = []
    for name in ("dev.tsv.gz", "test_unlabeled.tsv.gz"):
        path = DATA / name
        if path.is_file():
            texts += read_dataset(path, label=None).texts
    if not texts:
        raise SystemExit(f"no texts: {DATA} is missing")
    return texts[:limit]


def in_process_rates(model_dir: Path, texts: list[str]) -> dict:
    from textdistill.evaluation.speed import student_speed
    from textdistill.students import Student

    student = Student.from_pretrained(model_dir)
    n = min(len(texts), 2000)
    b32 = student_speed(student, texts[:n], batch_size=32, repeats=5)
    b1 = student_speed(student, texts[:500], batch_size=1, repeats=3)
    meta = student.metadata or {}
    trained = {"train_file": meta.get("train_file"), "transfer_texts": meta.get("transfer_texts"),
               "teacher": (meta.get("teacher") or {}).get("path"), "dev_accuracy": (meta.get("dev") or {}).get(
                   "accuracy")}
    return {"batch_32_end_to_end": b32["end_to_end"]["texts_per_s"], "batch_32_runs": b32["end_to_end"]["runs"],
            "trained": trained,
            "batch_1_end_to_end": b1["end_to_end"]["texts_per_s"], "n": n,
            "labels": student.predict(texts), "describe": student.describe() if hasattr(student, "describe") else "",
            "family": student.student_type}


# -- the machine ------------------------------------------------------------------------------------------------
def machine_state() -> dict:
    import psutil

    procs = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            p.cpu_percent(None)
            procs.append(p)
        except psutil.Error:
            pass
    time.sleep(1.0)
    busy = []
    me = os.getpid()
    for p in procs:
        try:
            cpu = p.cpu_percent(None)
        except psutil.Error:
            continue
        if cpu >= 5 and p.pid != me:
            cmd = " ".join(p.info["cmdline"] or [p.info["name"] or ""])[:160]
            busy.append({"pid": p.pid, "cpu_percent": round(cpu, 1), "cmd": cmd})
    return {"loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()], "busy_processes": busy,
            "time": datetime.datetime.now().isoformat(timespec="seconds")}


# -- the server -------------------------------------------------------------------------------------------------
class Server:
    def __init__(self, model: Path, workers: int, wait_ms: float, max_body: str, max_texts: int):
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), HF_HUB_OFFLINE="1")
        self.cmd = [sys.executable, "-m", "textdistill.cli", "serve", str(model), "--host", "127.0.0.1", "--port",
                    "0", "--workers", str(workers), "--batch-wait-ms", str(wait_ms), "--max-body", max_body,
                    "--max-texts", str(max_texts)]
        self.proc = subprocess.Popen(self.cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
        self.workers = workers
        self.url = None
        self.log: list[str] = []
        ready = 0
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise SystemExit(f"server exited: {''.join(self.log)}")
            self.log.append(line)
            m = re.search(r"on (http://[\d.]+:\d+)", line)
            if m:
                self.url = m.group(1)
                if workers == 1:
                    break
            if "ready" in line:
                ready += 1
                if ready >= workers:
                    break
        host, port = self.url[len("http://"):].split(":")
        self.host, self.port = host, int(port)
        import threading

        threading.Thread(target=self._drain, daemon=True).start()
        self.wait_healthy()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def wait_healthy(self):
        import urllib.request

        for _ in range(600):
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("server never became healthy")

    def worker_pids(self) -> list[int]:
        import psutil

        if self.workers == 1:
            return [self.proc.pid]
        return sorted(c.pid for c in psutil.Process(self.proc.pid).children() if "spawn_main" in " ".join(c.cmdline()))

    def cpu_seconds(self) -> float:
        import psutil

        p = psutil.Process(self.proc.pid)
        total = sum(p.cpu_times()[:2])
        for c in p.children(recursive=True):
            try:
                total += sum(c.cpu_times()[:2])
            except psutil.Error:
                pass
        return total

    def stop(self) -> dict:
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = "killed"
        return {"exit_code": code, "stop_s": round(time.perf_counter() - started, 2)}


# -- the clients ------------------------------------------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection; a request is written whole, the answer read by its Content-Length."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None
        self.opened = 0

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.opened += 1

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.writer = None

    async def request(self, body: bytes, method: bytes = b"POST", path: bytes = b"/v1/predict"):
        if self.writer is None:
            await self.open()
        head = (method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        self.writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.writer.write(body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        lower = raw.lower()
        i = lower.find(b"content-length:")
        n = int(lower[i + 15 : lower.find(b"\r\n", i)]) if i >= 0 else 0
        payload = await self.reader.readexactly(n) if n else b""
        if b"connection: close" in lower:
            await self.close()
        return status, payload


def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3), "max_ms": round(float(a.max()), 3),
            "mean_ms": round(float(a.mean()), 3)}


def malformed_requests(limit_bytes: int, max_texts: int) -> list[tuple[str, bytes, bytes, int]]:
    """(kind, method, body, expected status) of each kind of malformed request."""
    big = b'{"texts": ["' + b"a" * (limit_bytes + 100_000) + b'"]}'
    return [
        ("truncated JSON", b"POST", b'{"texts": ["a great film", ', 400),
        ("not JSON", b"POST", b"texts=a+great+film", 400),
        ("not UTF-8", b"POST", b'{"texts": ["\xff\xfe"]}', 400),
        ("empty body", b"POST", b"", 400),
        ("a JSON list", b"POST", b'["a great film"]', 422),
        ("missing texts", b"POST", b'{"probabilities": true}', 422),
        ("misspelt field", b"POST", b'{"text": ["a great film"]}', 422),
        ("texts a string", b"POST", b'{"texts": "a great film"}', 422),
        ("a text a number", b"POST", b'{"texts": ["fine", 42]}', 422),
        ("a text null", b"POST", b'{"texts": [null]}', 422),
        ("a text an object", b"POST", b'{"texts": [{"text": "x"}]}', 422),
        ("empty texts", b"POST", b'{"texts": []}', 422),
        ("probabilities a string", b"POST", b'{"texts": ["x"], "probabilities": "yes"}', 422),
        ("pairs for a single-text model", b"POST", b'{"texts": ["x"], "text_pairs": ["y"]}', 422),
        ("unknown model", b"POST", b'{"texts": ["x"], "model": "no-such-model"}', 404),
        ("too many texts", b"POST", json.dumps({"texts": ["ok"] * (max_texts + 1)}).encode(), 413),
        ("oversized body", b"POST", big, 413),
        ("GET on predict", b"GET", b"", 405),
    ]


async def run_phase(host, port, bodies, expected, concurrency, duration, max_requests, malformed=None,
                    malformed_total=0, texts_per_request=1):
    """Closed-loop clients; returns the phase's statistics. ``bodies[i]`` is a valid request whose answer must be
    ``expected[i]``; with ``malformed``, that many malformed requests are mixed in at random."""
    import orjson

    latencies: list[float] = []
    state = {"sent": 0, "ok": 0, "errors": 0, "wrong": 0, "bad_sent": 0, "bad_ok": 0, "bad_wrong": 0,
             "exceptions": 0, "statuses": {}, "bad_kinds": {}}
    rng = random.Random(0)
    deadline = time.perf_counter() + duration
    next_index = [0]
    bad_every = None
    if malformed:
        bad_every = max(1, int(round(1 / 0.08)))  # ~8% of requests malformed until the quota is sent

    async def client(k: int):
        conn = Connection(host, port)
        try:
            await conn.open()
            while True:
                now = time.perf_counter()
                if malformed and state["bad_sent"] >= malformed_total and state["sent"] >= 1000:
                    break
                if not malformed and (now >= deadline or state["sent"] >= max_requests):
                    break
                if malformed and now >= deadline + 600:
                    break
                if malformed and state["bad_sent"] < malformed_total and rng.randrange(bad_every) == 0:
                    kind, method, body, want = malformed[state["bad_sent"] % len(malformed)]
                    state["bad_sent"] += 1
                    try:
                        status, payload = await conn.request(body, method=method)
                    except (ConnectionError, asyncio.IncompleteReadError, OSError):
                        state["exceptions"] += 1
                        await conn.close()
                        continue
                    key = f"{kind}: {status}"
                    state["bad_kinds"][key] = state["bad_kinds"].get(key, 0) + 1
                    if status == want and b'"error"' in payload:
                        state["bad_ok"] += 1
                    else:
                        state["bad_wrong"] += 1
                    continue
                i = next_index[0]
                next_index[0] = (i + 1) % len(bodies)
                state["sent"] += 1
                started = time.perf_counter()
                try:
                    status, payload = await conn.request(bodies[i])
                except (ConnectionError, asyncio.IncompleteReadError, OSError):
                    state["exceptions"] += 1
                    state["errors"] += 1
                    await conn.close()
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                state["statuses"][status] = state["statuses"].get(status, 0) + 1
                if status != 200:
                    state["errors"] += 1
                    continue
                if orjson.loads(payload)["labels"] != expected[i]:
                    state["wrong"] += 1
                    state["errors"] += 1
                else:
                    state["ok"] += 1
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    out = {"concurrency": concurrency, "texts_per_request": texts_per_request, "seconds": round(elapsed, 2),
           "requests": state["sent"], "ok": state["ok"], "errors": state["errors"], "wrong_answers": state["wrong"],
           "connection_errors": state["exceptions"], "statuses": {str(k): v for k, v in state["statuses"].items()},
           "requests_per_s": round(state["sent"] / elapsed, 1),
           "texts_per_s": round(state["sent"] * texts_per_request / elapsed, 1), **percentiles(latencies)}
    if malformed:
        out["malformed"] = {"sent": state["bad_sent"], "answered_as_expected": state["bad_ok"],
                            "unexpected": state["bad_wrong"], "by_kind": state["bad_kinds"]}
    return out


def run(args) -> None:
    import orjson

    texts = load_texts(args.texts)
    model = Path(args.model)
    before = machine_state()
    print(f"machine before: load {before['loadavg_1_5_15']}, busy: "
          f"{[(p['cpu_percent'], p['cmd'][:60]) for p in before['busy_processes']]}", flush=True)
    print("in-process rates ...", flush=True)
    inproc = in_process_rates(model, texts)
    labels = inproc.pop("labels")
    print(f"in process: batch 32 {inproc['batch_32_end_to_end']:,.0f} texts/s, batch 1 "
          f"{inproc['batch_1_end_to_end']:,.0f} texts/s", flush=True)
    singles = [orjson.dumps({"texts": [t]}) for t in texts]
    single_expected = [[lab] for lab in labels]
    b = 32
    batches = [orjson.dumps({"texts": texts[i : i + b]}) for i in range(0, len(texts) - b + 1, b)]
    batch_expected = [labels[i : i + b] for i in range(0, len(texts) - b + 1, b)]

    server = Server(model, args.workers, args.batch_wait_ms, args.max_body, args.max_texts)
    pids = server.worker_pids()
    print(f"server {server.url}: workers {pids}", flush=True)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    phases = []
    cpu0, client0 = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    levels = (("single", singles, single_expected, 1), ("batch32", batches, batch_expected, b))
    for kind, bodies, expected, per in levels:
        for c in args.concurrency:
            asyncio.run(run_phase(server.host, server.port, bodies, expected, c, 1.0, 10**9, texts_per_request=per))
            s_cpu, c_ru = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
            r = asyncio.run(run_phase(server.host, server.port, bodies, expected, c, args.duration, args.max_requests,
                                      texts_per_request=per))
            r["kind"] = kind
            e_ru = resource.getrusage(resource.RUSAGE_SELF)
            r["server_cpu_s"] = round(server.cpu_seconds() - s_cpu, 2)
            r["client_cpu_s"] = round(e_ru.ru_utime + e_ru.ru_stime - c_ru.ru_utime - c_ru.ru_stime, 2)
            phases.append(r)
            print(f"{kind:8s} c={c:3d}: {r['requests_per_s']:>9,.0f} req/s {r['texts_per_s']:>9,.0f} texts/s  p50 "
                  f"{r['p50_ms']:.2f} p95 {r['p95_ms']:.2f} p99 {r['p99_ms']:.2f} ms  errors {r['errors']}  "
                  f"cpu server {r['server_cpu_s']}s client {r['client_cpu_s']}s", flush=True)
    bad = malformed_requests(server_limit_bytes(args.max_body), args.max_texts)
    mixed = asyncio.run(run_phase(server.host, server.port, singles, single_expected, 64, args.duration, 10**9,
                                  malformed=bad, malformed_total=args.malformed))
    mixed["kind"] = "single + malformed"
    print(f"mixed: {mixed['requests']:,} valid requests ({mixed['errors']} errors), malformed "
          f"{mixed['malformed']['sent']:,}: {mixed['malformed']['answered_as_expected']:,} as expected, "
          f"{mixed['malformed']['unexpected']} not", flush=True)
    pids_after = server.worker_pids()
    cpu_total = server.cpu_seconds() - cpu0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    client_total = ru.ru_utime + ru.ru_stime - client0.ru_utime - client0.ru_stime
    stop = server.stop()
    after = machine_state()
    result = {
        "name": "serve-load", "date": datetime.date.today().isoformat(),
        "hardware": __import__("textdistill.evaluation.speed", fromlist=["hardware"]).hardware(),
        "command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:]),
        "server_command": "textdistill " + " ".join(server.cmd[3:]), "model": str(model),
        "model_family": inproc["family"], "model_description": inproc["describe"],
        "settings": {"workers": args.workers, "batch_wait_ms": args.batch_wait_ms, "duration_s": args.duration,
                     "max_requests": args.max_requests, "texts": len(texts), "client": "asyncio + uvloop, one process, "
                     "keep-alive HTTP/1.1"},
        "in_process": inproc, "phases": phases, "mixed": mixed,
        "workers_before": pids, "workers_after": pids_after, "workers_unchanged": pids == pids_after,
        "shutdown": stop, "machine_before": before, "machine_after": after,
        "totals": {"wall_s": round(time.perf_counter() - wall0, 1), "server_cpu_s": round(cpu_total, 1),
                   "client_cpu_s": round(client_total, 1)},
    }
    result["targets"] = targets(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    for k, v in result["targets"].items():
        print(f"  {k}: {v}")


def server_limit_bytes(text: str) -> int:
    from textdistill.students.dan import parse_size

    return parse_size(text)


def targets(r: dict) -> dict:
    phases = r["phases"]
    single64 = next((p for p in phases if p["kind"] == "single" and p["concurrency"] == 64), None)
    best_batch = max((p["texts_per_s"] for p in phases if p["kind"] == "batch32"), default=0.0)
    inproc = r["in_process"]["batch_32_end_to_end"]
    mal = r["mixed"]["malformed"]
    return {
        "zero errors at every level": all(p["errors"] == 0 for p in phases) and r["mixed"]["errors"] == 0,
        "p99 < 20 ms at 64 single-text clients": None if single64 is None else single64["p99_ms"] < 20.0,
        "p99 at 64 single-text clients (ms)": None if single64 is None else single64["p99_ms"],
        "batch throughput >= half of in-process batch 32": best_batch >= 0.5 * inproc,
        "batch throughput / in-process batch 32": round(best_batch / inproc, 3),
        "malformed all answered 4xx as expected": mal["answered_as_expected"] == mal["sent"],
        "no worker died": r["workers_unchanged"],
        "graceful stop exit code 0": r["shutdown"]["exit_code"] == 0,
    }


# -- docs table and plot ----------------------------------------------------------------------------------------
def section(r: dict, plot_path: Path | None) -> list[str]:
    """The docs/serving.md lines of one results file: its table, the targets, the machine."""
    lines = [f"**Load test, {r['settings']['workers']} worker{'s' if r['settings']['workers'] > 1 else ''}** "
             f"(`{r['command']}`, {r['date']}; {r['hardware']['cpu']}, "
             f"{r['hardware']['cores']} cores shared by server and load generator; model: {r['model_family']} "
             f"`{Path(r['model']).name}`, {r['model_description']}; batch wait "
             f"{r['settings']['batch_wait_ms']} ms; {r['settings']['duration_s']:g} s per level)", "",
             "| requests | clients | requests/s | texts/s | p50 ms | p95 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for p in r["phases"]:
        what = "1 text" if p["kind"] == "single" else "32 texts"
        lines.append(f"| {what} | {p['concurrency']} | {p['requests_per_s']:,.0f} | {p['texts_per_s']:,.0f} | "
                     f"{p['p50_ms']:.2f} | {p['p95_ms']:.2f} | {p['p99_ms']:.2f} | {p['errors']} |")
    m = r["mixed"]
    lines.append(f"| 1 text + malformed | 64 | {m['requests_per_s']:,.0f} | {m['texts_per_s']:,.0f} | "
                 f"{m['p50_ms']:.2f} | {m['p95_ms']:.2f} | {m['p99_ms']:.2f} | {m['errors']} |")
    t = r["targets"]
    ip = r["in_process"]
    best = max(p["texts_per_s"] for p in r["phases"] if p["kind"] == "batch32")
    lines += ["", f"In process, the same student: {ip['batch_32_end_to_end']:,.0f} texts/s at batch 32, "
              f"{ip['batch_1_end_to_end']:,.0f} at batch 1; over HTTP with batches of 32: {best:,.0f} texts/s "
              f"({t['batch throughput / in-process batch 32']:.0%} of in process). Malformed requests: "
              f"{m['malformed']['sent']:,} mixed into the last level, "
              f"{m['malformed']['answered_as_expected']:,} answered "
              f"with their 4xx; workers unchanged: {r['workers_unchanged']}; SIGTERM: exit code "
              f"{r['shutdown']['exit_code']} in {r['shutdown']['stop_s']} s.", ""]
    others: dict[str, list[float]] = {}
    for when in ("machine_before", "machine_after"):
        for p in r[when]["busy_processes"]:
            if "serve_load" in p["cmd"] or "textdistill.cli serve" in p["cmd"]:
                continue
            others.setdefault(short_command(p["cmd"]), []).append(p["cpu_percent"])
    shown = "; ".join(f"`{name}` ({max(v):.0f}% of a core)" for name, v in sorted(others.items()))
    lines.append("Machine: load average " + f"{r['machine_before']['loadavg_1_5_15'][0]} before, "
                 f"{r['machine_after']['loadavg_1_5_15'][0]} after; "
                 + (f"other processes using CPU (sampled before and after): {shown}" if others
                    else "nothing else was using the CPU") + ".")
    if plot_path is not None:
        from readme_section import link

        lines += ["", f"![load test]({link(plot_path, 'serve')})"]
    return lines


def table(args) -> None:
    r = json.loads(RESULTS.read_text())
    plot(r)
    lines = section(r, PLOT)
    for extra in sorted(RESULTS.parent.glob("serve-load-*.json")):
        lines += [""] + section(json.loads(extra.read_text()), None)
    text = "\n".join(lines)
    if args.write:
        from readme_section import write_section

        write_section("serve", text)
    else:
        print(text)


def short_command(cmd: str) -> str:
    """'/x/python /x/bin/textdistill --threads 1 teacher finetune --base ...' -> 'textdistill teacher finetune'."""
    words = [t for t in cmd.split() if not re.search(r"(^|/)python[\d.]*$", t)]
    out: list[str] = []
    for t in words:
        if not out:
            if not t.startswith("-"):
                out.append(t.rsplit("/", 1)[-1])
            continue
        if re.fullmatch(r"[a-z][a-z0-9_.\-]*", t) and not t.startswith("-"):
            out.append(t)
            if len(out) == 3:
                break
        elif not t.startswith("-") and not re.fullmatch(r"[\d.]+", t):
            break
    return " ".join(out) or cmd[:40]


def plot(r: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for kind, marker, colour in (("single", "o", "tab:blue"), ("batch32", "s", "tab:orange")):
        ps = [p for p in r["phases"] if p["kind"] == kind]
        c = [p["concurrency"] for p in ps]
        label = "1 text / request" if kind == "single" else "32 texts / request"
        for q, style in (("p50_ms", "-"), ("p99_ms", "--")):
            axes[0].plot(c, [p[q] for p in ps], style, marker=marker, color=colour, label=f"{label}, {q[:3]}")
        axes[1].plot(c, [p["texts_per_s"] for p in ps], "-", marker=marker, color=colour, label=label)
    axes[0].axhline(20, color="grey", lw=0.8, ls=":")
    axes[0].set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="latency (ms)",
                title="latency (dotted: the 20 ms p99 target)")
    axes[1].axhline(r["in_process"]["batch_32_end_to_end"], color="grey", lw=0.8, ls=":",
                    label="in process, batch 32")
    axes[1].set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="texts/s", title="throughput")
    for ax in axes:
        ax.set_xticks([1, 16, 64])
        ax.set_xticklabels(["1", "16", "64"])
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)
    print(f"wrote {PLOT}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--batch-wait-ms", type=float, default=2.0)  # the server's default
    r.add_argument("--duration", type=float, default=30.0)
    r.add_argument("--max-requests", type=int, default=2_000_000)
    r.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    r.add_argument("--malformed", type=int, default=1000)
    r.add_argument("--texts", type=int, default=20_000)
    r.add_argument("--max-body", default="2MB")
    r.add_argument("--max-texts", type=int, default=2048)
    r.add_argument("--out", default=None)
    t = sub.add_parser("table")
    t.add_argument("--write", action="store_true", help="Write the section into docs/serving.md.")
    args = ap.parse_args()
    (run if args.cmd == "run" else table)(args)


if __name__ == "__main__":
    main()
