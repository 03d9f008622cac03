"""Sentence pairs end to end: a ``--task text`` model trained on two columns predicts from those columns.

A tiny BERT is trained for real on generated pairs whose label needs both texts ("same" when they
share a topic). Its tokenizer lists ``token_type_ids``, as real BERT tokenizers do, so the second
segment's ids must reach the model: a runner that dropped them would score differently from
``pipeline()``, which is the reference here.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import train_args
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

import train
from trainer_tasks import testing
from trainer_tasks.commands import main as cli
from trainer_tasks.inference.classifier import TextClassifier

EXACT = ["--precision", "fp32"]  # scores are compared with pipeline()'s to 1e-5
SEGMENTS = ["input_ids", "token_type_ids", "attention_mask"]
LONG = " ".join(["stocks market profit"] * 60)  # with its partner, past the tiny model's 128 tokens
OUTPUT_KEYS = ["row", "text", "text_pair", "labels", "scores", "empty", "truncated"]


def topic_text(rng: random.Random, topic: str) -> str:
    """A topic word among filler words: which topic a text is on is plain, whether two agree is not."""
    words = [rng.choice(testing.NEWS_WORDS[topic]), *rng.sample(testing.FILLER, rng.randint(2, 5))]
    rng.shuffle(words)
    return " ".join(words)


def write_pairs(path: Path, n: int = 300, seed: int = 0) -> Path:
    """``premise,hypothesis,label``: "same" when both texts are on one topic; either text alone tells nothing."""
    rng = random.Random(seed)
    topics = sorted(testing.NEWS_WORDS)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["premise", "hypothesis", "label"])
        for i in range(n):
            first = rng.choice(topics)
            second = first if i % 2 == 0 else rng.choice([topic for topic in topics if topic != first])
            label = "same" if first == second else "different"
            writer.writerow([topic_text(rng, first), topic_text(rng, second), label])
    return path


@pytest.fixture(scope="module")
def segment_base(tmp_path_factory, tiny_bert) -> str:
    """The tiny BERT with a tokenizer that returns ``token_type_ids`` (segment 1 for the second text)."""
    folder = tmp_path_factory.mktemp("segment-bert")
    shutil.copytree(tiny_bert, folder, dirs_exist_ok=True)
    AutoTokenizer.from_pretrained(tiny_bert, model_input_names=SEGMENTS).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory, segment_base) -> str:
    root = tmp_path_factory.mktemp("pairs")
    data = write_pairs(root / "pairs.csv")
    out = str(root / "model")
    train.main(
        train_args(segment_base, out, "--task", "text", "--data_files", str(data),
                   "--text_column", "premise", "hypothesis", "--label_column", "label")
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def body_model(tmp_path_factory, tiny_bert) -> str:
    """A single-text ``--task text`` model trained on a ``body`` column."""
    root = tmp_path_factory.mktemp("body")
    rows = testing.news_rows(300)
    data = root / "tickets.csv"
    pd.DataFrame({"body": [row["TITLE"] for row in rows], "queue": [row["CATEGORY"] for row in rows]}).to_csv(
        data, index=False
    )
    out = str(root / "model")
    train.main(
        train_args(tiny_bert, out, "--task", "text", "--data_files", str(data), "--text_column", "body",
                   "--label_column", "queue", "--num_train_epochs", "2")
    )  # fmt: skip
    return out


def sample_pairs(n: int, seed: int = 1) -> tuple[list[str], list[str]]:
    """Pairs the model has not seen (another seed), half on one topic."""
    rng = random.Random(seed)
    topics = sorted(testing.NEWS_WORDS)
    texts, pairs = [], []
    for i in range(n):
        first = rng.choice(topics)
        second = first if i % 2 == 0 else rng.choice([topic for topic in topics if topic != first])
        texts.append(topic_text(rng, first))
        pairs.append(topic_text(rng, second))
    return texts, pairs


def pipeline_scores(model: str, texts: list[str], pairs: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """``pipeline()``'s scores in the model's label order and its top labels: the reference predictions."""
    pipe = pipeline("text-classification", model=model, device="cpu")
    labels = [pipe.model.config.id2label[i] for i in range(pipe.model.config.num_labels)]
    inputs = texts if pairs is None else [{"text": a, "text_pair": b} for a, b in zip(texts, pairs, strict=True)]
    results = pipe(inputs, top_k=None, truncation=True)
    scores = np.array([[{r["label"]: r["score"] for r in result}[label] for label in labels] for result in results])
    return scores, [labels[int(np.argmax(row))] for row in scores]


def forward_scores(model: str, text: str, pair: str, segments: bool = True) -> np.ndarray:
    """The model's own softmax on ``tokenizer(text, pair)``; without ``segments``, as if token_type_ids were lost."""
    tokenizer = AutoTokenizer.from_pretrained(model)
    network = AutoModelForSequenceClassification.from_pretrained(model).eval()
    inputs = tokenizer(text, pair, truncation=True, return_tensors="pt")
    if not segments:
        inputs.pop("token_type_ids")
    with torch.no_grad():
        return torch.softmax(network(**inputs).logits[0], dim=-1).numpy()


