"""Property-based tests of the generic task's labels (tasks/labels.py).

Random label alphabets, ids, lists, separated text and planted bad values: the names must come out
sorted and stable whatever the row order, every row's ids must round-trip to its value, and every
bad value must be a one-line ``TaskError`` naming the first bad row, never a wrong class.
"""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.base import Columns, TaskError
from tasks.data import MISSING_TEXT_MARKERS, ROW_COLUMN, SOURCE_COLUMN
from tasks.labels import (
    MULTI,
    SINGLE,
    ParsedLabels,
    label_counts,
    label_names_option,
    parse_labels,
    problem_type_of,
    unseen_labels_error,
)

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples on every run, as in test_builders_fuzz.py
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
FIRST_LINE = 2  # a CSV file's first data row is line 2, below the header
# Label names: letters of several scripts, digits, spaces and punctuation inside (never , ; |: those ask a question).
NAME_CHARACTERS = "abcxyzABCXYZéüßøÅ中文ж😀 -_./0123456789"
PADDING = st.sampled_from(["", " ", "  ", "\t", "\u200b", "\ufeff", "\u00a0"])
MISSING = [None, np.nan, "", " ", "\u200b", "\u00a0", "NaN", "null", "None", "N/A"]
INTEGER_LIKE = re.compile(r"\s*[+-]?[0-9]+(\.0*)?\s*")


def is_name(text: str) -> bool:
    """A usable generated name: visible, trimmed, not an integer or a missing-value marker."""
    return bool(text) and text == text.strip() and not INTEGER_LIKE.fullmatch(text) and text not in MISSING_TEXT_MARKERS


NAME = st.text(alphabet=NAME_CHARACTERS, min_size=1, max_size=8).filter(is_name)


def names_strategy(min_size: int = 1, max_size: int = 6) -> st.SearchStrategy[list[str]]:
    """Distinct names, also distinct ignoring case (so that case-insensitive matching has one answer)."""
    return st.lists(NAME, min_size=min_size, max_size=max_size, unique_by=str.casefold)


def frame(values: list, column: str = "label", dtype: object = object, **more: list) -> pd.DataFrame:
    """A frame as the readers hand it over: data columns, then file and line (row i is line i + 2)."""
    result = pd.DataFrame({"text": ["t"] * len(values), column: pd.Series(values, dtype=dtype), **more})
    result[SOURCE_COLUMN] = "f.csv"
    result[ROW_COLUMN] = np.arange(len(values)) + FIRST_LINE
    return result


def place(row: int) -> str:
    """A regex for ``f.csv line N`` (``row`` for a file that does not exist) of frame row ``row``."""
    return rf"f\.csv (line|row) {row + FIRST_LINE}\b"


def task_error(function, *args, **kwargs) -> str:
    """The message of the TaskError ``function`` raises, checked to be one line."""
    with pytest.raises(TaskError) as caught:
        function(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, message
    return message


def first_planted(message: str, rows: list[int]) -> None:
    """The message names the first planted row first (data.where lists rows in frame order)."""
    found = re.search(r"f\.csv (?:line|row) (\d+)", message)
    assert found, message
    assert int(found.group(1)) == min(rows) + FIRST_LINE, message


# --- single-label -----------------------------------------------------------------------------------------------------


@SETTINGS
@given(names=names_strategy(), data=st.data())
def test_single_label_names_are_sorted_and_round_trip(names: list[str], data: st.DataObject) -> None:
    picks = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=40))
    values = [data.draw(PADDING) + name + data.draw(PADDING) for name in picks]
    dtype = data.draw(st.sampled_from([object, "str"]))
    parsed = parse_labels(frame(values, dtype=dtype), Columns())
    assert parsed.problem_type == SINGLE and not parsed.fixed
    assert parsed.names == tuple(sorted(set(picks)))
    assert parsed.values.dtype == np.int64
    assert [parsed.names[i] for i in parsed.values] == picks

    order = data.draw(st.permutations(range(len(values))))
    shuffled = parse_labels(frame([values[i] for i in order], dtype=dtype), Columns())
    assert shuffled.names == parsed.names
    assert shuffled.values.tolist() == [parsed.values[i] for i in order]


def spell_integer(number: int, how: str) -> object:
    return {"int": number, "str": str(number), "padded": f" {number} ", "float": float(number), "dot": f"{number}.0"}[
        how
    ]


