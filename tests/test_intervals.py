"""Bootstrap intervals of test metrics: exact per resample, seeded, by example or by group, in every report."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import train_args
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import EvalPrediction

import train
from tasks.metrics import multi_label_metrics, single_label_metrics
from trainer_tasks.record.intervals import (
    bootstrap_intervals,
    bootstrap_scores,
    fast_scores,
    paired_difference_interval,
    weight_chunks,
)
from trainer_tasks.record.run_record import DataRecord, RunRecord, TrainingRecord
from trainer_tasks.reports.compare import Run, difference, difference_line, load_run, write_report
from trainer_tasks.training.split_predictions import Predictions

NAMES = ("a", "b", "c")
SINGLE = single_label_metrics(NAMES)
MULTI = multi_label_metrics(NAMES)


@st.composite
def predictions(draw, multi: bool):
    """Logits rounded to a few values (ties, saturated sigmoids) and labels, for 1-60 rows."""
    rows = draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    logits = np.round(rng.normal(scale=draw(st.sampled_from([0.5, 3.0, 40.0])), size=(rows, 3)), 1)
    if multi:
        labels = (rng.random((rows, 3)) < draw(st.sampled_from([0.05, 0.3, 0.7]))).astype(np.float32)
    else:
        labels = rng.integers(0, draw(st.integers(1, 3)), rows)
    return logits.astype(np.float32), labels


def resampled_truth(metric_fn, logits, labels, counts) -> dict[str, float]:
    rows = np.repeat(np.arange(len(labels)), counts.astype(int))
    return metric_fn(EvalPrediction(predictions=logits[rows], label_ids=labels[rows]))


@settings(max_examples=40, deadline=None)
@given(st.booleans().flatmap(lambda multi: st.tuples(st.just(multi), predictions(multi))))
def test_fast_scores_equal_compute_metrics_on_every_resample(case):
    multi, (logits, labels) = case
    metric_fn = MULTI if multi else SINGLE
    point = metric_fn(EvalPrediction(predictions=logits, label_ids=labels))
    weights = next(weight_chunks(len(labels), None, 6, seed=1))
    fast = fast_scores(logits, labels, point, weights)
    assert set(fast) == set(point)  # every shared metric has its fast form
    for row, counts in enumerate(weights):
        truth = resampled_truth(metric_fn, logits, labels, counts)
        for key, value in truth.items():
            assert fast[key][row] == pytest.approx(value, abs=1e-9, nan_ok=True), key


@settings(max_examples=40, deadline=None)
@given(st.booleans().flatmap(lambda multi: st.tuples(st.just(multi), predictions(multi))))
def test_interval_contains_the_point_estimate(case):
    multi, (logits, labels) = case
    metric_fn = MULTI if multi else SINGLE
    point = metric_fn(EvalPrediction(predictions=logits, label_ids=labels))
    intervals = bootstrap_intervals(metric_fn, logits, labels, resamples=300)
    means = ("jaccard_samples", "hamming_accuracy", "exact_match") if multi else ("accuracy",)
    for key in means:  # a mean of per-row scores: its bootstrap distribution is centred on the point
        low, high = intervals[key]
        assert low - 1e-12 <= point[key] <= high + 1e-12


def correct_rows(rows: int, accuracy: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two-class logits right on exactly ``accuracy`` of ``rows`` rows, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    right = rng.permutation(np.arange(rows) < round(accuracy * rows))
    predicted = np.where(right, labels, 1 - labels)
    return np.eye(2, dtype=np.float32)[predicted], labels


def width(bounds: tuple[float, float]) -> float:
    return bounds[1] - bounds[0]


def test_interval_narrows_with_more_data():
    metric_fn = single_label_metrics(("x", "y"))
    small = bootstrap_intervals(metric_fn, *correct_rows(500, 0.8))["accuracy"]
    large = bootstrap_intervals(metric_fn, *correct_rows(2000, 0.8))["accuracy"]
    assert 0.4 < width(large) / width(small) < 0.6  # 4x the rows: about half the width (1/sqrt(4))
    assert width(small) == pytest.approx(2 * 1.96 * (0.8 * 0.2 / 500) ** 0.5, rel=0.2)


def test_same_seed_same_interval_other_seed_other_interval():
    logits, labels = correct_rows(300, 0.7)
    first = bootstrap_intervals(SINGLE, logits, labels, seed=3)
    assert bootstrap_intervals(SINGLE, logits, labels, seed=3) == first
    assert bootstrap_intervals(SINGLE, logits, labels, seed=4) != first


def test_by_group_is_wider_when_groups_are_correlated():
    """Planted: 100 groups of 10 rows, each group all right or all wrong. By example the 1000 rows look
    independent; by group there are only 100 independent draws, so the interval is about sqrt(10) wider."""
    rng = np.random.default_rng(0)
    group_right = rng.random(100) < 0.7
    labels = rng.integers(0, 2, 1000)
    groups = np.repeat([f"g{i}" for i in range(100)], 10)
    predicted = np.where(np.repeat(group_right, 10), labels, 1 - labels)
    logits = np.eye(2, dtype=np.float32)[predicted]
    metric_fn = single_label_metrics(("x", "y"))
    by_example = bootstrap_intervals(metric_fn, logits, labels)["accuracy"]
    by_group = bootstrap_intervals(metric_fn, logits, labels, groups=groups)["accuracy"]
    assert width(by_group) > 2.5 * width(by_example)


def test_a_metric_without_a_fast_form_is_computed_by_calling_it():
    """A task's own metric (here a 0.3 threshold and an extra key): the fast scores disagree, so each resample
    is scored by the task's function itself, and the intervals are those of a plain loop."""
    base = multi_label_metrics(NAMES, threshold=0.3)

    def own_metrics(prediction):
        return {**base(prediction), "positives": float(np.asarray(prediction.label_ids).sum())}

    logits, labels = _multi_case()
    scores = bootstrap_scores(own_metrics, logits, labels, resamples=50, seed=2)
    weights = next(weight_chunks(len(labels), None, 50, seed=2))
    loop = [resampled_truth(own_metrics, logits, labels, counts) for counts in weights]
    for key in ("jaccard_samples", "f1_micro", "positives"):
        assert scores[key] == pytest.approx([row[key] for row in loop], abs=1e-12)


