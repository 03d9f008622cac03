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
from trainer_tasks.training.thresholds import (
    MIN_GAIN,
    OBJECTIVE_CHOICES,
    ROW_METRICS,
    ThresholdArguments,
    best_threshold,
    choose_thresholds,
    primary_at,
    tune_label_thresholds,
)
from trainer_tasks.training.thresholds import _metric_value as metric_value

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
    # label a: both positives score below 0.5 (F1 0 there), so its tuned cut-off (0.35, F1 1) is kept
    probabilities = np.array([[0.45, 0.2], [0.3, 0.6], [0.4, 0.1], [0.1, 0.3]])
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    rows = tune_label_thresholds(probabilities, labels, ["a", "b"], "f1", min_positives=2)
    assert rows[0].tuned and rows[0].threshold == pytest.approx(0.35)
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
    # an untrained head (one step at a negligible learning rate) with thresholds chosen for per-label F1
    out = str(folder / "untrained")
    flags = ["--threshold_min_positives", "3", "--threshold_objective", "f1", "--max_steps", "1"]
    flags = train_args(tiny_distilbert, out, *flags, "--learning_rate", "1e-9")
    runs["untrained"] = (out, train.main(["--task", "toxic", "--data_files", toxic_csv, *flags]))
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
    assert on_disk["thresholds"] == results["thresholds"] and on_disk["threshold_objective"] == "primary"
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


# ---------------------------------------------------------------------------------------------------------------
# Thresholds never make the model worse (issue 16): per-label gain, the set's validation primary metric, the
# primary-metric objective.

TOXIC = get_task("toxic")


def logit(probabilities: np.ndarray) -> np.ndarray:
    return np.log(probabilities) - np.log1p(-probabilities)


def validation_primaries(logits: np.ndarray, labels: np.ndarray, rows) -> tuple[float, float]:
    """The validation primary metric by the task's own metric function at 0.5 and at the kept thresholds."""
    at_half = primary_at(TOXIC, logits, labels, np.full(len(LABELS), 0.5))
    return at_half, primary_at(TOXIC, logits, labels, np.array([row.threshold for row in rows]))


def rare_toxic_labels(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((rows, len(LABELS))) < [0.1, 0.01, 0.05, 0.005, 0.05, 0.01]).astype(int)


def test_random_scores_tuned_for_f1_are_rejected_with_a_warning(caplog):
    """The issue's run: every score 0.44-0.48, no signal. F1 thresholds would predict most labels for most
    comments; the set lowers the validation Hamming score, so every label goes back to 0.5."""
    labels = rare_toxic_labels(2000, seed=1)
    logits = logit(np.random.default_rng(2).uniform(0.44, 0.48, labels.shape))
    with caplog.at_level("WARNING", logger="trainer_tasks.training.thresholds"):
        rows, rule = choose_thresholds(TOXIC, logits, labels, ThresholdArguments(threshold_objective="f1"))
    assert not rule["kept"] and rule["validation_primary_tuned"] < rule["validation_primary_at_0.5"]
    assert [row.threshold for row in rows] == [0.5] * len(LABELS) and not any(row.tuned for row in rows)
    assert rule["labels_kept_at_0.5"] == LABELS and rule["labels_tuned"] == []
    assert any(value != 0.5 for value in rule["candidate_thresholds"].values())  # what was rejected is kept
    assert "rejected" in rule["warning"] and "rejected" in caplog.text
    assert rule["validation_primary_at_0.5"] == pytest.approx(validation_primaries(logits, labels, rows)[0])


def test_random_scores_tuned_for_the_primary_metric_stay_at_one_half():
    """With nothing to find, the default objective moves no label: predicting none beats any cut-off below 0.5."""
    labels = rare_toxic_labels(2000, seed=3)
    logits = logit(np.random.default_rng(4).uniform(0.44, 0.48, labels.shape))
    rows, rule = choose_thresholds(TOXIC, logits, labels, ThresholdArguments())
    assert rule["kept"] and rule["labels_tuned"] == [] and rule["warning"] is None
    assert [row.threshold for row in rows] == [0.5] * len(LABELS)
    assert rule["validation_primary_tuned"] == rule["validation_primary_at_0.5"]


