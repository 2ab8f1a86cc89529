"""``textdistill serve``: a real server on a free loopback port (a subprocess, as a user runs it) answers exactly what
the student answers in process, alone and under concurrent load, refuses every malformed request with a 4xx and a
one-line reason while it keeps serving, enforces its limits, shuts down gracefully and runs several workers."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("orjson")

from serving_helpers import LABELS, RunningServer, corpus, tiny_dan, tricky_texts  # noqa: E402

from textdistill.students import Student  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    single, pair = root / "tiny", root / "pairs"
    tiny_dan(folded=True, dtype="int8").save_pretrained(single)
    tiny_dan(pair=True, seed=1).save_pretrained(pair)
    return single, pair


@pytest.fixture(scope="module")
def server(models):
    single, pair = models
    s = RunningServer([single, f"pairs={pair}", "--max-texts", "100", "--max-body", "64KB"])
    yield s
    s.stop()


def test_answers_equal_in_process_predictions_with_probabilities(server, models):
    student = Student.from_pretrained(models[0])
    texts = tricky_texts() + corpus(40, seed=5)
    status, got = server.post({"texts": texts, "probabilities": True})
    assert status == 200
    assert got["labels"] == student.predict(texts)
    assert got["classes"] == LABELS
    np.testing.assert_allclose(np.array(got["probabilities"]), student.predict_proba(texts), rtol=1e-5, atol=1e-6)
    status, plain = server.post({"texts": texts[:3]})
    assert status == 200 and set(plain) == {"labels"} and plain["labels"] == got["labels"][:3]


def test_a_pair_model_is_chosen_by_name_and_needs_its_second_texts(server, models):
    student = Student.from_pretrained(models[1])
    a, b = corpus(12, seed=7), corpus(12, seed=8)
    status, got = server.post({"texts": a, "text_pairs": b, "model": "pairs", "probabilities": True})
    assert status == 200
    assert got["labels"] == student.predict(a, b)
    np.testing.assert_allclose(np.array(got["probabilities"]), student.predict_proba(a, b), rtol=1e-5, atol=1e-6)
    status, err = server.post({"texts": a, "model": "pairs"})
    assert status == 422 and "text_pairs" in err["error"]
    status, err = server.post({"texts": a, "text_pairs": b[:3], "model": "pairs"})
    assert status == 422 and "12 texts but 3 text_pairs" in err["error"]


def test_concurrent_clients_get_the_in_process_answers(server, models):
    student = Student.from_pretrained(models[0])
    texts = corpus(400, seed=11) + tricky_texts()
    expected = student.predict(texts)
    _, before = server.get("/health")

    def client(k):
        conn = server.connection()
        wrong = 0
        try:
            for i in range(k, len(texts), 24):
                status, got = server.post({"texts": [texts[i]]}, conn=conn)
                wrong += status != 200 or got["labels"] != [expected[i]]
        finally:
            conn.close()
        return wrong

    with ThreadPoolExecutor(24) as pool:
        assert sum(pool.map(client, range(24))) == 0
    _, after = server.get("/health")
    assert after["requests"] - before["requests"] == len(texts)
    assert after["batches"] - before["batches"] <= len(texts)  # concurrent requests may share a batch


MALFORMED = [
    (b'{"texts": ["a", ', 400, "malformed JSON"),
    (b"texts=a+film", 400, "malformed JSON"),
    (b'{"texts": ["\xff\xfe"]}', 400, "malformed JSON"),
    (b"", 400, "empty body"),
    (b'["a film"]', 422, "must be a JSON object"),
    (b'{"probabilities": true}', 422, "missing field 'texts'"),
    (b'{"text": ["a film"]}', 422, "unknown field 'text'"),
    (b'{"texts": "a film"}', 422, "'texts' must be a list of strings, not a string"),
    (b'{"texts": ["fine", 42]}', 422, "texts[1] is a number, not a string"),
    (b'{"texts": [null]}', 422, "texts[0] is null, not a string"),
    (b'{"texts": [["nested"]]}', 422, "texts[0] is a list, not a string"),
    (b'{"texts": []}', 422, "'texts' is empty"),
    (b'{"texts": ["x"], "probabilities": "yes"}', 422, "'probabilities' must be true or false"),
    (b'{"texts": ["x"], "model": 3}', 422, "'model' must be a string"),
    (b'{"texts": ["x"], "model": "nope"}', 404, "unknown model 'nope' (serving: tiny, pairs)"),
    (b'{"texts": ["x"], "text_pairs": ["y"]}', 422, "classifies single texts"),
    (b'{"texts": ["x"], "text_pairs": "y", "model": "pairs"}', 422, "'text_pairs' must be a list"),
    (json.dumps({"texts": ["ok"] * 101}).encode(), 413, "101 texts in one request; the limit is 100"),
]


@pytest.mark.parametrize("body, status, fragment", MALFORMED, ids=[m[2][:30] for m in MALFORMED])
def test_malformed_requests_get_a_4xx_with_a_one_line_reason_and_the_server_keeps_serving(server, body, status,
                                                                                          fragment):
    conn = server.connection()
    try:
        got_status, got = server.post(body, conn=conn)
        assert got_status == status
        assert set(got) == {"error"} and fragment in got["error"] and "\n" not in got["error"]
        again, answer = server.post({"texts": ["a great film"]}, conn=conn)  # same connection, still served
        assert again == 200 and len(answer["labels"]) == 1
    finally:
        conn.close()


def test_wrong_method_and_unknown_path_are_json_errors(server):
    conn = server.connection()
    conn.request("GET", "/v1/predict")
    r = conn.getresponse()
    assert r.status == 405 and "error" in json.loads(r.read())
    conn.close()
    status, body = server.get("/nope")
    assert status == 404 and "error" in body


def test_bodies_over_the_limit_are_refused_declared_or_streamed(server):
    big = json.dumps({"texts": ["x" * 70_000]}).encode()
    conn = server.connection()
    try:
        status, err = server.post(big, conn=conn)
        assert status == 413 and "the limit is 64,000" in err["error"]
        assert server.post({"texts": ["fine"]}, conn=conn)[0] == 200  # the body was drained: the connection lives
    finally:
        conn.close()
    # chunked upload without a Content-Length: counted as it arrives
    conn = server.connection()
    try:
        conn.putrequest("POST", "/v1/predict")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.putheader("Content-Type", "application/json")
        conn.endheaders()
        for i in range(0, len(big), 8192):
            piece = big[i : i + 8192]
            conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        assert r.status == 413 and "over the limit" in json.loads(r.read())["error"]
    finally:
        conn.close()
    # far over the limit: refused from the header, the connection closed, the server fine
    sock = socket.create_connection((server.host, server.port))
    sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 900000000\r\n\r\n{")
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413") and b"connection: close" in reply.lower()
    # a client that waits for "100 Continue" before its body (curl does, for large ones) gets its 413 at once
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 70000\r\n\r\n")
    reply = b""
    while chunk := sock.recv(65536):  # the server closes the connection after its answer
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 413") and b"the limit is 64,000" in reply
    assert server.post({"texts": ["still fine"]})[0] == 200


def test_models_health_and_openapi(server):
    status, listing = server.get("/v1/models")
    assert status == 200 and listing["default"] == "tiny"
    tiny, pairs = listing["models"]
    assert tiny["name"] == "tiny" and tiny["family"] == "dan" and tiny["labels"] == LABELS and not tiny["pair"]
    assert tiny["size_bytes"] > 0 and tiny["dev"]["accuracy"] == 0.7 and "int8" in tiny["description"]
    assert tiny["teacher"] == {"name": "tiny-teacher", "fingerprint": "abc123"}
    assert pairs["name"] == "pairs" and pairs["pair"]
    status, health = server.get("/health")
    assert status == 200 and health["status"] == "ok" and health["models"] == ["tiny", "pairs"]
    conn = server.connection()
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    assert r.status == 200 and r.getheader("content-type").startswith("text/plain")
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    pid = health["pid"]
    answered = sum(v for k, v in samples.items() if k.startswith("textdistill_requests_total"))
    assert samples[f'textdistill_requests_total{{pid="{pid}",status="200"}}'] >= 1
    assert samples[f'textdistill_request_seconds_count{{pid="{pid}"}}'] == answered
    assert samples[f'textdistill_request_seconds_bucket{{pid="{pid}",le="+Inf"}}'] == answered
    assert samples[f'textdistill_model_texts_total{{pid="{pid}",model="tiny"}}'] >= 1
    status, spec = server.get("/openapi.json")
    assert status == 200
    op = spec["paths"]["/v1/predict"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("PredictRequest")
    assert {"200", "400", "413", "422"} <= set(op["responses"])
    assert set(spec["components"]["schemas"]["PredictRequest"]["properties"]) == {"texts", "text_pairs", "model",
                                                                                  "probabilities"}
    conn = server.connection()
    conn.request("GET", "/docs")
    r = conn.getresponse()
    assert r.status == 200 and b"swagger" in r.read().lower()
    conn.close()


def test_graceful_shutdown_finishes_the_request_in_flight(models):
    s = RunningServer([models[0]])
    student = Student.from_pretrained(models[0])
    body = json.dumps({"texts": ["a great film", "a dull plot"]}).encode()
    sock = socket.create_connection((s.host, s.port))
    sock.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\n\r\n" + body[:10])  # the request is in flight: half its body
    time.sleep(0.3)
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert s.proc.poll() is None  # still finishing our request
    sock.sendall(body[10:])
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 200")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["labels"] == student.predict(["a great film", "a dull plot"])
    assert s.proc.wait(timeout=30) == 0
    assert any("server stopped" in line for line in s.lines)
    with pytest.raises(OSError):  # no longer listening
        socket.create_connection((s.host, s.port), timeout=2)


def test_several_workers_serve_the_same_answers_and_stop_together(models):
    psutil = pytest.importorskip("psutil")
    s = RunningServer([models[0], "--workers", "2"])
    try:
        deadline = time.time() + 60
        while sum("ready" in line for line in s.lines) < 2 and time.time() < deadline:
            time.sleep(0.1)
        workers = [c for c in psutil.Process(s.proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 2
        student = Student.from_pretrained(models[0])
        texts = corpus(60, seed=3)
        expected = student.predict(texts)
        pids = set()

        def client(k):
            got = []
            for i in range(k, len(texts), 6):
                conn = s.connection()  # a new connection each time: the kernel spreads them over the workers
                got.append(s.post({"texts": [texts[i]]}, conn=conn)[1]["labels"] == [expected[i]])
                conn.request("GET", "/health")
                pids.add(json.loads(conn.getresponse().read())["pid"])
                conn.close()
            return all(got)

        with ThreadPoolExecutor(6) as pool:
            assert all(pool.map(client, range(6)))
        assert pids <= {w.pid for w in workers}
        # the table is memory-mapped: each worker maps the model file rather than holding a private copy
        for w in workers:
            assert any(str(models[0]) in m.path for m in w.memory_maps())
    finally:
        assert s.stop() == 0
    assert all(not psutil.pid_exists(w.pid) or psutil.Process(w.pid).status() == psutil.STATUS_ZOMBIE
               for w in workers)


def _cli(capsys, monkeypatch, *args):
    """``textdistill serve ARGS`` through the CLI's main() (its one-line error handling): (exit code, stderr)."""
    from textdistill.cli.app import main

    monkeypatch.setattr(sys, "argv", ["textdistill", "serve", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def test_cli_errors_are_one_line(models, tmp_path, capsys, monkeypatch):
    code, err = _cli(capsys, monkeypatch, tmp_path / "missing")
    assert code == 2 and err.strip().splitlines() == [f"error: no such model directory: {tmp_path / 'missing'}"]
    code, err = _cli(capsys, monkeypatch, models[0], f"tiny={models[1]}")
    assert code == 2 and "two models are named 'tiny'" in err and len(err.strip().splitlines()) == 1
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        code, err = _cli(capsys, monkeypatch, models[0], "--port", busy.getsockname()[1])
        assert code == 2 and "cannot listen on 127.0.0.1" in err and len(err.strip().splitlines()) == 1
    finally:
        busy.close()
    code, err = _cli(capsys, monkeypatch, models[0], "--workers", "0")
    assert code == 2 and "workers must be >= 1" in err
    code, err = _cli(capsys, monkeypatch, models[0], "--max-body", "lots")
    assert code == 2 and "size 'lots'" in err


def test_micro_batcher_joins_concurrent_requests_and_waits_only_for_arrivals():
    from textdistill.serving.http import MicroBatcher, ServedModel, Stats

    student = tiny_dan()
    model = ServedModel("m", student)
    calls = []
    real = model.predict_logits

    def counting(texts, pairs):
        calls.append(len(texts))
        return real(texts, pairs)

    model.predict_logits = counting
    texts = corpus(10, seed=2)

    async def scenario():
        b = MicroBatcher(model, wait_s=5.0, max_batch=4, stats=Stats())
        futures = [b.submit([t], None) for t in texts[:3]]  # one pass of the loop: one batch, no waiting
        first = await asyncio.gather(*futures)
        waiting = b.submit([texts[3]], None, others_arriving=True)
        await asyncio.sleep(0.01)
        assert not waiting.done() and b.waiting  # waits for the request still arriving ...
        b.expedite()  # ... which arrived (or gave up): flushed on the next pass, long before 5 s
        await asyncio.wait_for(waiting, 1.0)
        full = [b.submit([t], None, others_arriving=True) for t in texts[4:10]]  # 6 texts, max_batch 4
        rest = await asyncio.wait_for(asyncio.gather(*full), 1.0)
        return first + [waiting.result()] + rest

    out = asyncio.run(scenario())
    np.testing.assert_allclose(np.concatenate(out), student.predict_logits(texts), atol=1e-6)
    assert calls == [3, 1, 4, 2]


def test_python_api_serves_student_objects_in_process(models):
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from textdistill.serving import ServeConfig, create_app

    student = Student.from_pretrained(models[0])
    app = create_app({"mine": student}, ServeConfig(max_texts=3))
    with TestClient(app) as client:
        r = client.post("/v1/predict", json={"texts": ["a great film"], "model": "mine"})
        assert r.status_code == 200 and r.json()["labels"] == student.predict(["a great film"])
        r = client.post("/v1/predict", json={"texts": ["a"] * 4})
        assert r.status_code == 413
        assert client.get("/v1/models").json()["models"][0]["size_bytes"] is None
