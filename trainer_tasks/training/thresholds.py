"""Per-label decision thresholds for multi-label heads, tuned on the validation split only.

A sigmoid head trained on rare labels (threat: under 0.5% of toxic comments) rarely scores them
above 0.5, so a fixed 0.5 cut-off leaves them unpredicted. Each label may get its own cut-off,
chosen on the VALIDATION split: tuning on test, as the thesis did, reports a score no one can
reproduce on new data.

Tuning must never make the model worse, so two rules guard it (issue 16). A short run once scored
every comment 0.44-0.48; per-label F1 thresholds then dropped the test "Hamming score" from 0.880
to 0.083 and tagged a polite comment ``insult|identity_hate``:

1. a label's tuned cut-off is kept only where it beats 0.5 on that label's objective on validation
   by more than ``MIN_GAIN``; otherwise the label stays at 0.5;
2. the tuned set as a whole is kept only where it does not lower the task's primary metric on
   validation (computed by the task's own ``compute_metrics``); otherwise every label goes back to
   0.5, with a warning in the log and the outcome in ``results.json`` (``threshold_rule``) and the card.

The default objective (``primary``) maximises the primary metric itself (``jaccard_samples`` for
the multi-label tasks) by coordinate ascent over labels, so what is tuned is what is reported. The
per-label objectives (f1, f2, f0.5, youden) remain available. The kept thresholds are saved into
the model config (``config.thresholds``, 0.5 where not tuned, so they travel with
``save_pretrained`` and to the Hub, and ``trainer-tasks predict`` applies them) and into
``results.json`` beside test metrics at 0.5 and at the kept thresholds, both computed by
``tasks.metrics.multi_label_scores``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from datasets import DatasetDict
from transformers import EvalPrediction, Trainer

from tasks import Task, TaskError
from tasks.metrics import multi_label_scores, sigmoid
from trainer_tasks.core.saved_model import CONFIG_ATTRIBUTE, DEFAULT_THRESHOLD
from trainer_tasks.training.split_predictions import Predictions, predict_split

logger = logging.getLogger(__name__)

# A tuned cut-off must beat 0.5 by more than this on validation: ties and float noise keep 0.5.
MIN_GAIN = 1e-6
# The objective that maximises the task's primary metric over all labels at once (the default).
PRIMARY = "primary"
# How many rounds over the labels the coordinate ascent may take (each accepted move gains > MIN_GAIN).
MAX_ROUNDS = 10


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


# Per-label objectives: functions of the confusion counts at every candidate cut-off (float arrays of equal length).
OBJECTIVES: dict[str, Callable[..., np.ndarray]] = {
    "f1": _f_beta(1.0),
    "f2": _f_beta(2.0),  # recall weighs 4x precision: a missed threat costs more than a false alarm
    "f0.5": _f_beta(0.5),  # precision weighs 4x recall: every flag is reviewed by a person
    "youden": _youden,
}
OBJECTIVE_CHOICES = [PRIMARY, *OBJECTIVES]


@dataclass
class ThresholdArguments:
    """How multi-label decision thresholds are tuned (single-label tasks ignore these)."""

    tune_thresholds: bool = field(
        default=True,
        metadata={
            "help": "Multi-label tasks: tune one threshold per label on the validation split (never test) and save "
            "them in the model config. A label keeps 0.5 unless its threshold improves its objective on validation, "
            "and all labels go back to 0.5 if the tuned set lowers the task's primary metric on validation. "
            "Off: every label uses 0.5."
        },
    )
    threshold_objective: str = field(
        default=PRIMARY,
        metadata={
            "help": "What the thresholds maximise on validation: primary (default: the task's primary metric, e.g. "
            "jaccard_samples, over all labels together), or per label f1, f2 (favours recall), f0.5 (favours "
            "precision) or youden (recall minus false-positive rate).",
            "choices": OBJECTIVE_CHOICES,
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
        if self.threshold_objective not in OBJECTIVE_CHOICES:
            raise TaskError(
                f"--threshold_objective must be one of {OBJECTIVE_CHOICES}, got {self.threshold_objective!r}"
            )
        if self.threshold_min_positives < 1:
            raise TaskError(f"--threshold_min_positives must be at least 1, got {self.threshold_min_positives}")


@dataclass
class LabelThreshold:
    """One label's threshold and the validation evidence behind it.

    For a per-label objective the two scores are that label's objective at 0.5 and at its cut-off;
    for ``primary`` they are the primary metric with this label at 0.5 and at its cut-off, the
    other labels at their chosen thresholds.
    """

    label: str
    threshold: float
    tuned: bool
    validation_positives: int
    validation_score_at_default: float
    validation_score_tuned: float
    note: str = ""


# ---------------------------------------------------------------------------------------------------------------
# per-label objectives


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


def _tune_one_label(name: str, scores: np.ndarray, truth: np.ndarray, objective: str, positives: int) -> LabelThreshold:
    """Rule 1 for a per-label objective: the swept cut-off only where it beats 0.5 by more than ``MIN_GAIN``."""
    at_default = objective_at(scores, truth, DEFAULT_THRESHOLD, objective)
    threshold = round(best_threshold(scores, truth, objective)[0], 6)
    value = objective_at(scores, truth, threshold, objective)  # at the rounded cut-off that is saved
    if value > at_default + MIN_GAIN:
        return LabelThreshold(name, threshold, True, positives, at_default, value)
    note = f"kept {DEFAULT_THRESHOLD}: best cut-off {threshold:.4f} gives {objective} {value:.4f}, no gain"
    return LabelThreshold(name, DEFAULT_THRESHOLD, False, positives, at_default, at_default, note)


# ---------------------------------------------------------------------------------------------------------------
# the primary metric, by coordinate ascent over labels


def _row_values(metric: str, truth: np.ndarray, predicted: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's share of ``metric`` with label ``column`` off and on, the other labels as ``predicted``.

    The supported metrics are means over rows, so moving one label's cut-off changes the total by
    the sum of (on - off) over the rows that change side: every cut-off is scored by one cumsum.
    """
    others = np.arange(truth.shape[1]) != column
    t, p, y = truth[:, others], predicted[:, others], truth[:, column].astype(np.float64)
    if metric == "jaccard_samples":  # |Y∩Z| / |Y∪Z|, 1 when both are empty (multi_label_scores' zero_division=1)
        inter, union = (t & p).sum(axis=1).astype(np.float64), (t | p).sum(axis=1).astype(np.float64)
        off_union = union + y
        off = np.divide(inter, off_union, out=np.ones_like(inter), where=off_union > 0)
        return off, (inter + y) / (union + 1.0)
    if metric == "hamming_accuracy":
        correct = (t == p).sum(axis=1).astype(np.float64)
        return (correct + 1.0 - y) / truth.shape[1], (correct + y) / truth.shape[1]
    if metric == "exact_match":
        others_right = (t == p).all(axis=1).astype(np.float64)
        return others_right * (1.0 - y), others_right * y
    raise KeyError(metric)


