"""Labels of a user's own data (the generic ``--task text``): the head, the label names and every row's labels.

The head follows from the options and the kind of values, never from a guess that could go silently
wrong: a value such as ``a,b`` without ``--label_separator`` is refused with a question (several
labels, or one class name?) rather than trained on as one class. Names found in the data are sorted,
so that every run and every process of a distributed run numbers the classes alike.

Single-label columns are parsed per distinct value (``pd.factorize``), not per row: the UCI news
file has 422k rows but four values. Multi-label list values are walked once in Python.

Every error is one line naming the column as the user spelled it, the file and line
(``data.where``) and the fix.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks import data
from tasks.base import PROBLEM_TYPES, Columns, TaskError

SINGLE = "single_label_classification"
MULTI = "multi_label_classification"
SPLIT_COLUMN = "__split__"
# Characters that make a label value look like several labels written in one field.
SEPARATOR_CHARACTERS = ",;|"
SEPARATED = re.compile(f"[{re.escape(SEPARATOR_CHARACTERS)}]")
# An integer id as a file spells it: "2", "+2", "2.0" (a float column written by pandas); ASCII digits only.
INTEGER = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
# infer_dtype kinds whose values cannot be lists: no per-value look needed.
SCALAR_KINDS = frozenset({"string", "integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"})
LIST_TYPES = (list, tuple, np.ndarray)
SHOWN_NAMES = 20


@dataclass(frozen=True, eq=False)  # eq=False: numpy arrays have no truth value, so field-wise == would raise
class ParsedLabels:
    """Every row's labels and what they are called.

    Attributes:
        values: int64 class ids (single-label), or a float32 0/1 matrix with one column per name (multi-label);
            one row per frame row.
        names: the label names in id order.
        problem_type: ``single_label_classification`` or ``multi_label_classification``.
        fixed: the names were fixed by the user (``--labels``, ``--labels_file``, ``--label_columns``) or by
            a ClassLabel column, not found in the data; a name may then have no row at all.
    """

    values: np.ndarray
    names: tuple[str, ...]
    problem_type: str
    fixed: bool

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == MULTI


@dataclass(frozen=True)
class FixedNames:
    """Names fixed before the data is read, where they came from and how to add one (for messages)."""

    names: tuple[str, ...]
    source: str
    fix: str

    @functools.cached_property
    def exact(self) -> dict[str, int]:
        """Name -> id (the first id of a name, as ClassLabel names are not checked for repeats)."""
        exact: dict[str, int] = {}
        for position, name in enumerate(self.names):
            exact.setdefault(_strip(name), position)
        return exact

    @functools.cached_property
    def folded(self) -> dict[str, int]:
        """Case-folded name -> id; a folded spelling shared by two names maps to neither."""
        folds = [_strip(name).casefold() for name in self.names]
        counts = Counter(folds)
        return {fold: position for position, fold in enumerate(folds) if counts[fold] == 1}

    @functools.cached_property
    def markers(self) -> frozenset[str]:
        """The missing-value markers that do not spell one of these names (a class may be called 'None')."""
        return frozenset(marker for marker in data.MISSING_TEXT_MARKERS if _name_id(marker, self) is None)


# --- the label names the user fixes ---------------------------------------------------------------------------------


def label_names_option(columns: Columns) -> tuple[str, ...]:
    """``--labels``, or the names ``--labels_file`` lists; ``()`` when neither is given.

    Repeated or blank names are refused: two ids for one class would split its rows between them.
    """
    if columns.labels and columns.labels_file is not None:
        raise TaskError("--labels and --labels_file both name the labels; pass only one of them")
    if columns.labels_file is not None:
        return read_labels_file(columns.labels_file)
    return _checked_option_names(columns.labels)


def _checked_option_names(names: Sequence[str]) -> tuple[str, ...]:
    stripped = [_strip(name) for name in names]
    seen: dict[str, int] = {}
    for number, name in enumerate(stripped, start=1):
        if not name:
            raise TaskError(f"--labels: name {number} is blank; give each label a visible name")
        if name in seen:
            raise TaskError(f"--labels names {name!r} twice (names {seen[name]} and {number}); name each label once")
        seen[name] = number
    return tuple(stripped)


def read_labels_file(path: str) -> tuple[str, ...]:
    """The names in a ``--labels_file``: UTF-8, one a line, surrounding spaces stripped, blank lines skipped."""
    if os.path.isdir(path):
        raise TaskError(f"{path}: is a folder; pass a file naming the labels, one a line, with --labels_file")
    if not os.path.isfile(path):
        raise TaskError(f"{path}: no such file; pass a file naming the labels, one a line, with --labels_file")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = handle.read().split("\n")
    except UnicodeDecodeError:
        raise TaskError(f"{path} (--labels_file): not UTF-8 text; re-save the file as UTF-8") from None
    except OSError as error:
        raise TaskError(f"{path} (--labels_file): cannot read the file ({error.strerror or error})") from None
    names: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        name = _strip(line)
        if not name:
            continue
        if name in names:
            raise TaskError(
                f"{path} line {number}: the label {name!r} is already named on line {names[name]} (--labels_file); "
                "name each label once"
            )
        names[name] = number
    if not names:
        raise TaskError(f"{path}: names no labels (--labels_file); write the label names in it, one a line")
    return tuple(names)


def _strip(text: str) -> str:
    """Whitespace and invisible characters off both ends: a name that shows as 'a' is 'a'."""
    return text.strip().strip(data.invisible_characters())


def _fixed_names(columns: Columns, class_names: Mapping[str, Sequence[str]] | None, column: str) -> FixedNames | None:
    """The names the options fix, else the ClassLabel names of ``column``, else None (names from the data)."""
    names = label_names_option(columns)
    if names:
        if columns.labels_file is not None:
            return FixedNames(names, f"--labels_file {columns.labels_file}", f"or add it to {columns.labels_file}")
        return FixedNames(names, "--labels", "or add it to --labels")
    for key, found in (class_names or {}).items():
        if key == column or data.column_key(key) == data.column_key(column):
            fix = "or name the labels yourself with --labels"
            return FixedNames(tuple(str(name) for name in found), "the dataset's ClassLabel names", fix)
    return None


# --- which head -----------------------------------------------------------------------------------------------------


def problem_type_of(
    frame: pd.DataFrame, columns: Columns, origin: str, class_names: Mapping[str, Sequence[str]] | None = None
) -> str:
    """The head, from the options and the kind of values: lists or a separator make it multi-label.

    Without either, a value holding ``,``, ``;`` or ``|`` could be a separated list as easily as a class
    name; rather than guess, the error asks which (``--label_separator`` or ``--problem_type``). A value
    spelling a fixed name (``--labels``, ClassLabel ``class_names``) is that name: nothing to ask.
    """
    _check_options(columns)
    if columns.label_columns or columns.label_separator is not None:
        return MULTI
    column = label_column(frame, columns, origin)
    fixed = _fixed_names(columns, class_names, column)
    values = frame[column]
    lists = list_rows(values)
    if lists.any():
        if columns.problem_type == SINGLE:
            raise TaskError(
                f"column {_shown(columns)!r} holds lists of labels (several labels per row) at "
                f"{data.where(frame, lists)}, but --problem_type is {SINGLE}: drop --problem_type (lists make the "
                "task multi-label) or write one label per row"
            )
        _refuse_separated_text(frame, column, columns, MULTI, fixed)
        return MULTI
    problem = columns.problem_type or SINGLE
    _refuse_separated_text(frame, column, columns, problem, fixed)
    return problem


def _check_options(columns: Columns) -> None:
    """Option combinations that contradict each other, each refused with the reason."""
    if columns.problem_type is not None and columns.problem_type not in PROBLEM_TYPES:
        raise TaskError(f"--problem_type {columns.problem_type!r} is not one of {list(PROBLEM_TYPES)}")
    if columns.label_columns:
        if columns.label is not None:
            raise TaskError(
                "--label_columns and --label_column both name the labels: --label_columns A B ... for one 0/1 column "
                "per label (multi-label), --label_column NAME for one column; pass only one of them"
            )
        if columns.label_separator is not None:
            raise TaskError(
                "--label_separator splits one label column, but --label_columns names one 0/1 column per label; "
                "pass only one of them"
            )
        if len(columns.label_columns) == 1:
            raise TaskError(
                f"--label_columns names one column ({columns.label_columns[0]!r}); it is for 2 or more 0/1 columns, "
                f"one per label: use --label_column {columns.label_columns[0]} for one label column"
            )
        keys = [data.column_key(name) for name in columns.label_columns]
        repeated = sorted({name for name, key in zip(columns.label_columns, keys, strict=True) if keys.count(key) > 1})
        if repeated:
            raise TaskError(
                f"--label_columns names {repeated} more than once (names are matched ignoring case and surrounding "
                "spaces); name each column once"
            )
    if columns.label_separator is not None and columns.label_separator == "":
        raise TaskError("--label_separator is empty; pass the character between labels, e.g. --label_separator ','")
    if columns.problem_type == SINGLE and (columns.label_columns or columns.label_separator is not None):
        option = "--label_columns" if columns.label_columns else "--label_separator"
        raise TaskError(
            f"--problem_type {SINGLE} contradicts {option}, which gives several labels per row (multi-label): drop "
            "one of them"
        )


def label_column(frame: pd.DataFrame, columns: Columns, origin: str) -> str:
    """The frame's spelling of the label column (``--label_column``, else ``label``), matched ignoring case."""
    name = _shown(columns)
    found = data.find_column(frame, name, origin)
    if found is None:
        present = [column for column in data.data_columns(frame) if column != SPLIT_COLUMN]
        given = "--label_column" if columns.label is not None else "the default, as no --label_column was given"
        raise TaskError(
            f"{origin}: no label column {name!r} ({given}); found columns {present}. Name the label column "
            "with --label_column NAME, or the 0/1 columns of multi-label data with --label_columns A B ..."
        )
    return found


