"""Reading, validating and splitting tabular text data: the shared half of every dataset builder.

Builders work on pandas frames because the real files are CSV/TSV (plain or gzipped) and pandas
reads 400k rows in about a second; they hand a ``DatasetDict`` to the Trainer at the end. Every
frame carries ``SOURCE_COLUMN`` and ``ROW_COLUMN`` (the line a person would open in an editor, exact
even when quoted fields span lines) until the split, so that any error can name the file and line.

Bad input is a ``TaskError`` naming the file, line, column and value and saying how to fix it;
rows are never dropped without a count in the log.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import logging
import os
import re
import unicodedata
import zlib
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from tasks.base import DataConfig, TaskError

logger = logging.getLogger(__name__)

SOURCE_COLUMN = "__source__"
ROW_COLUMN = "__row__"
SPLIT_COLUMN = "__split__"  # the split a row was given for (tasks.splits)
# What spreadsheets, pandas and R write for a missing value: as a text, it is a hole, not a headline.
MISSING_TEXT_MARKERS = frozenset(
    {"nan", "NaN", "NAN", "-nan", "None", "none", "null", "NULL", "NA", "N/A", "n/a", "#N/A", "<NA>"}
)
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
ZIP_MAGIC = b"PK\x03\x04"
# Unicode categories that draw nothing: format marks (zero-width space/joiners, BOM, word joiner,
# soft hyphen, ...), space and line/paragraph separators (NBSP, ideographic space), control codes.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Cc"})
# Fewer rows than this cannot be split into non-empty train, validation and test parts.
MIN_ROWS = 3
# Excel's first-line directive naming the delimiter ("sep=,"): not a header, not data.
SEP_DIRECTIVE = re.compile(r"sep=.", re.IGNORECASE)


@functools.cache
def invisible_characters() -> str:
    """Every code point of ``INVISIBLE_CATEGORIES`` (about 250), found once per process.

    Taken from ``unicodedata`` rather than written out so that a new Unicode version's format
    characters are covered without anyone editing a list.
    """
    return "".join(char for char in map(chr, range(0x110000)) if unicodedata.category(char) in INVISIBLE_CATEGORIES)


def visible_text(values: pd.Series) -> pd.Series:
    """``values`` as text without the invisible characters at either end.

    A text made only of zero-width marks, BOMs or odd spaces shows as blank in every editor, so it
    must count as blank too. ``str.strip`` handles whitespace in vectorised code; only the rare
    values that still start or end with an invisible character take the slow per-value strip.
    """
    stripped = values.astype(str).str.strip()
    invisible = list(invisible_characters())
    edges = (stripped.str[:1].isin(invisible) | stripped.str[-1:].isin(invisible)).fillna(False).to_numpy(bool)
    if edges.any():
        stripped = stripped.copy()
        stripped.loc[edges] = stripped.loc[edges].map(lambda text: text.strip(invisible_characters()))
    return stripped


def is_blank(values: pd.Series) -> np.ndarray:
    """Values that show nothing: missing, empty, or only invisible characters."""
    return (values.isna() | (visible_text(values) == "")).to_numpy(bool)


def is_gzip(path: str) -> bool:
    with open(path, "rb") as raw:
        return raw.read(2) == b"\x1f\x8b"


def open_text(path: str):
    """Open a plain or gzipped text file as UTF-8 text (detected by magic bytes, not the name)."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


@contextlib.contextmanager
def readable(path: str) -> Iterator[None]:
    """Turn the ways a data file fails to decode into one-line errors that name the file."""
    try:
        yield
    except UnicodeDecodeError:
        raise TaskError(_not_utf8_message(path)) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise TaskError(f"{path}: gzip data damaged or cut short ({error}); compress or fetch it again") from None
    except OSError as error:
        raise TaskError(f"{path}: cannot read the file ({error.strerror or error})") from None


def first_line(path: str) -> str:
    """The first line of a file, to tell layouts apart (header or not, comma or tab)."""
    check_file(path)
    with readable(path), open_text(path) as handle:
        return handle.readline()


def header_line(path: str) -> tuple[int, str]:
    """The first line that shows any text, and its line number; ``(0, "")`` for a file with none.

    Layouts are told apart by this line rather than by line 1, so that blank lines (or a stray
    BOM) above the header do not make a good file look like an unknown layout.
    """
    check_file(path)
    with readable(path), open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip(invisible_characters())
            if text and not (number == 1 and SEP_DIRECTIVE.fullmatch(text)):
                return number, line.rstrip("\r\n")
    return 0, ""