def _multi_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    labels = (rng.random((80, 3)) < 0.4).astype(np.float32)
    return (labels * 2 - 1 + rng.normal(size=(80, 3))).astype(np.float32), labels


def test_speed_5000_rows_1000_resamples():
    """The default resamples for a 5000-row test stay well inside the ~10 s budget on 2 CPU cores."""
    import time

    logits, labels = _multi_case()
    rows = np.random.default_rng(0).integers(0, len(labels), 5000)
    start = time.perf_counter()
    bootstrap_intervals(MULTI, logits[rows], labels[rows])
    assert time.perf_counter() - start < 10


def test_paired_difference_is_zero_for_the_same_model_and_sees_a_clear_gap():
    logits, labels = correct_rows(1000, 0.8)
    metric_fn = single_label_metrics(("x", "y"))
    assert paired_difference_interval(metric_fn, logits, logits, labels, "accuracy") == (0.0, 0.0)
    better = logits.copy()
    wrong = np.flatnonzero(logits.argmax(-1) != labels)[:60]  # fix 60 of its 200 mistakes: +0.06
    better[wrong] = np.eye(2, dtype=np.float32)[labels[wrong]]
    low, high = paired_difference_interval(metric_fn, logits, better, labels, "accuracy")
    assert 0 < low < 0.06 < high


