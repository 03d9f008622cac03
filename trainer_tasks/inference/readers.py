"""Reading texts to classify: CSV/TSV (a column), JSON Lines or plain text, plain or gzipped, or standard input.

Every input row is one text, empty ones included, so every output row matches an input row."""

from __future__ import annotations

import json
import os
import sys

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
    if path == "-":
        return _read_stdin()
    check_input(path)
    name = _format_name(path)
    suffix = os.path.splitext(name)[1]
    with readable(path):  # not UTF-8, damaged gzip, permission denied: one line naming the file
        if suffix in CSV_SEPARATORS:
            return _read_csv(path, CSV_SEPARATORS[suffix], text_column)
        if suffix in JSONL_SUFFIXES:
            return _read_jsonl(path, text_column)
        with open_text(path) as handle:
            lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another one
    return [line.removesuffix("\r") for line in lines]


def _read_stdin() -> list[str]:
    try:
        return [line.rstrip("\r\n") for line in sys.stdin]
    except UnicodeDecodeError as error:
        raise TaskError(
            f"standard input: byte 0x{error.object[error.start : error.start + 1].hex()} is not UTF-8 text; "
            "convert it first (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def _read_csv(path: str, separator: str, text_column: str) -> list[str]:
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
    if text_column not in frame.columns:
        raise TaskError(f"{path}: no column {text_column!r}; found {list(frame.columns)}; pass --text_column NAME")
    return frame[text_column].fillna("").astype(str).tolist()


def _read_jsonl(path: str, text_column: str) -> list[str]:
    texts = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                texts.append("")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise TaskError(
                    f"{path} line {number}: not valid JSON ({error.msg}); expected JSON Lines, one object per line"
                ) from None
            if isinstance(record, str):
                texts.append(record)
                continue
            if not isinstance(record, dict) or text_column not in record:
                found = list(record) if isinstance(record, dict) else type(record).__name__
                raise TaskError(f"{path} line {number}: no {text_column!r} key (found {found}); pass --text_column")
            value = record[text_column]
            if value is not None and not isinstance(value, str):
                raise TaskError(f"{path} line {number}: {text_column!r} must be a string, got {type(value).__name__}")
            texts.append(value or "")
    return texts