@SETTINGS
@given(
    numbers=st.lists(st.integers(-5, 120), min_size=1, max_size=40),
    spellings=st.lists(st.sampled_from(["int", "str", "padded", "float", "dot"]), min_size=40, max_size=40),
)
def test_integer_labels_sort_numerically(numbers: list[int], spellings: list[str]) -> None:
    values = [spell_integer(number, how) for number, how in zip(numbers, spellings, strict=False)]
    parsed = parse_labels(frame(values), Columns())
    assert parsed.names == tuple(str(number) for number in sorted(set(numbers)))
    assert [int(parsed.names[i]) for i in parsed.values] == numbers
    as_ints = parse_labels(frame(numbers, dtype=np.int64), Columns())
    assert as_ints.names == parsed.names and as_ints.values.tolist() == parsed.values.tolist()


@SETTINGS
@given(flags=st.lists(st.booleans(), min_size=1, max_size=30), dtype=st.sampled_from([object, bool, "boolean"]))
def test_json_booleans_are_ids_one_and_zero(flags: list[bool], dtype: object) -> None:
    parsed = parse_labels(frame(flags, dtype=dtype), Columns())
    assert parsed.names == tuple(sorted({str(int(flag)) for flag in flags}, key=int))
    assert [int(parsed.names[i]) for i in parsed.values] == [int(flag) for flag in flags]


def swapped_ascii(text: str) -> str:
    return "".join(char.swapcase() if char.isascii() else char for char in text)


@SETTINGS
@given(names=names_strategy(min_size=2), data=st.data())
def test_fixed_labels_take_names_any_case_and_ids(names: list[str], data: st.DataObject) -> None:
    expected = data.draw(st.lists(st.integers(0, len(names) - 1), min_size=1, max_size=30))
    values = []
    for label_id in expected:
        how = data.draw(st.sampled_from(["name", "case", "id", "id_text", "id_float"]))
        spelled = {
            "name": names[label_id],
            "case": swapped_ascii(names[label_id]),
            "id": label_id,
            "id_text": str(label_id),
            "id_float": f"{label_id}.0",
        }[how]
        values.append(spelled if not isinstance(spelled, str) else data.draw(PADDING) + spelled)
    parsed = parse_labels(frame(values), Columns(labels=tuple(names)))
    assert parsed.fixed and parsed.names == tuple(names)
    assert parsed.values.tolist() == expected


@SETTINGS
@given(names=names_strategy(min_size=2), size=st.integers(1, 30), data=st.data())
def test_out_of_range_id_names_its_line(names: list[str], size: int, data: st.DataObject) -> None:
    values: list[object] = [data.draw(st.integers(0, len(names) - 1)) for _ in range(size)]
    row = data.draw(st.integers(0, size - 1))
    bad = data.draw(st.integers(len(names), len(names) + 50) | st.integers(-50, -1))
    values[row] = data.draw(st.sampled_from([bad, str(bad)]))
    message = task_error(parse_labels, frame(values), Columns(labels=tuple(names)))
    assert re.search(place(row), message), message
    assert repr(str(bad)) in message and "--labels" in message


@SETTINGS
@given(names=names_strategy(min_size=2), size=st.integers(1, 30), data=st.data())
def test_class_label_names_are_fixed(names: list[str], size: int, data: st.DataObject) -> None:
    """A Hub ClassLabel column arrives as names; its names (all of them, in id order) are the classes."""
    expected = [data.draw(st.integers(0, len(names) - 1)) for _ in range(size)]
    parsed = parse_labels(frame([names[i] for i in expected]), Columns(), class_names={"label": names})
    assert parsed.fixed and parsed.names == tuple(names) and parsed.values.tolist() == expected


# --- multi-label ------------------------------------------------------------------------------------------------------


def label_sets(names: list[str], data: st.DataObject, rows: int | None = None) -> list[list[int]]:
    """Random label-id sets, empty ones included."""
    size = st.just(rows) if rows is not None else st.integers(1, 30)
    count = data.draw(size)
    return [sorted(data.draw(st.sets(st.integers(0, len(names) - 1), max_size=len(names)))) for _ in range(count)]


def matrix(sets: list[list[int]], width: int) -> np.ndarray:
    result = np.zeros((len(sets), width), dtype=np.float32)
    for row, ids in enumerate(sets):
        result[row, ids] = 1
    return result


@SETTINGS
@given(names=names_strategy(min_size=2, max_size=5).map(lambda names: [f"c{name}" for name in names]), data=st.data())
def test_binary_columns_any_case_and_spelling(names: list[str], data: st.DataObject) -> None:
    sets = label_sets(names, data)
    ones, zeros = ["1", "1.0", " 1", "True"], ["0", "0.0", "0 ", "false"]
    cells = {
        name.upper(): [data.draw(st.sampled_from(ones if i in ids else zeros)) for ids in sets]
        for i, name in enumerate(names)
    }
    columns = Columns(label_columns=tuple(names))
    parsed = parse_labels(frame(["x"] * len(sets), column="other", **cells), columns)
    assert parsed.problem_type == MULTI and parsed.fixed and parsed.names == tuple(names)
    assert parsed.values.dtype == np.float32
    np.testing.assert_array_equal(parsed.values, matrix(sets, len(names)))


