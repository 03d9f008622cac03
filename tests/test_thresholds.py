"""Per-label thresholds: the sweep, the validation-only rule (a planted test signal), save and reload."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import train_args
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score
from transformers import AutoConfig, AutoModelForSequenceClassification, pipeline

import train
from tasks import DataConfig, TaskError, get_task
from trainer_tasks.inference.classifier import TextClassifier
from trainer_tasks.training.thresholds import ThresholdArguments, best_threshold, tune_label_thresholds

LABELS = list(get_task("toxic").labels)


def test_sweep_picks_the_f1_optimal_midpoint():
    scores = np.array([0.9, 0.8, 0.7, 0.35, 0.3, 0.2, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 0, 0])
    threshold, value = best_threshold(scores, labels, "f1")
    # cut below 0.35: tp 3, fp 1, fn 0 -> F1 6/7; cut below 0.8: tp 2, fn 1 -> 0.8
    assert threshold == pytest.approx((0.35 + 0.3) / 2)
    assert value == pytest.approx(6 / 7)
    assert f1_score(labels, scores >= threshold) == pytest.approx(value)


def test_objectives_move_the_cut_off_the_expected_way():
    scores = np.array([0.95, 0.9, 0.6, 0.55, 0.5, 0.45, 0.4, 0.2, 0.15, 0.1])
    labels = np.array([1, 1, 0, 1, 0, 1, 0, 0, 1, 0])
    recall_first, _ = best_threshold(scores, labels, "f2")
    precision_first, _ = best_threshold(scores, labels, "f0.5")
    assert recall_first < precision_first
    assert precision_first == pytest.approx((0.9 + 0.6) / 2)  # only the two sure positives


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=2, max_size=40).filter(
        lambda rows: any(label for _, label in rows)
    )
)
def test_sweep_matches_brute_force_over_every_cut_off(rows):
    scores = np.array([score / 20 for score, _ in rows])  # coarse scores: many ties
    labels = np.array([int(label) for _, label in rows])
    threshold, value = best_threshold(scores, labels, "f1")
    brute = max(f1_score(labels, scores >= cut, zero_division=0) for cut in np.unique(scores))
    assert value == pytest.approx(brute)
    assert f1_score(labels, scores >= threshold, zero_division=0) == pytest.approx(brute)


def test_labels_with_too_few_validation_positives_keep_one_half():
    probabilities = np.array([[0.9, 0.2], [0.3, 0.6], [0.8, 0.1], [0.1, 0.3]])
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    rows = tune_label_thresholds(probabilities, labels, ["a", "b"], "f1", min_positives=2)
    assert rows[0].tuned and rows[0].threshold == pytest.approx(0.55)
    assert not rows[1].tuned and rows[1].threshold == 0.5 and "1 positive" in rows[1].note


def test_bad_threshold_options_are_errors():
    with pytest.raises(TaskError, match="threshold_objective"):
        ThresholdArguments(threshold_objective="accuracy")
    with pytest.raises(TaskError, match="threshold_min_positives"):
        ThresholdArguments(threshold_min_positives=0)


PLANTED_TASK = '''
from dataclasses import replace

from tasks.toxic import TOXIC, build_toxic


def build(config):
    """The toxic splits with every TEST label flipped: train and validation are untouched."""
    splits = build_toxic(config)
    splits["test"] = splits["test"].map(lambda row: {"labels": [1.0 - value for value in row["labels"]]})
    return splits


PLANTED = replace(TOXIC, name="toxic_planted", build_dataset=build)
'''


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory, tiny_distilbert, toxic_csv):
    """The same seeded run twice: on the real splits, and with the test labels flipped."""
    folder = tmp_path_factory.mktemp("planted")
    task_file = folder / "planted_task.py"
    task_file.write_text(PLANTED_TASK)
    runs = {}
    for name, task in (("clean", "toxic"), ("planted", f"{task_file}:PLANTED")):
        out = str(folder / name)
        flags = train_args(tiny_distilbert, out, "--threshold_min_positives", "3")
        runs[name] = (out, train.main(["--task", task, "--data_files", toxic_csv, *flags]))
    return runs


def test_thresholds_come_from_validation_only(planted_runs, toxic_csv):
    (_, clean), (planted_out, planted) = planted_runs["clean"], planted_runs["planted"]
    assert set(clean["thresholds"]) == set(LABELS)
    assert any(row["tuned"] for row in clean["threshold_tuning"])
    # the flipped test labels reached the test metrics ...
    assert planted["test_metrics_tuned"]["test_f1_toxic"] < 0.5 < clean["test_metrics_tuned"]["test_f1_toxic"]
    # ... and thresholds tuned on them would differ: flipped labels favour the opposite cut-offs
    test_split = get_task("toxic").build_dataset(DataConfig(data_files=(toxic_csv,), seed=7))["test"]
    flipped = 1 - np.array(test_split["labels"]).astype(int)
    scores = TextClassifier.load(planted_out).predict(test_split["text"]).scores
    on_test = {row.label: row.threshold for row in tune_label_thresholds(scores, flipped, LABELS, "f1", 3)}
    assert on_test != pytest.approx(planted["thresholds"], abs=1e-3)
    # ... yet the planted run chose exactly the thresholds of the clean run
    assert planted["thresholds"] == pytest.approx(clean["thresholds"], abs=1e-6)


def test_test_metrics_are_reported_at_one_half_and_at_the_tuned_thresholds(planted_runs):
    out, results = planted_runs["clean"]
    at_half, tuned = results["test_metrics"], results["test_metrics_tuned"]
    assert {f"test_f1_{label}" for label in LABELS} <= set(at_half) & set(tuned)
    changed = [row["label"] for row in results["threshold_tuning"] if row["threshold"] != 0.5]
    assert changed and any(at_half[f"test_f1_{label}"] != tuned[f"test_f1_{label}"] for label in changed)
    # labels left at 0.5 score the same both ways: both come from the same test predictions
    for row in results["threshold_tuning"]:
        if row["threshold"] == 0.5:
            assert tuned[f"test_f1_{row['label']}"] == pytest.approx(at_half[f"test_f1_{row['label']}"])
    on_disk = json.loads(Path(out, "results.json").read_text())
    assert on_disk["thresholds"] == results["thresholds"] and on_disk["threshold_objective"] == "f1"
    table = Path(out, "results.md").read_text()
    assert "| label | threshold | val positives | test @0.5 | test @tuned |" in table


def test_thresholds_survive_save_and_reload(planted_runs, tmp_path):
    out, results = planted_runs["clean"]
    saved = json.loads(Path(out, "config.json").read_text())
    assert saved["thresholds"] == results["thresholds"]
    assert saved["problem_type"] == "multi_label_classification"
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.thresholds == results["thresholds"]
    # a second save (what push_to_hub uploads) keeps them too
    model.save_pretrained(tmp_path / "again")
    assert AutoConfig.from_pretrained(tmp_path / "again").thresholds == results["thresholds"]
    # the extra config key does not disturb the stock pipeline
    scores = pipeline("text-classification", model=out, top_k=None)(["idiot kill"])[0]
    assert len(scores) == len(LABELS)
    assert os.path.isfile(os.path.join(out, "model.safetensors"))