ROW_METRICS = ("jaccard_samples", "hamming_accuracy", "exact_match")


def _metric_value(metric: str, truth: np.ndarray, predicted: np.ndarray) -> float:
    """``metric`` of 0/1 predictions (one of ``ROW_METRICS``), without scikit-learn's per-call overhead."""
    off, on = _row_values(metric, truth, predicted, 0)
    return float(np.where(predicted[:, 0], on, off).mean())


@dataclass(frozen=True)
class _Sweep:
    """One label's validation scores sorted once, with the cut-offs that do not split tied scores."""

    order: np.ndarray  # rows, highest score first
    counts: np.ndarray  # candidate numbers of predicted rows: 0 and the end of each run of equal scores
    thresholds: np.ndarray  # the midpoint cut-off giving each count (rounded as saved)

    @classmethod
    def of(cls, scores: np.ndarray) -> _Sweep:
        order = np.argsort(-scores, kind="stable")
        ranked = scores[order]
        ends = np.r_[np.nonzero(np.diff(ranked))[0], len(ranked) - 1]
        below = np.r_[ranked[1:], 0.0][ends]
        counts, thresholds = ends + 1, (ranked[ends] + below) / 2.0
        if ranked[0] < 1.0:  # predicting no row is a candidate too, unless a score is saturated at 1
            counts, thresholds = np.r_[0, counts], np.r_[(ranked[0] + 1.0) / 2.0, thresholds]
        return cls(order, counts, np.round(thresholds, 6))


