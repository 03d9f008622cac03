"""Tiny models, tokenizers and data files built on the spot, for tests and smoke runs.

The project's counterpart of ``transformers.testing_utils``. Nothing here is read from ../shared
or the Hub: the synthetic headlines and comments carry a learnable signal (class keywords among
shared filler words) so a two-layer model trained for seconds must beat chance, which is what the
end-to-end tests assert. The benchmark's ``--smoke`` run uses the same assets.
"""

from __future__ import annotations

import csv
import gzip
import os
import random

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel, PreTrainedTokenizerFast

NEWS_WORDS = {
    "b": ["stocks", "market", "bank", "profit", "shares", "earnings", "investors", "fed"],
    "t": ["apple", "google", "software", "phone", "nasa", "climate", "app", "microsoft"],
    "e": ["film", "star", "music", "album", "movie", "actor", "singer", "festival"],
    "m": ["ebola", "cancer", "health", "vaccine", "hospital", "study", "drug", "virus"],
}
FILLER = ["the", "a", "new", "says", "after", "report", "week", "over", "first", "may", "in", "on", "to"]
TOXIC_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
TOXIC_WORDS = {
    "toxic": ["awful", "stupid"],
    "severe_toxic": ["disgusting"],
    "obscene": ["crap", "damn"],
    "threat": ["kill", "hurt"],
    "insult": ["idiot", "moron"],
    "identity_hate": ["hateful"],
}
CLEAN_WORDS = ["thanks", "article", "edit", "source", "page", "please", "citation", "talk", "good", "help"]


def _open(path: str, mode: str = "wt"):
    return (
        gzip.open(path, mode, encoding="utf-8", newline="")
        if path.endswith(".gz")
        else open(path, mode[0], encoding="utf-8", newline="")
    )


def news_rows(n: int, seed: int = 0, stories: int = 40) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        category = "betm"[i % 4]
        words = rng.sample(NEWS_WORDS[category], 2) + rng.sample(FILLER, rng.randint(2, 8))
        rng.shuffle(words)
        story = f"story{(i * 7) % stories:03d}{category}"
        rows.append(
            {
                "ID": str(i + 1),
                "TITLE": " ".join(words).capitalize(),
                "URL": f"http://example.com/{i}",
                "PUBLISHER": "Example",
                "CATEGORY": category,
                "STORY": story,
                "HOSTNAME": "example.com",
                "TIMESTAMP": str(1394470370698 + i),
            }
        )
    return rows


def write_news(path: str, n: int = 400, layout: str = "kaggle", seed: int = 0) -> str:
    """``kaggle``: comma-separated with header; ``uci``: the original tab-separated, no header."""
    rows = news_rows(n, seed)
    columns = ["ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP"]
    with _open(path) as handle:
        if layout == "kaggle":
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                handle.write("\t".join(row[c] for c in columns) + "\n")
    return path


