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
import gzip
import logging
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets import Sequence as HfSequence
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from tasks.base import DataConfig, TaskError

logger = logging.getLogger(__name__)

SOURCE_COLUMN = "__source__"
ROW_COLUMN = "__row__"
# What spreadsheets, pandas and R write for a missing value: as a text, it is a hole, not a headline.
MISSING_TEXT_MARKERS = frozenset(
    {"nan", "NaN", "NAN", "-nan", "None", "none", "null", "NULL", "NA", "N/A", "n/a", "#N/A", "<NA>"}
)
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
ZIP_MAGIC = b"PK\x03\x04"


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
                    return f"{path}: is UTF-16 text (a spreadsheet's 'Unicode text' export?); {fix}"
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
        hint = delimiter_hint(first_line(path), sep) if expected == "1" else ""
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
) -> pd.DataFrame:
    """Read a CSV/TSV file (plain or gzipped) into strings, with file and line columns added.

    Every column is read as text: labels are validated by the builder, which can then say which
    row holds a bad value instead of pandas guessing a dtype. The header is read as a data row so
    that a row with more fields than the header is an error (pandas would otherwise silently turn
    the first column into an index), and blank lines are kept until counted, so line numbers match
    the file.
    """
    check_file(path)
    with readable(path):
        try:
            raw = pd.read_csv(
                path,
                sep=sep,
                header=None,
                dtype=str,
                na_filter=False,
                skip_blank_lines=False,
                quoting=quoting,
                compression="gzip" if is_gzip(path) else None,
                encoding="utf-8",
                engine="c",
            )
        except pd.errors.EmptyDataError:
            raise TaskError(f"{path}: the file is empty; it needs a header line and data rows") from None
        except pd.errors.ParserError as error:
            raise TaskError(_parser_message(path, error, sep)) from None
    lines = _record_lines(raw)
    if header:
        columns = [str(column).strip() for column in raw.iloc[0]]
        raw, lines = raw.iloc[1:], lines[1:]
    else:
        columns = list(names) if names is not None else [str(i) for i in range(raw.shape[1])]
        if len(columns) != raw.shape[1]:
            raise TaskError(f"{path} line 1: {raw.shape[1]} fields, expected {len(columns)} ({', '.join(columns)})")
    named = [column for column in columns if column]
    repeated = sorted({column for column in named if named.count(column) > 1})
    if repeated:
        raise TaskError(f"{path} line 1: column name(s) {repeated} appear more than once; rename or remove the copies")
    frame = raw.reset_index(drop=True)
    frame.columns = columns
    frame[SOURCE_COLUMN] = path
    frame[ROW_COLUMN] = lines
    blank = _blank_rows(frame, len(columns))
    if blank.any():
        logger.warning("%s: skipped %d blank line(s)", path, int(blank.sum()))
        frame = frame.loc[~blank].reset_index(drop=True)
    return frame


def _blank_rows(frame: pd.DataFrame, width: int) -> np.ndarray:
    """Rows whose every field is empty or spaces (blank lines), checked column by column on candidates only."""
    blank = np.ones(len(frame), dtype=bool)
    for index in range(width):
        candidates = np.flatnonzero(blank)
        if len(candidates) == 0:
            break
        values = frame.iloc[candidates, index]
        blank[candidates] = (values.str.strip() == "").to_numpy()
    return blank


def where(frame: pd.DataFrame, mask: pd.Series | np.ndarray, limit: int = 3) -> str:
    """``file line N`` (``dataset[split] row N`` for Hub data) for the first rows selected by ``mask``."""
    rows = frame.loc[np.asarray(mask)].head(limit)
    places = [
        f"{source} {'line' if os.path.isfile(str(source)) else 'row'} {row}"
        for source, row in zip(rows[SOURCE_COLUMN], rows[ROW_COLUMN], strict=True)
    ]
    more = int(np.asarray(mask).sum()) - len(places)
    return ", ".join(places) + (f" (and {more} more)" if more > 0 else "")


def data_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in (SOURCE_COLUMN, ROW_COLUMN)]


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: str, layout: str, sep: str = ",") -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        found = data_columns(frame)
        raise TaskError(
            f"{path}{' line 1' if os.path.isfile(path) else ''}: missing column(s) {missing} for the {layout} layout; "
            f"found columns {found}. "
            f"Add or rename the header field(s).{delimiter_hint(sep.join(found), sep)}"
        )


