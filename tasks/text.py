"""``text``: any labelled text of your own, no Python: columns, labels and head come from the options and the data.

    accelerate launch train.py --task text --data_files tickets.csv --text_column body --label_column queue

Reads CSV/TSV (with a header, or headerless with ``--column_names``), JSON Lines and Parquet,
plain or gzipped, a ``save_to_disk`` folder or a Hub dataset (``tasks.readers``). Single-label
from one column of names or ids; multi-label from 0/1 columns (``--label_columns``), a list column
or separated names (``--label_separator``) (``tasks.labels``). Two ``--text_column`` names make a
sentence-pair task. Splits the user gives are kept (``tasks.splits``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tasks import data, labels, splits
from tasks.base import Columns, DataConfig, Task, TaskError
from tasks.metrics import single_label_metrics

if TYPE_CHECKING:
    from datasets import DatasetDict


def wanted_columns(columns: Columns, group_column: str | None) -> tuple[list[str], list[str]]:
    """The columns a file must have (texts, labels) and may have (the group column)."""
    label_columns = list(columns.label_columns) or [columns.label or "label"]
    optional = [group_column] if group_column else []
    return [*columns.text, *label_columns], optional


def read_text_file(path: str, columns: Columns, group_column: str | None) -> pd.DataFrame:
    """One file of the user's data, reduced to the columns the options name (found by header name)."""
    from tasks.readers import read_file

    frame = read_file(path, file_format=columns.file_format, column_names=columns.column_names)
    return select(frame, columns, group_column, path)


def select(frame: pd.DataFrame, columns: Columns, group_column: str | None, origin: str) -> pd.DataFrame:
    required, optional = wanted_columns(columns, group_column)
    needs = "--task text (" + ", ".join(column_roles(columns)) + ")"
    frame = data.select_columns(frame, required, origin, needs, optional=optional)
    for column in columns.text:
        check_text_values(frame, column)
    return frame


def column_roles(columns: Columns) -> list[str]:
    """What each wanted column is for, said in the error that lists missing columns."""
    texts = [f"text {columns.text[0]!r}"] + ([f"text pair {columns.text[1]!r}"] if len(columns.text) > 1 else [])
    if columns.label_columns:
        return [*texts, f"label columns {list(columns.label_columns)} (--label_columns)"]
    return [*texts, f"label {columns.label or 'label'!r} (--label_column)"]


def check_text_values(frame: pd.DataFrame, column: str) -> None:
    """Texts must be strings with something visible in them; a number or a list in a text column is a wrong column."""
    values = frame[column]
    if values.dtype == object:
        wrong = values.map(lambda value: value is not None and not isinstance(value, str | float)).to_numpy(bool)
        if wrong.any():
            example = values[wrong].iloc[0]
            raise TaskError(
                f"column {column!r} must hold text, found {type(example).__name__} {example!r} at "
                f"{data.where(frame, wrong)}: pass the text column with --text_column"
            )
    data.check_texts(frame, column)


def has_labels(columns: Columns):
    """Whether a dataset split has labels: its label column(s) exist and hold some value (GLUE's test: none)."""

    def labelled(frame: pd.DataFrame) -> bool:
        names = list(columns.label_columns) or [columns.label or "label"]
        for name in names:
            found = data.find_column(frame, name, "the dataset")
            if found is None or frame[found].isna().all():
                return False
        return True

    return labelled


def read_text_frame(config: DataConfig) -> tuple[pd.DataFrame, dict[str, tuple[str, ...]]]:
    """All rows of the user's data, split marks included, and the ClassLabel names of a dataset."""
    columns = config.columns
    if config.dataset_name and not config.split_files():
        from tasks.readers import read_dataset

        dataset = read_dataset(
            config.dataset_name,
            config_name=config.dataset_config_name,
            revision=config.dataset_revision,
            cache_dir=config.cache_dir,
        )
        kept = splits.chosen_splits(dataset.frames, config, has_labels(columns))
        frames = [
            select(frame, columns, config.group_column, f"{dataset.origin}[{name}]").assign(
                **{splits.SPLIT_COLUMN: name}
            )
            for name, frame in kept.items()
        ]
        return data.pool(frames), dataset.class_names
    reader = functools.partial(read_text_file, columns=columns, group_column=config.group_column)
    return splits.read_frames(config, reader), {}


def configure_text(config: DataConfig) -> Task:
    """Read the user's data once: the task it defines (labels, head, metrics) and its splits."""
    frame, class_names = read_text_frame(config)
    parsed = labels.parse_labels(frame, config.columns, class_names, origin=data.sources(frame))
    multi = parsed.problem_type == "multi_label_classification"
    frame = frame.assign(**{"__label_row__": np.arange(len(frame))})
    read = len(frame)
    frame = data.drop_long_texts(frame, config.text_char_limit(), column=config.columns.text[0]).reset_index(drop=True)
    values = parsed.values[frame["__label_row__"].to_numpy()]
    note = data.long_texts_note(read, len(frame), config.max_text_chars)
    data.check_classes(frame, values, parsed.names, note, evaluation=config.evaluation)
    stratify = values.astype(int) if not multi else values[:, int(np.argmax(values.sum(axis=0)))].astype(int)
    groups = splits.groups_of(frame, config)
    parts = splits.split_frame(frame, config, stratify=stratify, groups=groups)
    if not parsed.fixed and not config.evaluation and splits.SPLIT_COLUMN in frame:
        labels.unseen_labels_error(frame, dataclasses.replace(parsed, values=values), parts["train"])
    texts = data.visible_text(frame[config.columns.text[0]].astype(str)).to_numpy()
    pairs = None
    if len(config.columns.text) > 1:
        pairs = data.visible_text(frame[config.columns.text[1]].astype(str)).to_numpy()
    dataset = splits.to_dataset_dict(
        texts,
        values,
        parts,
        parsed.names,
        multi_label=multi,
        origin=data.sources(frame),
        text_pairs=pairs,
        groups=groups,
    )
    return defined_task(parsed.names, parsed.problem_type, dataset)


def defined_task(names: tuple[str, ...], problem_type: str, dataset: DatasetDict) -> Task:
    """``TEXT`` with the labels and head the data defined; its builder returns the splits already read."""
    return dataclasses.replace(TEXT.for_labels(names, problem_type), build_dataset=lambda _config: dataset)


def build_text(config: DataConfig) -> DatasetDict:
    """The splits of the user's data (``configure_text`` reads it and keeps the task it defines)."""
    return configure_text(config).build_dataset(config)


TEXT = Task(
    name="text",
    description="Your own labelled text: labels, head (single- or multi-label) and columns from the options and "
    "the data (CSV, TSV, JSON Lines, Parquet, a save_to_disk folder or a Hub dataset).",
    labels=(),
    problem_type="single_label_classification",
    build_dataset=build_text,
    compute_metrics=single_label_metrics(()),
    primary_metric="accuracy",
    configure=configure_text,
    reads_columns=True,
    summary="Your own labelled text.",
    language="",
    limitations=(
        "Trained on the data named in this card only: texts unlike it (another domain, language, time or writing "
        "style) score worse than the test figures say.",
        "Test figures come from the test split described below; when it was carved at random from the same "
        "source, near-duplicates of training texts in it make them optimistic (see the duplicate count).",
    ),
)