def _best_move(metric: str, truth: np.ndarray, predicted: np.ndarray, column: int, sweep: _Sweep) -> tuple[int, float]:
    """The candidate (index into ``sweep``) maximising ``metric`` when only ``column``'s cut-off moves, and its value.

    Among equal values the highest cut-off wins (fewest rows predicted).
    """
    off, on = _row_values(metric, truth, predicted, column)
    gains = np.r_[0.0, np.cumsum((on - off)[sweep.order])]
    values = (off.sum() + gains[sweep.counts]) / len(off)
    best = int(np.argmax(values))
    return best, float(values[best])


def _ascend(
    metric: str, scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray, columns: Sequence[int]
) -> np.ndarray:
    """Coordinate ascent from ``thresholds``: each label in turn takes its best cut-off given the others.

    A move is taken only where it gains more than ``MIN_GAIN`` (at the rounded cut-off that is saved),
    so the metric rises with every move and the ascent ends; usually in two or three rounds.
    """
    thresholds = thresholds.copy()
    sweeps = {column: _Sweep.of(scores[:, column]) for column in columns}
    predicted = scores >= thresholds
    current = _metric_value(metric, truth, predicted)
    for _ in range(MAX_ROUNDS):
        moved = False
        for column in columns:
            best, _value = _best_move(metric, truth, predicted, column, sweeps[column])
            candidate = predicted.copy()
            candidate[:, column] = scores[:, column] >= sweeps[column].thresholds[best]
            value = _metric_value(metric, truth, candidate)
            if value > current + MIN_GAIN:
                thresholds[column], predicted, current, moved = sweeps[column].thresholds[best], candidate, value, True
        if not moved:
            break
    return thresholds


def _contributions(metric: str, scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray) -> dict[int, float]:
    """For each label off 0.5: the metric at ``thresholds`` minus the metric with that label back at 0.5."""
    total = _metric_value(metric, truth, scores >= thresholds)
    gains = {}
    for column in np.nonzero(thresholds != DEFAULT_THRESHOLD)[0]:
        reset = thresholds.copy()
        reset[column] = DEFAULT_THRESHOLD
        gains[int(column)] = total - _metric_value(metric, truth, scores >= reset)
    return gains