def _shown(columns: Columns) -> str:
    """The label column as the user spelled it, for messages."""
    return columns.label if columns.label is not None else "label"


def list_rows(values: pd.Series) -> np.ndarray:
    """Rows whose value is a list (JSON Lines, Parquet or Hub sequences arrive as list or numpy array)."""
    values = uncategorical(values)
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) in SCALAR_KINDS:
        return np.zeros(len(values), dtype=bool)
    return np.fromiter((isinstance(value, LIST_TYPES) for value in values), dtype=bool, count=len(values))


def string_rows(values: pd.Series) -> np.ndarray:
    """Rows whose value is text (not missing, a number or a list)."""
    values = uncategorical(values)
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        return values.notna().to_numpy(bool)
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    return np.fromiter((isinstance(value, str) for value in values), dtype=bool, count=len(values))


def _refuse_separated_text(
    frame: pd.DataFrame, column: str, columns: Columns, problem: str, fixed: FixedNames | None
) -> None:
    """A text value with ``,``/``;``/``|`` and no ``--label_separator``: ask whether it is one name or several."""
    if columns.label_separator is not None or columns.problem_type == SINGLE:
        return
    strings = string_rows(frame[column])
    if not strings.any():
        return
    text = data.visible_text(frame[column][strings])
    hits = np.zeros(len(frame), dtype=bool)
    separated = text.str.contains(SEPARATED).fillna(False)
    if fixed is not None:
        separated &= ~(text.isin(list(fixed.exact)) | text.str.casefold().isin(list(fixed.folded)))
    hits[strings] = separated.to_numpy(bool)
    if not hits.any():
        return
    value = str(text[hits[strings]].iloc[0])
    sep = SEPARATED.search(value).group()
    place = f"column {_shown(columns)!r} holds {value!r} at {data.where(frame, hits)}"
    if problem == SINGLE:
        raise TaskError(
            f"{place}: several labels separated by {sep!r}, or one class name? For several labels per row pass "
            f"--label_separator '{sep}' (multi-label); if it is one class name, pass --problem_type {SINGLE}"
        )
    raise TaskError(
        f"{place}, text with {sep!r} in multi-label data: for labels separated by {sep!r} pass --label_separator "
        f"'{sep}'; a class name that contains {sep!r} needs list values (JSON Lines or Parquet)"
    )