def fake_run(name: str, logits, labels, intervals: dict | None) -> Run:
    accuracy = float((logits.argmax(-1) == labels).mean())
    record = RunRecord(
        task="text", problem_type="single_label_classification", labels=["x", "y"], primary_metric="accuracy",
        model_name_or_path="m", data=DataRecord(split="random", train_size=1, validation_size=1, test_size=len(labels)),
        training=TrainingRecord(learning_rate=1e-4, per_device_train_batch_size=8, num_train_epochs=1, seed=1,
                                global_steps=1),
        test_metrics={"test_accuracy": accuracy}, test_intervals=intervals,
    )  # fmt: skip
    kept = Predictions(logits, labels, ("x", "y"), "single_label_classification")
    return Run(name, f"/runs/{name}", record, None, kept, [], None)


def test_compare_pairs_the_bootstrap_when_predictions_allow_and_else_checks_overlap():
    logits, labels = correct_rows(1000, 0.8)
    better = logits.copy()
    wrong = np.flatnonzero(logits.argmax(-1) != labels)[:60]
    better[wrong] = np.eye(2, dtype=np.float32)[labels[wrong]]
    record = {"method": "example", "resamples": 1000, "seed": 0, "confidence": 0.95}
    first = fake_run("base", logits, labels, record | {"metrics": {"accuracy": [0.775, 0.825]}})
    second = fake_run("fixed", better, labels, record | {"metrics": {"accuracy": [0.837, 0.882]}})
    paired = difference(first, second, "accuracy")
    assert paired["method"] == "paired bootstrap" and paired["clear"] and paired["interval"][0] > 0
    assert "fixed is better on this test set" in difference_line(paired)

    second.predictions = None  # no saved predictions: the recorded intervals' overlap, worded as rough
    rough = difference(first, second, "accuracy")
    assert rough["method"] == "interval overlap" and rough["clear"]
    second.record.test_intervals["metrics"]["accuracy"] = [0.81, 0.86]
    overlapping = difference_line(difference(first, second, "accuracy"))
    assert "they overlap: no clear difference (a rough check" in overlapping


@pytest.fixture(scope="module")
def story_run(tmp_path_factory, tiny_bert, news_csv) -> Path:
    out = tmp_path_factory.mktemp("story-run")
    flags = train_args(tiny_bert, str(out), "--max_train_samples", "200", "--num_train_epochs", "1")
    train.main(["--task", "news", "--data_files", news_csv, "--split", "story", *flags])
    return out


def test_a_run_records_its_intervals_in_results_and_card(story_run):
    results = json.loads((story_run / "results.json").read_text())
    intervals = results["test_intervals"]
    assert {key: intervals[key] for key in ("method", "resamples", "seed", "confidence")} == {
        "method": "group",  # the story split kept STORY clusters together: resampled by cluster
        "resamples": 1000,
        "seed": 0,
        "confidence": 0.95,
    }
    metrics = {key.removeprefix("test_") for key in results["test_metrics"]}
    assert {"accuracy", "f1_macro"} <= set(intervals["metrics"]) <= metrics
    low, high = intervals["metrics"]["accuracy"]
    assert low <= results["test_metrics"]["test_accuracy"] <= high and low < high
    for name in ("results.md", "README.md"):
        text = (story_run / name).read_text()
        assert "| test metric | value | 95% CI |" in text
        assert f"| accuracy | {results['test_metrics']['test_accuracy']:.4f} | [{low:.4f}, {high:.4f}] |" in text
        assert "95% CI: percentile bootstrap over 1000 resamples of whole groups" in text


def test_compare_shows_each_runs_intervals(story_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(story_run, copy)
    markdown = write_report([load_run("a", str(story_run)), load_run("b", str(copy))], str(tmp_path / "report"))
    assert markdown.count("| test metric | value | 95% CI |") == 2
    assert "## Differences beyond noise? (accuracy, test split)" in markdown
    assert "- **b − a** (accuracy): +0.0000; intervals a [" in markdown and "they overlap" in markdown
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["differences"][0]["method"] == "interval overlap"  # grouped: no pairing by example
