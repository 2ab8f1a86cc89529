"""Shared test fixtures: tiny local models built on the fly, so tests need no network and no large files."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models run fastest on one thread; with several, OpenMP spin-waits make them 5-50x slower on a busy machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

# A small lowercase English WordPiece vocabulary: specials, words, letters and '##' continuations (~100 tokens).
TINY_WORDS = (
    "the a an and or not no is was are be it this that movie film story plot actor actors good great fun "
    "best love loved bad worse worst boring awful dull hate hated very really so too quite of to in on with "
    "for but i you we they what who why how when where question answer yes"
).split()
TINY_LETTERS = list("abcdefghijklmnopqrstuvwxyz")
TINY_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TINY_PUNCT = list(".,!?'-")
TINY_VOCAB = TINY_SPECIALS + TINY_PUNCT + TINY_WORDS + TINY_LETTERS + ["##" + c for c in "aeiosnrtdly"]


def build_tiny_tokenizer(model_max_length: int = 128):
    """A BERT-style WordPiece tokenizer (lowercasing, [CLS] a [SEP] b [SEP]) built with the tokenizers library."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizerFast

    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(TINY_VOCAB))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return BertTokenizerFast(
        tokenizer_object=tok,
        model_max_length=model_max_length,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
    )


def build_tiny_teacher(out_dir, *, num_labels: int = 3, seed: int = 0, label_names=None):
    """Save a random 2-layer BertForSequenceClassification (hidden 32) with its tokenizer into out_dir."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = build_tiny_tokenizer()
    names = label_names or [f"class_{i}" for i in range(num_labels)]
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(str(out_dir))  # safetensors is the default format
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory):
    """Path to a saved tiny random BERT classifier (3 labels: class_0..class_2) with tokenizer; treat as read-only."""
    return build_tiny_teacher(tmp_path_factory.mktemp("tiny_teacher") / "teacher")


@pytest.fixture(autouse=True)
def terminal_sigint():
    """Each test sees SIGINT as under a terminal (Python's KeyboardInterrupt handler), whatever the test runner
    inherited: a shell without job control starts background commands with SIGINT ignored, which the trainer keeps
    ignored on purpose (nohup-style runs), so the Ctrl-C tests would see no signal at all."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
