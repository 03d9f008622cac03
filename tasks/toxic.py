"""``toxic``: Jigsaw Toxic Comment Classification, 6 independent labels (multi-label).

Reads the Kaggle ``train.csv`` layout (``id, comment_text, toxic, ..., identity_hate``) and the
thesis layout (``text`` plus the six columns), plain or gzipped. Cleaning as the thesis: newlines
become spaces and double quotes are removed; ``--max_text_chars 200`` keeps comments under 200
characters as the thesis did (off by default: it throws away half of Kaggle's comments).
"""

from __future__ import annotations

import pandas as pd
from datasets import DatasetDict

from tasks import data
from tasks.base import DataConfig, Task, TaskError
from tasks.metrics import multi_label_metrics

LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
TEXT_COLUMNS = ("comment_text", "text")


def text_column(frame: pd.DataFrame, path: str) -> str:
    """``comment_text`` in Kaggle's layout, ``text`` in the thesis's."""
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            return column
    found = [c for c in frame.columns if c not in (data.SOURCE_COLUMN, data.ROW_COLUMN)]
    raise TaskError(f"{path}: no text column: expected one of {list(TEXT_COLUMNS)}, found columns {found}")


def read_toxic_file(path: str) -> pd.DataFrame:
    frame = data.read_table(path, sep=",")
    column = text_column(frame, path)
    data.require_columns(frame, LABELS, path, "Kaggle train.csv or thesis")
    return frame.rename(columns={column: "text"})


def from_hub(frame: pd.DataFrame) -> pd.DataFrame:
    column = text_column(frame, "the Hub dataset")
    return frame.rename(columns={column: "text"})


def clean_comment(text: pd.Series) -> pd.Series:
    """The thesis's cleaning: newlines to spaces, double quotes removed."""
    return (
        text.str.replace("\r\n", " ", regex=False).str.replace("\n", " ", regex=False).str.replace('"', "", regex=False)
    )


def build_toxic(config: DataConfig) -> DatasetDict:
    data.check_split_option(config, TOXIC.splits, "toxic")
    frame = data.read_frames(config, read_toxic_file, from_hub)
    if "id" in frame.columns:
        data.check_unique_ids(frame, "id")
    frame = frame.assign(text=clean_comment(frame["text"]))
    data.check_texts(frame)
    frame = data.drop_long_texts(frame, config.max_text_chars).reset_index(drop=True)
    if frame.empty:
        raise TaskError(f"no comments left with fewer than {config.max_text_chars} characters")
    labels = data.parse_binary_columns(frame, LABELS)
    # Stratify on the most frequent label so validation and test get their share of toxic comments.
    parts = data.split_frame(frame, config, stratify=labels[:, 0].astype(int))
    return data.to_dataset_dict(frame["text"].to_numpy(), labels, parts, LABELS, multi_label=True)


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
