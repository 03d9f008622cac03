"""Per-label decision thresholds for multi-label heads, tuned on the validation split only.

A sigmoid head trained on rare labels (threat: under 0.5% of toxic comments) rarely scores them
above 0.5, so a fixed 0.5 cut-off leaves them unpredicted. Each label gets the cut-off that
maximises an objective (F1 by default) on the VALIDATION split: tuning on test, as the thesis
did, reports a score no one can reproduce on new data. The thresholds are saved into the model
config (``config.thresholds``, so they travel with ``save_pretrained`` and to the Hub, and
``trainer-tasks predict`` applies them) and into ``results.json`` beside test metrics at 0.5 and at
the tuned thresholds, both computed by ``tasks.metrics.multi_label_scores``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from datasets import DatasetDict
from transformers import Trainer

from tasks import Task, TaskError
from tasks.metrics import multi_label_scores, sigmoid
from trainer_tasks.core.saved_model import CONFIG_ATTRIBUTE, DEFAULT_THRESHOLD
from trainer_tasks.training.split_predictions import Predictions, predict_split

logger = logging.getLogger(__name__)


def _f_beta(beta: float) -> Callable[..., np.ndarray]:
    def score(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
        weight = beta * beta
        denominator = (1 + weight) * tp + weight * fn + fp
        return np.divide((1 + weight) * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)

    return score


def _youden(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """Sensitivity + specificity - 1: indifferent to how rare the label is."""
    positives, negatives = tp + fn, fp + tn
    recall = np.divide(tp, positives, out=np.zeros_like(tp), where=positives > 0)
    false_positive_rate = np.divide(fp, negatives, out=np.zeros_like(fp), where=negatives > 0)
    return recall - false_positive_rate


# Functions of the confusion counts at every candidate cut-off (float arrays of equal length).
OBJECTIVES: dict[str, Callable[..., np.ndarray]] = {
    "f1": _f_beta(1.0),
    "f2": _f_beta(2.0),  # recall weighs 4x precision: a missed threat costs more than a false alarm
    "f0.5": _f_beta(0.5),  # precision weighs 4x recall: every flag is reviewed by a person
    "youden": _youden,
}


@dataclass
class ThresholdArguments:
    """How multi-label decision thresholds are tuned (single-label tasks ignore these)."""

    tune_thresholds: bool = field(
        default=True,
        metadata={
            "help": "Multi-label tasks: tune one threshold per label on the validation split (never test) and save "
            "them in the model config. Off: every label uses 0.5."
        },
    )
    threshold_objective: str = field(
        default="f1",
        metadata={
            "help": "What each label's threshold maximises on validation: f1, f2 (favours recall), f0.5 "
            "(favours precision) or youden (recall minus false-positive rate).",
            "choices": list(OBJECTIVES),
        },
    )
    threshold_min_positives: int = field(
        default=5,
        metadata={
            "help": "A label needs this many positive validation examples to be tuned; rarer labels keep 0.5, "
            "because a threshold fitted to two or three examples is noise."
        },
    )

    def __post_init__(self) -> None:
        if self.threshold_objective not in OBJECTIVES:
            choices = list(OBJECTIVES)
            raise TaskError(f"--threshold_objective must be one of {choices}, got {self.threshold_objective!r}")
        if self.threshold_min_positives < 1:
            raise TaskError(f"--threshold_min_positives must be at least 1, got {self.threshold_min_positives}")


@dataclass
class LabelThreshold:
    """One label's tuned threshold and the validation evidence behind it."""

    label: str
    threshold: float
    tuned: bool
    validation_positives: int
    validation_score_at_default: float
    validation_score_tuned: float
    note: str = ""


