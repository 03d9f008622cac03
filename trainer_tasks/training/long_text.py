"""``--long_text chunk``: texts longer than the model's window become overlapping windows, scored per text.

Truncating keeps only a text's beginning: a label that shows past the first window is never seen. Chunking
tokenizes each text into windows of ``max_length`` tokens that overlap by ``stride`` tokens (the tokenizer's
``return_overflowing_tokens``); every window trains with its text's label. Evaluation must still score
texts, not windows (a long text would otherwise weigh as many times as it has windows): window logits are
aggregated per text (mean for single-label, max for multi-label by default: one window naming a label is
enough) before the task's metric runs. The ``text_index`` column written by tokenizing maps windows to texts;
it is kept aside here and dropped from the datasets the Trainer sees, so it never reaches the model or collator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from datasets import DatasetDict
from transformers import EvalPrediction

logger = logging.getLogger(__name__)

MODES = ("truncate", "chunk")
AGGREGATIONS = ("mean", "max")
TEXT_INDEX = "text_index"
MULTI_LABEL = "multi_label_classification"


def default_aggregation(problem_type: str | None) -> str:
    """Max for multi-label (a label present anywhere in the text), mean of logits otherwise."""
    return "max" if problem_type == MULTI_LABEL else "mean"


def aggregate(values: np.ndarray, text_index: np.ndarray, how: str) -> np.ndarray:
    """Per-text rows of ``values`` (one row per window): the mean or max over each text's windows.

    Texts are numbered 0..n-1 by ``text_index``; the result has one row per text, in text order, whatever
    the order of the windows.
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {how!r}")
    values = np.asarray(values, dtype=np.float64)
    text_index = np.asarray(text_index, dtype=np.int64)
    texts = int(text_index.max()) + 1 if len(text_index) else 0
    shape = (texts, *values.shape[1:])
    if how == "max":
        out = np.full(shape, -np.inf)
        np.maximum.at(out, text_index, values)
        return out
    out = np.zeros(shape)
    np.add.at(out, text_index, values)
    counts = np.bincount(text_index, minlength=texts).reshape(-1, *([1] * (values.ndim - 1)))
    return out / np.maximum(counts, 1)


def first_rows(values: np.ndarray, text_index: np.ndarray) -> np.ndarray:
    """Each text's value from its first window (labels: every window of a text carries the same)."""
    text_index = np.asarray(text_index)
    _, first = np.unique(text_index, return_index=True)
    return np.asarray(values)[first]


@dataclass
class ChunkedSplits:
    """The splits the Trainer gets (no ``text_index``), and each split's window-to-text mapping when chunked."""

    splits: DatasetDict
    mode: str = "truncate"
    stride: int = 0
    aggregation: str = "mean"
    text_index: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def chunked(self) -> bool:
        return bool(self.text_index)

    def results(self) -> dict[str, Any]:
        """``results.json``'s ``long_text`` entry: the options, and per split how many texts were chunked."""
        record: dict[str, Any] = {"mode": self.mode}
        if self.mode == "chunk":
            record.update(stride=self.stride, aggregation=self.aggregation)
            record["texts_chunked"] = {name: texts_chunked(index) for name, index in self.text_index.items()}
            record["windows"] = {name: len(index) for name, index in self.text_index.items()}
        return record

    def compute_metrics(self, metric: Callable[[EvalPrediction], dict]) -> Callable[[EvalPrediction], dict]:
        """``metric`` on per-text logits and labels; unchanged when nothing was chunked.

        The Trainer hands window logits in dataset order (its evaluation sampler is sequential), with no word
        on which split they come from: the mapping is picked by the number of windows received. Validation and
        test with the same window count are told apart by nothing, so the validation mapping is used for both;
        that is only wrong if their windows are split differently among texts, which the check below reports.
        """
        if not self.chunked:
            return metric
        by_rows: dict[int, np.ndarray] = {}
        for name in ("validation", "test", *self.text_index):
            if name in self.text_index:
                by_rows.setdefault(len(self.text_index[name]), self.text_index[name])

        def per_text_metric(prediction: EvalPrediction) -> dict:
            logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
            index = by_rows.get(len(logits))
            if index is None:
                logger.warning("no window mapping for %d rows: scored per window", len(logits))
                return metric(prediction)
            return metric(EvalPrediction(*self.per_text(logits, prediction.label_ids, index)))

        return per_text_metric

    def per_text(self, logits: np.ndarray, labels: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return aggregate(logits, index, self.aggregation).astype(np.float32), first_rows(labels, index)

    def per_text_predictions(self, predictions: Any, split: str) -> Any:
        """``split_predictions.Predictions`` of a split's windows, as one row per text (same class)."""
        if split not in self.text_index or len(predictions.logits) != len(self.text_index[split]):
            return predictions
        logits, labels = self.per_text(predictions.logits, predictions.labels, self.text_index[split])
        return replace(predictions, logits=logits, labels=labels)


def texts_chunked(index: np.ndarray) -> int:
    """How many texts have more than one window."""
    return int((np.bincount(np.asarray(index, dtype=np.int64)) > 1).sum()) if len(index) else 0


def split_off_windows(splits: DatasetDict, mode: str, stride: int, aggregation: str | None, problem_type: str | None):
    """``ChunkedSplits`` of tokenized ``splits``: the ``text_index`` column moved out of the datasets."""
    how = aggregation or default_aggregation(problem_type)
    chunked = ChunkedSplits(splits, mode=mode, stride=stride, aggregation=how)
    if not any(TEXT_INDEX in split.column_names for split in splits.values()):
        return chunked
    for name, split in splits.items():
        # read from Arrow in one call (datasets 5 formats a column row by row, and as a Column object)
        column = split.with_format("arrow")[:][TEXT_INDEX]
        chunked.text_index[name] = column.to_numpy(zero_copy_only=False).astype(np.int64)
    chunked.splits = DatasetDict({name: split.remove_columns(TEXT_INDEX) for name, split in splits.items()})
    for name, index in chunked.text_index.items():
        logger.info(
            "long texts (%s split): %d of %d texts chunked into %d windows (stride %d, %s of logits per text)",
            name, texts_chunked(index), int(index.max()) + 1 if len(index) else 0, len(index), stride, how,
        )  # fmt: skip
    return chunked


def chunk_batch(tokenizer, batch: dict, indices: list[int], max_length: int, stride: int, padding) -> dict:
    """One ``datasets.map`` batch as windows: every column other than the texts repeated per window."""
    encoded = tokenizer(
        batch["text"],
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        padding=padding,
    )
    owners = encoded.pop("overflow_to_sample_mapping")
    encoded["length"] = [sum(mask) for mask in encoded["attention_mask"]]
    encoded[TEXT_INDEX] = [indices[owner] for owner in owners]
    for column, values in batch.items():
        if column not in ("text", "text_pair", "group"):
            encoded[column] = [values[owner] for owner in owners]
    return encoded
