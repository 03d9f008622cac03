"""Class-imbalance weights: auto values on hand-made splits, the weighted loss, and full runs."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_args
from datasets import Dataset
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainingArguments

import train
from tasks import DataConfig, TaskError, get_task
from trainer_tasks.training.distillation import DistillationArguments
from trainer_tasks.training.trainer import TaskTrainer
from trainer_tasks.training.variants import build_trainer
from trainer_tasks.training.weighted_loss import LossArguments, LossWeights, WeightedLoss, compute_loss_weights

TOXIC, NEWS = get_task("toxic"), get_task("news")


def multi_label_split(rows: list[list[int]]) -> Dataset:
    return Dataset.from_dict({"text": ["x"] * len(rows), "labels": [[float(v) for v in row] for row in rows]})


def test_auto_pos_weight_is_negatives_over_positives_per_label():
    # 10 rows; positives per label: toxic 4, severe_toxic 1, obscene 2, threat 0, insult 5, identity_hate 1
    rows = [[0] * 6 for _ in range(10)]
    for row, column in [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (4, 2), (5, 2), *[(i, 4) for i in range(5)], (9, 5)]:
        rows[row][column] = 1
    weights = compute_loss_weights(TOXIC, multi_label_split(rows), LossArguments(pos_weight=["auto"]))
    assert weights.kind == "pos_weight"
    assert weights.as_dict() == pytest.approx(
        {"toxic": 6 / 4, "severe_toxic": 9.0, "obscene": 4.0, "threat": 1.0, "insult": 1.0, "identity_hate": 9.0}
    )  # threat has no positives: weight 1 (it never enters the loss)


def test_auto_pos_weight_is_capped():
    rows = [[1, 0, 0, 0, 0, 0]] + [[0, 1, 1, 1, 1, 1]] * 199
    capped = compute_loss_weights(TOXIC, multi_label_split(rows), LossArguments(pos_weight=["auto"]))
    assert capped.values[0] == 50.0 and capped.values[1] == pytest.approx(1 / 199)
    loose = compute_loss_weights(TOXIC, multi_label_split(rows), LossArguments(pos_weight=["auto"], pos_weight_max=500))
    assert loose.values[0] == 199.0
    assert "capped at 50" in capped.source


def test_auto_class_weight_is_balanced_inverse_frequency():
    labels = [0] * 6 + [1] * 3 + [2]  # health (3) absent
    split = Dataset.from_dict({"text": ["x"] * 10, "labels": labels})
    weights = compute_loss_weights(NEWS, split, LossArguments(class_weight=["auto"]))
    assert weights.kind == "class_weights"
    assert weights.values == pytest.approx([10 / 18, 10 / 9, 10 / 3, 1.0])
    assert np.mean([weights.values[label] for label in labels]) == pytest.approx(1.0)


def test_given_weights_and_bad_weights():
    given = compute_loss_weights(
        TOXIC, multi_label_split([[0] * 6]), LossArguments(pos_weight=["1", "2", "3", "4", "5", "6"])
    )
    assert given.values == [1, 2, 3, 4, 5, 6] and given.source == "given on the command line"
    assert compute_loss_weights(TOXIC, multi_label_split([[0] * 6]), LossArguments()) is None
    with pytest.raises(TaskError, match=r"--pos_weight has 2 value\(s\) but task 'toxic' has 6 labels"):
        compute_loss_weights(TOXIC, multi_label_split([[0] * 6]), LossArguments(pos_weight=["1", "2"]))
    with pytest.raises(TaskError, match=r"--pos_weight is for multi-label tasks.*use --class_weight"):
        compute_loss_weights(NEWS, Dataset.from_dict({"labels": [0]}), LossArguments(pos_weight=["auto"]))
    with pytest.raises(TaskError, match="--class_weight is for single-label tasks"):
        compute_loss_weights(TOXIC, multi_label_split([[0] * 6]), LossArguments(class_weight=["auto"]))
    for bad in (["-1"], ["abc"], ["auto", "2"], ["0"]):
        with pytest.raises(TaskError, match="--pos_weight must be 'auto' or one positive number per label"):
            LossArguments(pos_weight=bad)


@pytest.fixture(scope="module")
def toxic_batch(tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    batch = tokenizer(["idiot kill", "thanks for the edit", "crap moron hurt"], padding=True, return_tensors="pt")
    batch["labels"] = torch.tensor([[1, 0, 0, 1, 1, 0], [0] * 6, [1, 0, 1, 1, 1, 0]], dtype=torch.float32)
    return batch


def _trainer(model, tmp_path, weights: LossWeights | None):
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    if weights is None:
        return TaskTrainer(model=model, args=args)
    return TaskTrainer(model=model, args=args, task_loss=WeightedLoss(weights))


def test_weighted_bce_is_the_model_loss_at_weight_one_and_weighs_positives(tiny_bert, toxic_batch, tmp_path):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=6, problem_type="multi_label_classification"
    ).eval()
    ones = _trainer(model, tmp_path, LossWeights("pos_weight", list(TOXIC.labels), [1.0] * 6, "test"))
    stock = _trainer(model, tmp_path, None)
    with torch.no_grad():
        assert ones.compute_loss(model, dict(toxic_batch)).item() == pytest.approx(
            stock.compute_loss(model, dict(toxic_batch)).item(), rel=1e-6
        )
        weights = [2.0, 1.0, 3.0, 10.0, 0.5, 1.0]
        weighted = _trainer(model, tmp_path, LossWeights("pos_weight", list(TOXIC.labels), weights, "test"))
        logits = model(**{k: v for k, v in toxic_batch.items() if k != "labels"}).logits
        expected = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(weights))(logits, toxic_batch["labels"])
        assert weighted.compute_loss(model, dict(toxic_batch)).item() == pytest.approx(expected.item(), rel=1e-6)


def test_build_trainer_picks_the_variant(tiny_bert, tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=4)
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    split = Dataset.from_dict({"text": ["x"] * 4, "labels": [0, 1, 2, 3]})
    no_teacher = DistillationArguments()
    plain = build_trainer(NEWS, split, LossArguments(), no_teacher, model=model, args=args)
    weighted = build_trainer(NEWS, split, LossArguments(class_weight=["auto"]), no_teacher, model=model, args=args)
    assert type(plain) is TaskTrainer
    assert type(weighted) is TaskTrainer and isinstance(weighted.task_loss, WeightedLoss)  # a value, not a subclass
    assert weighted.task_loss.weights.values == [1.0] * 4


def test_toxic_run_with_auto_pos_weight_from_a_recipe(tmp_path, tiny_distilbert, toxic_csv):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"task: toxic\ndata_files: [{toxic_csv}]\npos_weight: auto\npos_weight_max: 20\n")
    results = train.main([str(recipe), *train_args(tiny_distilbert, str(tmp_path / "out"))])
    train_labels = np.array(TOXIC.build_dataset(DataConfig(data_files=(toxic_csv,), seed=7))["train"]["labels"])
    positives = train_labels.sum(axis=0)
    expected = np.minimum((len(train_labels) - positives) / positives, 20.0)
    assert list(results["pos_weight"].values()) == pytest.approx(expected.tolist(), rel=1e-5)
    assert list(results["pos_weight"]) == list(TOXIC.labels)
    assert results["class_weights"] is None and "capped at 20" in results["loss_weighting"]
    assert results["epochs"][-1]["train_loss"] < results["epochs"][0]["train_loss"]
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["pos_weight"] == results["pos_weight"]


def test_news_run_with_class_weights_has_no_thresholds(tmp_path, tiny_bert, news_csv):
    out = tmp_path / "out"
    flags = train_args(tiny_bert, str(out), "--num_train_epochs", "2")
    results = train.main(["--task", "news", "--data_files", news_csv, "--class_weight", "1", "2", "1", "1", *flags])
    assert results["class_weights"] == {"business": 1.0, "science/tech": 2.0, "entertainment": 1.0, "health": 1.0}
    assert results["pos_weight"] is None and results["loss_weighting"] == "given on the command line"
    assert results["test_metrics"]["test_accuracy"] > 0.4
    assert "thresholds" not in results and "thresholds" not in json.loads(Path(out, "config.json").read_text())
