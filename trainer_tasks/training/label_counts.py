"""The label counts of every split, logged once per split as a ``train.py`` step (counted in ``record``)."""

from __future__ import annotations

import logging

from datasets import DatasetDict

from tasks import Task
from trainer_tasks.record.label_counts import label_counts

logger = logging.getLogger(__name__)


def report_label_counts(raw: DatasetDict, task: Task) -> dict[str, dict[str, int]]:
    """``train.py`` step: the label counts of every split, logged as one line per split."""
    counts = label_counts(raw, task)
    several = ", a row may have several" if task.is_multi_label else ""
    for name, per_label in counts.items():
        shown = ", ".join(f"{label} {count}" for label, count in per_label.items())
        logger.info("labels in %s (%d rows%s): %s", name, len(raw[name]), several, shown)
    return counts
