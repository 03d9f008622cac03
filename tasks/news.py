"""``news``: UCI News Aggregator headlines, 4 single-label categories.

Reads the original tab-separated ``newsCorpora.csv`` (no header, the 8 columns in their order) and
any file with a header naming ``TITLE`` and ``CATEGORY`` (``ID`` and ``STORY`` are used when
present): the comma-separated ``uci-news-aggregator.csv``, or an export of it with the columns in
another order, extra columns, another case or tab-separated. Plain or gzipped. Thesis
preprocessing: keep title and category, drop titles of 512+ characters, 80/20 train/test then 10%
of train for validation.

``--split story`` keeps every headline of one STORY cluster on the same side: the random split
puts near-duplicate headlines of one story in train and test, which inflates scores (TF-IDF +
linear SVM: 0.960 random vs 0.906 story-grouped), so results always state which split was used.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from tasks import data, splits
from tasks.base import DataConfig, Task, TaskError
from tasks.metrics import single_label_metrics

if TYPE_CHECKING:
    from datasets import DatasetDict

LABELS = ("business", "science/tech", "entertainment", "health")
CATEGORY_CODES = {"b": "business", "t": "science/tech", "e": "entertainment", "m": "health"}
COLUMNS = ("ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP")
REQUIRED = ("TITLE", "CATEGORY")
OPTIONAL = ("ID", "STORY")  # ID: refuse repeated rows; STORY: the story-grouped split
NEEDS = "news (columns found by header name in any order, case and spaces ignored; ID and STORY used when present)"
MAX_TITLE_CHARS = 512


class Layout(NamedTuple):
    """How to read one news file: its delimiter and whether line 1 is a header."""

    sep: str
    header: bool


def read_news_file(path: str, keep: Sequence[str] = ()) -> pd.DataFrame:
    """One news file, its layout told apart by its first line, columns found by header name (and the
    ``keep`` columns, such as ``--group_column``'s, when present)."""
    layout = news_layout(path)
    if not layout.header:
        # The original file has no header, and its titles contain bare quotes: no quoting at all.
        frame = data.read_table(path, sep="\t", header=False, names=COLUMNS, quoting=csv.QUOTE_NONE)
    elif layout.sep == "\t":
        frame = read_tab_separated(path)
    else:
        frame = data.read_table(path, sep=layout.sep, repeated_names=True)
    frame = data.select_columns(frame, REQUIRED, path, NEEDS, optional=(*OPTIONAL, *keep), sep=layout.sep)
    data.check_texts(frame, "TITLE")
    return frame


def news_layout(path: str) -> Layout:
    """A header naming TITLE and CATEGORY (comma- or tab-separated, any order), else newsCorpora's 8 tab fields.

    A first line that names some news columns but not all is a header missing columns, and says so;
    one that names none is neither layout.
    """
    number, line = data.header_line(path)
    if not line:
        raise TaskError(data.no_text_message(path))
    names = {sep: data.header_names(line, sep) for sep in (",", "\t")}
    keys = {sep: {data.column_key(name) for name in found} for sep, found in names.items()}
    for sep in names:
        if {data.column_key(name) for name in REQUIRED} <= keys[sep]:
            return Layout(sep, header=True)
    known = {data.column_key(name) for name in COLUMNS}
    if line.count("\t") == len(COLUMNS) - 1 and not keys["\t"] & known:
        return Layout("\t", header=False)
    for sep in names:
        if keys[sep] & known:
            missing = [name for name in REQUIRED if data.column_key(name) not in keys[sep]]
            raise TaskError(data.missing_columns_message(path, missing, names[sep], NEEDS, sep))
    raise TaskError(
        f"{path} line {number}: neither a header naming the columns TITLE and CATEGORY (as in uci-news-aggregator.csv: "
        f"{','.join(COLUMNS)}) nor an 8-field tab-separated newsCorpora.csv row; found {line[:80]!r}."
        f"{no_header_hint(line)}"
    )


def no_header_hint(line: str) -> str:
    """The fix for a first line in neither layout: another delimiter, a comma file without its header,
    or a tab row with too few or too many fields."""
    if "\t" in line:
        return (
            f" It has {line.count(chr(9)) + 1} tab-separated fields; newsCorpora.csv rows have {len(COLUMNS)} "
            "(or add a header line naming the columns)."
        )
    hint = data.delimiter_hint(line, ",")
    if not hint and line.count(",") >= len(REQUIRED) - 1:
        return f" A comma-separated file needs a header line: add one naming its columns, e.g. {','.join(COLUMNS)}."
    return hint


def read_tab_separated(path: str) -> pd.DataFrame:
    """A tab-separated file with a header: newsCorpora.csv with a header added, or a spreadsheet/pandas export.

    newsCorpora.csv's titles hold bare quotes (``"Frozen" tops box office``), so tab files are read
    without quoting. An export instead quotes fields that hold a quote (``"a ""b"" c"``): when every
    field that starts with a quote is such a quoted field, the file is read again with quoting, so
    the quoting does not end up in the training text.
    """
    try:
        frame = data.read_table(path, sep="\t", quoting=csv.QUOTE_NONE, repeated_names=True)
    except TaskError as unquoted_error:
        try:  # a quoted field holding a tab or line break: only a quoting reader can split the rows
            return data.read_table(path, sep="\t", repeated_names=True)
        except TaskError:
            raise unquoted_error from None
    return data.read_table(path, sep="\t", repeated_names=True) if csv_quoted(frame) else frame


def csv_quoted(frame: pd.DataFrame) -> bool:
    """Whether the fields that start with a double quote are all CSV-quoted (closed, inner quotes doubled)."""
    seen = False
    for column in data.data_columns(frame):
        values = frame[column].astype(str)
        starts = values.str.startswith('"').to_numpy(bool)
        if not starts.any():
            continue
        if not values[starts].str.fullmatch(r'"(?:[^"]|"")*"').all():
            return False
        seen = True
    return seen


def from_hub(frame: pd.DataFrame, keep: Sequence[str] = ()) -> pd.DataFrame:
    frame = data.select_columns(frame, REQUIRED, "the Hub dataset", NEEDS, optional=(*OPTIONAL, *keep))
    data.check_texts(frame, "TITLE")
    return frame


def story_groups(frame: pd.DataFrame) -> np.ndarray:
    """The STORY id of every row, for ``--split story``; a row without one cannot be placed."""
    if "STORY" not in frame.columns:
        raise TaskError(
            f"{data.sources(frame)}: --split story needs the STORY column, which this data does not have; "
            "use --split random"
        )
    missing = data.is_blank(frame["STORY"])
    if missing.any():
        raise TaskError(
            f"--split story needs a STORY id on every row, but column 'STORY' is empty (or the file has no such "
            f"column) at {data.where(frame, missing)}: fill it in, leave those files out, or use --split random"
        )
    return data.visible_text(frame["STORY"]).to_numpy()


def build_news(config: DataConfig) -> DatasetDict:
    data.check_split_option(config, NEWS.splits, "news")
    if config.split == "story" and config.group_column:
        raise TaskError(f"--split story groups by STORY already; pass --group_column {config.group_column} or it")
    keep = (config.group_column,) if config.group_column else ()
    frame = splits.read_frames(
        config, functools.partial(read_news_file, keep=keep), functools.partial(from_hub, keep=keep)
    )
    if "ID" in frame.columns:
        data.check_unique_ids(frame, "ID")
    labels = data.parse_labels(frame, "CATEGORY", LABELS, aliases=CATEGORY_CODES)
    frame = frame.rename(columns={"TITLE": "text"}).assign(label=labels)
    read, limit = len(frame), config.text_char_limit(MAX_TITLE_CHARS)
    frame = data.drop_long_texts(frame, limit).reset_index(drop=True)
    labels = frame["label"].to_numpy()
    names = [f"{name} ({code})" for code, name in CATEGORY_CODES.items()]
    data.check_classes(
        frame, labels, names, data.long_texts_note(read, len(frame), limit), evaluation=config.evaluation
    )
    if config.split == "story":
        groups = story_groups(frame)
        parts = splits.split_frame(frame, config, groups=groups)
    else:
        groups = splits.groups_of(frame, config)
        parts = splits.split_frame(frame, config, stratify=labels, groups=groups)
    texts = frame["text"].to_numpy()
    return splits.to_dataset_dict(
        texts, labels, parts, LABELS, multi_label=False, origin=data.sources(frame), groups=groups
    )


NEWS = Task(
    name="news",
    description="Topic of an English news headline: business, science/tech, entertainment or health "
    "(UCI News Aggregator).",
    labels=LABELS,
    problem_type="single_label_classification",
    build_dataset=build_news,
    compute_metrics=single_label_metrics(LABELS),
    primary_metric="accuracy",
    widget_examples=(
        "Stocks fall as the central bank signals higher interest rates",
        "Apple unveils a new iPhone with a larger screen",
        "Kim Kardashian and Kanye West marry in Florence",
        "New Ebola cases reported in West Africa",
    ),
    label_descriptions={
        "business": "economy, markets, companies (UCI code b)",
        "science/tech": "science and technology (UCI code t)",
        "entertainment": "film, music, celebrities (UCI code e)",
        "health": "medicine and health (UCI code m)",
    },
    splits=("random", "story"),
    limitations=(
        "Trained on English headlines from March to August 2014 (UCI News Aggregator): later events, names and "
        "topics drift away from what it saw.",
        "Four broad categories only: politics, sport or world news headlines are forced into one of them.",
        "Headlines, not articles: long inputs are truncated and other kinds of text score worse.",
        "With `--split random` near-duplicate headlines of one story sit in both train and test, so its test "
        "scores overstate accuracy on new stories; the `story` split does not have this leak.",
    ),
)