# --- every row's labels ---------------------------------------------------------------------------------------------


def parse_labels(
    frame: pd.DataFrame,
    columns: Columns,
    class_names: Mapping[str, Sequence[str]] | None = None,
    origin: str = "the data",
) -> ParsedLabels:
    """Every row's labels, as ``problem_type_of`` decides the head.

    Values are label names or integer ids. Fixed names (``--labels``, ``--labels_file``, or a ClassLabel
    column's ``class_names``) are matched exactly, then ignoring case, then as ids ``0..n-1``; otherwise
    the names are the distinct values, sorted (numerically when every value is an integer).
    """
    problem = problem_type_of(frame, columns, origin, class_names)
    if columns.label_columns:
        return _binary_columns(frame, columns, origin)
    column = label_column(frame, columns, origin)
    fixed = _fixed_names(columns, class_names, column)
    if problem == SINGLE:
        values, names = _single_label(frame, column, _shown(columns), fixed)
    else:
        values, names = _multi_label(frame, column, _shown(columns), fixed, columns.label_separator)
    return ParsedLabels(values=values, names=names, problem_type=problem, fixed=fixed is not None)


def _binary_columns(frame: pd.DataFrame, columns: Columns, origin: str) -> ParsedLabels:
    """One 0/1 column per label; the names are the columns as the user spelled them."""
    if label_names_option(columns):
        raise TaskError(
            "--labels/--labels_file with --label_columns: the label columns name the labels themselves; drop "
            "--labels/--labels_file"
        )
    found = {name: data.find_column(frame, name, origin) for name in columns.label_columns}
    missing = [name for name, column in found.items() if column is None]
    if missing:
        present = [column for column in data.data_columns(frame) if column != SPLIT_COLUMN]
        raise TaskError(
            f"{origin}: no label column(s) {missing} (--label_columns); found columns {present}. Rename the header "
            "fields or correct --label_columns"
        )
    # the user's spelling, so that messages and label names read as the option was written
    renamed = frame[[*found.values(), data.SOURCE_COLUMN, data.ROW_COLUMN]].set_axis(
        [*found, data.SOURCE_COLUMN, data.ROW_COLUMN], axis=1
    )
    matrix = data.parse_binary_columns(renamed, list(found))
    return ParsedLabels(values=matrix, names=tuple(found), problem_type=MULTI, fixed=True)


