"""Assets for ``throughput.py --smoke``: a tiny BERT, its tokenizer and small data files, built here.

The smoke run checks that every configuration of the benchmark runs end to end in seconds, on any
machine and without ``../shared``; its numbers mean nothing.
"""

from __future__ import annotations

import csv
import os
import random

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

WORDS = ("stocks", "market", "bank", "film", "star", "music", "vaccine", "virus", "apple", "phone", "the", "a")
TOXIC_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")


def _texts(rng: random.Random, count: int, shortest: int, longest: int) -> list[str]:
    return [" ".join(rng.choices(WORDS, k=rng.randint(shortest, longest))) for _ in range(count)]


def write_news(path: str, count: int, rng: random.Random) -> str:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP"])
        for i, text in enumerate(_texts(rng, count, 3, 20)):
            writer.writerow([i + 1, text, f"http://example.com/{i}", "Example", "betm"[i % 4], f"s{i % 50}", "x", i])
    return path


def write_toxic(path: str, count: int, rng: random.Random) -> str:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "comment_text", *TOXIC_LABELS])
        for i, text in enumerate(_texts(rng, count, 3, 40)):
            writer.writerow([f"{i:016x}", text, *[int(rng.random() < 0.2) for _ in TOXIC_LABELS]])
    return path


def build_model(folder: str) -> str:
    """A randomly initialised 2-layer BERT (hidden 32) with a WordPiece tokenizer, saved to ``folder``."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        [" ".join(WORDS)] * 4, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials)
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    fast.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    return folder


def build(folder: str) -> dict:
    """Model folder and data files for the smoke run, in the layout of ``--shared``."""
    rng = random.Random(0)
    os.makedirs(folder, exist_ok=True)
    return {
        "model": build_model(os.path.join(folder, "tiny-bert")),
        "news": [write_news(os.path.join(folder, "news.csv"), 600, rng)],
        "toxic": [write_toxic(os.path.join(folder, "toxic.csv"), 600, rng)],
    }
