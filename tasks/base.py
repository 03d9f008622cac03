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


SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class Columns:
    """Which columns of a user's own data hold the text and the labels: the options of the generic
    ``text`` task. Built-in tasks know their columns and refuse these options (``Task.reads_columns``).

    Attributes:
        text: the text column, or two columns for sentence pairs (given to the tokenizer as
            ``text, text_pair``).
        label: the single-label column (names or integer ids), or, with ``label_separator`` or
            list values, the one multi-label column; ``None``: ``label`` unless ``label_columns``.
        label_columns: multi-label as one 0/1 column per label, named by the columns.
        labels: the label names, fixed by the user (integer ids in the data index them).
        labels_file: a file naming the labels, one a line (as ``labels``).
        label_separator: multi-label as one column of separated names or ids (``a,b``).
        problem_type: the head, when the options alone do not decide it.
        column_names: the columns of a headerless CSV/TSV file, in order.
        file_format: csv, tsv, jsonl or parquet, for files whose name does not tell.
    """

    text: tuple[str, ...] = ("text",)
    label: str | None = None
    label_columns: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    labels_file: str | None = None
    label_separator: str | None = None
    problem_type: str | None = None
    column_names: tuple[str, ...] = ()
    file_format: str | None = None

    def given(self) -> list[str]:
        """The options set to anything but their default, as ``--flag`` (for "this task does not read them")."""
        default = Columns()
        return [f"--{flag}" for flag, name in COLUMN_FLAGS.items() if getattr(self, name) != getattr(default, name)]

    def saved_options(self) -> dict[str, object]:
        """The options given, by field name, JSON-ready: what ``train.py`` saves in the model config
        (``training_task``) so that ``trainer-tasks evaluate`` reads labelled files as training read them.

        The label names (``labels``, ``labels_file``) are left out: the model's ``id2label`` holds them,
        and a labels file's path means nothing on another machine.
        """
        default = Columns()
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name in COLUMN_FLAGS.values()
            if name not in ("labels", "labels_file") and (value := getattr(self, name)) != getattr(default, name)
        }


# train.py option -> the Columns field it sets.
COLUMN_FLAGS = {
    "text_column": "text",
    "label_column": "label",
    "label_columns": "label_columns",
    "labels": "labels",
    "labels_file": "labels_file",
    "label_separator": "label_separator",
    "problem_type": "problem_type",
    "column_names": "column_names",
    "file_format": "file_format",
}


@dataclass(frozen=True)
class DataConfig:
    """What a dataset builder needs to know, filled by the engine from the data arguments.

    Builders read local files or a Hub (or ``save_to_disk``) dataset, clean them, and split them
    with ``seed`` so that every process of a distributed run builds the same splits. Splits the
    user gives are kept as given (``train_file``/``validation_file``/``test_file``, or a dataset's
    ``train_split``/...); only the missing ones are carved from the training rows.

    Attributes:
        data_files: files pooled into the training rows (the same as ``train_file``).
        train_file / validation_file / test_file: one file per split, used as given.
        dataset_name: a Hub dataset id, or a folder written by ``save_to_disk``.
        dataset_config_name / dataset_revision: the Hub dataset's configuration and revision.
        train_split / validation_split / test_split: which of the dataset's splits is which
            (default: ``train``; ``validation``, ``valid`` or ``dev``; ``test``).
        split: how missing splits are carved (``random``, or one the task declares).
        group_column: rows sharing this column's value stay on one side of a carved split.
        columns: the generic task's column options.
        evaluation: read labelled data to score a trained model (``trainer-tasks evaluate``): the
            builder returns only a ``test`` split holding every row of every given file, in file
            order, and skips what only training needs: no carved splits, no refusal of data with one
            class (``data.check_classes``) or of labels the training rows lack, and no row dropped by
            ``max_text_chars`` (the model truncates long texts itself). Texts and labels are
            validated as always.
    """

    data_files: tuple[str, ...] = ()
    dataset_name: str | None = None
    split: str = "random"
    seed: int = 42
    test_size: float = 0.2
    validation_size: float = 0.1
    max_text_chars: int | None = None
    cache_dir: str | None = None
    train_file: str | None = None
    validation_file: str | None = None
    test_file: str | None = None
    dataset_config_name: str | None = None
    dataset_revision: str | None = None
    train_split: str | None = None
    validation_split: str | None = None
    test_split: str | None = None
    group_column: str | None = None
    columns: Columns = field(default_factory=Columns)
    evaluation: bool = False

    def text_char_limit(self, default: int | None = None) -> int | None:
        """The ``max_text_chars`` rule (or the task's ``default``); none in evaluation, where every row counts."""
        return None if self.evaluation else (self.max_text_chars or default)

    def split_files(self) -> dict[str, tuple[str, ...]]:
        """The files of each given split: ``data_files`` and ``train_file`` are both training rows."""
        files = {
            "train": (*self.data_files, *([self.train_file] if self.train_file else [])),
            "validation": (self.validation_file,) if self.validation_file else (),
            "test": (self.test_file,) if self.test_file else (),
        }
        return {name: paths for name, paths in files.items() if paths}


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
        configure: for a task whose labels come from the data (the generic ``text`` task): reads
            the data and returns the task with its labels, head and metrics set; that task's
            ``build_dataset`` then returns the splits already read. ``None`` for fixed labels.
        reads_columns: whether the task reads ``DataConfig.columns`` (else they are refused).
        summary: for a task whose labels come from the data, the sentence its description starts
            with once they are known (the labels follow).
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
    configure: Callable[[DataConfig], Task] | None = None
    reads_columns: bool = False
    summary: str = ""

    def __post_init__(self) -> None:
        if self.problem_type not in PROBLEM_TYPES:
            raise TaskError(f"task {self.name!r}: problem_type {self.problem_type!r} is not one of {PROBLEM_TYPES}")
        if self.configure is not None and not self.labels:
            pass  # labels come from the data
        elif len(set(self.labels)) != len(self.labels) or not self.labels:
            raise TaskError(f"task {self.name!r}: labels must be unique and non-empty, got {self.labels}")
        if "random" not in self.splits:
            raise TaskError(f"task {self.name!r}: every task supports the 'random' split")

    @property
    def labels_from_data(self) -> bool:
        """Whether the labels are known only once the data is read (``configure``)."""
        return self.configure is not None

    def for_data(self, config: DataConfig) -> Task:
        """The task as this data defines it: itself when its labels are fixed, else ``configure``'s task."""
        if self.configure is None:
            if not self.reads_columns and config.columns.given():
                raise TaskError(
                    f"task {self.name!r} reads its own columns; {', '.join(config.columns.given())} "
                    "is for your own data (--task text)"
                )
            return self
        return self.configure(config)

    def for_labels(self, labels: Sequence[str], problem_type: str) -> Task:
        """The task with the labels and head a run found in its data (a saved run's card, a report); a task
        with fixed labels is itself. Its metrics are the shared ones for that head."""
        if self.configure is None:
            return self
        from dataclasses import replace

        from tasks.metrics import multi_label_metrics, single_label_metrics

        multi = problem_type == "multi_label_classification"
        shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
        return replace(
            self,
            description=f"{self.summary or self.description} {'Multi' if multi else 'Single'}-label, "
            f"{len(labels)} labels: {shown}.",
            labels=tuple(labels),
            problem_type=problem_type,
            compute_metrics=multi_label_metrics(labels) if multi else single_label_metrics(labels),
            primary_metric="jaccard_samples" if multi else "accuracy",
            configure=None,
        )

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}