def toxic_rows(n: int, seed: int = 0) -> list[tuple[str, list[int]]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        flags = [0] * 6
        if i % 3 == 0:  # a third of the comments are toxic, some with more labels
            flags[0] = 1
            for extra in rng.sample(range(1, 6), rng.randint(0, 2)):
                flags[extra] = 1
        words = rng.sample(CLEAN_WORDS, rng.randint(3, 8))
        for label, on in zip(TOXIC_LABELS, flags, strict=True):
            if on:
                words.append(rng.choice(TOXIC_WORDS[label]))
        rng.shuffle(words)
        text = " ".join(words)
        if i % 7 == 0:
            text = text.replace(" ", "\n", 1) + ' "quoted"'
        rows.append((text, flags))
    return rows


def write_toxic(path: str, n: int = 300, layout: str = "kaggle", seed: int = 0) -> str:
    """``kaggle``: id, comment_text and the six labels; ``thesis``: index, text, labels, list string."""
    with _open(path) as handle:
        writer = csv.writer(handle)
        if layout == "kaggle":
            writer.writerow(["id", "comment_text", *TOXIC_LABELS])
            for i, (text, flags) in enumerate(toxic_rows(n, seed)):
                writer.writerow([f"{i:016x}", text, *flags])
        else:
            writer.writerow(["", "text", *TOXIC_LABELS, "labels"])
            for i, (text, flags) in enumerate(toxic_rows(n, seed)):
                writer.writerow([i, text, *flags, str(flags)])
    return path


def corpus() -> list[str]:
    words = FILLER + CLEAN_WORDS + [w for ws in NEWS_WORDS.values() for w in ws]
    words += [w for ws in TOXIC_WORDS.values() for w in ws]
    return [" ".join(words)] * 5 + [text for text, _ in toxic_rows(200)] + [r["TITLE"] for r in news_rows(200)]


def build_tokenizer(folder: str) -> PreTrainedTokenizerFast:
    """A real WordPiece tokenizer, BERT-style, trained on the synthetic corpus."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
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
    return fast


MODEL_KINDS = ("bert", "distilbert", "roberta", "deberta-v2", "modernbert", "modernbert-cls", "electra")


def _family_model(kind: str, tokenizer: PreTrainedTokenizerFast, layers: int) -> torch.nn.Module:
    """The other families' base encoders, ~64 wide with 2 layers, configured like their released checkpoints.

    Each keeps what sets its family apart, since that is what the fast path and export must handle:
    RoBERTa's position ids offset past ``padding_idx`` (= the tokenizer's pad id, so the table needs
    ``model_max_length + pad_id + 1`` rows), DeBERTa-v3's relative attention without absolute
    positions, ModernBERT's rotary global/local attention and pooling (``modernbert``: mean, as the
    released ModernBERT-base/large; ``modernbert-cls``: the first token), ELECTRA's embedding
    projection (embeddings narrower than the hidden size, as in ELECTRA-small).
    """
    from transformers import (
        DebertaV2Config,
        DebertaV2Model,
        ElectraConfig,
        ElectraModel,
        ModernBertConfig,
        ModernBertModel,
        RobertaConfig,
        RobertaModel,
    )

    vocab, pad = len(tokenizer), tokenizer.pad_token_id
    common = {"vocab_size": vocab, "hidden_size": 64, "num_hidden_layers": layers, "num_attention_heads": 4}
    common |= {"intermediate_size": 128, "pad_token_id": pad}
    if kind == "roberta":
        positions = tokenizer.model_max_length + pad + 1  # positions run from padding_idx + 1
        return RobertaModel(RobertaConfig(**common, max_position_embeddings=positions, type_vocab_size=1))
    if kind == "deberta-v2":  # DeBERTa-v3's settings (model_type deberta-v2)
        config = DebertaV2Config(
            **common,
            max_position_embeddings=128,
            relative_attention=True,
            position_buckets=32,
            max_relative_positions=-1,
            pos_att_type=["p2c", "c2p"],
            position_biased_input=False,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            type_vocab_size=0,
        )
        return DebertaV2Model(config)
    if kind in ("modernbert", "modernbert-cls"):
        config = ModernBertConfig(
            **common,
            max_position_embeddings=128,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            local_attention=16,  # shorter than the texts, so the local layers really are local
            global_attn_every_n_layers=2,
            classifier_pooling="cls" if kind == "modernbert-cls" else "mean",
        )
        return ModernBertModel(config)
    if kind == "electra":
        return ElectraModel(ElectraConfig(**common, embedding_size=32, max_position_embeddings=128))
    raise ValueError(f"unknown model kind {kind!r}; one of {', '.join(MODEL_KINDS)}")


def build_tiny_model(folder: str, kind: str = "bert", layers: int = 2, seed: int = 0) -> str:
    """A randomly initialised base encoder (no head) with the test tokenizer, saved as safetensors.

    Seeded, so every test session trains the same model (an unseeded one made outcomes vary from
    session to session). The BERT is 64 wide with 4 heads: at 32 wide with 2 heads, 3 epochs on the
    news data ended stuck at 0.5 accuracy (2 of 4 classes) for about a third of training seeds.
    ``kind`` is one of ``MODEL_KINDS``; all share the WordPiece vocabulary (the models only need ids).
    """
    os.makedirs(folder, exist_ok=True)
    tokenizer = build_tokenizer(folder)
    torch.manual_seed(seed)
    if kind == "bert":
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            intermediate_size=128,
            max_position_embeddings=128,
        )
        model = BertModel(config)
    elif kind == "distilbert":
        config = DistilBertConfig(
            vocab_size=len(tokenizer),
            dim=32,
            n_layers=layers,
            n_heads=2,
            hidden_dim=64,
            max_position_embeddings=128,
        )
        model = DistilBertModel(config)
    else:
        model = _family_model(kind, tokenizer, layers)
    model.save_pretrained(folder)
    return folder
