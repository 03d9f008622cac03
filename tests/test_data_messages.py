"""Files a user brings, generated at random: columns found by header name, header-only files,
invisible texts, label sets with nothing to learn, and the spellings of 0/1 labels.

Each property builds a dataset from a file and either compares it with the one built from the
canonical file, or checks that the refusal is one ``TaskError`` line naming the file (and the
line, column, value or count) and the fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
import tempfile
import unicodedata

import numpy as np
import pandas as pd
import pytest
from datasets import DatasetDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import DataConfig, TaskError, get_task
from tasks.news import CATEGORY_CODES
from tasks.news import COLUMNS as NEWS_COLUMNS
from tasks.toxic import LABELS as TOXIC_LABELS
from trainer_tasks import testing as builders

NEWS, TOXIC = get_task("news"), get_task("toxic")
# Examples that build a dataset take ~0.1 s each; refusals stop early and can afford more.
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples on every CI run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
REFUSALS = settings(SETTINGS, max_examples=50)
INVISIBLE_CATEGORIES = ["Cf", "Zs", "Zl", "Zp", "Cc"]
INVISIBLE = st.text(st.characters(categories=INVISIBLE_CATEGORIES), min_size=1, max_size=6)
SPELLINGS = st.sampled_from([str.upper, str.lower, str.title, str])
PADDING = st.sampled_from(["", " ", "  ", "\u00a0"])
EXTRA_NAMES = ["notes", "Score", "source url", "x", "label_list", "Unnamed: 0"]
FILE_NAMES = st.text(st.characters(categories=["L", "N"]) | st.sampled_from(" -_.()"), min_size=1, max_size=16).filter(
    lambda name: name.strip(" .") == name and name not in (".", "..")
)
TOXIC_HEADER = ["id", "comment_text", *TOXIC_LABELS]


def write(folder: str, name: str, rows: list[list[str]], sep: str = ",", ending: str = "\n", prefix: str = "") -> str:
    """``rows`` as CSV text under ``folder/name``, gzipped when the name says so.

    Minimal quoting, as exports write; but Python's writer leaves a lone carriage return unquoted
    unless it ends lines, which no reader can tell from a line break, so such files quote every field.
    """
    lone_cr = ending == "\n" and any("\r" in field for row in rows for field in row)
    buffer = io.StringIO()
    quoting = csv.QUOTE_ALL if lone_cr else csv.QUOTE_MINIMAL
    csv.writer(buffer, delimiter=sep, lineterminator=ending, quoting=quoting).writerows(rows)
    payload = (prefix + buffer.getvalue()).encode("utf-8")
    path = os.path.join(folder, name)
    with open(path, "wb") as handle:
        handle.write(gzip.compress(payload) if name.endswith(".gz") else payload)
    return path


def build(task, *paths: str, **config) -> DatasetDict:
    return task.build_dataset(DataConfig(data_files=paths, **config))


def refusal(task, *paths: str, **config) -> str:
    """The message of the TaskError the builder must raise; it is one line."""
    with pytest.raises(TaskError) as error:
        build(task, *paths, **config)
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    return message


def contents(splits: DatasetDict) -> dict[str, tuple[list, list]]:
    return {name: (split["text"], split["labels"]) for name, split in splits.items()}


def news_table(n: int, seed: int) -> list[dict[str, str]]:
    return builders.news_rows(n, seed)


def toxic_table(n: int, seed: int) -> list[dict[str, str]]:
    return [
        {
            "id": f"{i:016x}",
            "comment_text": text,
            **{label: str(flag) for label, flag in zip(TOXIC_LABELS, flags, strict=True)},
        }
        for i, (text, flags) in enumerate(builders.toxic_rows(n, seed))
    ]


def canonical(task, folder: str, table: list[dict[str, str]], columns: list[str], **config) -> DatasetDict:
    rows = [columns, *([row[c] for c in columns] for row in table)]
    return build(task, write(folder, "canonical.csv", rows), **config)


@st.composite
def reshaped(draw, columns: list[str], seps: list[str]) -> dict:
    """A header in another order and spelling, with extra columns and the ways exports start and end lines."""
    order = draw(st.permutations(columns))
    extras = draw(st.lists(st.sampled_from(EXTRA_NAMES), unique=True, max_size=3))
    for extra in extras:
        order.insert(draw(st.integers(0, len(order))), extra)
    header = [draw(PADDING) + draw(SPELLINGS)(name) + draw(PADDING) if name in columns else name for name in order]
    return {
        "order": order,
        "header": header,
        "sep": draw(st.sampled_from(seps)),
        "ending": draw(st.sampled_from(["\n", "\r\n"])),
        "prefix": draw(st.sampled_from(["", "\ufeff", "\n", "\ufeff\r\n\r\n", "sep=,\r\n"])),  # sep=: Excel's
        "name": draw(st.sampled_from(["data.csv", "data.csv.gz"])),
        "seed": draw(st.integers(0, 3)),
    }


def extra_value(rng: random.Random) -> str:
    return rng.choice(["", "x", 'a "quoted", value', "1.5", "line\nbreak", "Café"])


def reshaped_rows(table: list[dict[str, str]], shape: dict) -> list[list[str]]:
    rng = random.Random(shape["seed"])
    body = [[row[c] if c in row else extra_value(rng) for c in shape["order"]] for row in table]
    return [shape["header"], *body]


# 1. Columns are found by header name: any order, extras, case and spaces.


@SETTINGS
@given(shape=reshaped(list(NEWS_COLUMNS), [",", "\t"]), split=st.sampled_from(["random", "story"]))
def test_news_columns_in_any_order_build_the_dataset_of_the_canonical_file(shape, split):
    if shape["sep"] == "\t":  # newsCorpora-style tab files hold no quoted line breaks: no extra columns
        pairs = [
            (name, head) for name, head in zip(shape["order"], shape["header"], strict=True) if name in NEWS_COLUMNS
        ]
        shape = {**shape, "order": [name for name, _ in pairs], "header": [head for _, head in pairs]}
    table = news_table(48, shape["seed"])
    with tempfile.TemporaryDirectory() as folder:
        expected = canonical(NEWS, folder, table, list(NEWS_COLUMNS), seed=shape["seed"], split=split)
        rows = reshaped_rows(table, shape)
        path = write(folder, shape["name"], rows, shape["sep"], shape["ending"], shape["prefix"])
        assert contents(build(NEWS, path, seed=shape["seed"], split=split)) == contents(expected)


@SETTINGS
@given(shape=reshaped(TOXIC_HEADER, [","]), text_name=st.sampled_from(["comment_text", "text"]))
def test_toxic_columns_in_any_order_build_the_dataset_of_the_canonical_file(shape, text_name):
    table = toxic_table(40, shape["seed"])
    with tempfile.TemporaryDirectory() as folder:
        expected = canonical(TOXIC, folder, table, TOXIC_HEADER, seed=shape["seed"])
        if text_name == "text":  # the thesis layout's name for the text column
            shape["header"] = [h.lower().replace("comment_text", "text") for h in shape["header"]]
        path = write(folder, shape["name"], reshaped_rows(table, shape), ",", shape["ending"], shape["prefix"])
        assert contents(build(TOXIC, path, seed=shape["seed"])) == contents(expected)


@REFUSALS
@given(data=st.data())
def test_news_header_without_a_needed_column_names_file_missing_and_found(data):
    missing = data.draw(st.sampled_from([["TITLE"], ["CATEGORY"], ["TITLE", "CATEGORY"]]))
    kept = data.draw(st.permutations([c for c in NEWS_COLUMNS if c not in missing]))
    sep = data.draw(st.sampled_from([",", "\t"]))
    with tempfile.TemporaryDirectory() as folder:
        table = news_table(10, 0)
        path = write(folder, data.draw(FILE_NAMES) + ".csv", [kept, *([r[c] for c in kept] for r in table)], sep)
        message = refusal(NEWS, path)
    assert message.startswith(f"{path} line 1: missing column(s) {missing} for news")
    assert f"found columns {kept}" in message and "Add or rename the header field(s)" in message


@REFUSALS
@given(data=st.data())
def test_toxic_header_without_needed_columns_names_all_of_them_at_once(data):
    missing = data.draw(st.lists(st.sampled_from(TOXIC_HEADER[1:]), min_size=1, unique=True))
    kept = data.draw(st.permutations([c for c in TOXIC_HEADER if c not in missing]))
    with tempfile.TemporaryDirectory() as folder:
        table = toxic_table(10, 0)
        path = write(folder, data.draw(FILE_NAMES) + ".csv", [kept, *([r[c] for c in kept] for r in table)])
        message = refusal(TOXIC, path)
    assert message.startswith(f"{path} line 1: ") and f"found columns {kept}" in message
    labels = [label for label in TOXIC_LABELS if label in missing]
    if "comment_text" in missing:
        assert "no text column: expected one of ['comment_text', 'text']" in message
        assert (f"also missing label column(s) {labels}" in message) == bool(labels)
    else:
        assert f"missing column(s) {labels}" in message


def test_two_header_fields_naming_one_column_are_refused(tmp_path):
    table = news_table(10, 0)
    rows = [["TITLE", "CATEGORY", " title "], *([r["TITLE"], r["CATEGORY"], "other"] for r in table)]
    path = write(str(tmp_path), "twice.csv", rows)
    assert refusal(NEWS, path) == (
        f"{path} line 1: columns ['TITLE', 'title'] all name 'TITLE' (header names are matched ignoring case and "
        "surrounding spaces); rename or remove all but one"
    )


def test_excel_delimiter_directive_is_not_taken_for_the_header(tmp_path, caplog):
    path = tmp_path / "excel.csv"
    expected = builders.write_news(str(tmp_path / "news.csv"), n=30)
    path.write_text("sep=,\n" + (tmp_path / "news.csv").read_text())
    with caplog.at_level("INFO"):
        assert contents(build(NEWS, str(path))) == contents(build(NEWS, expected))
    assert f"{path}: skipped line 1, Excel's delimiter directive 'sep=,'" in caplog.text
    assert "blank line" not in caplog.text


def test_a_repeated_column_is_refused_only_when_the_task_reads_it(tmp_path):
    table = news_table(20, 0)
    columns = ["TITLE", "notes", "CATEGORY", "notes"]
    path = write(str(tmp_path), "notes.csv", [columns, *([r["TITLE"], "a", r["CATEGORY"], "b"] for r in table)])
    assert sum(len(split) for split in build(NEWS, path).values()) == 20
    columns = ["TITLE", "CATEGORY", "TITLE"]
    path = write(str(tmp_path), "titles.csv", [columns, *([r["TITLE"], r["CATEGORY"], "x"] for r in table)])
    assert refusal(NEWS, path) == f"{path} line 1: column 'TITLE' appears 2 times; rename or remove all but one"


def test_headerless_original_layout_still_reads(tmp_path):
    path = builders.write_news(str(tmp_path / "newsCorpora.csv"), n=40, layout="uci")
    expected = builders.write_news(str(tmp_path / "news.csv"), n=40)
    assert contents(build(NEWS, path)) == contents(build(NEWS, expected))


def test_tab_separated_exports_keep_the_quotes_of_titles(tmp_path):
    """A pandas/spreadsheet TSV quotes a title holding quotes; newsCorpora.csv with a header added does not."""
    frame = pd.DataFrame(news_table(40, 0))
    frame.loc[::3, "TITLE"] = '"Frozen" tops the box office, ' + frame.loc[::3, "TITLE"]
    frame.to_csv(tmp_path / "export.tsv", sep="\t", index=False)
    with open(tmp_path / "bare.tsv", "w") as handle:  # no quoting at all, as the original file
        handle.write("\n".join("\t".join(row) for row in [list(frame.columns), *frame.to_numpy().tolist()]) + "\n")
    titles = set(frame["TITLE"])
    for name in ("export.tsv", "bare.tsv"):
        splits = build(NEWS, str(tmp_path / name))
        assert {text for split in splits.values() for text in split["text"]} == titles


# 2. Empty and header-only files, and filters that leave nothing, name the file(s).


@REFUSALS
@given(
    name=FILE_NAMES,
    task_name=st.sampled_from(["news", "toxic"]),
    shape=reshaped(["TITLE", "CATEGORY"], [","]),
    tail=st.sampled_from(["", "\n", "\r\n\r\n", " \n", ",\n", "\u200b\ufeff\n"]),
    pooled=st.booleans(),
)
def test_header_only_files_under_any_name_say_so(name, task_name, shape, tail, pooled):
    task = get_task(task_name)
    header = shape["header"] if task_name == "news" else TOXIC_HEADER
    with tempfile.TemporaryDirectory() as folder:
        suffix = ".gz" if shape["name"].endswith(".gz") else ""
        empty = write(folder, name + suffix, [header], ",", shape["ending"], shape["prefix"])
        with open(empty, "ab") as handle:
            handle.write(tail.encode("utf-8") if not suffix else b"")
        os.mkdir(os.path.join(folder, "good"))
        good = os.path.join(folder, "good", "data.csv")
        (builders.write_news if task_name == "news" else builders.write_toxic)(good, n=20)
        message = refusal(task, *((good, empty) if pooled else (empty,)))
    assert message.startswith(f"{empty}: has a header but no data rows; add rows below the header")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n", b" \r\n\t\r\n"])
@pytest.mark.parametrize("task", [NEWS, TOXIC], ids=["news", "toxic"])
def test_empty_and_blank_files_name_the_file(tmp_path, task, content):
    path = tmp_path / "nothing.csv"
    path.write_bytes(content)
    what = "has only blank lines" if content.strip(b"\xef\xbb\xbf") else "the file is empty"
    assert refusal(task, str(path)) == f"{path}: {what}; it needs a header line and data rows"


@REFUSALS
@given(sizes=st.lists(st.integers(1, 20), min_size=1, max_size=3), task_name=st.sampled_from(["news", "toxic"]))
def test_a_filter_that_leaves_too_few_rows_names_the_files_the_rule_and_the_counts(sizes, task_name):
    task = get_task(task_name)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, size in enumerate(sizes):
            if task_name == "news":
                columns = list(NEWS_COLUMNS)
                table = [{**row, "ID": f"{index}-{row['ID']}"} for row in news_table(size, index)]
            else:
                columns = TOXIC_HEADER
                table = [{**row, "id": f"{index}-{row['id']}"} for row in toxic_table(size, index)]
            paths.append(write(folder, f"part {index}.csv", [columns, *([r[c] for c in columns] for r in table)]))
        message = refusal(task, *paths, max_text_chars=3)
    total = sum(sizes)
    assert message.startswith(f"{', '.join(paths)}: only 0 rows are left after reading and cleaning")
    assert f"--max_text_chars 3 dropped {total} of {total} texts" in message
    assert all(f"{path}: {size}" in message for path, size in zip(paths, sizes, strict=True))
    assert "raise --max_text_chars" in message


# 3. Invisible texts are blank texts.


@REFUSALS
@given(
    invisible=INVISIBLE,
    row=st.integers(0, 19),
    task_name=st.sampled_from(["news", "toxic"]),
    padded=st.booleans(),
)
def test_texts_of_invisible_characters_are_refused_exactly_as_blank_ones(invisible, row, task_name, padded):
    assert all(unicodedata.category(char) in INVISIBLE_CATEGORIES for char in invisible)
    task, column = (NEWS, "TITLE") if task_name == "news" else (TOXIC, "comment_text")
    columns = list(NEWS_COLUMNS) if task_name == "news" else TOXIC_HEADER
    table = news_table(20, 0) if task_name == "news" else toxic_table(20, 0)
    messages = []
    with tempfile.TemporaryDirectory() as folder:
        for text in ("", invisible):
            table[row][column] = f" {text} " if padded else text
            messages.append(
                refusal(task, write(folder, "data.csv", [columns, *([r[c] for c in columns] for r in table)]))
            )
    blank, hidden = messages
    path = os.path.join(folder, "data.csv")
    line = 2 + row + sum(r[column].count("\n") for r in table[:row])  # the line an editor shows
    assert blank == f"column {column!r} has no text (found '') at {path} line {line}: fill in or remove those rows"
    assert hidden.startswith(f"column {column!r} has no text (found ")
    assert hidden.endswith(f") at {path} line {line}: fill in or remove those rows")


@SETTINGS
@given(invisible=INVISIBLE, row=st.integers(0, 19))
def test_a_visible_text_with_invisible_characters_around_it_is_kept(invisible, row):
    table = news_table(20, 0)
    table[row]["TITLE"] = invisible + table[row]["TITLE"] + invisible
    with tempfile.TemporaryDirectory() as folder:
        path = write(folder, "data.csv", [list(NEWS_COLUMNS), *([r[c] for c in NEWS_COLUMNS] for r in table)])
        texts = {text for split in build(NEWS, path).values() for text in split["text"]}
    assert texts == {r["TITLE"] for r in table}


@SETTINGS
@given(invisible=INVISIBLE)
def test_a_line_of_invisible_characters_is_a_blank_line(invisible):
    table = news_table(20, 0)
    with tempfile.TemporaryDirectory() as folder:
        path = write(folder, "data.csv", [list(NEWS_COLUMNS), *([r[c] for c in NEWS_COLUMNS] for r in table)])
        with open(path, "a", encoding="utf-8", newline="") as handle:
            handle.write(invisible.replace("\r", " ").replace("\n", " ").replace(",", "") + "\n")
        assert sum(len(split) for split in build(NEWS, path).values()) == 20


# 4. Label sets with nothing to learn.


@REFUSALS
@given(code=st.sampled_from(list(CATEGORY_CODES)), sizes=st.lists(st.integers(3, 30), min_size=1, max_size=2))
def test_news_of_a_single_class_is_refused_with_counts(code, sizes):
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, size in enumerate(sizes):
            rows = builders.news_rows(size, seed=index)
            for row in rows:
                row.update(CATEGORY=code, ID=f"{index}-{row['ID']}")
            paths.append(
                write(folder, f"{index}.csv", [list(NEWS_COLUMNS), *([r[c] for c in NEWS_COLUMNS] for r in rows)])
            )
        message = refusal(NEWS, *paths)
    name = f"{CATEGORY_CODES[code]} ({code})"
    assert message.startswith(f"{', '.join(paths)}: all {sum(sizes)} rows left after reading and cleaning")
    assert f"have the class {name!r}" in message and f"{name} {sum(sizes)}" in message
    assert all(f"{other} ({c}) 0" in message for c, other in CATEGORY_CODES.items() if c != code)
    assert "add rows of the other classes" in message


@SETTINGS
@given(code=st.sampled_from(list(CATEGORY_CODES)), rare=st.sampled_from(list(CATEGORY_CODES)), row=st.integers(0, 29))
def test_a_rare_class_is_fine(code, rare, row):
    rows = builders.news_rows(30)
    for index, values in enumerate(rows):
        values["CATEGORY"] = rare if index == row else code
    with tempfile.TemporaryDirectory() as folder:
        path = write(folder, "rare.csv", [list(NEWS_COLUMNS), *([r[c] for c in NEWS_COLUMNS] for r in rows)])
        if rare == code:
            refusal(NEWS, path)
        else:
            assert sum(len(split) for split in build(NEWS, path).values()) == 30


@REFUSALS
@given(vector=st.lists(st.sampled_from(["0", "1"]), min_size=6, max_size=6), size=st.integers(3, 30))
def test_toxic_rows_that_all_share_one_label_set_are_refused_with_counts(vector, size):
    table = [{**row, **dict(zip(TOXIC_LABELS, vector, strict=True))} for row in toxic_table(size, 0)]
    with tempfile.TemporaryDirectory() as folder:
        path = write(folder, "same.csv", [TOXIC_HEADER, *([r[c] for c in TOXIC_HEADER] for r in table)])
        message = refusal(TOXIC, path)
    assert message.startswith(f"{path}: all {size} rows left after reading and cleaning have ")
    counts = ", ".join(
        f"{label} {size if flag == '1' else 0}" for label, flag in zip(TOXIC_LABELS, vector, strict=True)
    )
    assert f"(rows per label: {counts})" in message and "add rows with other labels" in message
    assert ("have no label set (all 0)" in message) == (set(vector) == {"0"})


def test_a_filter_that_removes_the_other_classes_says_so(tmp_path):
    rows = builders.news_rows(20)
    for index, row in enumerate(rows):
        row["TITLE"] = "short" if row["CATEGORY"] == "b" else "a much longer headline " + str(index)
    path = write(str(tmp_path), "n.csv", [list(NEWS_COLUMNS), *([r[c] for c in NEWS_COLUMNS] for r in rows)])
    message = refusal(NEWS, path, max_text_chars=10)
    assert message.startswith(
        f"{path}: all 5 rows left after reading and cleaning (--max_text_chars 10 dropped 15 of 20 rows) have the "
        "class 'business (b)'"
    )
    assert message.endswith(", or raise --max_text_chars")


# 5. Label spellings and pooled files.

ZERO = ["0", "0.0", "0.00", "-0", " 0 ", "0e0", "False", "false"]
ONE = ["1", "1.0", "1.00", "+1", " 1", "1e0", "True", "TRUE"]


@SETTINGS
@given(seed=st.integers(0, 3), spellings=st.randoms(use_true_random=False))
def test_any_spelling_of_0_and_1_gives_the_same_labels(seed, spellings):
    table = toxic_table(30, seed)
    with tempfile.TemporaryDirectory() as folder:
        expected = canonical(TOXIC, folder, table, TOXIC_HEADER, seed=seed)
        for row in table:
            row.update({label: spellings.choice(ONE if row[label] == "1" else ZERO) for label in TOXIC_LABELS})
        path = write(folder, "floats.csv", [TOXIC_HEADER, *([r[c] for c in TOXIC_HEADER] for r in table)])
        assert contents(build(TOXIC, path, seed=seed)) == contents(expected)


@REFUSALS
@given(share=st.floats(0.01, 0.99), row=st.integers(0, 29), label=st.sampled_from(TOXIC_LABELS))
def test_a_fractional_label_is_refused_as_a_share_of_annotators(share, row, label):
    table = toxic_table(30, 0)
    table[row][label] = f"{share:.2f}"
    with tempfile.TemporaryDirectory() as folder:
        path = write(folder, "shares.csv", [TOXIC_HEADER, *([r[c] for c in TOXIC_HEADER] for r in table)])
        message = refusal(TOXIC, path)
    assert message.startswith(f"column {label!r} must hold 0 or 1")
    line = 2 + row + sum(r["comment_text"].count("\n") for r in table[:row])
    assert f"found {table[row][label]!r} at {path} line {line}" in message
    assert "shares of annotators" in message and message.endswith("set it to 0 or 1, or remove those rows")


def test_story_split_needs_a_story_on_every_pooled_row(tmp_path):
    with_story = builders.write_news(str(tmp_path / "a.csv"), n=30)
    rows = builders.news_rows(10, seed=1)
    without = write(
        str(tmp_path),
        "b.csv",
        [["ID", "TITLE", "CATEGORY"], *([f"b{r['ID']}", r["TITLE"], r["CATEGORY"]] for r in rows)],
    )
    message = refusal(NEWS, with_story, without, split="story")
    assert f"column 'STORY' is empty (or the file has no such column) at {without} line 2" in message
    assert message.endswith("or use --split random")
    assert sum(len(s) for s in build(NEWS, with_story, without).values()) == 40  # the random split needs no STORY


def test_ids_missing_from_one_pooled_file_are_not_repeats(tmp_path):
    first = builders.write_toxic(str(tmp_path / "a.csv"), n=20)
    table = toxic_table(20, 1)
    columns = TOXIC_HEADER[1:]
    second = write(str(tmp_path), "b.csv", [columns, *([r[c] for c in columns] for r in table)])
    assert sum(len(s) for s in build(TOXIC, first, second).values()) == 40


def test_a_header_line_repeated_inside_the_file_is_named(tmp_path):
    path = builders.write_news(str(tmp_path / "joined.csv"), n=20)
    with open(path, "a") as handle:
        handle.write(",".join(NEWS_COLUMNS) + "\n")
    message = refusal(NEWS, path)
    assert f"found 'CATEGORY' at {path} line 22: that line repeats the header (files joined with cat?)" in message


def test_labels_with_every_row_distinct_are_fine(tmp_path):
    """The degenerate-label check looks at the whole label set, not one column."""
    table = toxic_table(12, 0)
    for index, row in enumerate(table):
        row.update({label: "1" if index % 6 == i else "0" for i, label in enumerate(TOXIC_LABELS)})
    path = write(str(tmp_path), "t.csv", [TOXIC_HEADER, *([r[c] for c in TOXIC_HEADER] for r in table)])
    labels = np.concatenate([np.array(split["labels"]) for split in build(TOXIC, path).values()])
    assert labels.sum(axis=0).tolist() == [2.0] * 6
