"""End-to-end ``train.py`` runs in-process on tiny models, then real ``pipeline()`` reloads."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import train_args
from transformers import AutoConfig, pipeline

import train
from tasks import TaskError


@pytest.fixture(scope="module")
def news_run(tmp_path_factory, tiny_bert, news_csv):
    out = str(tmp_path_factory.mktemp("news-run"))
    results = train.main(["--task", "news", "--data_files", news_csv, *train_args(tiny_bert, out)])
    return out, results


@pytest.fixture(scope="module")
def toxic_run(tmp_path_factory, tiny_distilbert, toxic_csv):
    out = str(tmp_path_factory.mktemp("toxic-run"))
    flags = train_args(tiny_distilbert, out, "--num_train_epochs", "4")
    results = train.main(["--task", "toxic", "--data_files", toxic_csv, *flags])
    return out, results


def test_news_run_learns_and_writes_results(news_run):
    out, results = news_run
    on_disk = json.loads(Path(os.path.join(out, "results.json")).read_text())
    assert on_disk["test_metrics"]["test_accuracy"] == results["test_metrics"]["test_accuracy"]
    assert results["test_metrics"]["test_accuracy"] > 0.5  # 4 balanced classes: chance is 0.25
    assert results["data"] == on_disk["data"] and results["data"]["split"] == "random"
    assert (results["data"]["train_size"], results["data"]["validation_size"], results["data"]["test_size"]) == (
        576,
        64,
        160,
    )
    epochs = results["epochs"]
    assert [row["epoch"] for row in epochs] == [1, 2, 3, 4, 5, 6]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert all(row["val_loss"] is not None and row["train_time"] > 0 for row in epochs)
    assert epochs[-1]["total_time"] >= epochs[0]["total_time"]
    table = Path(os.path.join(out, "results.md")).read_text()
    assert "| epoch | train loss | val loss | val accuracy |" in table and "random" in table


def test_saved_news_model_serves_softmax_pipeline(news_run):
    out, _ = news_run
    config = AutoConfig.from_pretrained(out)
    assert config.problem_type == "single_label_classification"
    assert config.id2label == {0: "business", 1: "science/tech", 2: "entertainment", 3: "health"}
    classify = pipeline("text-classification", model=out, top_k=None)
    scores = classify(["stocks market profit shares", "film star movie album"])
    for row in scores:
        assert {s["label"] for s in row} == set(config.id2label.values())
        assert math.isclose(sum(s["score"] for s in row), 1.0, rel_tol=1e-5)
    assert scores[0][0]["label"] == "business" and scores[1][0]["label"] == "entertainment"


def test_toxic_run_reports_multi_label_metrics(toxic_run):
    _, results = toxic_run
    metrics = results["test_metrics"]
    for key in ("jaccard_samples", "hamming_accuracy", "f1_micro", "f1_macro", "exact_match", "roc_auc_toxic"):
        assert f"test_{key}" in metrics
    assert results["primary_metric"] == "jaccard_samples"
    assert metrics["test_roc_auc_toxic"] > 0.8
    assert results["epochs"][-1]["train_loss"] < results["epochs"][0]["train_loss"]


def test_saved_toxic_model_serves_independent_sigmoid_scores(toxic_run):
    out, _ = toxic_run
    config = AutoConfig.from_pretrained(out)
    assert config.problem_type == "multi_label_classification"
    classify = pipeline("text-classification", model=out, top_k=None)
    rows = classify(["thanks for the citation", "stupid idiot moron kill hurt"])
    for row in rows:
        assert {s["label"] for s in row} == {"toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"}
        assert all(0.0 < s["score"] < 1.0 for s in row)
    # sigmoid scores are independent: they need not sum to one
    assert not np.isclose(sum(s["score"] for s in rows[1]), 1.0)
    toxic_score = {r["label"]: r["score"] for r in rows[1]}["toxic"]
    clean_score = {r["label"]: r["score"] for r in rows[0]}["toxic"]
    assert toxic_score > clean_score


def test_fixed_length_padding_option_runs(tmp_path, tiny_bert, news_csv):
    # 100 / 16 = 7 steps: the epoch's last step is also a logging step
    flags = train_args(tiny_bert, str(tmp_path), "--num_train_epochs", "1", "--logging_steps", "7")
    results = train.main(
        [
            "--task", "news", "--data_files", news_csv, "--pad_to_max_length", "--max_seq_length", "24",
            "--max_train_samples", "100", "--max_eval_samples", "20", "--max_predict_samples", "30", *flags,
        ]
    )  # fmt: skip
    assert results["data"]["pad_to_max_length"] and results["test_metrics"]["test_loss"] > 0
    assert math.isfinite(results["epochs"][0]["train_loss"])
    assert (results["data"]["train_size"], results["data"]["test_size"]) == (100, 30)


def test_offline_hub_id_gives_one_line_error(tmp_path, news_csv):
    with pytest.raises(TaskError, match=r"not a local folder.*Offline\? Pass a local folder"):
        train.main(["--task", "news", "--data_files", news_csv, "--output_dir", str(tmp_path)])


def test_missing_task_is_an_error(tmp_path):
    with pytest.raises(TaskError, match="--task is required"):
        train.main(["--output_dir", str(tmp_path)])