def has_sep_directive(path: str) -> bool:
    """Whether line 1 is Excel's ``sep=,`` directive, which ``header_line`` steps over."""
    return SEP_DIRECTIVE.fullmatch(first_line(path).strip(invisible_characters())) is not None


def no_text_message(path: str) -> str:
    """What to say about a file with no line of text: empty, or blank lines only (told apart)."""
    with readable(path), open_text(path) as handle:
        anything = handle.read(1)
    what = "has only blank lines" if anything else "the file is empty"
    if anything and has_sep_directive(path):
        what = "has only Excel's sep= line and blank lines"
    return f"{path}: {what}; it needs a header line and data rows"


def check_file(path: str) -> None:
    if not os.path.exists(path):
        raise TaskError(f"{path}: no such file; pass an existing file with --data_files")
    if os.path.isdir(path):
        raise TaskError(f"{path}: is a folder; pass the data file itself with --data_files")
    with open(path, "rb") as raw:
        magic = raw.read(4)
    if magic == ZIP_MAGIC:
        raise TaskError(f"{path}: is a zip archive (an .xlsx workbook?); export the sheet as CSV (UTF-8) and pass that")


def _not_utf8_message(path: str) -> str:
    fix = "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 IN > OUT)"
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if number == 1 and line[:2] in (b"\xff\xfe", b"\xfe\xff"):
                    return (
                        f"{path}: is UTF-16 text (a spreadsheet's 'Unicode text' export?); re-save the file as UTF-8 "
                        "(e.g. iconv -f utf-16 -t utf-8 IN > OUT)"
                    )
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as error:
                    byte = line[error.start : error.start + 1].hex()
                    return (
                        f"{path} line {number}: byte 0x{byte} at character {error.start + 1} is not UTF-8 text; {fix}"
                    )
    except (OSError, EOFError, zlib.error) as error:  # a damaged gzip stream after the bad bytes
        return f"{path}: not UTF-8 text, and the gzip data is damaged ({error}); {fix}"
    return f"{path}: not UTF-8 text; {fix}"


def delimiter_hint(header: str, expected: str) -> str:
    """A sentence naming the delimiter a header really uses, when it is not ``expected``."""
    counts = {sep: header.count(sep) for sep in DELIMITERS if sep != expected}
    sep, count = max(counts.items(), key=lambda item: item[1])
    if count == 0 or count <= header.count(expected):
        return ""
    return (
        f" The header looks {DELIMITERS[sep]}-separated, not {DELIMITERS[expected]}-separated: "
        f"re-save the file {DELIMITERS[expected]}-separated."
    )


def _parser_message(path: str, error: pd.errors.ParserError, sep: str) -> str:
    text = str(error).strip()
    name = DELIMITERS.get(sep, repr(sep))
    if "Expected" in text and "fields in line" in text:
        words = text.split()
        expected, line, saw = words[words.index("Expected") + 1], words[-3].rstrip(","), words[-1]
        hint = delimiter_hint(header_line(path)[1], sep) if expected == "1" else ""
        return (
            f"{path} line {line}: {saw} {name}-separated fields where the header has {expected}; a field that "
            f"contains a {name} must be in double quotes (or the file uses another delimiter).{hint}"
        )
    if "EOF inside string" in text:
        row = int(text.split()[-1]) if text.split()[-1].isdigit() else 0
        return (
            f"{path} near line {row + 1}: a double quote opens a field that never closes; close it, or write a "
            'quote inside a field as two quotes ("")'
        )
    return f"{path}: cannot parse as {name}-separated text: {text}"


def _record_lines(frame: pd.DataFrame) -> np.ndarray:
    """The editor line each record starts on: record number plus the newlines inside earlier records."""
    newlines = np.zeros(len(frame), dtype=np.int64)
    for column in frame.columns:
        values = frame[column]
        inside = values.str.contains("\n", regex=False)
        if inside.any():
            newlines += np.where(inside, values.str.count("\n"), 0)
    return 1 + np.arange(len(frame)) + np.concatenate([[0], np.cumsum(newlines)[:-1]])


