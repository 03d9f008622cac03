"""``--long_text chunk``: a label that shows only past the first window is learnt and predicted.

Every generated text is filler words followed by its topic words, so a model truncated to 32 tokens sees
filler only (chance), while windows of 32 tokens with a stride reach the topic. Validation and test are
scored per text (window logits aggregated), and ``predict`` aggregates the same way, in input order.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import train_args

import train
from trainer_tasks import testing
from trainer_tasks.inference.classifier import TextClassifier
from trainer_tasks.training.long_text import aggregate, first_rows, texts_chunked

TOPICS = ("b", "e")
WINDOW = ["--max_seq_length", "32", "--learning_rate", "1e-3", "--per_device_eval_batch_size", "64"]


def long_text(rng: random.Random, topic: str) -> str:
    """40-50 filler words, then three of the topic's words: past the first 32-token window."""
    filler = [rng.choice(testing.FILLER) for _ in range(rng.randint(40, 50))]
    return " ".join([*filler, *rng.choices(testing.NEWS_WORDS[topic], k=3)])


def write_long(path: Path, n: int = 300, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(n):
            topic = TOPICS[i % 2]
            writer.writerow([long_text(rng, topic), topic])
    return path


def run(tiny_bert: str, data: Path, out: Path, *extra: str) -> dict:
    return train.main(train_args(tiny_bert, str(out), "--task", "text", "--data_files", str(data), *WINDOW, *extra))


@pytest.fixture(scope="module")
def long_data(tmp_path_factory) -> Path:
    return write_long(tmp_path_factory.mktemp("long") / "long.csv")


@pytest.fixture(scope="module")
def chunked_run(tiny_bert, long_data, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("chunked")
    return out, run(tiny_bert, long_data, out, "--long_text", "chunk", "--stride", "16")


def test_aggregate_mean_and_max_per_text():
    values = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, -1.0], [0.0, 4.0]])
    index = np.array([0, 0, 1, 0])
    assert aggregate(values, index, "mean").tolist() == [[4 / 3, 2.0], [5.0, -1.0]]
    assert aggregate(values, index, "max").tolist() == [[3.0, 4.0], [5.0, -1.0]]
    assert first_rows(np.array([7, 7, 9, 7]), index).tolist() == [7, 9]
    assert texts_chunked(index) == 1


def test_chunk_learns_a_label_past_the_first_window(chunked_run, tiny_bert, long_data, tmp_path):
    out, chunked = chunked_run
    truncated = run(tiny_bert, long_data, tmp_path / "truncated")
    chunk_accuracy = chunked["test_metrics"]["test_accuracy"]
    truncate_accuracy = truncated["test_metrics"]["test_accuracy"]
    assert chunk_accuracy >= 0.8 and chunk_accuracy >= truncate_accuracy + 0.25, (chunk_accuracy, truncate_accuracy)
    assert truncate_accuracy <= 0.75  # filler only: chance is 0.5
    record = chunked["long_text"]
    assert record["mode"] == "chunk" and record["stride"] == 16 and record["aggregation"] == "mean"
    test_texts = chunked["data"]["test_size"]
    assert record["texts_chunked"]["test"] == test_texts  # every text is longer than one window
    assert record["windows"]["test"] > test_texts
    assert truncated["long_text"] == {"mode": "truncate"}
    assert json.loads((out / "results.json").read_text())["long_text"] == record
    predictions = np.load(out / "predictions_test.npz")
    assert len(predictions["logits"]) == len(predictions["labels"]) == test_texts  # per text, not per window
    assert "| long_text | chunk |" in (out / "README.md").read_text()
    assert "| long_text | truncate |" in (tmp_path / "truncated" / "README.md").read_text()


def test_chunked_predict_keeps_order_and_aggregates_windows(chunked_run):
    out, _ = chunked_run
    rng = random.Random(5)
    topics = [TOPICS[i % 2] for i in range(9)]
    texts = [long_text(rng, topic) for topic in topics]
    texts[3] = "stocks"  # a short text: one window
    topics[3] = "b"
    classifier = TextClassifier.load(str(out), precision="fp32", max_length=32)
    chunked = classifier.predict(texts, long_text="chunk", stride=16, batch_size=4)
    assert [labels[0] for labels in chunked.labels] == topics
    assert not chunked.truncated.any()

    encoded, owners = classifier.encode_windows(texts, 16)
    windows = [classifier.tokenizer.decode(ids, skip_special_tokens=True) for ids in encoded["input_ids"]]
    window_logits, _ = classifier.logits(windows, batch_size=64)  # each window alone, in order
    expected = classifier.scores(aggregate(window_logits, owners, "mean"))
    np.testing.assert_allclose(chunked.scores, expected, atol=1e-5)

    default = classifier.predict(texts)  # truncate: unchanged, flags the cut texts
    assert default.truncated.sum() == len(texts) - 1
    np.testing.assert_allclose(default.scores, classifier.predict(texts, long_text="truncate").scores)