@SETTINGS
@given(names=names_strategy(min_size=2), data=st.data(), as_ids=st.booleans(), fixed=st.booleans())
def test_list_values(names: list[str], data: st.DataObject, as_ids: bool, fixed: bool) -> None:
    sets = label_sets(names, data)
    container = data.draw(st.sampled_from([list, tuple, np.array]))
    values = [container([i if as_ids else names[i] for i in ids] * data.draw(st.integers(1, 2))) for ids in sets]
    parsed = parse_labels(frame(values), Columns(labels=tuple(names) if fixed else ()))
    assert parsed.problem_type == MULTI and parsed.fixed == fixed
    used = sorted({i for ids in sets for i in ids})
    if fixed:
        expected_names, expected = tuple(names), matrix(sets, len(names))
    else:
        found = sorted(used) if as_ids else sorted({names[i] for i in used})
        expected_names = tuple(map(str, found)) if as_ids else tuple(found)
        position = {label: k for k, label in enumerate(found)}
        expected = matrix([[position[i if as_ids else names[i]] for i in ids] for ids in sets], len(found))
    assert parsed.names == expected_names
    np.testing.assert_array_equal(parsed.values, expected)


@SETTINGS
@given(
    names=st.lists(NAME.filter(lambda name: " " not in name), min_size=2, max_size=6, unique_by=str.casefold),
    separator=st.sampled_from([",", ";", "|", " ", ", ", " | "]),
    data=st.data(),
)
def test_separated_text(names: list[str], separator: str, data: st.DataObject) -> None:
    sets = label_sets(names, data)
    pad = data.draw(st.sampled_from(["", " ", "  "]))
    values = [separator.join(f"{pad}{names[i]}{pad}" for i in ids) for ids in sets]
    dtype = data.draw(st.sampled_from([object, "str"]))
    parsed = parse_labels(frame(values, dtype=dtype), Columns(label_separator=separator.strip() or " "))
    assert parsed.problem_type == MULTI and not parsed.fixed
    found = sorted({names[i] for ids in sets for i in ids})
    assert parsed.names == tuple(found)
    np.testing.assert_array_equal(
        parsed.values, matrix([[found.index(names[i]) for i in ids] for ids in sets], len(found))
    )
    fixed = parse_labels(
        frame(values, dtype=dtype), Columns(label_separator=separator.strip() or " ", labels=tuple(names))
    )
    np.testing.assert_array_equal(fixed.values, matrix(sets, len(names)))


@SETTINGS
@given(names=names_strategy(min_size=2), size=st.integers(2, 30), multi=st.booleans(), data=st.data())
def test_ids_mixed_with_names_ask_for_the_names_of_the_ids(
    names: list[str], size: int, multi: bool, data: st.DataObject
) -> None:
    """Labels from the data that are partly ids and partly names (``0`` beside ``sport``) are refused, naming the
    first of each; never two classes for one label. Declared with ``--labels``, the same values parse."""
    as_id = data.draw(st.lists(st.booleans(), min_size=size, max_size=size).filter(lambda f: any(f) and not all(f)))
    picks = [data.draw(st.integers(0, len(names) - 1)) for _ in range(size)]
    items = [
        data.draw(st.sampled_from([i, str(i), f" {i} "])) if by_id else names[i]
        for i, by_id in zip(picks, as_id, strict=True)
    ]
    values = [[item] for item in items] if multi else items
    message = task_error(parse_labels, frame(values), Columns())
    first_id, first_name = as_id.index(True), as_id.index(False)
    assert re.search(place(first_id), message) and re.search(place(first_name), message), message
    assert "mixes label ids with label names" in message and "--labels" in message
    declared = parse_labels(frame(values), Columns(labels=tuple(names)))
    expected = matrix([[i] for i in picks], len(names)) if multi else np.array(picks)
    np.testing.assert_array_equal(declared.values, expected)


# --- the question about separated values, and missing labels ---------------------------------------------------------