def read_table(
    path: str,
    *,
    sep: str = ",",
    header: bool = True,
    names: Sequence[str] | None = None,
    quoting: int = csv.QUOTE_MINIMAL,
    repeated_names: bool = False,
) -> pd.DataFrame:
    """Read a CSV/TSV file (plain or gzipped) into strings, with file and line columns added.

    A header naming one column twice is an error, unless ``repeated_names``: builders that take
    their columns with ``select_columns`` allow it, as that refuses a repeated column it reads and
    leaves the others out.

    Every column is read as text: labels are validated by the builder, which can then say which
    row holds a bad value instead of pandas guessing a dtype. The header is read as a data row so
    that a row with more fields than the header is an error (pandas would otherwise silently turn
    the first column into an index), and blank lines are kept until counted, so line numbers match
    the file.
    """
    first, _ = header_line(path)  # also checks that the file exists and decodes
    if not first:
        raise TaskError(no_text_message(path))
    raw = _read_raw(path, sep, quoting, skip=first - 1)
    lines = first + _record_lines(raw) - 1
    blank = _blank_rows(raw, raw.shape[1])
    if header:
        columns = [str(column).strip() for column in raw.iloc[0]]
        raw, lines, blank = raw.iloc[1:], lines[1:], blank[1:]
        if blank.all():
            raise TaskError(
                f"{path}: has a header but no data rows; add rows below the header (line {first}), or leave "
                "this file out of --data_files"
            )
    else:
        columns = list(names) if names is not None else [str(i) for i in range(raw.shape[1])]
        if len(columns) != raw.shape[1]:
            raise TaskError(
                f"{path} line {first}: {raw.shape[1]} fields, expected {len(columns)} ({', '.join(columns)})"
            )
    named = [column for column in columns if column]
    repeated = sorted({column for column in named if named.count(column) > 1})
    if repeated and not repeated_names:
        raise TaskError(
            f"{path} line {first}: column name(s) {repeated} appear more than once; rename or remove the copies"
        )
    frame = raw.reset_index(drop=True)
    frame.columns = columns
    frame[SOURCE_COLUMN] = path
    frame[ROW_COLUMN] = lines
    directive = first > 1 and has_sep_directive(path)
    if directive:
        logger.info("%s: skipped line 1, Excel's delimiter directive %r", path, first_line(path).strip())
    blank_count = first - 1 - directive + int(blank.sum())
    if blank_count:
        logger.warning("%s: skipped %d blank line(s)", path, blank_count)
        frame = frame.loc[~blank].reset_index(drop=True)
    return frame


def _read_raw(path: str, sep: str, quoting: int, skip: int) -> pd.DataFrame:
    """Every field as a string, from line ``skip + 1`` on (blank lines above the header are skipped:
    pandas finds no columns in a file that starts with one)."""
    with readable(path):
        try:
            return pd.read_csv(
                path,
                sep=sep,
                header=None,
                dtype=str,
                na_filter=False,
                skip_blank_lines=False,
                skiprows=skip,
                quoting=quoting,
                compression="gzip" if is_gzip(path) else None,
                encoding="utf-8",
                engine="c",
            )
        except pd.errors.EmptyDataError:
            raise TaskError(no_text_message(path)) from None
        except pd.errors.ParserError as error:
            raise TaskError(_parser_message(path, error, sep)) from None


def _blank_rows(frame: pd.DataFrame, width: int) -> np.ndarray:
    """Rows whose every field shows nothing (blank lines), checked column by column on candidates only."""
    blank = np.ones(len(frame), dtype=bool)
    for index in range(width):
        candidates = np.flatnonzero(blank)
        if len(candidates) == 0:
            break
        blank[candidates] = is_blank(frame.iloc[candidates, index])
    return blank


PARQUET_MAGIC = b"PAR1"


def place_word(source: object) -> str:
    """``line`` when a place in ``source`` is a line an editor shows (a CSV, TSV or JSON Lines file), else ``row``.

    Told by the bytes rather than the name, since a file named ``.txt`` may be read as CSV
    (--file_format): Parquet files (plain or gzipped), folders and ``dataset[split]`` have rows.
    """
    path = str(source)
    if not os.path.isfile(path):
        return "row"
    return "row" if is_parquet(path) else "line"


def is_parquet(path: str) -> bool:
    """Whether the file holds Parquet data (gzipped or not): it starts with the Parquet magic bytes."""
    try:
        if is_gzip(path):
            with gzip.open(path, "rb") as handle:
                return handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
        with open(path, "rb") as raw:
            return raw.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
    except (OSError, EOFError, zlib.error):
        return False


