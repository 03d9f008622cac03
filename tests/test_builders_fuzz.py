"""Property-based tests: random CSV files fed to both dataset builders.

Whatever the file holds (random columns, delimiters, quoting, label values, bytes that are not
UTF-8, damaged gzip), a builder returns a valid DatasetDict or raises the project's ``TaskError``:
never a traceback from deep inside pandas, scikit-learn or datasets.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import tempfile
import unicodedata
from collections import Counter

import numpy as np
from datasets import ClassLabel, DatasetDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import DataConfig, TaskError, get_task
from tasks.news import COLUMNS as NEWS_COLUMNS
from tasks.toxic import LABELS as TOXIC_LABELS

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every CI run; raise max_examples locally to search wider
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
DELIMITERS = [",", ",", ",", "\t", ";", "|"]
WORDS = ["stocks", "film", "ebola", "apple", "idiot", "thanks", "the", "a", "new", "Café", "😀", "naïve"]
# Valid texts still carry what breaks parsers: delimiters, quotes, line breaks, NUL, non-ASCII.
GOOD_TEXT = st.tuples(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join),
    st.lists(st.sampled_from([*" ,;|\t\"'\n\r\x00é€"]), max_size=4).map("".join),
).map(lambda parts: parts[0] + parts[1])
BAD_VALUES = ["", " ", "NaN", "None", '""', "x" * 600, "2", "yes", "-1", "0.5", "nan", "x", "business", "B", "\n"]
BAD_VALUES += ["\u200b", "\ufeff\u2060", "\u00a0\u3000", "\u00ad", " \u200c\u200d ", "0.50", "1.0 ", "True"]
INVISIBLE_CATEGORIES = {"Cf", "Zs", "Zl", "Zp", "Cc"}
OUTCOMES: Counter = Counter()


def news_header(draw, clean: bool) -> list[str]:
    columns = list(NEWS_COLUMNS)
    if clean or draw(st.booleans()):
        return columns
    return draw(st.lists(st.sampled_from([*columns, "title", "category", "extra", ""]), min_size=1, max_size=10))


def toxic_header(draw, clean: bool) -> list[str]:
    text = draw(st.sampled_from(["comment_text", "text"] if clean else ["comment_text", "text", "body"]))
    columns = ["id", text, *TOXIC_LABELS]
    if clean or draw(st.booleans()):
        return columns
    return draw(st.lists(st.sampled_from([*columns, "labels", "id", ""]), min_size=1, max_size=10))


def good_cell(draw, column: str, row: int, unquoted: bool) -> str:
    if column.upper() == "TITLE" or column in ("comment_text", "text", "body"):
        text = draw(GOOD_TEXT)
        # newsCorpora.csv has no quoting at all: a tab or line break in a title cannot be written
        return text.replace("\t", " ").replace("\n", " ").replace("\r", " ") if unquoted else text
    if column.upper() == "CATEGORY":
        return "btem"[row % 4] if draw(st.integers(0, 3)) else draw(st.sampled_from(["b", "t", "e", "m"]))
    if column in TOXIC_LABELS:
        return draw(st.sampled_from(["0", "0", "1", "1.0", "0.0", " 1"]))
    if column.upper() == "ID":
        return str(row)
    if column.upper() == "STORY":
        return f"s{row % 5}"
    return draw(st.sampled_from(["", "x", "http://a.b/c", "1394470370698"]))


def table(draw, header: list[str], clean: bool, unquoted: bool = False) -> list[list[str]]:
    """Valid rows, then (unless ``clean``) a few cells or rows broken in the ways users break them."""
    body = [[good_cell(draw, column, i, unquoted) for column in header] for i in range(draw(st.integers(0, 40)))]
    for _ in range(draw(st.sampled_from([1, 1, 2, 5])) if body and not clean else 0):
        i, j = draw(st.integers(0, len(body) - 1)), draw(st.integers(0, len(header) - 1))
        how = draw(st.sampled_from(["value", "value", "short", "long", "duplicate"]))
        if how == "value" and j < len(body[i]):
            body[i][j] = draw(st.sampled_from(BAD_VALUES))
        elif how == "short":
            body[i] = body[i][: draw(st.integers(0, len(header) - 1))]
        elif how == "long":
            body[i] = [*body[i], "extra"]
        elif how == "duplicate":
            body[i] = list(body[0])
    return body


def render(draw, header: list[str] | None, rows: list[list[str]], clean: bool) -> bytes:
    """The rows as CSV text in a random dialect, then as bytes, maybe (unless ``clean``) damaged."""
    if header is None:  # newsCorpora.csv: tab-separated, no header, no quoting
        sep, style = "\t", "none"
    else:
        sep = "," if clean else draw(st.sampled_from(DELIMITERS))
        style = draw(st.sampled_from(["minimal", "all"] if clean else ["minimal", "all", "none"]))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    buffer = io.StringIO()
    if style == "none":  # plain joins: a delimiter or line break inside a field breaks the row
        for fields in ([header] if header is not None else []) + rows:
            buffer.write(sep.join(fields) + ending)
    else:
        quoting = csv.QUOTE_MINIMAL if style == "minimal" else csv.QUOTE_ALL
        writer = csv.writer(buffer, delimiter=sep, quoting=quoting, lineterminator=ending)
        writer.writerow(header)
        writer.writerows(rows)
    if draw(st.booleans()):
        buffer.write(draw(st.sampled_from(["\n", "\n\n"] if clean else ["\n", ",,\n", '"open', "a,b,c,d,e,f,g,h,i\n"])))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig"] if clean else ["utf-8", "latin-1", "utf-16"]))
    payload = buffer.getvalue().encode(encoding, "replace")
    damage = "none" if clean else draw(st.sampled_from(["none", "bytes", "truncate"]))
    if damage == "bytes" and payload:
        at = draw(st.integers(0, len(payload)))
        payload = payload[:at] + draw(st.binary(min_size=1, max_size=4)) + payload[at:]
    if draw(st.integers(0, 3)) == 0:
        payload = gzip.compress(payload)
        if damage == "truncate":
            payload = payload[: max(1, len(payload) // 2)]
    elif damage == "truncate":
        payload = payload[: len(payload) // 2]
    return payload


@st.composite
def news_files(draw) -> bytes:
    clean = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:  # the original tab-separated newsCorpora.csv layout
        return render(draw, None, table(draw, list(NEWS_COLUMNS), clean, unquoted=clean), clean)
    header = news_header(draw, clean)
    return render(draw, header, table(draw, header, clean), clean)


@st.composite
def toxic_files(draw) -> bytes:
    clean = draw(st.booleans())
    header = toxic_header(draw, clean)
    return render(draw, header, table(draw, header, clean), clean)


CONFIGS = st.builds(
    DataConfig,
    seed=st.integers(0, 3),
    split=st.sampled_from(["random", "random", "story"]),
    max_text_chars=st.sampled_from([None, None, 5, 40]),
    test_size=st.sampled_from([0.2, 0.2, 0.5, 0.9]),
    validation_size=st.sampled_from([0.1, 0.1, 0.5]),
)


def build(task_name: str, payload: bytes, config: DataConfig) -> DatasetDict | None:
    """The builder's result, or None when it refused the file with a TaskError."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.csv")
        with open(path, "wb") as handle:
            handle.write(payload)
        task = get_task(task_name)
        fields = {name: getattr(config, name) for name in config.__dataclass_fields__}
        try:
            return task.build_dataset(DataConfig(**{**fields, "data_files": (path,)}))
        except TaskError as error:
            assert str(error).strip(), "a TaskError must say what is wrong"
            return None


