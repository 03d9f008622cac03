"""Bootstrap confidence intervals for test metrics, so two models' difference can be judged.

A test score alone does not say whether 0.912 beats 0.905: on a few thousand examples the sampling
noise is of that size. ``bootstrap_intervals`` resamples the test rows with replacement (or whole
groups, when the split kept groups together: rows of one group are correlated, and resampling them
one by one would pretend there is more independent evidence than there is) and reports the
percentile interval of every metric ``compute_metrics`` returns.

Calling ``compute_metrics`` a thousand times costs 10-100 ms a call (scikit-learn's checks), so the
common metrics (accuracy, F1 per class / macro / micro, Jaccard, Hamming, exact match, ROC-AUC) are
computed for many resamples at once from per-row count weights. They are checked against
``compute_metrics`` itself on the full test set and on the first resamples: a metric whose fast score
disagrees (a task with its own threshold or definitions) is computed by calling ``compute_metrics`` on
every resample instead, so a reported interval is always that of the task's own metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.metrics import sigmoid

if TYPE_CHECKING:  # transformers is imported where metrics are computed: reading a record needs none of it
    from transformers import EvalPrediction

MetricFn = Callable[["EvalPrediction"], dict[str, float]]
Scores = dict[str, np.ndarray]  # metric -> one score per resample

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95
CHECKED_RESAMPLES = 2  # resamples also scored by compute_metrics, to check the fast scores
WEIGHT_CELLS = 2_000_000  # resamples x rows per chunk: bounds memory (16 MB of float64) for any test size
TOLERANCE = 1e-9


def bootstrap_intervals(
    compute_metrics: MetricFn,
    logits: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[Any] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, tuple[float, float]]:
    """Percentile interval of each metric of ``compute_metrics`` over seeded bootstrap resamples of the rows.

    ``groups`` (one value per row) resamples whole groups instead of rows (a cluster bootstrap). Metrics
    that are NaN on every resample (ROC-AUC of a label absent from the test split) get no interval.
    """
    scores = bootstrap_scores(compute_metrics, logits, labels, groups, resamples, seed)
    return percentile_intervals(scores, confidence)


def bootstrap_scores(
    compute_metrics: MetricFn,
    logits: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[Any] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Scores:
    """Every metric on every resample (``resamples`` values per metric), the same resamples for the same
    seed, rows and groups: two models' scores on one test set can be differenced resample by resample."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if resamples < 1 or len(labels) == 0:
        raise ValueError(f"a bootstrap needs rows and resamples >= 1, got {len(labels)} rows, {resamples} resamples")
    point = _evaluate(compute_metrics, logits, labels)
    chunks = list(weight_chunks(len(labels), groups, resamples, seed))
    fast = [fast_scores(logits, labels, point, weights) for weights in chunks]
    exact = exact_keys(compute_metrics, logits, labels, point, chunks[0])
    scores = {key: np.concatenate([part[key] for part in fast]) for key in exact}
    slow = [key for key in point if key not in exact]
    if slow:
        scores.update(called_scores(compute_metrics, logits, labels, chunks, slow))
    return {key: scores[key] for key in point if key in scores}


def _evaluate(compute_metrics: MetricFn, logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    from transformers import EvalPrediction

    return compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))


def weight_chunks(rows: int, groups: Sequence[Any] | None, resamples: int, seed: int):
    """Resamples as count weights (resamples x rows: how often each row was drawn), a chunk at a time.

    By group: draw as many groups as there are, with replacement; each row weighs its group's count.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        members = np.arange(rows)
    else:
        _, members = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
        if len(members) != rows:
            raise ValueError(f"{len(members)} group values for {rows} rows")
    units = int(members.max()) + 1
    per_chunk = max(1, WEIGHT_CELLS // max(rows, units))
    for start in range(0, resamples, per_chunk):
        size = min(per_chunk, resamples - start)
        drawn = rng.integers(0, units, size=(size, units))
        offsets = (np.arange(size) * units)[:, None]
        counts = np.bincount((drawn + offsets).ravel(), minlength=size * units).reshape(size, units)
        yield counts[:, members].astype(np.float64)


def exact_keys(compute_metrics: MetricFn, logits, labels, point: dict[str, float], weights: np.ndarray) -> set[str]:
    """The metrics whose fast scores equal ``compute_metrics`` on the full set and on the first resamples."""
    checked = np.vstack([np.ones((1, len(labels))), weights[:CHECKED_RESAMPLES]])
    fast = fast_scores(logits, labels, point, checked)
    exact = set(fast)
    for row, counts in enumerate(checked):
        rows = np.repeat(np.arange(len(labels)), counts.astype(int))
        truth = _evaluate(compute_metrics, logits[rows], labels[rows])
        exact = {key for key in exact if _same(fast[key][row], truth.get(key))}
    return exact


def _same(fast: float, truth: Any) -> bool:
    if truth is None:
        return False
    truth = float(truth)
    if math.isnan(truth) or math.isnan(fast):
        return math.isnan(truth) and math.isnan(fast)
    return abs(fast - truth) <= TOLERANCE


def called_scores(compute_metrics: MetricFn, logits, labels, chunks: list[np.ndarray], keys: list[str]) -> Scores:
    """The slow way, for metrics without a checked fast form: ``compute_metrics`` on each resample's rows."""
    values: dict[str, list[float]] = {key: [] for key in keys}
    index = np.arange(len(labels))
    for weights in chunks:
        for counts in weights:
            rows = np.repeat(index, counts.astype(int))
            metrics = _evaluate(compute_metrics, logits[rows], labels[rows])
            for key in keys:
                values[key].append(float(metrics.get(key, math.nan)))
    return {key: np.asarray(found) for key, found in values.items()}