def where(frame: pd.DataFrame, mask: pd.Series | np.ndarray, limit: int = 3) -> str:
    """``file line N`` for the first rows selected by ``mask``; ``file row N`` for Parquet files, save_to_disk
    folders and Hub data (``dataset[split] row N``), which have no lines an editor shows."""
    rows = frame.loc[np.asarray(mask)].head(limit)
    words = {source: place_word(source) for source in pd.unique(rows[SOURCE_COLUMN])}
    places = [
        f"{source} {words[source]} {row}" for source, row in zip(rows[SOURCE_COLUMN], rows[ROW_COLUMN], strict=True)
    ]
    more = int(np.asarray(mask).sum()) - len(places)
    return ", ".join(places) + (f" (and {more} more)" if more > 0 else "")


def data_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in (SOURCE_COLUMN, ROW_COLUMN, SPLIT_COLUMN)]


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: str, layout: str, sep: str = ",") -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise TaskError(missing_columns_message(path, missing, data_columns(frame), f"the {layout} layout", sep))


def missing_columns_message(path: str, missing: Sequence[str], found: Sequence[str], needs: str, sep: str = ",") -> str:
    """One line naming the file, the header's line, what is missing, what the header has and the fix."""
    return (
        f"{path}{header_place(path)}: missing column(s) {list(missing)} for {needs}; found columns {list(found)}. "
        f"Add or rename the header field(s).{delimiter_hint(sep.join(found), sep)}"
    )


def header_place(path: str) -> str:
    """`` line N`` of a data file's header (after any blank lines), nothing for a Hub dataset."""
    if not os.path.isfile(path):
        return ""
    return f" line {header_line(path)[0] or 1}"


def column_key(name: object) -> str:
    """How header names are compared: ``" Title "``, ``"title"`` and ``"TITLE"`` name one column.

    Exports differ in case and pad names with spaces (or a stray BOM); none of that changes what a
    person means by the name, so the builders look columns up by this key, never by position.
    """
    return str(name).strip(invisible_characters()).strip("\"'").strip(invisible_characters()).casefold()


def header_names(line: str, sep: str) -> list[str]:
    """The fields of a header line split by ``sep`` (quotes honoured), for telling layouts apart."""
    return next(csv.reader([line], delimiter=sep), [])


def find_column(frame: pd.DataFrame, name: str, path: str) -> str | None:
    """The frame's own spelling of column ``name`` (matched by ``column_key``), or None.

    Two header fields that both mean ``name`` are an error: picking one would silently train on
    whichever came first.
    """
    key = column_key(name)
    spellings = [column for column in data_columns(frame) if column_key(column) == key]
    if len(set(spellings)) == 1 and len(spellings) > 1:
        raise TaskError(
            f"{path}{header_place(path)}: column {spellings[0]!r} appears {len(spellings)} times; rename or remove "
            "all but one"
        )
    if len(spellings) > 1:
        raise TaskError(
            f"{path}{header_place(path)}: columns {spellings} all name {name!r} (header names are matched "
            "ignoring case and surrounding spaces); rename or remove all but one"
        )
    return spellings[0] if spellings else None


def select_columns(
    frame: pd.DataFrame,
    required: Sequence[str],
    path: str,
    needs: str,
    *,
    optional: Sequence[str] = (),
    sep: str = ",",
) -> pd.DataFrame:
    """The columns a builder reads, found by header name in any order and renamed to ``required``'s
    spelling; every other column is left out, so files with different extra columns pool cleanly.

    A missing required column is one error naming the file, all missing columns and the ones found.
    """
    spelled = {name: find_column(frame, name, path) for name in (*required, *optional)}
    missing = [name for name in required if spelled[name] is None]
    if missing:
        raise TaskError(missing_columns_message(path, missing, data_columns(frame), needs, sep))
    chosen = {column: name for name, column in spelled.items() if column is not None}
    kept = [column for column in (SOURCE_COLUMN, ROW_COLUMN, SPLIT_COLUMN) if column in frame.columns]
    return frame[[*chosen, *kept]].rename(columns=chosen)


def check_texts(frame: pd.DataFrame, column: str = "text", shown_as: str | None = None) -> None:
    """Empty or missing texts are an error: a blank training example is a data bug, not noise.

    A text that shows nothing (spaces, zero-width marks, BOMs: see ``visible_text``) is empty, and
    one that is only a missing-value marker (``NaN``, ``None``, ``NULL``, ...) is what a
    spreadsheet or ``DataFrame.to_csv`` writes for a hole, so it counts as missing too.
    """
    text = visible_text(frame[column])
    empty = frame[column].isna() | (text == "") | text.isin(MISSING_TEXT_MARKERS)
    if empty.any():
        # what an editor would hide: '' for spaces, the marks themselves for zero-width ones
        raw, shown = frame[column][empty].iloc[0], text[empty].iloc[0]
        shown = "" if pd.isna(raw) else shown or str(raw).strip()
        raise TaskError(
            f"column {shown_as or column!r} has no text (found {shown!r}) at {where(frame, empty)}: "
            "fill in or remove those rows"
        )


