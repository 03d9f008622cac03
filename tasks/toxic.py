"""``toxic``: Jigsaw Toxic Comment Classification, 6 independent labels (multi-label).

Reads the Kaggle ``train.csv`` layout (``id, comment_text, toxic, ..., identity_hate``) and the
thesis layout (``text`` plus the six columns), plain or gzipped, comma-separated; columns are found
by header name, in any order and case, so exports with extra or reordered columns read too.
Cleaning as the thesis: newlines become spaces and double quotes are removed;
``--max_text_chars 200`` keeps comments under 200 characters as the thesis did (off by default: it
throws away half of Kaggle's comments).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from tasks import data, splits
from tasks.base import DataConfig, Task, TaskError
from tasks.metrics import multi_label_metrics

if TYPE_CHECKING:
    from datasets import DatasetDict

LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
TEXT_COLUMNS = ("comment_text", "text")
NEEDS = (
    "toxic (a text column and the six label columns, found by header name in any order, case and spaces ignored; "
    "id used when present)"
)


def text_column(frame: pd.DataFrame, path: str) -> str:
    """``comment_text`` in Kaggle's layout, ``text`` in the thesis's (matched ignoring case and spaces).

    Without either, one error names everything missing, label columns included, so a user fixes
    the header once rather than once per column.
    """
    for column in TEXT_COLUMNS:
        if data.find_column(frame, column, path) is not None:
            return column
    found = data.data_columns(frame)
    labels = [label for label in LABELS if data.find_column(frame, label, path) is None]
    also = f"; also missing label column(s) {labels}" if labels else ""
    raise TaskError(
        f"{path}{data.header_place(path)}: no text column: expected one of {list(TEXT_COLUMNS)}{also}, "
        f"found columns {found}. Add or rename the header field.{data.delimiter_hint(','.join(found), ',')}"
    )


def read_toxic_file(path: str, keep: Sequence[str] = ()) -> pd.DataFrame:
    frame = data.read_table(path, sep=",", repeated_names=True)
    return prepare(frame, path, NEEDS, keep)


def from_hub(frame: pd.DataFrame, keep: Sequence[str] = ()) -> pd.DataFrame:
    return prepare(frame, "the Hub dataset", NEEDS, keep)


def prepare(frame: pd.DataFrame, path: str, needs: str, keep: Sequence[str] = ()) -> pd.DataFrame:
    """Find one source's columns by header name, in any order, and check its texts.

    Only the columns the task reads are kept, the text one renamed ``text``, so that sources with
    different extra columns (the thesis files' index and ``labels`` list) pool cleanly.
    """
    column = text_column(frame, path)
    frame = data.select_columns(frame, (column, *LABELS), path, needs, optional=("id", *keep))
    frame = frame.rename(columns={column: "text"})
    frame = frame.assign(text=clean_comment(frame["text"].astype(str)))
    data.check_texts(frame, "text", shown_as=column)
    return frame


def clean_comment(text: pd.Series) -> pd.Series:
    """The thesis's cleaning: newlines to spaces, double quotes removed."""
    return (
        text.str.replace("\r\n", " ", regex=False).str.replace("\n", " ", regex=False).str.replace('"', "", regex=False)
    )


def build_toxic(config: DataConfig) -> DatasetDict:
    data.check_split_option(config, TOXIC.splits, "toxic")
    keep = (config.group_column,) if config.group_column else ()
    frame = splits.read_frames(
        config, functools.partial(read_toxic_file, keep=keep), functools.partial(from_hub, keep=keep)
    )
    if "id" in frame.columns:
        data.check_unique_ids(frame, "id")
    labels = data.parse_binary_columns(frame, LABELS)
    read = len(frame)
    keep = data.drop_long_texts(frame, config.text_char_limit()).index.to_numpy()
    frame, labels = frame.loc[keep].reset_index(drop=True), labels[keep]
    note = data.long_texts_note(read, len(frame), config.max_text_chars)
    data.check_classes(frame, labels, LABELS, note, evaluation=config.evaluation)
    # Stratify on the most frequent label so validation and test get their share of toxic comments.
    groups = splits.groups_of(frame, config)
    parts = splits.split_frame(frame, config, stratify=labels[:, 0].astype(int), groups=groups)
    texts = frame["text"].to_numpy()
    return splits.to_dataset_dict(
        texts, labels, parts, LABELS, multi_label=True, origin=data.sources(frame), groups=groups
    )


TOXIC = Task(
    name="toxic",
    description="Kinds of toxicity in an English comment (Jigsaw Toxic Comment Classification): six "
    "independent labels, any number of which may apply.",
    labels=LABELS,
    problem_type="multi_label_classification",
    build_dataset=build_toxic,
    compute_metrics=multi_label_metrics(LABELS),
    primary_metric="jaccard_samples",
    widget_examples=(
        "Thanks for fixing the citation, the article reads much better now.",
        "You are an idiot and nobody wants you here.",
        "I will find you and hurt you.",
    ),
    label_descriptions={
        "toxic": "rude, disrespectful or unreasonable",
        "severe_toxic": "very hateful, aggressive or disrespectful",
        "obscene": "obscene or vulgar language",
        "threat": "a threat of violence",
        "insult": "insulting, inflammatory or negative towards a person",
        "identity_hate": "hate towards a group identity (religion, ethnicity, gender, ...)",
    },
    limitations=(
        "Domain: English Wikipedia talk-page comments (Jigsaw). Social media, chat, reviews, other dialects and "
        "other languages score worse.",
        "False positives on identity terms: comments that merely mention an identity (gay, muslim, black, jewish, "
        "...) are flagged toxic more often than they are, a known bias of models trained on this data (Dixon et "
        "al., 2018; the Jigsaw Unintended Bias challenge). Do not moderate automatically without human review.",
        "Rare labels (threat, identity_hate, severe_toxic) have few positive examples; their scores are the "
        "least reliable.",
        "Quoted abuse, sarcasm and reclaimed slurs are often misjudged; the labels are annotators' judgements.",
    ),
)