@SETTINGS
@given(names=names_strategy(min_size=2), size=st.integers(1, 30), sep=st.sampled_from(list(",;|")), data=st.data())
def test_separated_value_without_separator_asks(names: list[str], size: int, sep: str, data: st.DataObject) -> None:
    values = [data.draw(st.sampled_from(names)) for _ in range(size)]
    row = data.draw(st.integers(0, size - 1))
    values[row] = f"{names[0]}{sep}{names[1]}"
    message = task_error(parse_labels, frame(values), Columns())
    assert "--label_separator" in message and "--problem_type" in message, message
    assert re.search(place(row), message) and repr(values[row]) in message, message
    parsed = parse_labels(frame(values), Columns(problem_type=SINGLE))
    assert values[row] in parsed.names and parsed.names[parsed.values[row]] == values[row]
    # a declared name (--labels, or a Hub ClassLabel's names) that holds a separator is that name: nothing to ask
    declared = (*names, values[row])
    for columns, class_names in ((Columns(labels=declared), None), (Columns(), {"label": declared})):
        fixed = parse_labels(frame(values), columns, class_names=class_names)
        assert fixed.problem_type == SINGLE and fixed.values[row] == len(names)


@SETTINGS
@given(
    names=names_strategy(min_size=2),
    size=st.integers(1, 40),
    kind=st.sampled_from(["single", "fixed", "separated", "lists"]),
    data=st.data(),
)
def test_missing_label_names_the_first_planted_line(
    names: list[str], size: int, kind: str, data: st.DataObject
) -> None:
    values: list[object] = [data.draw(st.sampled_from(names)) for _ in range(size)]
    columns = {"single": Columns(), "fixed": Columns(labels=tuple(names)), "separated": Columns(label_separator=",")}
    if kind == "lists":
        values = [[value] for value in values]
    planted = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5, unique=True))
    # multi-label: an empty text or list is a row without labels (allowed); only a hole or a marker is missing
    holes = MISSING if kind in ("single", "fixed") else [None, np.nan, "NaN", "null", "None"]
    for row in planted:
        values[row] = data.draw(st.sampled_from(holes))
    message = task_error(parse_labels, frame(values), columns.get(kind, Columns()))
    assert message.startswith("column 'label' has no label at ") and ": fill in or remove those rows" in message
    first_planted(message, planted)
    if len(planted) > 3:
        assert f"(and {len(planted) - 3} more)" in message


@SETTINGS
@given(names=names_strategy(min_size=2), size=st.integers(2, 30), data=st.data())
def test_empty_multi_label_rows_have_no_label(names: list[str], size: int, data: st.DataObject) -> None:
    values = [data.draw(st.sampled_from(["", " ", ",", " , "])) for _ in range(size)]
    values[0] = names[0]
    parsed = parse_labels(frame(values), Columns(label_separator=","))
    assert parsed.names == (names[0],) and parsed.values[1:].sum() == 0 and parsed.values[0, 0] == 1


@SETTINGS
@given(label=st.sampled_from(["Label", " LABEL ", "label"]), user=st.sampled_from([None, "label", "LaBeL"]))
def test_label_column_found_ignoring_case(label: str, user: str | None) -> None:
    parsed = parse_labels(frame(["a", "b"], column=label), Columns(label=user))
    assert parsed.names == ("a", "b")


# --- options ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        (Columns(label_columns=("a",)), ["--label_column a"]),
        (Columns(label_columns=("a", "b"), label="a"), ["--label_column", "--label_columns"]),
        (Columns(label_columns=("a", "b"), label_separator=","), ["--label_separator"]),
        (Columns(label_columns=("a", "A ")), ["more than once"]),
        (Columns(label_separator=",", problem_type=SINGLE), ["--problem_type", "--label_separator"]),
        (Columns(problem_type="regression"), ["--problem_type"]),
        (
            Columns(label="missing"),
            ["'missing'", "--label_column NAME", "--label_columns", "f.csv", "['text', 'label']"],
        ),
        (Columns(labels=("a", "b"), labels_file="x.txt"), ["--labels", "--labels_file"]),
        (Columns(labels=("a", " a")), ["'a' twice"]),
    ],
)
def test_contradicting_options(columns: Columns, words: list[str]) -> None:
    message = task_error(parse_labels, frame(["a", "b"]), columns, origin="f.csv")
    for word in words:
        assert word in message, message


@SETTINGS
@given(sets=st.lists(st.lists(st.sampled_from(["a", "b"]), max_size=2), min_size=1, max_size=10))
def test_lists_refuse_single_label_problem_type(sets: list[list[str]]) -> None:
    values = [*sets, ["a"]]
    message = task_error(problem_type_of, frame(values), Columns(problem_type=SINGLE), "f.csv")
    assert "lists" in message and "--problem_type" in message