def visible(text: str) -> bool:
    return any(unicodedata.category(char) not in INVISIBLE_CATEGORIES for char in text)


def assert_valid(splits: DatasetDict, task_name: str) -> None:
    task = get_task(task_name)
    assert set(splits) == {"train", "validation", "test"}
    # the data has something to learn: 2+ classes, or 2+ different label sets
    all_labels = [tuple(np.atleast_1d(labels)) for split in splits.values() for labels in split["labels"]]
    assert len(set(all_labels)) > 1
    for split in splits.values():
        # a grouped split (news --split story) also carries each row's group, for resampling by group
        assert split.column_names in (["text", "labels"], ["text", "labels", "group"]) and len(split) > 0
        assert all(isinstance(text, str) and visible(text) for text in split["text"])
        labels = split.features["labels"]
        if task.is_multi_label:
            assert labels.length == len(task.labels) and labels.feature.dtype == "float32"
            assert set(np.unique(np.asarray(split["labels"]))) <= {0.0, 1.0}
        else:
            assert isinstance(labels, ClassLabel) and labels.names == list(task.labels)


@SETTINGS
@given(payload=news_files(), config=CONFIGS)
def check_news(payload: bytes, config: DataConfig) -> None:
    splits = build("news", payload, config)
    OUTCOMES["news", splits is not None] += 1
    if splits is not None:
        assert_valid(splits, "news")


@SETTINGS
@given(payload=toxic_files(), config=CONFIGS.map(lambda c: DataConfig(**{**c.__dict__, "split": "random"})))
def check_toxic(payload: bytes, config: DataConfig) -> None:
    splits = build("toxic", payload, config)
    OUTCOMES["toxic", splits is not None] += 1
    if splits is not None:
        assert_valid(splits, "toxic")


def test_news_builder_returns_splits_or_task_error_on_random_files():
    check_news()
    # the generator is useful only if it reaches both outcomes
    assert OUTCOMES["news", True] > 0 and OUTCOMES["news", False] > 0


def test_toxic_builder_returns_splits_or_task_error_on_random_files():
    check_toxic()
    assert OUTCOMES["toxic", True] > 0 and OUTCOMES["toxic", False] > 0
