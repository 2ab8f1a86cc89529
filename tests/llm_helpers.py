"""Tiny language models built in the tests (random weights, tokenizers trained here) and a real HTTP server on a
free loopback port that speaks the OpenAI protocol over such a model, with switches for the failures a client must
survive (429 with Retry-After, 500, a slow answer, malformed JSON, no logprobs, answers that name no label)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CORPUS = [
    "Review: a great film, really good fun. Sentiment: positive",
    "Review: a dull and boring film. Sentiment: negative",
    "Review: the best story, loved it. Sentiment: positive",
    "Review: the worst acting I have seen. Sentiment: negative",
    "Question: is this good? Answer: yes", "Question: is this bad? Answer: no", "neutral mixed okay fine",
    "positively negatively positive negative great awful sports business world science",
] * 20
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def tiny_gpt2(out: Path, seed: int = 0, chat: bool = False) -> Path:
    """A 2-layer GPT-2 with a byte-level BPE tokenizer trained on CORPUS (merges across spaces and words)."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                  bos_token="<|endoftext|>", unk_token="<|endoftext|>", pad_token="<|endoftext|>")
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).eval().save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def tiny_t5(out: Path, seed: int = 0) -> Path:
    """A tiny T5 (encoder-decoder) with a word-level tokenizer trained on CORPUS."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16,
                      decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id)
    T5ForConditionalGeneration(config).eval().save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


class OpenAIServer:
    """``/v1/completions`` and ``/v1/chat/completions`` over a tiny causal LM: the reply's first token is the
    model's most likely next token and ``top_logprobs`` its top-k. ``behaviour`` switches failures on."""

    def __init__(self, model_dir: Path, **behaviour):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
        self.torch = torch
        self.behaviour = {"fail_429": 0, "fail_500": 0, "slow_first": 0, "malformed": 0, "no_logprobs": False,
                          "answer": None, "delay": 0.0, **behaviour}
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                status, reply, extra = server.reply(self.path, body, dict(self.headers))
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _take(self, key: str) -> bool:
        with self.lock:
            if self.behaviour[key] > 0:
                self.behaviour[key] -= 1
                return True
        return False

    def prompt_of(self, path: str, body: dict) -> str:
        if path.endswith("/chat/completions"):
            return self.tokenizer.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=True) \
                if getattr(self.tokenizer, "chat_template", None) else \
                "".join(f"<|{m['role']}|>{m['content']}\n" for m in body["messages"]) + "<|assistant|>"
        return body["prompt"]

    def top(self, prompt: str, k: int) -> list[tuple[str, float]]:
        ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"]
        with self.torch.inference_mode():
            logp = self.torch.log_softmax(self.model(input_ids=ids).logits[0, -1].float(), -1)
        values, tokens = logp.topk(k)
        return [(self.tokenizer.decode([int(t)]), float(v)) for t, v in zip(tokens, values)]

    def reply(self, path: str, body: dict, headers: dict):
        with self.lock:
            self.requests.append(body)
            self.headers.append(headers)
        if self._take("fail_429"):
            return 429, {"error": {"message": "rate limited"}}, {"Retry-After": "0.05"}
        if self._take("fail_500"):
            return 500, {"error": {"message": "boom"}}, {}
        if self._take("slow_first"):
            time.sleep(1.5)  # longer than the client waits: this reply is never read
        elif self._take("malformed"):
            return 200, b"{not json", {}
        if self.behaviour["delay"]:
            time.sleep(self.behaviour["delay"])
        k = int(body.get("top_logprobs") or body.get("logprobs") or 5)
        top = self.top(self.prompt_of(path, body), k)
        text = self.behaviour["answer"] if self.behaviour["answer"] is not None else top[0][0]
        usage = {"prompt_tokens": len(self.tokenizer(self.prompt_of(path, body))["input_ids"]), "completion_tokens": 1}
        chat = path.endswith("/chat/completions")
        choice = {"index": 0, "finish_reason": "length"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        if not self.behaviour["no_logprobs"]:
            if chat:
                choice["logprobs"] = {"content": [{"token": top[0][0], "logprob": top[0][1], "top_logprobs": [
                    {"token": t, "logprob": v} for t, v in top]}]}
            else:
                choice["logprobs"] = {"tokens": [top[0][0]], "top_logprobs": [dict(top)]}
        return 200, {"id": "x", "object": "chat.completion" if chat else "text_completion", "choices": [choice],
                     "usage": usage}, {}