def check_texts(frame: pd.DataFrame, column: str = "text", shown_as: str | None = None) -> None:
    """Empty or missing texts are an error: a blank training example is a data bug, not noise.

    A text that is only a missing-value marker (``NaN``, ``None``, ``NULL``, ...) is what a
    spreadsheet or ``DataFrame.to_csv`` writes for a hole, so it counts as missing too.
    """
    text = frame[column].astype(str).str.strip()
    empty = frame[column].isna() | (text == "") | text.isin(MISSING_TEXT_MARKERS)
    if empty.any():
        example = text[empty].iloc[0]
        raise TaskError(
            f"column {shown_as or column!r} has no text (found {example!r}) at {where(frame, empty)}: "
            "fill in or remove those rows"
        )


def drop_long_texts(frame: pd.DataFrame, max_chars: int | None, column: str = "text") -> pd.DataFrame:
    """Keep texts shorter than ``max_chars`` characters, logging how many were dropped."""
    if max_chars is None:
        return frame
    keep = frame[column].str.len() < max_chars
    dropped = int((~keep).sum())
    log = logger.warning if dropped else logger.info
    log("dropped %d of %d texts with %d+ characters (--max_text_chars %d)", dropped, len(frame), max_chars, max_chars)
    return frame.loc[keep]


def check_unique_ids(frame: pd.DataFrame, column: str) -> None:
    values = frame[column].astype(str).str.strip()
    duplicated = values.duplicated(keep=False) & (values != "")
    if duplicated.any():
        example = values[duplicated].iloc[0]
        raise TaskError(
            f"column {column!r} repeats the value {example!r} (and maybe others) at {where(frame, duplicated)}: "
            f"each row needs its own {column}; remove the repeated rows or pass each file only once"
        )


