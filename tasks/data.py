"""Reading, validating and splitting tabular text data: the shared half of every dataset builder.

Builders work on pandas frames because the real files are CSV/TSV (plain or gzipped) and pandas
reads 400k rows in about a second; they hand a ``DatasetDict`` to the Trainer at the end. Every
frame carries ``SOURCE_COLUMN`` and ``ROW_COLUMN`` until the split, so that any error can name the
file and the line a person would open in an editor.
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from datasets import Sequence as HfSequence
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from tasks.base import DataConfig, TaskError

logger = logging.getLogger(__name__)

SOURCE_COLUMN = "__source__"
ROW_COLUMN = "__row__"


def is_gzip(path: str) -> bool:
    with open(path, "rb") as raw:
        return raw.read(2) == b"\x1f\x8b"


def open_text(path: str):
    """Open a plain or gzipped text file as UTF-8 text (detected by magic bytes, not the name)."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def first_line(path: str) -> str:
    """The first line of a file, to tell layouts apart (header or not, comma or tab)."""
    check_file(path)
    try:
        with open_text(path) as handle:
            return handle.readline()
    except UnicodeDecodeError as error:
        raise TaskError(f"{path}: line 1 is not UTF-8 text ({error.reason}); re-save the file as UTF-8") from None


def check_file(path: str) -> None:
    if not os.path.exists(path):
        raise TaskError(f"{path}: no such file; pass an existing file with --data_files")
    if os.path.isdir(path):
        raise TaskError(f"{path}: is a folder; pass the data file itself with --data_files")


def _find_bad_utf8_line(path: str) -> int | None:
    opener = gzip.open if is_gzip(path) else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


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
    row holds a bad value instead of pandas guessing a dtype.
    """
    check_file(path)
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            header=0 if header else None,
            names=list(names) if names is not None else None,
            dtype=str,
            keep_default_na=False,
            quoting=quoting,
            compression="gzip" if is_gzip(path) else None,
            encoding="utf-8",
            engine="c",
        )
    except UnicodeDecodeError:
        line = _find_bad_utf8_line(path)
        raise TaskError(
            f"{path}: line {line} is not UTF-8 text; re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None
    except pd.errors.EmptyDataError:
        raise TaskError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as error:
        raise TaskError(f"{path}: cannot parse as {'tab' if sep == chr(9) else 'comma'}-separated: {error}") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    frame[SOURCE_COLUMN] = path
    frame[ROW_COLUMN] = np.arange(len(frame)) + (2 if header else 1)
    return frame


def where(frame: pd.DataFrame, mask: pd.Series | np.ndarray, limit: int = 3) -> str:
    """``file line N`` for the first rows selected by ``mask``, for error messages."""
    rows = frame.loc[np.asarray(mask)].head(limit)
    places = [f"{source} line {row}" for source, row in zip(rows[SOURCE_COLUMN], rows[ROW_COLUMN], strict=True)]
    more = int(np.asarray(mask).sum()) - len(places)
    return ", ".join(places) + (f" (and {more} more)" if more > 0 else "")


def require_columns(frame: pd.DataFrame, columns: Sequence[str], path: str, layout: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        found = [c for c in frame.columns if c not in (SOURCE_COLUMN, ROW_COLUMN)]
        hint = ""
        if len(found) == 1 and ("\t" in found[0] or ";" in found[0]):
            hint = " The header looks like it uses another delimiter than the one expected."
        raise TaskError(f"{path}: missing column(s) {missing} for the {layout} layout; found columns {found}.{hint}")


def check_texts(frame: pd.DataFrame, column: str = "text") -> None:
    """Empty or missing texts are an error: a blank training example is a data bug, not noise."""
    text = frame[column]
    empty = text.isna() | (text.astype(str).str.strip() == "")
    if empty.any():
        raise TaskError(f"empty text in column {column!r} at {where(frame, empty)}: fill or remove those rows")


def drop_long_texts(frame: pd.DataFrame, max_chars: int | None, column: str = "text") -> pd.DataFrame:
    """Keep texts shorter than ``max_chars`` characters, logging how many were dropped."""
    if max_chars is None:
        return frame
    keep = frame[column].str.len() < max_chars
    dropped = int((~keep).sum())
    if dropped:
        logger.info("dropped %d of %d texts with %d+ characters", dropped, len(frame), max_chars)
    return frame.loc[keep]


def check_unique_ids(frame: pd.DataFrame, column: str) -> None:
    duplicated = frame[column].duplicated(keep=False) & (frame[column] != "")
    if duplicated.any():
        raise TaskError(
            f"duplicated {column} values at {where(frame, duplicated)}: each row needs its own {column}; "
            "remove the repeated rows or pass each file only once"
        )


def parse_binary_columns(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The 0/1 label columns as a float32 matrix; any other value is an error naming its row."""
    matrix = np.zeros((len(frame), len(columns)), dtype=np.float32)
    for index, column in enumerate(columns):
        values = frame[column].astype(str).str.strip()
        bad = ~values.isin(["0", "1", "0.0", "1.0"])
        if bad.any():
            example = values[bad].iloc[0]
            raise TaskError(f"column {column!r} must hold 0 or 1, found {example!r} at {where(frame, bad)}")
        matrix[:, index] = values.astype(float).to_numpy()
    return matrix


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
        raise TaskError(f"only {len(indices)} rows after cleaning; at least 3 are needed to split")
    if groups is not None:
        return _group_split(indices, groups, config)
    try:
        rest, test = train_test_split(indices, test_size=config.test_size, random_state=config.seed, stratify=stratify)
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
    # train_test_split returns shuffled rows, so --max_*_samples takes a random sample of each split.
    return {"train": train, "validation": validation, "test": test}


def _group_split(indices: np.ndarray, groups: np.ndarray, config: DataConfig) -> dict[str, np.ndarray]:
    if len(np.unique(groups)) < 3:
        raise TaskError("a grouped split needs at least 3 distinct groups")
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
                f"the {name} split is empty after cleaning and splitting; provide more rows or change --max_text_chars"
            )
        split_labels = labels[rows].tolist() if multi_label else labels[rows].astype(int).tolist()
        splits[name] = Dataset.from_dict({"text": texts[rows].tolist(), "labels": split_labels}, features=features)
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