def test_pipeline_takes_the_pair_model_and_agrees_with_text_classifier(pair_model):
    config = json.loads(Path(pair_model, "config.json").read_text())
    assert config["input_columns"] == ["premise", "hypothesis"]
    texts, pairs = sample_pairs(12)
    expected, top = pipeline_scores(pair_model, texts, pairs)
    classifier = TextClassifier.load(pair_model, precision="fp32")
    assert classifier.pairs and set(top) <= set(classifier.labels) == {"same", "different"}
    result = classifier.predict(texts, text_pairs=pairs, batch_size=5)
    np.testing.assert_allclose(result.scores, expected, atol=1e-5)
    assert [labels[0] for labels in result.labels] == top
    np.testing.assert_allclose(forward_scores(pair_model, texts[0], pairs[0]), expected[0], atol=1e-5)
    # the check has teeth: without the second segment's ids the model scores the pair differently
    # fp32 forward passes are deterministic: any difference is the segment ids' (a tiny model's can be ~1e-4)
    assert np.abs(forward_scores(pair_model, texts[0], pairs[0], segments=False) - expected[0]).max() > 1e-6


def test_pairs_batched_by_token_budget_score_as_one_by_one(pair_model):
    classifier = TextClassifier.load(pair_model, precision="fp32")
    texts, pairs = sample_pairs(9, seed=2)
    texts[3] = LONG
    one_by_one = classifier.predict(texts, text_pairs=pairs, batch_size=1)
    by_tokens = classifier.predict(texts, text_pairs=pairs, batch_tokens=40)
    np.testing.assert_allclose(by_tokens.scores, one_by_one.scores, atol=1e-5)
    assert by_tokens.truncated.tolist() == [i == 3 for i in range(9)]
    empty = classifier.predict(["", "", "x"], text_pairs=["", "only the second", ""])
    assert empty.empty.tolist() == [True, False, False] and empty.labels[0] == []


def read_predictions_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_predict_reads_the_models_two_columns_and_writes_both_texts(pair_model, tmp_path, capsys):
    texts, pairs = sample_pairs(8, seed=3)
    texts[2], pairs[2] = "", ""  # empty: kept, no scores
    texts[4] = ""  # one text of the pair: still classified
    texts[5], pairs[5] = 'a "quoted", comma\nand a newline', LONG
    source = tmp_path / "input.csv"
    pd.DataFrame({"id": range(8), "hypothesis": pairs, "premise": texts}).to_csv(source, index=False)
    output = tmp_path / "preds.csv"
    assert cli.main(["predict", pair_model, str(source), "--output", str(output), "--no_progress", *EXACT]) == 0
    table = read_predictions_csv(output)
    assert list(table[0]) == [
        "row",
        "text",
        "text_pair",
        "labels",
        "score_different",
        "score_same",
        "empty",
        "truncated",
    ]
    assert [line["row"] for line in table] == [str(i) for i in range(1, 9)]
    assert [line["text"] for line in table] == texts and [line["text_pair"] for line in table] == pairs
    present = [i for i in range(8) if i != 2]
    _, top = pipeline_scores(pair_model, [texts[i] for i in present], [pairs[i] for i in present])
    assert [table[i]["labels"] for i in present] == top
    assert table[2]["labels"] == "" and table[2]["empty"] == "1" and table[2]["score_same"] == ""
    assert [line["truncated"] for line in table] == ["1" if i == 5 else "0" for i in range(8)]
    assert "8 rows" in capsys.readouterr().err