def parse_binary_columns(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The 0/1 label columns as a float32 matrix; any other value is an error naming its row."""
    matrix = np.zeros((len(frame), len(columns)), dtype=np.float32)
    for index, column in enumerate(columns):
        values = frame[column].astype(str).str.strip()
        bad = ~values.isin(["0", "1", "0.0", "1.0"])
        if bad.any():
            example = values[bad].iloc[0]
            raise TaskError(
                f"column {column!r} must hold 0 or 1 (multi-label: one column per label), found {example!r} at "
                f"{where(frame, bad)}: set it to 0 or 1, or remove those rows"
            )
        matrix[:, index] = values.astype(float).to_numpy()
    return matrix


def parse_labels(
    frame: pd.DataFrame, column: str, labels: Sequence[str], aliases: Mapping[str, str] | None = None
) -> np.ndarray:
    """Class ids of a single-label column holding label names (or ``aliases`` of them, such as UCI's
    one-letter codes); a value outside the task's classes is an error naming its rows."""
    lookup = {name: index for index, name in enumerate(labels)}
    lookup.update({alias: lookup[name] for alias, name in (aliases or {}).items()})
    values = frame[column].astype(str).str.strip()
    ids = values.map(lookup)
    bad = ids.isna().to_numpy()
    if bad.any():
        allowed = ", ".join(f"{alias} ({name})" for alias, name in (aliases or {}).items()) or ", ".join(labels)
        raise TaskError(
            f"column {column!r} must hold one of the task's classes [{allowed}], found {values[bad].iloc[0]!r} "
            f"at {where(frame, bad)}: correct or remove those rows"
        )
    return ids.to_numpy(dtype=np.int64)


def load_hub_dataset(name: str, config: DataConfig) -> pd.DataFrame:
    """A Hub dataset's splits pooled into one frame; the builder re-splits it the thesis way."""
    from datasets import load_dataset

    try:
        dataset = load_dataset(name, cache_dir=config.cache_dir)
    except Exception as error:  # the datasets library raises many types for "cannot reach the Hub"
        raise TaskError(
            f"cannot load Hub dataset {name!r} ({type(error).__name__}: {str(error).splitlines()[0][:200]}). "
            "Offline? Pass local files with --data_files instead."
        ) from None
    frames = []
    for split_name, split in dataset.items():
        frame = split.to_pandas().astype({c: str for c in split.column_names})
        frame[SOURCE_COLUMN] = f"{name}[{split_name}]"
        frame[ROW_COLUMN] = np.arange(len(frame))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def pool(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


def split_frame(
    frame: pd.DataFrame,
    config: DataConfig,
    *,
    stratify: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Row indices of train/validation/test: ``test_size`` of all rows for test, then
    ``validation_size`` of the rest for validation (the thesis's 80/20 then 10%).

    With ``groups`` every group lands on one side only (the story-grouped split); otherwise a
    seeded random split, stratified when ``stratify`` is given.
    """
    indices = np.arange(len(frame))
    if len(indices) < 3:
        raise TaskError(
            f"only {len(indices)} rows are left after reading and cleaning (the log counts what was dropped, "
            "e.g. by --max_text_chars); splitting into train/validation/test needs at least 3: provide more "
            "rows or raise --max_text_chars"
        )
    try:
        if groups is not None:
            return _group_split(indices, groups, config)
        try:
            rest, test = train_test_split(
                indices, test_size=config.test_size, random_state=config.seed, stratify=stratify
            )
            rest_strata = stratify[rest] if stratify is not None else None
            train, validation = train_test_split(
                rest, test_size=config.validation_size, random_state=config.seed, stratify=rest_strata
            )
        except ValueError:
            if stratify is None:
                raise
            # Stratification needs 2+ rows per class in each part; tiny or very skewed data falls back.
            logger.warning("too few rows per class to stratify the split; splitting at random instead")
            return split_frame(frame, config)
    except ValueError as error:  # scikit-learn: a part would be empty
        raise TaskError(
            f"cannot split {len(indices)} rows with --test_size {config.test_size} and --validation_size "
            f"{config.validation_size} ({error}); provide more rows or change those sizes"
        ) from None
    # train_test_split returns shuffled rows, so --max_*_samples takes a random sample of each split.
    return {"train": train, "validation": validation, "test": test}


def _group_split(indices: np.ndarray, groups: np.ndarray, config: DataConfig) -> dict[str, np.ndarray]:
    if len(np.unique(groups)) < 3:
        raise TaskError(
            f"a grouped split needs at least 3 distinct groups, found {len(np.unique(groups))}; "
            "use --split random or provide more groups"
        )
    outer = GroupShuffleSplit(n_splits=1, test_size=config.test_size, random_state=config.seed)
    rest, test = next(outer.split(indices, groups=groups))
    inner = GroupShuffleSplit(n_splits=1, test_size=config.validation_size, random_state=config.seed)
    train_pos, validation_pos = next(inner.split(rest, groups=groups[rest]))
    # GroupShuffleSplit returns rows in file order; shuffle them so --max_*_samples takes a random
    # sample rather than the file's first (and, for news, earliest) stories.
    rng = np.random.default_rng(config.seed)
    return {
        "train": rng.permutation(rest[train_pos]),
        "validation": rng.permutation(rest[validation_pos]),
        "test": rng.permutation(test),
    }


def to_dataset_dict(
    texts: Sequence[str],
    labels: np.ndarray,
    parts: dict[str, np.ndarray],
    label_names: Sequence[str],
    multi_label: bool,
) -> DatasetDict:
    """The engine's input: ``text`` and ``labels`` (class ids, or float 0/1 vectors for BCE)."""
    if multi_label:
        label_feature = HfSequence(Value("float32"), length=len(label_names))
    else:
        label_feature = ClassLabel(names=list(label_names))
    features = Features({"text": Value("string"), "labels": label_feature})
    texts = np.asarray(texts, dtype=object)
    splits = {}
    for name, rows in parts.items():
        if len(rows) == 0:
            raise TaskError(
                f"the {name} split is empty after cleaning and splitting ({len(texts)} rows in all); provide more "
                "rows, raise --max_text_chars or change --test_size/--validation_size"
            )
        split_labels = labels[rows].tolist() if multi_label else labels[rows].astype(int).tolist()
        splits[name] = Dataset.from_dict({"text": texts[rows].tolist(), "labels": split_labels}, features=features)
    logger.info("split %d rows: %s", len(texts), ", ".join(f"{name} {len(split)}" for name, split in splits.items()))
    return DatasetDict(splits)


def read_frames(config: DataConfig, read_one, hub_frame=None) -> pd.DataFrame:
    """Pool every ``--data_files`` file (each read by the task's ``read_one``), or a Hub dataset."""
    if config.data_files:
        return pool([read_one(path) for path in config.data_files])
    if config.dataset_name:
        frame = load_hub_dataset(config.dataset_name, config)
        return hub_frame(frame) if hub_frame else frame
    raise TaskError("no data: pass local files with --data_files or a Hub dataset with --dataset_name")


def check_split_option(config: DataConfig, supported: Sequence[str], task: str) -> None:
    if config.split not in supported:
        raise TaskError(f"task {task!r} supports --split {list(supported)}, not {config.split!r}")