def separated_rare_label(rows: int = 1000, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Threat (column 3) is rare and scored 0.2-0.35 when present, 0.01-0.1 when not: never above 0.5."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((rows, len(LABELS)), dtype=int)
    labels[rng.choice(rows, 20, replace=False), 3] = 1
    probabilities = np.where(labels == 1, rng.uniform(0.2, 0.35, labels.shape), rng.uniform(0.01, 0.1, labels.shape))
    return logit(probabilities), labels


@pytest.mark.parametrize("objective", OBJECTIVE_CHOICES)
def test_a_rare_label_scored_below_one_half_but_separated_is_tuned_and_kept(objective):
    logits, labels = separated_rare_label()
    rows, rule = choose_thresholds(TOXIC, logits, labels, ThresholdArguments(threshold_objective=objective))
    threat = rows[LABELS.index("threat")]
    assert rule["kept"] and rule["labels_tuned"] == ["threat"] and rule["warning"] is None
    assert threat.tuned and 0.1 < threat.threshold < 0.2
    assert threat.validation_score_tuned > threat.validation_score_at_default
    assert [row.threshold for row in rows if row.label != "threat"] == [0.5] * (len(LABELS) - 1)
    at_half, tuned = validation_primaries(logits, labels, rows)
    assert (rule["validation_primary_at_0.5"], rule["validation_primary_tuned"]) == pytest.approx((at_half, tuned))
    assert tuned == pytest.approx(1.0) and at_half < 1.0


@pytest.mark.parametrize("objective", OBJECTIVE_CHOICES)
def test_a_label_whose_cut_off_does_not_improve_its_objective_stays_at_one_half(objective):
    """Insult (column 4) is already perfect at 0.5: its swept cut-off (0.45, a midpoint) ties, so it is not taken."""
    logits, labels = separated_rare_label()
    labels[:100, 4] = 1
    logits[:, 4] = logit(np.where(labels[:, 4] == 1, 0.9, 0.0001))
    rows, rule = choose_thresholds(TOXIC, logits, labels, ThresholdArguments(threshold_objective=objective))
    insult = rows[LABELS.index("insult")]
    assert not insult.tuned and insult.threshold == 0.5 and "insult" in rule["labels_kept_at_0.5"]
    assert insult.validation_score_tuned == insult.validation_score_at_default
    assert "no" in insult.note  # "no gain" / "no cut-off raises ..."
    assert rows[LABELS.index("threat")].tuned  # the label that does gain is still tuned


score_matrices = st.integers(0, 2**32 - 1).flatmap(
    lambda seed: st.tuples(st.just(seed), st.integers(1, 60), st.sampled_from([0.5, 1.0, 3.0]), st.booleans())
)


@settings(max_examples=80, deadline=None)
@given(score_matrices, st.sampled_from(OBJECTIVE_CHOICES), st.integers(1, 4))
def test_kept_thresholds_never_lower_the_validation_primary_metric(case, objective, min_positives):
    """Random validation scores of any quality: the kept thresholds score >= 0.5 on validation, always."""
    seed, rows, spread, coarse = case
    rng = np.random.default_rng(seed)
    labels = (rng.random((rows, len(LABELS))) < rng.uniform(0.0, 0.6, len(LABELS))).astype(int)
    logits = rng.normal(0.0, spread, labels.shape) + rng.normal(0.0, 1.0) * labels  # any sign of signal
    if coarse:  # ties, and scores exactly at 0.5
        logits = np.round(logits)
    args = ThresholdArguments(threshold_objective=objective, threshold_min_positives=min_positives)
    kept, rule = choose_thresholds(TOXIC, logits, labels, args)
    at_half, tuned = validation_primaries(logits, labels, kept)
    assert tuned >= at_half
    assert rule["validation_primary_at_0.5"] == pytest.approx(at_half)
    if rule["kept"]:
        assert rule["validation_primary_tuned"] == pytest.approx(tuned)
    # rule 1: a label off 0.5 had something to gain from it on validation
    for row in kept:
        assert row.tuned == (row.threshold != 0.5)
        if row.tuned:
            assert row.validation_score_tuned > row.validation_score_at_default + MIN_GAIN
            assert row.validation_positives >= min_positives


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.sampled_from(ROW_METRICS))
def test_the_vectorised_primary_metric_matches_multi_label_scores(seed, rows, metric):
    from tasks.metrics import multi_label_scores

    rng = np.random.default_rng(seed)
    labels, predicted = (rng.random((2, rows, len(LABELS))) < rng.uniform(0, 0.7, 2)[:, None, None]).astype(bool)
    expected = multi_label_scores(labels, predicted, LABELS, None)[metric]
    assert metric_value(metric, labels, predicted) == pytest.approx(expected)


def test_tuning_six_labels_on_four_thousand_rows_is_fast():
    import time

    labels = rare_toxic_labels(4000, seed=6)
    logits = np.random.default_rng(7).normal(-2.5, 1.0, labels.shape) + 2.0 * labels
    choose_thresholds(TOXIC, logits[:50], labels[:50], ThresholdArguments())  # imports scikit-learn
    for objective in OBJECTIVE_CHOICES:
        start = time.perf_counter()
        choose_thresholds(TOXIC, logits, labels, ThresholdArguments(threshold_objective=objective))
        assert time.perf_counter() - start < 1.0, objective


def test_the_rule_s_outcome_reaches_results_card_and_config(planted_runs):
    for name, kept in (("clean", True), ("untrained", False)):
        out, results = planted_runs[name]
        rule = json.loads(Path(out, "results.json").read_text())["threshold_rule"]
        assert rule == results["threshold_rule"] and rule["kept"] is kept
        saved = json.loads(Path(out, "config.json").read_text())["thresholds"]
        assert saved == results["thresholds"]
        assert {label for label, value in saved.items() if value != 0.5} == set(rule["labels_tuned"])
        at_half, tuned = rule["validation_primary_at_0.5"], rule["validation_primary_tuned"]
        figures = f"(validation jaccard_samples: {at_half:.4f} at 0.5, {tuned:.4f} tuned)"
        card = Path(out, "README.md").read_text()
        thresholds_section = card.split("## Decision thresholds")[1].split("\n## ")[0]
        assert figures in thresholds_section and figures in Path(out, "results.md").read_text()
        if kept:
            assert tuned >= at_half and rule["labels_tuned"] and "Tuned thresholds kept for" in thresholds_section
        else:
            assert tuned < at_half and set(saved.values()) == {0.5} and rule["labels_kept_at_0.5"] == LABELS
            assert "Tuned thresholds rejected: every label uses 0.5" in thresholds_section
            assert "rejected" in rule["warning"]
            # the test metrics at the kept thresholds are those at 0.5
            assert (
                results["test_metrics_tuned"]["test_jaccard_samples"] == results["test_metrics"]["test_jaccard_samples"]
            )
