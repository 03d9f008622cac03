"""Metric functions against cases computed by hand."""

import math

import numpy as np
import pytest
from transformers import EvalPrediction

from tasks.metrics import multi_label_metrics, multi_label_scores, single_label_metrics

LABELS = ("a", "b", "c")


def test_single_label_accuracy_macro_f1_and_per_class_f1():
    logits = np.array([[3, 0, 0], [0, 2, 0], [0, 2, 0], [0, 0, 1]], dtype=float)  # predicts 0, 1, 1, 2
    labels = np.array([0, 1, 2, 2])
    scores = single_label_metrics(LABELS)(EvalPrediction(predictions=logits, label_ids=labels))
    assert scores["accuracy"] == pytest.approx(0.75)
    # a: P=1 R=1 F1=1; b: P=1/2 R=1 F1=2/3; c: P=1 R=1/2 F1=2/3
    assert scores["f1_a"] == pytest.approx(1.0)
    assert scores["f1_b"] == pytest.approx(2 / 3)
    assert scores["f1_c"] == pytest.approx(2 / 3)
    assert scores["f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_jaccard_samples_is_the_thesis_hamming_score_with_empty_sets_counting_one():
    truth = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 0, 0]])
    predicted = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 1], [1, 0, 0]])
    scores = multi_label_scores(truth, predicted, LABELS, probabilities=None)
    # row 1: |{a}| / |{a,c}| = 1/2; row 2: both empty = 1; row 3: {b} / {a,b,c} = 1/3; row 4: 0/1 = 0
    assert scores["jaccard_samples"] == pytest.approx((0.5 + 1 + 1 / 3 + 0) / 4)
    # 4 wrong cells of 12
    assert scores["hamming_accuracy"] == pytest.approx(1 - 4 / 12)
    assert scores["exact_match"] == pytest.approx(1 / 4)
    # micro: TP=2 (a row1, b row3), FP=2 (c row3, a row4), FN=2 (c row1, a row3) -> F1 = 4/8
    assert scores["f1_micro"] == pytest.approx(0.5)


def test_multi_label_metrics_threshold_sigmoid_and_roc_auc():
    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=np.float32)
    logits = np.array([[2.0, -2, -3], [-1, 1, -3], [0.5, 3, -2], [-3, -2, -1]])
    scores = multi_label_metrics(LABELS)(EvalPrediction(predictions=logits, label_ids=truth))
    assert scores["exact_match"] == 1.0
    assert scores["jaccard_samples"] == 1.0
    assert scores["roc_auc_a"] == 1.0 and scores["roc_auc_b"] == 1.0
    assert math.isnan(scores["roc_auc_c"])  # never positive: undefined, reported, not dropped
    assert scores["roc_auc_macro"] == 1.0


def test_all_empty_label_sets_score_one():
    zeros = np.zeros((3, 3))
    scores = multi_label_scores(zeros, zeros, LABELS, probabilities=None)
    assert scores["jaccard_samples"] == 1.0 and scores["hamming_accuracy"] == 1.0