def test_validation_scores_during_training_are_per_text(chunked_run, long_data):
    """The kept evaluation's score equals the saved model's per-text accuracy on the validation texts, recomputed
    with chunked predict: the windows reached the metric in dataset order and were aggregated per text."""
    from tasks import get_task
    from tasks.base import DataConfig

    out, chunked = chunked_run
    config = DataConfig(data_files=(str(long_data),), seed=7)
    validation = get_task("text").for_data(config).build_dataset(config)["validation"]
    classifier = TextClassifier.load(str(out), precision="fp32", max_length=32)
    scores = classifier.predict(validation["text"], progress=False, long_text="chunk", stride=16).scores
    accuracy = float(np.mean(np.argmax(scores, axis=1) == np.array(validation["labels"])))
    assert accuracy == pytest.approx(chunked["kept_model"]["value"], abs=1.5 / len(validation))


def write_long_multi_label(path: Path, n: int = 600, seed: int = 1) -> Path:
    """0/1 columns ``b`` and ``e``: each text carries the words of its topics (none for half of them, as most
    comments are not toxic; one, the other or both), all past the first 32-token window."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "b", "e"])
        for i in range(n):
            topics = [(), (), (), ("b",), ("e",), ("b", "e")][i % 6]
            filler = [rng.choice(testing.FILLER) for _ in range(rng.randint(40, 50))]
            words = [word for topic in topics for word in rng.choices(testing.NEWS_WORDS[topic], k=3)]
            writer.writerow([" ".join([*filler, *words]), int("b" in topics), int("e" in topics)])
    return path


@pytest.mark.slow
def test_multi_label_chunk_takes_the_max_of_windows_per_label(tiny_bert, tmp_path):
    """Multi-label: a label present in any window is present in the text (max of window logits, the default).

    Each window is trained on its text's labels, so a filler-only window learns the labels' base rate: below
    0.5 when labels are rarer than not (as in toxic comments), and the max then keeps the window with the words."""
    data = write_long_multi_label(tmp_path / "multi.csv")
    multi = ["--label_columns", "b", "e", "--num_train_epochs", "10"]
    chunked = run(tiny_bert, data, tmp_path / "chunked", *multi, "--long_text", "chunk", "--stride", "16")
    truncated = run(tiny_bert, data, tmp_path / "truncated", *multi)
    assert chunked["long_text"]["aggregation"] == "max"
    chunk_score = chunked["test_metrics"]["test_jaccard_samples"]
    truncate_score = truncated["test_metrics"]["test_jaccard_samples"]
    assert chunk_score >= 0.8 and chunk_score >= truncate_score + 0.15, (chunk_score, truncate_score)

    classifier = TextClassifier.load(str(tmp_path / "chunked"), precision="fp32", max_length=32)
    with open(data, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:12]
    predicted = classifier.predict([row["text"] for row in rows], long_text="chunk", stride=16, batch_size=5)
    encoded, owners = classifier.encode_windows([row["text"] for row in rows], 16)
    windows = [classifier.tokenizer.decode(ids, skip_special_tokens=True) for ids in encoded["input_ids"]]
    window_logits, _ = classifier.logits(windows, batch_size=64)
    np.testing.assert_allclose(predicted.scores, classifier.scores(aggregate(window_logits, owners, "max")), atol=1e-5)


@pytest.mark.slow
def test_chunked_run_on_two_processes_scores_each_text_once_in_order(tiny_bert, long_data, tmp_path):
    """Under 2-process DDP the windows of the test split are sharded and gathered: the per-text predictions
    come back in the test split's order, one per text, as a single process gives them."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"), "--num_processes", "2",
        "--main_process_port", "29641", str(ROOT / "train.py"),
        *train_args(tiny_bert, str(out), "--task", "text", "--data_files", str(long_data), *WINDOW,
                    "--long_text", "chunk", "--stride", "16"),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2
    test_texts = results["data"]["test_size"]
    predictions = np.load(out / "predictions_test.npz")
    assert len(predictions["labels"]) == test_texts  # each text once: padding windows of the last batch dropped

    from tasks import get_task
    from tasks.base import DataConfig

    config = DataConfig(data_files=(str(long_data),), seed=7)
    test = get_task("text").for_data(config).build_dataset(config)["test"]
    assert predictions["labels"].tolist() == list(test["labels"])  # the split's order
    classifier = TextClassifier.load(str(out), precision="fp32", max_length=32)
    scores = classifier.predict(test["text"], progress=False, long_text="chunk", stride=16).scores
    np.testing.assert_allclose(classifier.scores(predictions["logits"]), scores, atol=1e-4)
