"""Every input form of a user's own labelled data as a pandas frame in the conventions of ``tasks.data``.

The generic ``text`` task reads CSV/TSV, JSON Lines and Parquet files (plain or gzipped), folders
written by ``save_to_disk``, and Hub datasets. Whatever the form, the frame carries
``SOURCE_COLUMN`` (the file, folder or ``dataset[split]``) and ``ROW_COLUMN`` (the line an editor
shows for line formats, else the row number), so that a later error can name the place to fix.

CSV/TSV values stay strings (``data.read_table``); JSON Lines, Parquet and dataset values keep
their own types (str, int, float, bool, list, None) in object columns, so that a later step can
tell a list of labels from a string. ``datasets`` and ``pyarrow.parquet`` are imported inside the
functions that need them: importing ``tasks`` must stay cheap.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks import data
from tasks.base import TaskError

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

FILE_FORMATS = ("csv", "tsv", "jsonl", "parquet")
# File name endings (before an optional .gz) and the format each one says.
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
SEPARATORS = {"csv": ",", "tsv": "\t"}
# Files save_to_disk writes: a DatasetDict folder names its splits in the first, a Dataset folder has the others.
DATASET_DICT_FILE = "dataset_dict.json"
DATASET_FILES = ("state.json", "dataset_info.json")
NO_LABEL = -1  # ClassLabel's "no label" marker (GLUE's test splits)
EXCERPT_CHARS = 80
FORMAT_OPTION = "--file_format " + "|".join(FILE_FORMATS)


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset's splits as frames, with the class names its ClassLabel columns declared.

    Attributes:
        frames: every split by its own name, in the dataset's order.
        class_names: ClassLabel columns (also lists of ClassLabel) -> names in id order, so that a
            task can keep the dataset's label order rather than sorting the names it finds.
        origin: the Hub id (``id:config@revision`` when those are given) or the folder.
    """

    frames: dict[str, pd.DataFrame]
    class_names: dict[str, tuple[str, ...]]
    origin: str


# ---------------------------------------------------------------------------------------------- formats


def detect_format(path: str, file_format: str | None = None) -> str:
    """The format of ``path``: ``file_format`` (--file_format) when given, as it is explicit, else the name's ending.

    Endings: .csv, .tsv, .jsonl, .json (JSON Lines), .parquet, each optionally followed by .gz.
    Contents are not sniffed: a guess that reads a TSV as one-column CSV fails later and further
    from the cause than asking for the option now.
    """
    if file_format is not None:
        chosen = file_format.strip().lower()
        if chosen not in FILE_FORMATS:
            raise TaskError(f"--file_format {file_format!r} is not a format this task reads; pass {FORMAT_OPTION}")
        return chosen
    name = os.path.basename(path).lower().removesuffix(".gz")
    suffix = os.path.splitext(name)[1]
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    endings = ", ".join(dict.fromkeys(SUFFIXES))
    raise TaskError(
        f"{path}: cannot tell the format from the file name (known endings: {endings}, each optionally .gz); "
        f"pass {FORMAT_OPTION}"
    )


# ---------------------------------------------------------------------------------------------- files


def read_file(path: str, *, file_format: str | None = None, column_names: Sequence[str] = ()) -> pd.DataFrame:
    """One local data file (or a folder written by ``Dataset.save_to_disk``) as a frame with file and place columns.

    ``column_names`` name the columns of a headerless CSV/TSV file; the other formats carry their
    own names, so giving them is an error rather than a silent rename.
    """
    if os.path.isdir(path):
        _refuse_column_names(path, "a save_to_disk folder", column_names)
        return _read_folder(path)
    data.check_file(path)  # missing, zip/xlsx: the project's usual messages
    chosen = detect_format(path, file_format)
    if chosen in SEPARATORS:
        names = list(column_names) if column_names else None
        return data.read_table(path, sep=SEPARATORS[chosen], header=names is None, names=names, repeated_names=False)
    _refuse_column_names(path, "JSON Lines" if chosen == "jsonl" else "Parquet", column_names)
    return read_jsonl(path) if chosen == "jsonl" else read_parquet(path)


def _refuse_column_names(path: str, what: str, column_names: Sequence[str]) -> None:
    if column_names:
        raise TaskError(
            f"{path}: --column_names is for headerless CSV/TSV files; {what} data names its own columns: "
            "leave --column_names out (select columns with --text_column/--label_column)"
        )


