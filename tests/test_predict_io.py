"""``textdistill predict`` as a pipe: streamed answers, plain text unless a file is a real table, JSON lines with
their other fields passed through, warnings for inputs the model cannot read; ``evaluate`` with empty texts."""

import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("typer")
pytest.importorskip("torch")

from test_cli import POS, NEG, TINY_STUDENT, ok, run_main  # noqa: E402

from textdistill.students import Student  # noqa: E402


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    d = tmp_path_factory.mktemp("predict")
    train = d / "train.jsonl"
    train.write_text("".join(json.dumps({"text": t, "label": y}) + "\n"
                             for t, y in [(t, "pos") for t in POS] + [(t, "neg") for t in NEG]) * 3)
    code, _, err = run_main(["distill", "--train", train, "--out", d / "s", "--epochs", "20", "--finetune-epochs", "0",
                             *TINY_STUDENT])
    assert code == 0, err
    return d / "s"


def test_predict_answers_each_batch_as_it_arrives(student):
    """Two lines in, the answers come back before stdin is closed: the command works inside a pipe."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "textdistill.cli", "predict", str(student), "--wait-ms", "10"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        proc.stdin.write(b"a great film\nso boring\n")
        proc.stdin.flush()
        started = time.monotonic()
        first = proc.stdout.readline()
        second = proc.stdout.readline()
        assert time.monotonic() - started < 60
        assert [first.strip(), second.strip()] == [s.encode() for s in
                                                   Student.from_pretrained(student).predict(["a great film", "so boring"])]
        assert proc.poll() is None  # still waiting for more input
        proc.stdin.write(b"i loved it\n")
        proc.stdin.close()
        rest = proc.stdout.read()
        assert rest.strip() in (b"pos", b"neg") and proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_a_csv_of_plain_lines_is_read_as_text_and_a_real_table_as_a_table(student, tmp_path):
    lines = tmp_path / "lines.csv"
    lines.write_text("a great film\nso boring, really\ni loved it\n")
    res = ok(["predict", student, "-i", lines])
    assert len(res.stdout.splitlines()) == 3  # three lines, three answers: no header eaten, no column split
    assert "reading" in res.stderr and "plain text" in res.stderr
    table = tmp_path / "table.csv"
    table.write_text("id,text\n1,a great film\n2,\"so boring, really\"\n")
    assert len(ok(["predict", student, "-i", table]).stdout.splitlines()) == 2
    assert len(ok(["predict", student, "-i", lines, "--format", "csv"]).stdout.splitlines()) == 2  # as asked


def test_jsonl_passes_other_fields_through(student):
    stdin = '{"id": 7, "text": "a great film", "lang": "en"}\n{"id": "x", "text": "so boring"}\n'
    out = [json.loads(line) for line in ok(["predict", student, "--jsonl"], input=stdin).stdout.splitlines()]
    assert [o["id"] for o in out] == [7, "x"] and out[0]["lang"] == "en"
    assert all("text" not in o and o["label"] in ("pos", "neg") for o in out)


def test_warnings_for_empty_inputs_and_inputs_with_nothing_known(student):
    res = ok(["predict", student], input="a great film\n\nzzzz qqqq\n")
    assert len(res.stdout.splitlines()) == 3
    assert "input 2 is empty" in res.stderr and "input 3 has nothing the model knows" in res.stderr


def test_evaluate_accepts_empty_texts_with_a_warning(student, tmp_path):
    data = tmp_path / "test.jsonl"
    data.write_text('{"text": "a great film", "label": "pos"}\n{"text": "", "label": "neg"}\n'
                    '{"text": "so boring", "label": "neg"}\n')
    res = ok(["evaluate", student, "--data", data, "--json"])
    assert json.loads(res.stdout)["student"]["n"] == 3
    assert "1 of 3 rows have an empty text" in res.stderr