def sources(frame: pd.DataFrame, limit: int = 5) -> str:
    """The files (or Hub splits) the rows of ``frame`` came from, for messages about all of them."""
    names = [str(name) for name in pd.unique(frame[SOURCE_COLUMN])] if SOURCE_COLUMN in frame else []
    more = len(names) - limit
    return (", ".join(names[:limit]) or "the data") + (f" (and {more} more)" if more > 0 else "")


def drop_long_texts(frame: pd.DataFrame, max_chars: int | None, column: str = "text") -> pd.DataFrame:
    """Keep texts shorter than ``max_chars`` characters, logging how many were dropped.

    When the rule leaves too few rows to split, the error says so here, naming the files and the
    count per file, rather than leaving a later step to report rows missing for no stated reason.
    """
    if max_chars is None:
        return frame
    keep = (frame[column].str.len() < max_chars).to_numpy(bool)
    dropped = int((~keep).sum())
    log = logger.warning if dropped else logger.info
    log("dropped %d of %d texts with %d+ characters (--max_text_chars %d)", dropped, len(frame), max_chars, max_chars)
    if dropped and keep.sum() < MIN_ROWS:
        per_file = frame.loc[~keep, SOURCE_COLUMN].value_counts(sort=False)
        counts = ", ".join(f"{source}: {count}" for source, count in per_file.items())
        raise TaskError(
            f"{sources(frame)}: only {int(keep.sum())} rows are left after reading and cleaning: --max_text_chars "
            f"{max_chars} dropped {dropped} of {len(frame)} texts with {max_chars}+ characters ({counts}); "
            f"splitting into train/validation/test needs at least {MIN_ROWS}: raise --max_text_chars or provide "
            "shorter texts"
        )
    return frame.loc[keep]


def check_unique_ids(frame: pd.DataFrame, column: str) -> None:
    """Repeated ids mean a file was passed twice or rows were copied: both leak rows across splits.

    Rows without an id (blank, or from a pooled file that has no id column) are not compared.
    """
    values = visible_text(frame[column])
    duplicated = values.duplicated(keep=False) & (values != "") & frame[column].notna()
    if duplicated.any():
        example = values[duplicated].iloc[0]
        raise TaskError(
            f"column {column!r} repeats the value {example!r} (and maybe others) at {where(frame, duplicated)}: "
            f"each row needs its own {column}; remove the repeated rows or pass each file only once"
        )


def _binary_hint(values: pd.Series) -> str:
    """Why a label column holds other values than 0/1, when the values tell it."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.between(0, 1, inclusive="neither").any():
        return (
            " (values between 0 and 1 look like shares of annotators, as in Jigsaw's unintended-bias data: "
            "turn them into 0/1 first, e.g. 1 where >= 0.5)"
        )
    if (numbers == -1).any():
        return " (-1 marks comments Kaggle did not score, as in test_labels.csv: remove those rows)"
    return ""


def parse_binary_columns(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The 0/1 label columns as a float32 matrix; any other value is an error naming its row.

    Any spelling of the numbers 0 and 1 is accepted (``1.0``, ``0.00``, ``1e0``: what a float column
    written by pandas or a spreadsheet looks like), and ``True``/``False`` (a bool column written
    by pandas); 0.5 or -1 are not labels, and the error says what they probably are.
    """
    matrix = np.zeros((len(frame), len(columns)), dtype=np.float32)
    for index, column in enumerate(columns):
        values = visible_text(frame[column])
        lowered = values.str.lower().replace({"true": "1", "false": "0"})
        numbers = pd.to_numeric(lowered, errors="coerce")
        bad = (~numbers.isin([0, 1])).to_numpy(bool)
        if bad.any():
            example = values[bad].iloc[0]
            raise TaskError(
                f"column {column!r} must hold 0 or 1 (multi-label: one column per label), found {example!r} at "
                f"{where(frame, bad)}{_binary_hint(values[bad])}: set it to 0 or 1, or remove those rows"
            )
        matrix[:, index] = numbers.to_numpy(dtype=np.float32)
    return matrix