def read_jsonl(path: str) -> pd.DataFrame:
    """A JSON Lines file: one object per line, values keeping their JSON types; blank lines skipped and counted.

    Lines are counted by ``\\n`` as an editor does (a JSON string cannot hold a raw line break, so
    a record never spans lines). A key missing on some lines is ``None`` on those rows.
    """
    with data.readable(path), data.open_text(path) as handle:
        text = handle.read()
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another one
    decoder = json.JSONDecoder(object_pairs_hook=_unique_keys)
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    blank = 0
    for number, line in enumerate(lines, start=1):
        record = _parse_line(path, number, line, decoder)
        if record is None:
            blank += 1
            continue
        records.append(record)
        numbers.append(number)
    if not records:
        what = "has only blank lines" if lines else "the file is empty"
        raise TaskError(f'{path}: {what}; it needs one JSON object per line, e.g. {{"text": "...", "label": "..."}}')
    if blank:
        logger.warning("%s: skipped %d blank line(s)", path, blank)
    keys = list(dict.fromkeys(key for record in records for key in record))
    columns = {key: [record.get(key) for record in records] for key in keys}
    return _frame(path, columns, np.asarray(numbers, dtype=np.int64))


class _RepeatedKey(ValueError):
    """A key given twice in one JSON object: json keeps the last value and drops the first."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        raise _RepeatedKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return record


def _parse_line(path: str, number: int, line: str, decoder: json.JSONDecoder) -> dict[str, Any] | None:
    """The object on one line, ``None`` for a blank line (also one of only invisible characters), or the error."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        value = decoder.decode(stripped)
    except _RepeatedKey as error:
        raise TaskError(
            f"{path} line {number}: key {str(error)!r} appears twice in one object, and JSON keeps only the last "
            f"value: {_excerpt(stripped)}; remove or rename one of them"
        ) from None
    except json.JSONDecodeError as error:
        visible = stripped.strip(data.invisible_characters())
        if visible != stripped:  # zero-width marks or a BOM around the object (files joined with cat)
            return _parse_line(path, number, visible, decoder) if visible else None
        raise TaskError(_json_error_message(path, number, stripped, error)) from None
    if not isinstance(value, dict):
        raise TaskError(_not_object_message(path, number, stripped, value))
    return value


def _excerpt(line: str) -> str:
    """A line as a quoted one-line string, cut to ``EXCERPT_CHARS`` characters."""
    return repr(line if len(line) <= EXCERPT_CHARS else line[:EXCERPT_CHARS] + "...")


def _json_error_message(path: str, number: int, line: str, error: json.JSONDecodeError) -> str:
    """Where a line stops being JSON, and the likely cause: a JSON array file, a pretty-printed object, two objects."""
    fix = 'write one JSON object per line, e.g. {"text": "...", "label": "..."}'
    if line in ("[", "{") or (number == 1 and line.startswith("[")):
        fix = (
            "the file looks like one JSON document spread over many lines, not JSON Lines: write one object per "
            "line (e.g. pandas to_json(orient='records', lines=True))"
        )
    elif error.msg == "Extra data":
        fix = "a line holds more than one JSON value (two records on one line?): put each object on its own line"
    return f"{path} line {number}: not valid JSON ({error.msg} at character {error.colno}): {_excerpt(line)}; {fix}"


def _not_object_message(path: str, number: int, line: str, value: object) -> str:
    kinds = {list: "a JSON array", str: "a JSON string", bool: "a JSON true/false", type(None): "JSON null"}
    kind = kinds.get(type(value), "a JSON number")
    hint = ""
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        hint = " (records in one array: write each record on its own line instead)"
    return (
        f"{path} line {number}: {kind}, not an object{hint}: {_excerpt(line)}; write one JSON object per line, "
        'e.g. {"text": "...", "label": "..."}'
    )


