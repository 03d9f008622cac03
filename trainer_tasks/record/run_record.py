"""The run's record: one typed value, written as ``results.json`` and read back by the card, ``compare`` and ``card``.

Before, the record was a dict literal read by string keys in four modules, so a renamed key broke
a reader without a word. Here every field is declared once, with its type; ``to_dict`` writes it
and ``from_dict`` reads it back after checking the file's shape (``run_files.RESULTS_SHAPE``: a
damaged or older file is one line naming the key). Top-level keys this version does not know (a
newer run's) are kept in ``extra`` and written back as they were.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Sections only some runs have (tuned thresholds: multi-label; in_progress: a checkpoint's card).
ABSENT_WHEN_NONE = frozenset(
    {
        "thresholds",
        "threshold_objective",
        "threshold_tuning",
        "threshold_rule",
        "test_metrics_tuned",
        "in_progress",
        "test_intervals",
        "kept_model",
        "early_stopping",
    }
)
# The data options that name where the splits came from, recorded as given (``DataRecord``, the card).
DATA_SOURCE_FIELDS = (
    "train_file",
    "validation_file",
    "test_file",
    "dataset_config_name",
    "dataset_revision",
    "train_split",
    "validation_split",
    "test_split",
    "group_column",
)


@dataclass
class DataRecord:
    """What was trained on, and how it was split."""

    split: str
    train_size: int
    validation_size: int
    test_size: int
    split_seed: int | None = None
    data_files: list[str] = field(default_factory=list)
    dataset_name: str | None = None
    max_seq_length: int | None = None
    pad_to_max_length: bool = False
    long_text: str = "truncate"  # texts past max_seq_length: truncated, or chunked into windows (training.long_text)
    max_text_chars: int | None = None
    # where the splits came from, as given (files per split, or a Hub dataset's config, revision and splits)
    train_file: str | None = None
    validation_file: str | None = None
    test_file: str | None = None
    dataset_config_name: str | None = None
    dataset_revision: str | None = None
    train_split: str | None = None
    validation_split: str | None = None
    test_split: str | None = None
    group_column: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)  # the generic task's column options that were set
    # what the data held (training.overlap, training.label_counts)
    duplicates: dict[str, int] = field(default_factory=dict)  # held-out rows that repeat a training text
    duplicates_dropped: bool = False
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> rows


@dataclass
class TrainingRecord:
    """The settings that shaped the weights, and what training took."""

    learning_rate: float
    per_device_train_batch_size: int
    num_train_epochs: float
    seed: int
    global_steps: int
    gradient_accumulation_steps: int = 1
    max_steps: int = -1
    lr_scheduler_type: str = "linear"
    warmup_steps: float = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    bf16: bool = False
    fp16: bool = False
    train_sampling_strategy: str = "random"
    train_runtime: float | None = None
    train_loss: float | None = None


@dataclass
class RunRecord:
    """Everything a report, a model card or a test needs to know about a run."""

    task: str
    problem_type: str
    labels: list[str]
    primary_metric: str
    model_name_or_path: str
    data: DataRecord
    training: TrainingRecord
    epochs: list[dict[str, Any]] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)
    # bootstrap confidence intervals of the test metrics and how they were drawn (record.intervals)
    test_intervals: dict[str, Any] | None = None
    world_size: int = 1
    hardware: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    hub: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what made the run suspect (training.degenerate)
    fast_path: dict[str, str] = field(default_factory=dict)  # each speed-up, on or why off (fast_path.prepare)
    loss_arguments: dict[str, Any] | None = None
    # --long_text: mode, stride, aggregation, texts chunked and windows per split (training.long_text)
    long_text: dict[str, Any] | None = None
    distillation_arguments: dict[str, Any] | None = None
    pos_weight: dict[str, float] | None = None
    class_weights: dict[str, float] | None = None
    loss_weighting: str | None = None
    thresholds: dict[str, float] | None = None
    threshold_objective: str | None = None
    threshold_tuning: list[dict[str, Any]] | None = None
    threshold_rule: dict[str, Any] | None = None  # was the tuned set kept (training.thresholds)
    test_metrics_tuned: dict[str, float] | None = None
    in_progress: str | None = None  # e.g. "epoch 2 of 4" in a checkpoint's card
    kept_model: dict[str, Any] | None = None  # which evaluation's weights were saved (training.selection)
    early_stopping: dict[str, Any] | None = None  # patience, and where training stopped
    extra: dict[str, Any] = field(default_factory=dict)  # keys of a newer version, kept as they were

    def add(self, **values: Any) -> RunRecord:
        """Set declared fields (a typo is an error, not a new key); returns the record."""
        names = {item.name for item in dataclasses.fields(self)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise AttributeError(f"RunRecord has no field(s) {unknown}")
        for name, value in values.items():
            setattr(self, name, value)
        return self

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written as ``results.json`` (sections a run did not have are left out, not null)."""
        values = dataclasses.asdict(self)
        extra = values.pop("extra")
        values = {key: value for key, value in values.items() if not (key in ABSENT_WHEN_NONE and value is None)}
        return values | extra

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunRecord:
        """A record from parsed ``results.json`` (shape already checked by ``run_files``)."""
        values = dict(values)
        data = _known(DataRecord, values.pop("data"))
        training = _known(TrainingRecord, values.pop("training"))
        names = {item.name for item in dataclasses.fields(cls)} - {"data", "training", "extra"}
        # null in an older file means "not recorded": the field's default stands
        known = {key: value for key, value in values.items() if key in names and value is not None}
        extra = {key: value for key, value in values.items() if key not in names}
        return cls(data=data, training=training, extra=extra, **known)


def _known(kind: type, values: dict[str, Any]) -> Any:
    """``kind`` from the keys it declares; null means "not recorded" (an older file): the field's default stands."""
    names = {item.name for item in dataclasses.fields(kind)}
    return kind(**{key: value for key, value in values.items() if key in names and value is not None})
