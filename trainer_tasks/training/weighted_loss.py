"""Class-imbalance weighting: ``LossArguments`` and ``WeightedLoss``, the loss value the trainer holds.

Rare labels contribute almost nothing to an unweighted loss (threat: under 0.5% of toxic
comments), so the model learns to never predict them. ``--pos_weight`` scales the positive term of
each label's binary cross-entropy; ``--class_weight`` scales each class's cross-entropy term in a
single-label task. ``auto`` computes the weights from the training split only.

The arguments are their own dataclass group rather than fields of ``TaskTrainingArguments``, so
that other Trainer variants (distillation) add their own group without a tangle of subclasses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import datasets
import numpy as np
import torch
from torch import nn

from tasks import Task, TaskError

logger = logging.getLogger(__name__)

AUTO = "auto"


def _parse_weights(flag: str, values: list | None) -> list[float] | str | None:
    """``None``, ``"auto"`` or a list of positive floats; anything else is an error naming the flag."""
    if values is None:
        return None
    words = [str(value).strip() for value in values]
    if words == [AUTO]:
        return AUTO
    try:
        numbers = [float(word) for word in words]
    except ValueError:
        numbers = []
    if not numbers or any(not np.isfinite(n) or n <= 0 for n in numbers):
        raise TaskError(f"--{flag} must be 'auto' or one positive number per label, got {' '.join(words)!r}")
    return numbers


@dataclass
class LossArguments:
    """Loss weights against class imbalance; every default leaves the loss unweighted.

    Defaults are the plain ``Trainer`` loss: no weighting unless asked for, so a run without these
    flags reproduces the thesis. ``pos_weight_max`` caps automatic positive weights at 50.
    """

    pos_weight: list[str] | None = field(
        default=None,
        metadata={
            "help": "Multi-label: weight of each label's positive examples in the BCE loss. 'auto': negatives / "
            "positives per label in the training split, capped at --pos_weight_max; or one number per label."
        },
    )
    pos_weight_max: float = field(
        default=50.0,
        metadata={
            "help": "Cap for --pos_weight auto. Uncapped, the rarest labels get weights in the hundreds "
            "(threat: about 220 on the thesis data), which make the loss spiky and the scores uninterpretable."
        },
    )
    class_weight: list[str] | None = field(
        default=None,
        metadata={
            "help": "Single-label: weight of each class in the cross-entropy loss. 'auto': inverse class "
            "frequency in the training split, normalised so the average training example weighs 1; "
            "or one number per class."
        },
    )

    def __post_init__(self) -> None:
        _parse_weights("pos_weight", self.pos_weight)
        _parse_weights("class_weight", self.class_weight)
        if not self.pos_weight_max > 0:
            raise TaskError(f"--pos_weight_max must be positive, got {self.pos_weight_max}")


@dataclass
class LossWeights:
    """The weights a run trains with, and where they came from (for results.json and the card)."""

    kind: str  # "pos_weight" (multi-label BCE) or "class_weights" (single-label cross-entropy)
    labels: list[str]
    values: list[float]
    source: str  # how they were obtained, in words

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.labels, self.values, strict=True))


def _label_matrix(train_split: datasets.Dataset) -> np.ndarray:
    return np.asarray(train_split.with_format("numpy")["labels"])


def auto_pos_weight(labels: np.ndarray, cap: float) -> tuple[list[float], list[int]]:
    """negatives / positives per label column, capped; 1.0 where a label has no positives at all.

    Returns the weights and the column indices that had no positives (to warn about).
    """
    positives = labels.sum(axis=0).astype(np.float64)
    negatives = len(labels) - positives
    weights = np.divide(negatives, positives, out=np.ones_like(positives), where=positives > 0)
    return [float(w) for w in np.minimum(weights, cap)], np.nonzero(positives == 0)[0].tolist()


def auto_class_weight(labels: np.ndarray, num_classes: int) -> tuple[list[float], list[int]]:
    """n / (k * n_c) per class (scikit-learn's "balanced"), so the mean weight over examples is 1.

    A class absent from the training split gets 1.0 (it never appears in the loss); returned too.
    """
    counts = np.bincount(labels.astype(int), minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(num_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return [float(w) for w in weights], np.nonzero(~present)[0].tolist()


def compute_loss_weights(task: Task, train_split: datasets.Dataset, args: LossArguments) -> LossWeights | None:
    """The weights ``args`` ask for, checked against the task; ``None`` when the loss stays plain."""
    pos_weight = _parse_weights("pos_weight", args.pos_weight)
    class_weight = _parse_weights("class_weight", args.class_weight)
    labels = list(task.labels)
    if pos_weight is not None and not task.is_multi_label:
        raise TaskError(
            f"--pos_weight is for multi-label tasks; task {task.name!r} is single-label: use --class_weight"
        )
    if class_weight is not None and task.is_multi_label:
        raise TaskError(
            f"--class_weight is for single-label tasks; task {task.name!r} is multi-label: use --pos_weight"
        )
    requested, flag = (pos_weight, "pos_weight") if pos_weight is not None else (class_weight, "class_weight")
    if requested is None:
        return None
    kind = "pos_weight" if flag == "pos_weight" else "class_weights"
    if requested != AUTO:
        if len(requested) != len(labels):
            raise TaskError(
                f"--{flag} has {len(requested)} value(s) but task {task.name!r} has {len(labels)} labels "
                f"{labels}: give one number per label, in that order, or 'auto'"
            )
        return LossWeights(kind, labels, list(requested), "given on the command line")

    matrix = _label_matrix(train_split)
    if flag == "pos_weight":
        values, missing = auto_pos_weight(matrix, args.pos_weight_max)
        source = f"auto: negatives/positives per label in the training split, capped at {args.pos_weight_max:g}"
    else:
        values, missing = auto_class_weight(matrix, len(labels))
        source = "auto: inverse class frequency in the training split, mean example weight 1"
    for index in missing:
        logger.warning("--%s auto: label %r has no training examples; its weight is 1.0", flag, labels[index])
    weights = LossWeights(kind, labels, values, source)
    logger.info("%s (%s): %s", kind, source, weights.as_dict())
    return weights


class TaskLoss(Protocol):
    """A loss the trainer holds in place of the model's own: logits and labels in, a per-batch mean out."""

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...


class WeightedLoss:
    """The task loss weighing labels or classes by ``weights``: a value ``TaskTrainer(task_loss=...)`` holds.

    Multi-label: ``BCEWithLogitsLoss(pos_weight=...)``; single-label: ``CrossEntropyLoss(weight=...)``,
    both computed in float32 and averaged over the batch, as the models' own losses are. The
    validation loss is weighted the same way, so it stays comparable from epoch to epoch (not
    with an unweighted run's).
    """

    def __init__(self, weights: LossWeights) -> None:
        self.weights = weights
        self._values = torch.tensor(weights.values, dtype=torch.float32)

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        weights = self._values.to(logits.device)
        if self.weights.kind == "pos_weight":
            return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weights)
        return nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), weight=weights)


def loss_weight_results(trainer) -> dict:
    """``results.json`` entries: ``pos_weight`` / ``class_weights`` ({label: weight} or null) and their source."""
    task_loss = getattr(trainer, "task_loss", None)
    weights = task_loss.weights if isinstance(task_loss, WeightedLoss) else None
    return {
        "pos_weight": weights.as_dict() if weights and weights.kind == "pos_weight" else None,
        "class_weights": weights.as_dict() if weights and weights.kind == "class_weights" else None,
        "loss_weighting": weights.source if weights else "none",
    }