def test_jsonl_pairs_under_other_names_with_text_column_a_b(pair_model, tmp_path, capsys):
    texts, pairs = sample_pairs(4, seed=4)
    source = tmp_path / "input.jsonl"
    lines = [json.dumps({"q": a, "d": b}) for a, b in zip(texts, pairs, strict=True)]
    source.write_text("\n".join([*lines[:2], "", *lines[2:]]) + "\n", encoding="utf-8")
    assert cli.main(["predict", pair_model, str(source), "--text_column", "q", "d", "--no_progress", *EXACT]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(row) for row in rows] == [OUTPUT_KEYS] * 5
    assert [row["text"] for row in rows] == [*texts[:2], "", *texts[2:]]
    assert [row["text_pair"] for row in rows] == [*pairs[:2], "", *pairs[2:]]
    assert [row["empty"] for row in rows] == [False, False, True, False, False]
    _, top = pipeline_scores(pair_model, texts, pairs)
    assert [row["labels"][0] for row in rows if not row["empty"]] == top


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    return error


def test_missing_second_column_and_plain_text_are_one_line_errors(pair_model, tmp_path, capsys):
    source = tmp_path / "half.csv"
    pd.DataFrame({"id": [1, 2], "premise": ["stocks fed", "film star"]}).to_csv(source, index=False)
    assert cli.main(["predict", pair_model, str(source), "--no_progress"]) == 2
    error = one_line_error(capsys)
    assert str(source) in error and "no column 'hypothesis'" in error and "found ['id', 'premise']" in error
    assert "--text_column A B" in error
    plain = tmp_path / "lines.txt"
    plain.write_text("stocks fed\nfilm star\n", encoding="utf-8")
    assert cli.main(["predict", pair_model, str(plain), "--no_progress"]) == 2
    error = one_line_error(capsys)
    assert "plain text holds one text a line" in error and "premise, hypothesis" in error
    assert cli.main(["predict", pair_model, str(source), "--text_column", "premise", "--no_progress"]) == 2
    assert "--text_column takes two names" in one_line_error(capsys)


def test_single_text_model_reads_its_own_column_without_options(body_model, tmp_path, capsys):
    assert json.loads(Path(body_model, "config.json").read_text())["input_columns"] == ["body"]
    texts = ["stocks market profit", "", "film star album", "vaccine study hospital"]
    source = tmp_path / "tickets.csv"
    pd.DataFrame({"id": range(4), "body": texts, "queue": ["?"] * 4}).to_csv(source, index=False)
    output = tmp_path / "preds.csv"
    assert cli.main(["predict", body_model, str(source), "--output", str(output), "--no_progress", *EXACT]) == 0
    table = read_predictions_csv(output)
    labels = TextClassifier.load(body_model).labels
    assert list(table[0]) == ["row", "text", "labels", *[f"score_{label}" for label in labels], "empty", "truncated"]
    assert [line["text"] for line in table] == texts and table[1]["empty"] == "1"
    _, top = pipeline_scores(body_model, [texts[i] for i in (0, 2, 3)])
    assert [table[i]["labels"] for i in (0, 2, 3)] == top
    capsys.readouterr()
    assert cli.main(["predict", body_model, str(source), "--text_column", "body", "id", "--no_progress"]) == 2
    assert "--text_column takes one name" in one_line_error(capsys)


def test_onnx_export_of_a_pair_model_predicts_pairs_as_pytorch(pair_model, tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX export needs pip install -e '.[dev]' (or [onnx])")
    from trainer_tasks.inference.onnx_export import export_onnx

    folder = str(tmp_path / "onnx")
    record = export_onnx(pair_model, folder)
    assert record["inputs"] == SEGMENTS and record["max_abs_score_difference"] <= 1e-4
    texts, pairs = sample_pairs(6, seed=5)
    exported = TextClassifier.load(folder).predict(texts, text_pairs=pairs, batch_size=4)
    reference = TextClassifier.load(pair_model, precision="fp32").predict(texts, text_pairs=pairs)
    assert np.abs(exported.scores - reference.scores).max() <= 1e-4 and exported.labels == reference.labels