def parse_labels(
    frame: pd.DataFrame, column: str, labels: Sequence[str], aliases: Mapping[str, str] | None = None
) -> np.ndarray:
    """Class ids of a single-label column holding label names (or ``aliases`` of them, such as UCI's
    one-letter codes), in any case (``B``, ``Business``); a value outside the task's classes is an
    error naming its rows."""
    lookup = {name.casefold(): index for index, name in enumerate(labels)}
    lookup.update({alias.casefold(): lookup[name.casefold()] for alias, name in (aliases or {}).items()})
    values = visible_text(frame[column])
    ids = values.str.casefold().map(lookup)
    bad = ids.isna().to_numpy()
    if bad.any():
        allowed = ", ".join(f"{alias} ({name})" for alias, name in (aliases or {}).items()) or ", ".join(labels)
        example = values[bad].iloc[0]
        again = column_key(example) == column_key(column)
        raise TaskError(
            f"column {column!r} must hold one of the task's classes [{allowed}], found {example!r} "
            f"at {where(frame, bad)}: "
            + (
                "that line repeats the header (files joined with cat?): remove it"
                if again
                else "correct or remove those rows"
            )
        )
    return ids.to_numpy(dtype=np.int64)


def check_classes(
    frame: pd.DataFrame,
    labels: np.ndarray,
    label_names: Sequence[str],
    dropped: str = "",
    *,
    evaluation: bool = False,
) -> None:
    """Refuse data whose labels leave nothing to learn, before the split hides why training is useless.

    Single-label (``labels`` are class ids): every row has one class. Multi-label (``labels`` is a
    0/1 matrix): every row has the same label set, e.g. no label set anywhere. Rare classes are
    fine here; the engine warns when a class is missing from the training split. ``dropped`` says
    what cleaning removed (``long_texts_note``), as it may have removed the other classes. Nothing is
    refused in ``evaluation`` (``DataConfig.evaluation``): a file of one class scores a trained model fine.
    """
    if evaluation or len(labels) < MIN_ROWS:
        return  # too few rows to split at all: split_frame says so
    problem = _one_class(labels, label_names) if labels.ndim == 1 else _one_label_set(labels, label_names)
    if problem:
        left = f"after reading and cleaning ({dropped})" if dropped else "after reading and cleaning"
        also = ", or raise --max_text_chars" if dropped else ""
        raise TaskError(f"{sources(frame)}: all {len(labels)} rows left {left} {problem}{also}")


def _one_class(labels: np.ndarray, label_names: Sequence[str]) -> str:
    """What is wrong when every row has one class ("" when there are 2+), and the fix."""
    counts = np.bincount(labels, minlength=len(label_names))
    if np.count_nonzero(counts) > 1:
        return ""
    found = ", ".join(f"{name} {count}" for name, count in zip(label_names, counts, strict=True))
    return (
        f"have the class {label_names[int(np.argmax(counts))]!r} (class counts: {found}); a classifier needs rows "
        "of at least 2 classes: add rows of the other classes (or pass the other files too)"
    )


def _one_label_set(labels: np.ndarray, label_names: Sequence[str]) -> str:
    """What is wrong when every row has the same 0/1 label vector ("" otherwise), and the fix."""
    if len(np.unique(labels, axis=0)) > 1:
        return ""
    positives = labels.sum(axis=0).astype(int)
    found = ", ".join(f"{name} {count}" for name, count in zip(label_names, positives, strict=True))
    shared = [name for name, count in zip(label_names, positives, strict=True) if count]
    what = f"have the same labels {shared} set" if shared else "have no label set (all 0)"
    return (
        f"{what} (rows per label: {found}); a multi-label classifier learns nothing when every row has the same "
        "labels: add rows with other labels, e.g. a 1 in some label columns and 0 in others (or pass the other "
        "files too)"
    )


def long_texts_note(before: int, after: int, max_chars: int | None) -> str:
    """``--max_text_chars N dropped K of M rows`` when that rule dropped any, for later messages."""
    if max_chars is None or before == after:
        return ""
    return f"--max_text_chars {max_chars} dropped {before - after} of {before} rows"


def pool(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


def check_split_option(config: DataConfig, supported: Sequence[str], task: str) -> None:
    if config.split not in supported:
        raise TaskError(f"task {task!r} supports --split {list(supported)}, not {config.split!r}")