@SETTINGS
@given(numbers=st.lists(st.integers(0, 3), min_size=2, max_size=10), data=st.data())
def test_number_in_a_list_column_is_named(numbers: list[int], data: st.DataObject) -> None:
    values: list[object] = [[number] for number in numbers]
    row = data.draw(st.integers(0, len(values) - 1))
    values[row] = numbers[row]
    message = task_error(parse_labels, frame(values), Columns())
    assert re.search(place(row), message) and "not a list" in message, message


# --- --labels_file ---------------------------------------------------------------------------------------------------


def write(text: str) -> str:
    handle, path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    return path


@SETTINGS
@given(names=names_strategy(), data=st.data())
def test_labels_file_skips_blank_lines_and_spaces(names: list[str], data: st.DataObject) -> None:
    lines = []
    for name in names:
        lines += [data.draw(st.sampled_from(["", " ", "\t"])) for _ in range(data.draw(st.integers(0, 2)))]
        lines.append(data.draw(PADDING) + name + data.draw(PADDING))
    path = write(data.draw(st.sampled_from(["\n", "\r\n"])).join(lines) + data.draw(st.sampled_from(["", "\n"])))
    try:
        assert label_names_option(Columns(labels_file=path)) == tuple(names)
    finally:
        os.unlink(path)


@SETTINGS
@given(names=names_strategy(), data=st.data())
def test_labels_file_repeated_name_names_the_line(names: list[str], data: st.DataObject) -> None:
    first = data.draw(st.integers(0, len(names) - 1))
    lines = [*names, ""]
    at = data.draw(st.integers(first + 1, len(lines)))
    lines.insert(at, f" {names[first]} ")
    path = write("\n".join(lines))
    try:
        message = task_error(label_names_option, Columns(labels_file=path))
        assert f"{path} line {at + 1}:" in message and f"line {first + 1}" in message and repr(names[first]) in message
    finally:
        os.unlink(path)


@pytest.mark.parametrize(
    ("text", "words"), [(None, ["no such file"]), ("", ["names no labels"]), ("\n \n", ["names no labels"])]
)
def test_labels_file_missing_or_empty(text: str | None, words: list[str]) -> None:
    path = write(text) if text is not None else os.path.join(tempfile.gettempdir(), "no-such-labels.txt")
    try:
        message = task_error(label_names_option, Columns(labels_file=path))
        assert path in message and all(word in message for word in words), message
    finally:
        if text is not None:
            os.unlink(path)


# --- unseen labels and counts -----------------------------------------------------------------------------------------


@SETTINGS
@given(names=names_strategy(min_size=2), size=st.integers(4, 40), multi=st.booleans(), data=st.data())
def test_label_only_outside_training_rows(names: list[str], size: int, multi: bool, data: st.DataObject) -> None:
    values: list[object] = [names[i % len(names)] for i in range(size)]
    train = np.array(data.draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    train[: len(names)] = True  # every name has a training row
    outside = np.flatnonzero(~train)
    if len(outside) == 0:
        train[-1], outside = False, np.array([size - 1])
    planted = sorted(data.draw(st.sets(st.sampled_from(outside.tolist()), min_size=1)))
    for row in planted:
        values[row] = "zz-planted"
    if multi:
        values = [[value] for value in values]
    rows = data.draw(st.sampled_from([train, np.flatnonzero(train)]))
    parsed = parse_labels(frame(values), Columns())
    message = task_error(unseen_labels_error, frame(values), parsed, rows)
    assert "'zz-planted'" in message and "--labels" in message, message
    first_planted(message, planted)
    declared = parse_labels(frame(values), Columns(labels=(*names, "zz-planted")))
    unseen_labels_error(frame(values), declared, rows)  # declared labels may lack training rows
    unseen_labels_error(frame(values), parsed, np.ones(size, dtype=bool))


@SETTINGS
@given(names=names_strategy(min_size=2), data=st.data())
def test_label_counts(names: list[str], data: st.DataObject) -> None:
    sets = label_sets(names, data)
    rows = np.array(data.draw(st.lists(st.booleans(), min_size=len(sets), max_size=len(sets))))
    multi = ParsedLabels(matrix(sets, len(names)), tuple(names), MULTI, True)
    expected = {
        name: sum(1 for ids, keep in zip(sets, rows, strict=True) if keep and i in ids) for i, name in enumerate(names)
    }
    assert label_counts(multi, rows) == expected
    assert label_counts(multi, np.flatnonzero(rows)) == expected
    single_ids = np.array([ids[0] if ids else 0 for ids in sets], dtype=np.int64)
    single = ParsedLabels(single_ids, tuple(names), SINGLE, True)
    assert list(label_counts(single)) == names
    assert label_counts(single) == {name: int((single_ids == i).sum()) for i, name in enumerate(names)}