def read_parquet(path: str) -> pd.DataFrame:
    """A Parquet file (or a whole Parquet file gzipped) with values as Python objects; rows numbered from 1.

    pandas would turn an int column with nulls into floats and list cells into numpy arrays;
    Arrow's ``to_pylist`` keeps ints, lists and ``None`` as they were written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    with data.readable(path):
        if data.is_gzip(path):
            with gzip.open(path, "rb") as handle:
                source: Any = pa.BufferReader(handle.read())
        else:
            source = path
        try:
            table = pq.read_table(source)
        except (pa.ArrowException, OSError, ValueError) as error:
            reason = (str(error).splitlines() or [type(error).__name__])[0][:200]
            raise TaskError(
                f"{path}: not a Parquet file, or a damaged one ({reason}); write it again (e.g. DataFrame.to_parquet) "
                "or, if it is CSV, TSV or JSON Lines, pass --file_format"
            ) from None
    table = _without_pandas_index(path, table)
    _check_names(path, table.column_names)
    if table.num_rows == 0:
        raise TaskError(f"{path}: has the columns {table.column_names} but no rows; add rows or leave this file out")
    labels = _parquet_class_labels(table)
    columns = {}
    for index, name in enumerate(table.column_names):
        values = table.column(index).to_pylist()
        columns[name] = _label_names(values, labels[name], path, name, first_row=1) if name in labels else values
    return _frame(path, columns, np.arange(1, table.num_rows + 1, dtype=np.int64))


def _parquet_class_labels(table: Any) -> dict[str, tuple[str, ...]]:
    """ClassLabel names of a Parquet file written by ``datasets`` (``Dataset.to_parquet``, the Hub's Parquet
    exports): its features are kept in the schema's ``huggingface`` metadata. Without them the labels would
    be the ids ``0``, ``1``, ... and the model would say ``1`` where the data says ``positive``."""
    if b"huggingface" not in (table.schema.metadata or {}):
        return {}
    from datasets import Features

    try:
        features = Features.from_arrow_schema(table.schema)
    except (ValueError, TypeError, KeyError) as error:  # metadata written by another version, or edited
        logger.warning("Parquet file: its datasets features could not be read (%s); class ids are kept as ids", error)
        return {}
    return _class_labels(features)


def _without_pandas_index(path: str, table: Any) -> Any:
    """The table without the unnamed index pandas stores (``__index_level_0__``): a row position, not data."""
    metadata = table.schema.pandas_metadata or {}
    stored = [name for name in metadata.get("index_columns", []) if isinstance(name, str)]
    unnamed = [name for name in stored if name.startswith("__index_level_") and name in table.column_names]
    if unnamed:
        logger.info("%s: left out pandas' unnamed index column(s) %s", path, unnamed)
        table = table.drop_columns(unnamed)
    return table


def _check_names(path: str, names: Sequence[str]) -> None:
    """Column names must be unique and not the frame's own bookkeeping columns (either would lose values)."""
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise TaskError(f"{path}: column name(s) {repeated} appear more than once; rename or remove the copies")
    reserved = [name for name in names if name in (data.SOURCE_COLUMN, data.ROW_COLUMN)]
    if reserved:
        raise TaskError(f"{path}: column name(s) {reserved} are reserved for file and row numbers; rename them")


def _frame(source: str, columns: dict[str, list[Any]], rows: np.ndarray) -> pd.DataFrame:
    """Object columns (values as given: str, int, list, None) plus the source and place columns."""
    _check_names(source, list(columns))
    frame = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})
    if not columns:
        frame = pd.DataFrame(index=pd.RangeIndex(len(rows)))
    frame[data.SOURCE_COLUMN] = source
    frame[data.ROW_COLUMN] = rows
    return frame


# ---------------------------------------------------------------------------------------------- datasets


def saved_kind(folder: str) -> str | None:
    """``"dict"`` or ``"dataset"`` for a folder written by ``DatasetDict``/``Dataset.save_to_disk``, else ``None``."""
    if os.path.isfile(os.path.join(folder, DATASET_DICT_FILE)):
        return "dict"
    if all(os.path.isfile(os.path.join(folder, name)) for name in DATASET_FILES):
        return "dataset"
    return None


def is_dataset_repository(folder: str) -> bool:
    """A local copy of a Hub dataset repository (``git clone``, ``hf download --repo-type dataset``): a dataset
    card whose YAML header declares its configs or features. ``load_dataset`` reads it as it reads the Hub
    (splits from the card or the file names, ``ClassLabel`` names from the declared features), offline."""
    card = os.path.join(folder, "README.md")
    if saved_kind(folder) is not None or not os.path.isfile(card):
        return False
    with open(card, encoding="utf-8", errors="replace") as handle:
        header = handle.read(65536)
    if not header.startswith("---"):
        return False
    front = header.split("---", 2)[1] if header.count("---") >= 2 else ""
    return any(line.startswith(("configs:", "dataset_info:")) for line in front.splitlines())


def _not_saved_message(folder: str) -> str:
    return (
        f"{folder}: is a folder, but not one written by save_to_disk (it has neither {DATASET_DICT_FILE} nor "
        f"{' and '.join(DATASET_FILES)}); pass its data files with --data_files/--train_file, or a save_to_disk "
        "folder with --dataset_name"
    )


def _saved_split_names(folder: str) -> list[str]:
    try:
        with open(os.path.join(folder, DATASET_DICT_FILE), encoding="utf-8") as handle:
            return [str(name) for name in json.load(handle).get("splits", [])]
    except (OSError, ValueError, AttributeError):
        return []


def _read_folder(folder: str) -> pd.DataFrame:
    """A ``Dataset.save_to_disk`` folder given as a data file: its rows, ClassLabel values as names."""
    kind = saved_kind(folder)
    if kind == "dict":
        raise TaskError(
            f"{folder}: holds the splits {_saved_split_names(folder)}; pass it as --dataset_name {folder} "
            "(a DatasetDict saved with save_to_disk is a dataset, not a data file)"
        )
    if kind is None:
        raise TaskError(_not_saved_message(folder))
    dataset = _load_from_disk(folder)
    return _dataset_frame(dataset, folder)


