"""How many rows of each split carry each label: counted once, recorded in ``results.json`` and the card.

A test accuracy means little without the class balance behind it (0.9 on a 90/10 split is the majority
class), and a label missing from validation or test is a label nobody measured. One count serves the
log (``training.label_counts``), the record, the card and the training-split checks
(``degenerate.check_label_coverage``).
"""

from __future__ import annotations

import numpy as np
from datasets import Dataset, DatasetDict

from tasks import Task


def label_totals(split: Dataset, task: Task) -> np.ndarray:
    """Per label id: its rows (single-label), or the rows that have it (multi-label), as integers."""
    width = len(task.labels)
    if not len(split):
        return np.zeros(width, dtype=np.int64)
    labels = np.asarray(split.with_format("arrow")["labels"].to_pylist())  # the selected rows only
    if task.is_multi_label:
        return (labels.reshape(len(split), -1) > 0.5).sum(axis=0).astype(np.int64)
    return np.bincount(labels.astype(int), minlength=width).astype(np.int64)


def label_counts(raw: DatasetDict, task: Task) -> dict[str, dict[str, int]]:
    """Per split, rows per label name in id order (multi-label: rows with the label set)."""
    return {
        name: {label: int(count) for label, count in zip(task.labels, label_totals(split, task), strict=True)}
        for name, split in raw.items()
    }
