"""Reading texts to classify: CSV/TSV (a column), JSON Lines or plain text, plain or gzipped, or standard input.

Every input row is one text, empty ones included, so every output row matches an input row. A
sentence-pair model reads two columns (or keys) per row; plain text, one text a line, cannot hold
a pair and is refused for it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

import pandas as pd

from tasks import TaskError
from tasks.data import ZIP_MAGIC, is_gzip, open_text, readable

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


CSV_SEPARATORS = {".csv": ",", ".tsv": "\t"}


GZIP_MAGIC = b"\x1f\x8b"


def _format_name(path: str) -> str:
    name = path.lower()
    return name[: -len(".gz")] if name.endswith(".gz") else name


def check_input(path: str) -> None:
    """The input must be a readable data file: checked before the model is loaded, so a typo fails at once.

    A ``.gz`` name whose bytes are not gzip (a file cut to a byte or two, or never compressed) would
    otherwise be read as plain text and classified as garbage rows.
    """
    if path == "-":
        return
    if not os.path.exists(path):
        raise TaskError(f"{path}: no such file; pass a CSV, JSON Lines or text file")
    if os.path.isdir(path):
        raise TaskError(f"{path}: is a folder; pass the CSV, JSON Lines or text file itself, or - for stdin")
    if not os.path.isfile(path):
        return  # a pipe (<(zcat ...)) or device: its first bytes can be read only once, by the reader
    with readable(path), open(path, "rb") as raw:
        magic = raw.read(4)
    if magic == ZIP_MAGIC:
        raise TaskError(f"{path}: is a zip archive (an .xlsx workbook?); export the sheet as CSV (UTF-8) and pass that")
    if path.lower().endswith(".gz") and magic[:2] != GZIP_MAGIC:
        what = "is empty" if not magic else "does not start as gzip data does"
        raise TaskError(f"{path}: named .gz but {what} (cut short or not compressed); compress or fetch it again")


def read_texts(path: str, text_column: str = "text") -> list[str]:
    """One text per input row, in order; blank rows become ``""`` (kept, so the output lines up)."""
    return read_columns(path, [text_column])[0]


def read_columns(path: str, columns: Sequence[str]) -> list[list[str]]:
    """One list per column (one text per input row each, in order): ``[texts]``, or ``[texts, text_pairs]``.

    Blank rows become ``""`` in every column (kept, so the output lines up). Plain text and standard
    input hold one text a line: read for one column whatever its name, refused for two.
    """
    columns = list(columns)
    if path == "-":
        _one_column_only("standard input", columns)
        return [_read_stdin()]
    check_input(path)
    name = _format_name(path)
    suffix = os.path.splitext(name)[1]
    with readable(path):  # not UTF-8, damaged gzip, permission denied: one line naming the file
        if suffix in CSV_SEPARATORS:
            return _read_csv(path, CSV_SEPARATORS[suffix], columns)
        if suffix in JSONL_SUFFIXES:
            return _read_jsonl(path, columns)
        _one_column_only(path, columns)
        with open_text(path) as handle:
            lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another one
    return [[line.removesuffix("\r") for line in lines]]


def _one_column_only(source: str, columns: Sequence[str]) -> None:
    """Plain text has one text a line: a pair model would get its first texts with empty partners."""
    if len(columns) > 1:
        raise TaskError(
            f"{source}: plain text holds one text a line, but the model classifies text pairs "
            f"({', '.join(columns)}); pass a CSV/TSV or JSON Lines file with both columns"
        )


def _column_hint(columns: Sequence[str]) -> str:
    """How to name other columns: the option with as many names as the model reads."""
    return "--text_column A B" if len(columns) > 1 else "--text_column NAME"


def _read_stdin() -> list[str]:
    try:
        return [line.rstrip("\r\n") for line in sys.stdin]
    except UnicodeDecodeError as error:
        raise TaskError(
            f"standard input: byte 0x{error.object[error.start : error.start + 1].hex()} is not UTF-8 text; "
            "convert it first (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def _read_csv(path: str, separator: str, columns: Sequence[str]) -> list[list[str]]:
    try:
        frame = pd.read_csv(
            path,
            sep=separator,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            compression="gzip" if is_gzip(path) else None,
        )
    except pd.errors.EmptyDataError:
        raise TaskError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as error:
        raise TaskError(
            f"{path}: cannot parse as {'tab' if separator == chr(9) else 'comma'}-separated: {error}"
        ) from None
    for column in columns:
        if column not in frame.columns:
            wanted = f" (the model reads {', '.join(map(repr, columns))})" if len(columns) > 1 else ""
            raise TaskError(
                f"{path}: no column {column!r}{wanted}; found {list(frame.columns)}; pass {_column_hint(columns)}"
            )
    return [frame[column].fillna("").astype(str).tolist() for column in columns]


def _read_jsonl(path: str, columns: Sequence[str]) -> list[list[str]]:
    texts: list[list[str]] = [[] for _ in columns]
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            for column, value in zip(texts, _jsonl_values(path, number, line, columns), strict=True):
                column.append(value)
    return texts


def _jsonl_values(path: str, number: int, line: str, columns: Sequence[str]) -> list[str]:
    """One JSON Lines row's texts: ``""`` each for a blank line, the string itself for a bare string (one column)."""
    if not line.strip():
        return [""] * len(columns)
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise TaskError(
            f"{path} line {number}: not valid JSON ({error.msg}); expected JSON Lines, one object per line"
        ) from None
    if isinstance(record, str):
        if len(columns) == 1:
            return [record]
        raise TaskError(
            f"{path} line {number}: a bare string is one text, but the model classifies text pairs "
            f"({', '.join(columns)}); write objects with both keys"
        )
    hint = "pass --text_column" if len(columns) == 1 else f"pass {_column_hint(columns)}"
    values = []
    for column in columns:
        if not isinstance(record, dict) or column not in record:
            found = list(record) if isinstance(record, dict) else type(record).__name__
            raise TaskError(f"{path} line {number}: no {column!r} key (found {found}); {hint}")
        value = record[column]
        if value is not None and not isinstance(value, str):
            raise TaskError(f"{path} line {number}: {column!r} must be a string, got {type(value).__name__}")
        values.append(value or "")
    return values
