"""Saved classifiers for the predict and export tests: a tiny encoder with a fresh, seeded head.

No training needed: these tests check that predictions match the PyTorch model row for row, so
any fixed weights serve, and building one takes a second instead of a training run.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def save_classifier(
    base: str,
    folder: str,
    labels: Sequence[str],
    multi_label: bool,
    thresholds: dict[str, float] | None = None,
    seed: int = 0,
) -> str:
    """``base`` (a tiny encoder folder) with a seeded classification head, saved like train.py saves."""
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
    )
    if thresholds is not None:
        model.config.thresholds = dict(thresholds)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return folder


def reference_scores(folder: str, texts: Sequence[str], max_length: int) -> torch.Tensor:
    """Each text scored alone (no padding at all), as sigmoid or softmax per the saved problem type."""
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = []
    with torch.no_grad():
        for text in texts:
            logits = model(**tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")).logits[0]
            multi = model.config.problem_type == "multi_label_classification"
            rows.append(torch.sigmoid(logits) if multi else torch.softmax(logits, dim=-1))
    return torch.stack(rows).double()