def _single_label(
    frame: pd.DataFrame, column: str, shown: str, fixed: FixedNames | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class ids of one label per row, resolved per distinct value (vectorised over rows)."""
    text = scalar_text(frame[column])
    missing = _missing(text, fixed)
    if missing.any():
        raise _no_label(frame, missing, shown, column)
    codes, uniques = pd.factorize(text.to_numpy(dtype=object))
    if fixed is None:
        _refuse_ids_mixed_with_names(frame, list(uniques), codes, np.arange(len(frame)), shown)
    ids, names = resolve(list(uniques), fixed)
    bad = ids[codes] < 0
    if bad.any():
        raise _unknown_value(frame, bad, str(text[bad].iloc[0]), shown, fixed)
    return ids[codes].astype(np.int64), names


def _multi_label(
    frame: pd.DataFrame, column: str, shown: str, fixed: FixedNames | None, separator: str | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """A 0/1 matrix from lists or separated text in one column; an empty list or text is a row with no label."""
    items, rows = label_items(frame, column, shown, fixed, separator)
    codes, uniques = pd.factorize(items)
    if fixed is None:
        _refuse_ids_mixed_with_names(frame, list(uniques), codes, rows, shown)
    ids, names = resolve(list(uniques), fixed)
    bad = ids[codes] < 0
    if bad.any():
        mask = np.zeros(len(frame), dtype=bool)
        mask[rows[bad]] = True
        raise _unknown_value(frame, mask, str(items[np.flatnonzero(bad)[0]]), shown, fixed)
    matrix = np.zeros((len(frame), len(names)), dtype=np.float32)
    matrix[rows, ids[codes]] = 1.0
    return matrix, names


def uncategorical(values: pd.Series) -> pd.Series:
    """A categorical column (Parquet's dictionary encoding) as its values, so it is read like any other."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.astype(values.cat.categories.dtype).astype(object).where(values.notna(), None)
    return values


def scalar_text(values: pd.Series) -> pd.Series:
    """Values as stripped text, missing ones NaN; JSON's true/false count as the ids 1/0."""
    values = uncategorical(values)
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("Int64")  # nullable: a Parquet boolean column may have holes
    elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values = values.map(lambda value: int(value) if isinstance(value, (bool, np.bool_)) else value)
    return data.visible_text(values)


def _markers(fixed: FixedNames | None) -> frozenset[str]:
    """Values that mean "missing" (``NaN``, ``None``, ...): what spreadsheets and pandas write for a hole."""
    return data.MISSING_TEXT_MARKERS if fixed is None else fixed.markers


def _missing(text: pd.Series, fixed: FixedNames | None) -> np.ndarray:
    """Blank values and missing-value markers, unless a fixed name is spelled so."""
    return (text.isna() | (text == "") | text.isin(list(_markers(fixed)))).fillna(True).to_numpy(bool)


def label_items(
    frame: pd.DataFrame, column: str, shown: str, fixed: FixedNames | None, separator: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Every label item of a multi-label column as stripped text, and the frame row (position) of each.

    Separated text is split vectorised; list values take one pass in Python.
    """
    values = frame[column].reset_index(drop=True)
    if list_rows(values).any():
        exploded = _list_items(frame, column, shown, fixed, separator)
    else:
        if separator is None:
            other = values.notna().to_numpy(bool) & ~string_rows(values)
            if other.any():
                row = int(np.flatnonzero(other)[0])
                raise _not_a_list(frame, row, values.iloc[row], shown)
        text = scalar_text(values)
        missing = _missing(text, fixed) & (text != "").fillna(True).to_numpy(bool)
        if missing.any():
            raise _no_label(frame, missing, shown, column)
        exploded = text.str.split(separator, regex=False).explode() if separator is not None else text
    items = data.visible_text(exploded)
    keep = (items != "").fillna(False).to_numpy(bool)
    return items.to_numpy(dtype=object)[keep], exploded.index.to_numpy(dtype=np.int64)[keep]


def _list_items(
    frame: pd.DataFrame, column: str, shown: str, fixed: FixedNames | None, separator: str | None
) -> pd.Series:
    """The items of a column holding lists (and maybe text), indexed by row position."""
    values = frame[column]
    markers = _markers(fixed)
    items: list[object] = []
    rows: list[int] = []
    missing = np.zeros(len(values), dtype=bool)
    for row, value in enumerate(values.tolist()):
        if isinstance(value, LIST_TYPES):
            parts = list(value)
            for part in parts:
                _check_item(frame, row, part, shown)
        elif isinstance(value, str):
            if _strip(value) in markers:
                missing[row] = True
                continue
            parts = value.split(separator) if separator is not None else [value]
        elif _is_missing(value):
            missing[row] = True
            continue
        elif separator is not None and isinstance(value, (int, float, np.integer, np.floating)):
            parts = [value]  # a number among separated text: one id
        else:
            raise _not_a_list(frame, row, value, shown)
        items.extend(int(part) if isinstance(part, (bool, np.bool_)) else part for part in parts)
        rows.extend([row] * len(parts))
    if missing.any():
        raise _no_label(frame, missing, shown, column)
    return pd.Series(items, index=np.asarray(rows, dtype=np.int64), dtype=object)


def _check_item(frame: pd.DataFrame, row: int, item: object, shown: str) -> None:
    """An item of a list must be a name or an id: a hole or a nested list has no meaning as a label."""
    if isinstance(item, (*LIST_TYPES, dict, set)) or _is_missing(item):
        what = "a missing item" if _is_missing(item) else f"the item {_plain(item)!r}, not a label name or id"
        raise TaskError(
            f"column {shown!r} holds a list with {what} at {data.where(frame, _one_row(frame, row))}: write each "
            "label as a name or an integer id, or remove those rows"
        )


def _not_a_list(frame: pd.DataFrame, row: int, value: object, shown: str) -> TaskError:
    """A number (or other non-text) where a multi-label column needs a list of labels or separated text."""
    value = _plain(value)
    return TaskError(
        f"column {shown!r} holds {value!r} at {data.where(frame, _one_row(frame, row))}, not a list of labels "
        f"(multi-label): write a list such as [{value!r}], or text with --label_separator"
    )


def _one_row(frame: pd.DataFrame, row: int) -> np.ndarray:
    mask = np.zeros(len(frame), dtype=bool)
    mask[row] = True
    return mask


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so messages show 3 rather than np.int64(3)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_missing(value: object) -> bool:
    """None, NaN or pd.NA (but not a list, whose isna is element-wise)."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _no_label(frame: pd.DataFrame, missing: np.ndarray, shown: str, column: str) -> TaskError:
    """Rows without a label; when one holds a marker such as ``None``, say how to keep it as a class name."""
    message = f"column {shown!r} has no label at {data.where(frame, missing)}: fill in or remove those rows"
    values = frame[column][missing]
    strings = string_rows(values)
    markers = data.visible_text(values[strings])
    markers = markers[markers.isin(list(data.MISSING_TEXT_MARKERS))]
    if len(markers):
        return TaskError(
            f"{message} ({markers.iloc[0]!r} is what spreadsheets write for a missing value; if it is a class name, "
            "declare the labels with --labels)"
        )
    return TaskError(message)


def _unknown_value(frame: pd.DataFrame, bad: np.ndarray, value: str, shown: str, fixed: FixedNames | None) -> TaskError:
    """A value that is neither a fixed name nor an id in range (only fixed names can be unknown)."""
    assert fixed is not None  # names from the data include every value
    names = fixed.names
    listed = ", ".join(names[:SHOWN_NAMES]) + (f", ... ({len(names)} in all)" if len(names) > SHOWN_NAMES else "")
    hint = " (--labels takes names separated by spaces)" if fixed.source == "--labels" and len(names) == 1 else ""
    return TaskError(
        f"column {shown!r} holds {value!r} at {data.where(frame, bad)}, which is neither one of the labels "
        f"[{listed}] ({fixed.source}{hint}) nor a label id 0..{len(names) - 1}: correct or remove those rows, "
        f"{fixed.fix}"
    )


# --- names and ids --------------------------------------------------------------------------------------------------


def integer(text: str) -> int | None:
    """The integer a label spells (``2``, ``+2``, ``2.0``), or None."""
    if not INTEGER.fullmatch(text):
        return None
    return int(text.split(".")[0])


def resolve(uniques: Sequence[object], fixed: FixedNames | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """The id of each distinct value (-1: not a label) and the names in id order.

    Names from the data are sorted so that the ids do not depend on row order: numerically when every
    value is an integer (``2`` before ``10``), else as text.
    """
    texts = [str(value) for value in uniques]
    if fixed is not None:
        ids = [_fixed_id(text, fixed) for text in texts]
        return np.array([-1 if i is None else i for i in ids], dtype=np.int64), fixed.names
    integers = [integer(text) for text in texts]
    if texts and all(number is not None for number in integers):
        ordered = sorted(set(integers))
        index = {number: position for position, number in enumerate(ordered)}
        return np.array([index[number] for number in integers], dtype=np.int64), tuple(map(str, ordered))
    names = tuple(sorted(set(texts)))
    index = {name: position for position, name in enumerate(names)}
    return np.array([index[text] for text in texts], dtype=np.int64), names


def _refuse_ids_mixed_with_names(
    frame: pd.DataFrame, uniques: list[object], codes: np.ndarray, rows: np.ndarray, shown: str
) -> None:
    """Names from the data: a column whose values are partly integers and partly names (``0``, ``sport``) is
    ids written beside names, almost surely; taking both as names would make ``0`` a class of its own, a
    silent guess. The ids need their names (``--labels``), or the data one spelling."""
    is_integer = np.array([integer(str(value)) is not None for value in uniques], dtype=bool)
    if not len(uniques) or is_integer.all() or not is_integer.any():
        return

    def first(kind: np.ndarray) -> str:
        position = int(np.flatnonzero(kind[codes])[0])
        mask = np.zeros(len(frame), dtype=bool)
        mask[rows[position]] = True
        return f"{uniques[codes[position]]!r} at {data.where(frame, mask, limit=1)}"

    raise TaskError(
        f"column {shown!r} mixes label ids with label names: {first(is_integer)}, {first(~is_integer)}; taken as "
        "names, the id would be a class of its own: write every label as a name, or name the ids 0..n-1 with "
        "--labels (or --labels_file), where a listed name may also be written as itself"
    )


def _fixed_id(text: str, fixed: FixedNames) -> int | None:
    """A fixed name (exact, then ignoring case when that is unambiguous), else an id in range, else None."""
    found = _name_id(text, fixed)
    if found is not None:
        return found
    number = integer(text)
    return number if number is not None and 0 <= number < len(fixed.names) else None


def _name_id(text: str, fixed: FixedNames) -> int | None:
    if text in fixed.exact:
        return fixed.exact[text]
    return fixed.folded.get(text.casefold())


# --- checks and counts over rows ------------------------------------------------------------------------------------


def row_mask(rows: np.ndarray | None, length: int) -> np.ndarray:
    """A bool mask from a bool mask or an index array (all rows when None)."""
    if rows is None:
        return np.ones(length, dtype=bool)
    rows = np.asarray(rows)
    if rows.dtype == bool:
        return rows
    mask = np.zeros(length, dtype=bool)
    mask[rows.astype(np.int64)] = True
    return mask


def _has_label(parsed: ParsedLabels) -> np.ndarray:
    """(rows, names) bool matrix: which labels each row has."""
    if parsed.is_multi_label:
        return parsed.values > 0.5
    matrix = np.zeros((len(parsed.values), len(parsed.names)), dtype=bool)
    matrix[np.arange(len(parsed.values)), parsed.values] = True
    return matrix


def unseen_labels_error(frame: pd.DataFrame, parsed: ParsedLabels, train_rows: np.ndarray) -> None:
    """Refuse labels found in the data that no training row has: the model could never predict them.

    Fixed names are the user's declared classes, so a class without training rows is their choice.
    """
    if parsed.fixed:
        return
    train = row_mask(train_rows, len(frame))
    has = _has_label(parsed)
    unseen = ~has[train].any(axis=0)
    if not unseen.any():
        return
    names = [parsed.names[i] for i in np.flatnonzero(unseen)]
    places = has[:, unseen].any(axis=1) & ~train
    what = f"label {names[0]!r} occurs" if len(names) == 1 else f"labels {', '.join(map(repr, names))} occur"
    raise TaskError(
        f"{what} only outside the training rows, at {data.where(frame, places)}: the model would never learn "
        f"{'it' if len(names) == 1 else 'them'}; add training rows with {'it' if len(names) == 1 else 'them'}, remove "
        "those rows, or declare every label with --labels"
    )


def label_counts(parsed: ParsedLabels, rows: np.ndarray | None = None) -> dict[str, int]:
    """Rows per label, in id order: rows of each class (single-label), rows with each label set (multi-label)."""
    mask = row_mask(rows, len(parsed.values))
    if parsed.is_multi_label:
        counts = (parsed.values[mask] > 0.5).sum(axis=0)
    else:
        counts = np.bincount(parsed.values[mask], minlength=len(parsed.names))
    return {name: int(count) for name, count in zip(parsed.names, counts, strict=True)}
