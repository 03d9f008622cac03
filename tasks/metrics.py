"""Metric functions shared by tasks.

Computed with scikit-learn rather than ``evaluate.load(...)``: evaluate's modules are fetched from
the Hub at run time, and a metric must never need the network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only; scikit-learn is imported where scores are computed
    from transformers import EvalPrediction

MetricFn = Callable[["EvalPrediction"], dict[str, float]]


def _logits(prediction: EvalPrediction) -> np.ndarray:
    predictions = prediction.predictions
    if isinstance(predictions, tuple):  # models that also return hidden states
        predictions = predictions[0]
    return np.asarray(predictions, dtype=np.float64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def single_label_scores(labels: np.ndarray, predicted: np.ndarray, label_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1 and one F1 per class, from integer label ids."""
    from sklearn.metrics import accuracy_score, f1_score

    all_ids = list(range(len(label_names)))
    per_class = f1_score(labels, predicted, labels=all_ids, average=None, zero_division=0)
    scores = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1_macro": float(f1_score(labels, predicted, labels=all_ids, average="macro", zero_division=0)),
    }
    scores.update({f"f1_{name}": float(f) for name, f in zip(label_names, per_class, strict=True)})
    return scores


def multi_label_scores(
    labels: np.ndarray, predicted: np.ndarray, label_names: Sequence[str], probabilities: np.ndarray | None
) -> dict:
    """Example-based and label-based scores for 0/1 label matrices.

    ``jaccard_samples`` is what the thesis called the "Hamming score": the mean over examples of
    |Y∩Z| / |Y∪Z|, counted as 1 when both sets are empty. It is reported under its honest name,
    with the real Hamming accuracy (1 - Hamming loss) beside it.
    """
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss, jaccard_score, roc_auc_score

    labels = labels.astype(int)
    predicted = predicted.astype(int)
    scores = {
        "jaccard_samples": float(jaccard_score(labels, predicted, average="samples", zero_division=1)),
        "hamming_accuracy": float(1.0 - hamming_loss(labels, predicted)),
        "exact_match": float(accuracy_score(labels, predicted)),
        "f1_micro": float(f1_score(labels, predicted, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(labels, predicted, average="macro", zero_division=0)),
    }
    per_label_f1 = f1_score(labels, predicted, average=None, zero_division=0)
    scores.update({f"f1_{name}": float(f) for name, f in zip(label_names, per_label_f1, strict=True)})
    if probabilities is not None:
        aucs = []
        for column, name in enumerate(label_names):
            # ROC-AUC is undefined for a label with one class only in this split: reported as NaN
            # rather than dropped, so the key set is the same for every split.
            if len(np.unique(labels[:, column])) < 2:
                auc = float("nan")
            else:
                auc = float(roc_auc_score(labels[:, column], probabilities[:, column]))
                aucs.append(auc)
            scores[f"roc_auc_{name}"] = auc
        scores["roc_auc_macro"] = float(np.mean(aucs)) if aucs else float("nan")
    return scores


def single_label_metrics(label_names: Sequence[str]) -> MetricFn:
    """A ``compute_metrics`` for softmax heads: argmax of the logits against integer labels."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        predicted = _logits(prediction).argmax(axis=-1)
        return single_label_scores(np.asarray(prediction.label_ids), predicted, label_names)

    return compute_metrics


def multi_label_metrics(label_names: Sequence[str], threshold: float = 0.5) -> MetricFn:
    """A ``compute_metrics`` for sigmoid heads: each label is on where its probability >= threshold."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        probabilities = sigmoid(_logits(prediction))
        predicted = (probabilities >= threshold).astype(int)
        return multi_label_scores(np.asarray(prediction.label_ids), predicted, label_names, probabilities)

    return compute_metrics