def best_threshold(scores: np.ndarray, labels: np.ndarray, objective: str = "f1") -> tuple[float, float]:
    """The cut-off maximising ``objective`` when ``score >= cut-off`` predicts positive, and its value.

    A sweep over the sorted scores: every distinct score is a candidate, so the best of all
    possible cut-offs is found exactly in O(n log n). The returned threshold is the midpoint
    between the chosen score and the next lower one, not the score itself, so that a new example
    scoring just below the last accepted validation example is not decided by a hair. Among equal
    objective values the highest cut-off (fewest positives) wins.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    true_positives = np.cumsum(sorted_labels)
    false_positives = np.cumsum(1.0 - sorted_labels)
    # last position of each run of equal scores: cutting inside a run of ties is not a real option
    ends = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    tp, fp = true_positives[ends], false_positives[ends]
    positives, negatives = sorted_labels.sum(), len(sorted_labels) - sorted_labels.sum()
    values = OBJECTIVES[objective](tp, fp, positives - tp, negatives - fp)
    best = int(np.argmax(values))
    cut = sorted_scores[ends[best]]
    below = sorted_scores[ends[best] + 1] if ends[best] + 1 < len(sorted_scores) else 0.0
    return float((cut + below) / 2.0), float(values[best])


def objective_at(scores: np.ndarray, labels: np.ndarray, threshold: float, objective: str) -> float:
    """The value of ``objective`` at one given cut-off."""
    predicted, truth = np.asarray(scores) >= threshold, np.asarray(labels).astype(bool)
    tp, fp, fn, tn = (
        np.array([float(np.sum(mask))])
        for mask in (predicted & truth, predicted & ~truth, ~predicted & truth, ~predicted & ~truth)
    )
    return float(OBJECTIVES[objective](tp, fp, fn, tn)[0])


def tune_label_thresholds(
    probabilities: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    objective: str = "f1",
    min_positives: int = 5,
) -> list[LabelThreshold]:
    """One ``LabelThreshold`` per label from validation probabilities and 0/1 labels."""
    rows = []
    for column, name in enumerate(label_names):
        scores, truth = probabilities[:, column], labels[:, column]
        positives = int(truth.sum())
        at_default = objective_at(scores, truth, DEFAULT_THRESHOLD, objective)
        if positives < min_positives:
            note = f"kept {DEFAULT_THRESHOLD}: {positives} positive validation example(s) < {min_positives}"
            rows.append(LabelThreshold(name, DEFAULT_THRESHOLD, False, positives, at_default, at_default, note))
            continue
        threshold, value = best_threshold(scores, truth, objective)
        rows.append(LabelThreshold(name, round(threshold, 6), True, positives, at_default, value))
    return rows


def _probabilities_and_labels(predictions: Predictions) -> tuple[np.ndarray, np.ndarray]:
    return sigmoid(np.asarray(predictions.logits, dtype=np.float64)), predictions.labels.astype(int)


def tune_thresholds(
    trainer: Trainer, splits: DatasetDict, task: Task, args: ThresholdArguments, test: Predictions
) -> dict:
    """Tune on validation, store in the model config, and score test at 0.5 and at the tuned values.

    Returns the ``results.json`` entries: ``thresholds`` ({label: value}), ``threshold_tuning``
    (per-label evidence) and ``test_metrics_tuned`` (the keys of ``test_metrics``, which stay at
    0.5). Empty for single-label tasks. Costs one prediction pass over validation; the test split
    is scored from ``test`` (``evaluate_test``'s predictions), never used to choose.
    """
    config = trainer.model.config
    if not task.is_multi_label or not args.tune_thresholds:
        if hasattr(config, CONFIG_ATTRIBUTE):  # stale thresholds of a checkpoint trained before
            delattr(config, CONFIG_ATTRIBUTE)
        return {}
    labels = list(task.labels)
    val_probabilities, val_labels = _probabilities_and_labels(
        predict_split(trainer, splits["validation"], "validation")[1]
    )
    rows = tune_label_thresholds(
        val_probabilities, val_labels, labels, args.threshold_objective, args.threshold_min_positives
    )
    thresholds = {row.label: row.threshold for row in rows}
    setattr(config, CONFIG_ATTRIBUTE, thresholds)
    for row in rows:
        logger.info(
            "threshold %s = %.4f (%s on validation %.4f -> %.4f, %d positives)%s",
            row.label, row.threshold, args.threshold_objective, row.validation_score_at_default,
            row.validation_score_tuned, row.validation_positives, f"; {row.note}" if row.note else "",
        )  # fmt: skip

    test_probabilities, test_labels = _probabilities_and_labels(test)
    cut_offs = np.array([thresholds[name] for name in labels])
    tuned = multi_label_scores(test_labels, test_probabilities >= cut_offs, labels, test_probabilities)
    return {
        "thresholds": thresholds,
        "threshold_objective": args.threshold_objective,
        "threshold_tuning": [asdict(row) for row in rows],
        "test_metrics_tuned": {f"test_{key}": value for key, value in tuned.items()},
    }