def _load_from_disk(folder: str) -> Any:
    from datasets import load_from_disk

    try:
        return load_from_disk(folder)
    except Exception as error:  # a damaged or partly copied folder: arrow, json and file errors alike
        raise TaskError(
            f"{folder}: cannot load the save_to_disk folder ({type(error).__name__}: {_first_line(error)}); "
            "save it again, or copy the whole folder"
        ) from None


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]


def read_dataset(
    name: str, *, config_name: str | None = None, revision: str | None = None, cache_dir: str | None = None
) -> DatasetSplits:
    """A Hub dataset (or a local copy of its repository) or a local ``save_to_disk`` folder (a single
    ``Dataset`` becomes the split ``train``).

    Local folders are recognised first: ``load_dataset`` would read a DatasetDict folder's Arrow
    files as raw data files and any other folder as a folder of files, both silently wrong here.
    """
    if os.path.isdir(name) and not is_dataset_repository(name):
        kind = saved_kind(name)
        if kind is None:
            raise TaskError(_not_saved_message(name))
        loaded = _load_from_disk(name)
        splits = dict(loaded.items()) if kind == "dict" else {"train": loaded}
        return _dataset_splits(splits, name)
    if os.path.isfile(name):
        raise TaskError(
            f"{name}: is a file; --dataset_name takes a Hub dataset id or a save_to_disk folder: pass files with "
            "--data_files/--train_file"
        )
    origin = name + (f":{config_name}" if config_name else "") + (f"@{revision}" if revision else "")
    from datasets import load_dataset

    try:
        loaded = load_dataset(name, config_name, revision=revision, cache_dir=cache_dir)
    except Exception as error:  # the datasets library raises many types for "cannot reach the Hub"
        raise TaskError(
            f"cannot load Hub dataset {origin!r} ({type(error).__name__}: {_first_line(error)}). Offline? Pass local "
            "files with --data_files/--train_file, or a save_to_disk folder with --dataset_name"
        ) from None
    return _dataset_splits(dict(loaded.items()), origin)


def _dataset_splits(splits: dict[str, Dataset], origin: str) -> DatasetSplits:
    frames = {split: _dataset_frame(dataset, f"{origin}[{split}]") for split, dataset in splits.items()}
    class_names: dict[str, tuple[str, ...]] = {}
    for dataset in splits.values():
        for column, names in _class_labels(dataset.features).items():
            class_names.setdefault(column, names)
    return DatasetSplits(frames=frames, class_names=class_names, origin=origin)


def _class_labels(features: Any) -> dict[str, tuple[str, ...]]:
    """ClassLabel columns, and list columns of ClassLabel, with their names in id order (``datasets.Features``)."""
    from datasets import ClassLabel

    found = {}
    for column, feature in features.items():
        inner = feature if isinstance(feature, ClassLabel) else getattr(feature, "feature", None)
        if isinstance(inner, ClassLabel):
            found[column] = tuple(inner.names)
    return found


def _dataset_frame(dataset: Dataset, source: str) -> pd.DataFrame:
    """A split's rows as Python values, ClassLabel ids turned into names; rows numbered from 0 as ``datasets`` does."""
    table = dataset.with_format("arrow")[:]  # honours an indices mapping (select/shuffle) without copying
    labels = _class_labels(dataset.features)
    columns = {}
    for column in table.column_names:
        values = table.column(column).to_pylist()
        if column in labels:
            values = _label_names(values, labels[column], source, column)
        columns[column] = values
    return _frame(source, columns, np.arange(len(table), dtype=np.int64))


def _label_names(values: list[Any], names: tuple[str, ...], source: str, column: str, first_row: int = 0) -> list[Any]:
    """Ids (or lists of ids) as names; -1, "no label", becomes ``None``; any other id outside the names is an error.

    ``first_row``: the number of the first row in messages (0 for ``datasets``, 1 for a Parquet file's rows)."""
    lookup: dict[Any, Any] = dict(enumerate(names))
    lookup[NO_LABEL] = None
    lookup[None] = None

    def name(value: Any, row: int) -> Any:
        try:
            return lookup[value]
        except (KeyError, TypeError):
            raise TaskError(
                f"{source} row {row}: column {column!r} holds the class id {value!r}, but its ClassLabel has "
                f"{len(names)} names {list(names)}; fix the id (or -1 for no label) or the dataset's features"
            ) from None

    return [
        [name(item, row) for item in value] if isinstance(value, list) else name(value, row)
        for row, value in enumerate(values, start=first_row)
    ]