def _prune(metric: str, scores: np.ndarray, truth: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Rule 1 for ``primary``: labels whose cut-off no longer gains more than ``MIN_GAIN`` go back to 0.5.

    Later moves can make an earlier one useless; the weakest such label is reset first, then the rest re-checked.
    """
    thresholds = thresholds.copy()
    while True:
        gains = _contributions(metric, scores, truth, thresholds)
        weakest = min(gains, key=gains.get, default=None)
        if weakest is None or gains[weakest] > MIN_GAIN:
            return thresholds
        thresholds[weakest] = DEFAULT_THRESHOLD


def tune_for_primary(
    probabilities: np.ndarray, labels: np.ndarray, label_names: Sequence[str], metric: str, tunable: Sequence[int]
) -> list[LabelThreshold]:
    """One ``LabelThreshold`` per label maximising ``metric`` over all labels together, from 0.5."""
    truth = np.asarray(labels).astype(bool)
    start = np.full(len(label_names), DEFAULT_THRESHOLD)
    thresholds = _prune(metric, probabilities, truth, _ascend(metric, probabilities, truth, start, tunable))
    total = _metric_value(metric, truth, probabilities >= thresholds)
    gains = _contributions(metric, probabilities, truth, thresholds)
    rows = []
    for column, name in enumerate(label_names):
        positives = int(truth[:, column].sum())
        if column in gains:
            rows.append(LabelThreshold(name, float(thresholds[column]), True, positives, total - gains[column], total))
            continue
        note = f"kept {DEFAULT_THRESHOLD}: no cut-off raises validation {metric}" if column in tunable else ""
        rows.append(LabelThreshold(name, DEFAULT_THRESHOLD, False, positives, total, total, note))
    return rows


# ---------------------------------------------------------------------------------------------------------------
# both


def _too_few(positives: int, min_positives: int) -> str:
    return f"kept {DEFAULT_THRESHOLD}: {positives} positive validation example(s) < {min_positives}"


def tune_label_thresholds(
    probabilities: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    objective: str = PRIMARY,
    min_positives: int = 5,
    primary_metric: str = "jaccard_samples",
) -> list[LabelThreshold]:
    """One ``LabelThreshold`` per label from validation probabilities and 0/1 labels (rule 1 applied).

    ``primary`` maximises ``primary_metric`` where it is a mean over rows (``ROW_METRICS``), else
    ``jaccard_samples``; rule 2 (``apply_set_rule``) still judges the result by the real primary metric.
    """
    probabilities, labels = np.asarray(probabilities, dtype=np.float64), np.asarray(labels).astype(int)
    positives = labels.sum(axis=0).astype(int)
    tunable = [column for column in range(len(label_names)) if positives[column] >= min_positives]
    if objective == PRIMARY:
        metric = primary_metric if primary_metric in ROW_METRICS else "jaccard_samples"
        if metric != primary_metric:
            logger.info("thresholds maximise jaccard_samples: %s is not a mean over examples", primary_metric)
        rows = tune_for_primary(probabilities, labels, label_names, metric, tunable)
    else:
        rows = [
            _tune_one_label(name, probabilities[:, column], labels[:, column], objective, int(positives[column]))
            if column in tunable
            else _untuned(name, probabilities[:, column], labels[:, column], objective)
            for column, name in enumerate(label_names)
        ]
    for row in rows:
        if row.validation_positives < min_positives:
            row.note = _too_few(row.validation_positives, min_positives)
    return rows


def _untuned(name: str, scores: np.ndarray, truth: np.ndarray, objective: str) -> LabelThreshold:
    """A label left out of tuning (too few positives): 0.5, with its objective there."""
    at_default = objective_at(scores, truth, DEFAULT_THRESHOLD, objective)
    return LabelThreshold(name, DEFAULT_THRESHOLD, False, int(truth.sum()), at_default, at_default)


def primary_at(task: Task, logits: np.ndarray, labels: np.ndarray, cut_offs: np.ndarray) -> float:
    """The task's primary metric by its own ``compute_metrics``, a label on where its probability >= its cut-off.

    ``compute_metrics`` applies 0.5 to sigmoid(logits); shifting each label's logits by logit(cut-off)
    moves that 0.5 to the cut-off (sigmoid(z - logit(t)) >= 0.5 when sigmoid(z) >= t) and leaves rank
    metrics such as ROC-AUC unchanged. Rows within rounding of a cut-off are nudged to the side
    ``sigmoid(z) >= t`` puts them on: the rule the test metrics and ``predict`` apply.
    """
    logits, cut_offs = np.asarray(logits, dtype=np.float64), np.asarray(cut_offs, dtype=np.float64)
    with np.errstate(divide="ignore"):  # a cut-off of 0 or 1 shifts by -inf or +inf: all rows on, or none
        shifted = logits - (np.log(cut_offs) - np.log1p(-cut_offs))
    on = sigmoid(logits) >= cut_offs
    shifted = np.where(on, np.maximum(shifted, 0.0), np.minimum(shifted, -1e-12))  # sigmoid(0) is exactly 0.5
    prediction = EvalPrediction(predictions=shifted, label_ids=np.asarray(labels))
    return float(task.compute_metrics(prediction)[task.primary_metric])


def apply_set_rule(
    rows: list[LabelThreshold], primary: Callable[[np.ndarray], float], metric_name: str
) -> tuple[list[LabelThreshold], dict[str, Any]]:
    """Rule 2: the tuned set only where the validation primary metric at it is not below that at 0.5.

    ``primary`` maps an array of cut-offs (one per label, in ``rows``' order) to the validation
    primary metric. Returns the rows as kept (all at 0.5 when rejected) and the ``threshold_rule`` record.
    """
    candidate = {row.label: row.threshold for row in rows}
    at_default = primary(np.full(len(rows), DEFAULT_THRESHOLD))
    tuned = primary(np.array(list(candidate.values()))) if any(row.tuned for row in rows) else at_default
    kept = tuned >= at_default
    warning = None
    if not kept:
        warning = (
            f"tuned thresholds rejected: validation {metric_name} {tuned:.4f} at them < {at_default:.4f} at 0.5; "
            f"every label uses 0.5"
        )
        logger.warning("%s (tuned: %s)", warning, candidate)
        rows = [_rejected(row) for row in rows]
    rule = {
        "kept": bool(kept),
        "primary_metric": metric_name,
        "validation_primary_at_0.5": at_default,
        "validation_primary_tuned": tuned,
        "labels_tuned": [row.label for row in rows if row.tuned],
        "labels_kept_at_0.5": [row.label for row in rows if not row.tuned],
        "candidate_thresholds": candidate,
        "warning": warning,
    }
    return rows, rule


def _rejected(row: LabelThreshold) -> LabelThreshold:
    note = f"set rejected (it lowers the validation primary metric); tuned value was {row.threshold:.4f}"
    return LabelThreshold(
        row.label, DEFAULT_THRESHOLD, False, row.validation_positives, row.validation_score_at_default,
        row.validation_score_at_default, note if row.tuned else row.note,
    )  # fmt: skip


def choose_thresholds(
    task: Task, logits: np.ndarray, labels: np.ndarray, args: ThresholdArguments
) -> tuple[list[LabelThreshold], dict[str, Any]]:
    """Both rules on validation logits and 0/1 labels: the kept per-label rows and the ``threshold_rule`` record."""
    probabilities = sigmoid(np.asarray(logits, dtype=np.float64))
    rows = tune_label_thresholds(
        probabilities, labels, list(task.labels), args.threshold_objective, args.threshold_min_positives,
        task.primary_metric,
    )  # fmt: skip
    return apply_set_rule(rows, lambda cut_offs: primary_at(task, logits, labels, cut_offs), task.primary_metric)


def _probabilities_and_labels(predictions: Predictions) -> tuple[np.ndarray, np.ndarray]:
    return sigmoid(np.asarray(predictions.logits, dtype=np.float64)), predictions.labels.astype(int)


def _log_rows(rows: list[LabelThreshold], objective: str) -> None:
    for row in rows:
        logger.info(
            "threshold %s = %.4f (%s on validation %.4f -> %.4f, %d positives)%s",
            row.label, row.threshold, objective, row.validation_score_at_default,
            row.validation_score_tuned, row.validation_positives, f"; {row.note}" if row.note else "",
        )  # fmt: skip


def tune_thresholds(
    trainer: Trainer,
    splits: DatasetDict,
    task: Task,
    args: ThresholdArguments,
    test: Predictions,
    per_text: Callable[[Predictions, str], Predictions] | None = None,
) -> dict:
    """Tune on validation, store the kept thresholds in the model config, and score test at 0.5 and at them.

    Returns the ``results.json`` entries: ``thresholds`` ({label: value}, 0.5 where not tuned),
    ``threshold_tuning`` (per-label evidence), ``threshold_rule`` (whether the tuned set was kept,
    with the validation primary metric at 0.5 and at the tuned set) and ``test_metrics_tuned`` (the
    keys of ``test_metrics``, which stay at 0.5). Empty for single-label tasks. Costs one prediction
    pass over validation; the test split is scored from ``test`` (``evaluate_test``'s predictions),
    never used to choose. ``per_text`` (``--long_text chunk``): validation windows aggregated per text first.
    """
    config = trainer.model.config
    if not task.is_multi_label or not args.tune_thresholds:
        if hasattr(config, CONFIG_ATTRIBUTE):  # stale thresholds of a checkpoint trained before
            delattr(config, CONFIG_ATTRIBUTE)
        return {}
    labels = list(task.labels)
    validation = predict_split(trainer, splits["validation"], "validation")[1]
    if per_text is not None:
        validation = per_text(validation, "validation")
    rows, rule = choose_thresholds(task, validation.logits, validation.labels.astype(int), args)
    thresholds = {row.label: row.threshold for row in rows}
    setattr(config, CONFIG_ATTRIBUTE, thresholds)
    _log_rows(rows, args.threshold_objective)
    logger.info(
        "thresholds %s: validation %s %.4f at 0.5, %.4f tuned",
        "kept" if rule["kept"] else "rejected", task.primary_metric,
        rule["validation_primary_at_0.5"], rule["validation_primary_tuned"],
    )  # fmt: skip

    test_probabilities, test_labels = _probabilities_and_labels(test)
    cut_offs = np.array([thresholds[name] for name in labels])
    tuned = multi_label_scores(test_labels, test_probabilities >= cut_offs, labels, test_probabilities)
    return {
        "thresholds": thresholds,
        "threshold_objective": args.threshold_objective,
        "threshold_tuning": [asdict(row) for row in rows],
        "threshold_rule": rule,
        "test_metrics_tuned": {f"test_{key}": value for key, value in tuned.items()},
    }