def percentile_intervals(scores: Scores, confidence: float) -> dict[str, tuple[float, float]]:
    """The central ``confidence`` share of each metric's resample scores (NaN resamples left out)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    tail = 100 * (1 - confidence) / 2
    intervals = {}
    for key, values in scores.items():
        finite = values[~np.isnan(values)]
        if len(finite):
            low, high = np.percentile(finite, [tail, 100 - tail])
            intervals[key] = (float(low), float(high))
    return intervals


def paired_difference_interval(
    compute_metrics: MetricFn,
    first_logits: np.ndarray,
    second_logits: np.ndarray,
    labels: np.ndarray,
    metric: str,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[float, float] | None:
    """Interval of ``metric`` (second minus first) when both models score the same resampled rows.

    Pairing removes the test sample's shared luck (both models meet the same easy and hard rows), so it is
    narrower and more telling than comparing two separate intervals. None when the metric is undefined.
    """
    first = bootstrap_scores(compute_metrics, first_logits, labels, None, resamples, seed)
    second = bootstrap_scores(compute_metrics, second_logits, labels, None, resamples, seed)
    if metric not in first or metric not in second:
        return None
    return percentile_intervals({metric: second[metric] - first[metric]}, confidence).get(metric)


# --- fast scores: the shared metrics of tasks.metrics, for a chunk of resamples at once ---


def fast_scores(logits: np.ndarray, labels: np.ndarray, point: dict[str, float], weights: np.ndarray) -> Scores:
    """The common metrics per resample from count weights; keys ``compute_metrics`` does not return are dropped."""
    logits = np.asarray(logits, dtype=np.float64)
    if labels.ndim == 1:
        scores = _single_label(logits, labels.astype(int), weights)
    else:
        scores = _multi_label(sigmoid(logits), labels.astype(int), weights)
    per_label = scores.pop("per_label")
    for kind, values in per_label.items():  # (resamples, labels), named as compute_metrics names them
        names = _per_label_keys(point, kind, values.shape[1])
        scores.update({name: values[:, column] for column, name in enumerate(names)})
    return {key: value for key, value in scores.items() if key in point}


def _per_label_keys(point: dict[str, float], kind: str, count: int) -> list[str]:
    """``f1_<label>`` keys in label order, as the point metrics list them; [] when they cannot be matched."""
    keys = [k for k in point if k.startswith(f"{kind}_") and k not in (f"{kind}_macro", f"{kind}_micro")]
    return keys if len(keys) == count else []


def _f1(hits: np.ndarray, predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """2TP / (2TP + FP + FN), 0 where a label was neither predicted nor present (zero_division=0)."""
    denominator = predicted + true
    return np.divide(2 * hits, denominator, out=np.zeros_like(hits), where=denominator > 0)


def _single_label(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    classes = logits.shape[1]
    predicted = logits.argmax(axis=-1)
    true = np.eye(classes)[labels]
    guessed = np.eye(classes)[predicted]
    columns = np.hstack([(predicted == labels)[:, None], true, guessed, true * guessed])
    sums = weights @ columns
    total = weights.sum(axis=1)
    t, p, tp = np.split(sums[:, 1:], 3, axis=1)
    per_class = _f1(tp, p, t)
    return {"accuracy": sums[:, 0] / total, "f1_macro": per_class.mean(axis=1), "per_label": {"f1": per_class}}


def _multi_label(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    predicted = (probabilities >= 0.5).astype(int)
    hits = labels & predicted
    union = (labels | predicted).sum(axis=1)
    jaccard = np.divide(hits.sum(axis=1), union, out=np.ones(len(union)), where=union > 0)
    agree = (labels == predicted).astype(float)
    columns = np.hstack(
        [jaccard[:, None], agree.mean(axis=1)[:, None], agree.min(axis=1)[:, None], labels, predicted, hits]
    )
    sums = weights @ columns
    total = weights.sum(axis=1)
    t, p, tp = np.split(sums[:, 3:], 3, axis=1)
    per_label = _f1(tp, p, t)
    aucs = np.column_stack([_weighted_auc(probabilities[:, i], labels[:, i], weights) for i in range(labels.shape[1])])
    defined = (~np.isnan(aucs)).sum(axis=1)  # a resample where no label has both classes: NaN, as compute_metrics says
    auc_macro = np.divide(np.nansum(aucs, axis=1), defined, out=np.full(len(defined), np.nan), where=defined > 0)
    return {
        "jaccard_samples": sums[:, 0] / total,
        "hamming_accuracy": sums[:, 1] / total,
        "exact_match": sums[:, 2] / total,
        "f1_micro": _f1(tp.sum(axis=1), p.sum(axis=1), t.sum(axis=1)),
        "f1_macro": per_label.mean(axis=1),
        "roc_auc_macro": auc_macro,
        "per_label": {"f1": per_label, "roc_auc": aucs},
    }


def _weighted_auc(scores: np.ndarray, truth: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC per resample as the Mann-Whitney statistic (ties count half: the trapezoid ROC-AUC gives);
    NaN where a resample holds one class only."""
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # one block per distinct score
    drawn = weights[:, order]
    positives = np.add.reduceat(drawn * truth[order], starts, axis=1)
    negatives = np.add.reduceat(drawn * (1 - truth[order]), starts, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    wins = (positives * (below + 0.5 * negatives)).sum(axis=1)
    return np.divide(wins, pairs, out=np.full(len(pairs), np.nan), where=pairs > 0)


# --- the record ---


def interval_record(
    intervals: dict[str, tuple[float, float]], *, method: str, resamples: int, seed: int, confidence: float
) -> dict[str, Any]:
    """``results.json``'s ``test_intervals``: each metric's [low, high] and how they were computed."""
    return {
        "method": method,
        "resamples": resamples,
        "seed": seed,
        "confidence": confidence,
        "metrics": {key: [low, high] for key, (low, high) in intervals.items()},
    }


def test_intervals(
    compute_metrics: MetricFn,
    predictions: Any,
    test_split: Any,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """``train.py``'s step: the test predictions' intervals, by group when the split kept a ``group`` column."""
    columns = getattr(test_split, "column_names", [])
    groups = test_split["group"] if "group" in columns else None
    if groups is not None and len(groups) != len(predictions.labels):
        groups = None  # predictions that do not line up with the rows: by example rather than wrongly grouped
    intervals = bootstrap_intervals(
        compute_metrics, predictions.logits, predictions.labels, groups, resamples, seed, confidence
    )
    method = "example" if groups is None else "group"
    return interval_record(intervals, method=method, resamples=resamples, seed=seed, confidence=confidence)


test_intervals.__test__ = False  # a step of train.py, not a pytest test


def interval_method_text(record: dict[str, Any] | None, group_column: str | None = None) -> str:
    """How the intervals were computed, in one sentence (results.md, the card); "" for a run without them."""
    if not record:
        return ""
    share = round(100 * float(record.get("confidence", DEFAULT_CONFIDENCE)))
    if record.get("method") == "group":
        unit = f"whole groups (column `{group_column}`)" if group_column else "whole groups"
        why = ", since rows of one group are not independent"
    else:
        unit, why = "test examples", ""
    return (
        f"{share}% CI: percentile bootstrap over {record.get('resamples')} resamples of {unit}, drawn with "
        f"replacement{why} (seed {record.get('seed')})."
    )


def ci_header(record: dict[str, Any] | None) -> str:
    share = round(100 * float((record or {}).get("confidence", DEFAULT_CONFIDENCE)))
    return f"{share}% CI"


def show_interval(bounds: Sequence[float] | None, digits: int = 4) -> str:
    """``[0.8812, 0.9043]``, or "-" when the metric has no interval."""
    if not bounds:
        return "-"
    low, high = bounds
    return f"[{low:.{digits}f}, {high:.{digits}f}]"
