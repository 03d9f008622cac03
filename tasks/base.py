"""The Task contract: what a task plugin declares, and what the engine may ask of it.

A task is data plus two functions (build the dataset, compute metrics). It is a frozen dataclass
rather than a class hierarchy so that a new task is one short file of declarations, and the engine
never needs to know anything task-specific beyond these fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # annotations only: importing a task must not import datasets or transformers (torch)
    from datasets import DatasetDict
    from transformers import EvalPrediction

ProblemType = Literal["single_label_classification", "multi_label_classification"]
PROBLEM_TYPES: tuple[str, ...] = ("single_label_classification", "multi_label_classification")


class TaskError(ValueError):
    """A user-facing error: bad data, a bad option or an unknown task.

    Its message always names what was wrong (file, row, column or value) and how to fix it, so the
    CLI can print it as one line instead of a traceback from deep inside a library.
    """


@dataclass(frozen=True)
class DataConfig:
    """What a dataset builder needs to know, filled by the engine from the data arguments.

    Builders read local files (``data_files``) or a Hub dataset (``dataset_name``), clean them,
    and split them with ``seed`` so that every process of a distributed run builds the same splits.
    """

    data_files: tuple[str, ...] = ()
    dataset_name: str | None = None
    split: str = "random"
    seed: int = 42
    test_size: float = 0.2
    validation_size: float = 0.1
    max_text_chars: int | None = None
    cache_dir: str | None = None


@dataclass(frozen=True)
class Task:
    """A text-classification task the Trainer entrypoint can run.

    Attributes:
        name: registry name, used as ``--task NAME``.
        description: one sentence for ``--help``, logs and the model card.
        labels: label names in id order; they become ``id2label`` in the saved model config.
        problem_type: the head type; decides softmax + cross-entropy or sigmoid + BCE.
        build_dataset: returns a DatasetDict with ``train``/``validation``/``test`` splits and
            columns ``text`` (str) and ``labels`` (int id, or a float 0/1 vector for multi-label).
        compute_metrics: the Trainer's metric hook, ``EvalPrediction -> dict[str, float]``.
        primary_metric: the key of ``compute_metrics`` that ranks models (no ``eval_`` prefix).
        widget_examples: example inputs for the Hub widget on the model card.
        label_descriptions: what each label means, for the card.
        splits: the split strategies the builder supports (``random`` always).
        dataset_id: the Hub dataset id of the source data, when one exists.
        language: ISO code(s) of the text, for the card metadata.
        limitations: known failure modes of models trained on this data, for the card.
    """

    name: str
    description: str
    labels: Sequence[str]
    problem_type: ProblemType
    build_dataset: Callable[[DataConfig], DatasetDict]
    compute_metrics: Callable[[EvalPrediction], dict[str, float]]
    primary_metric: str
    widget_examples: Sequence[str] = ()
    label_descriptions: dict[str, str] = field(default_factory=dict)
    splits: Sequence[str] = ("random",)
    dataset_id: str | None = None
    language: str = "en"
    limitations: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.problem_type not in PROBLEM_TYPES:
            raise TaskError(f"task {self.name!r}: problem_type {self.problem_type!r} is not one of {PROBLEM_TYPES}")
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise TaskError(f"task {self.name!r}: labels must be unique and non-empty, got {self.labels}")
        if "random" not in self.splits:
            raise TaskError(f"task {self.name!r}: every task supports the 'random' split")

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}
