"""Train, validation and test: splits the user gave are kept as given, only missing ones are carved.

Every builder reads its rows through ``read_frames``, which marks each row with the split it was
given for (``SPLIT_COLUMN``: ``train`` for ``--data_files``/``--train_file`` rows, ``validation``
and ``test`` for ``--validation_file``/``--test_file`` rows, or the matching splits of a Hub or
``save_to_disk`` dataset). ``split_frame`` then carves only what is missing from the training rows:
train only -> test and validation carved (the thesis's 80/20, then 10%); train + test -> validation
carved; all three -> used as they are. A dataset split that is none of the three, or that has no
labels, is never pooled into training: it is left out, with a log line counting its rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tasks import data
from tasks.base import SPLIT_NAMES, DataConfig, TaskError

if TYPE_CHECKING:
    from datasets import DatasetDict

logger = logging.getLogger(__name__)

SPLIT_COLUMN = data.SPLIT_COLUMN
# What datasets on the Hub call their validation split, in the order they are looked for.
VALIDATION_NAMES = ("validation", "valid", "dev")


def read_frames(
    config: DataConfig,
    read_one: Callable[[str], pd.DataFrame],
    hub_frame: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    labelled: Callable[[pd.DataFrame], bool] | None = None,
    as_text: bool = True,
) -> pd.DataFrame:
    """Every given file (each read by the task's ``read_one``), or a dataset's splits, pooled into one
    frame whose ``SPLIT_COLUMN`` says which split each row was given for.

    For a dataset, ``hub_frame`` prepares each split as ``read_one`` does a file, and ``labelled``
    says whether a split has labels (one without is left out); ``as_text`` turns every value into a
    string, as the built-in tasks' file readers give them.
    """
    files = config.split_files()
    if files:
        frames = [read_one(path).assign(**{SPLIT_COLUMN: split}) for split, paths in files.items() for path in paths]
        return data.pool(frames)
    if config.dataset_name:
        from tasks.readers import read_dataset

        dataset = read_dataset(
            config.dataset_name,
            config_name=config.dataset_config_name,
            revision=config.dataset_revision,
            cache_dir=config.cache_dir,
        )
        frames = []
        for split, frame in chosen_splits(dataset.frames, config, labelled).items():
            if as_text:
                frame = frame.astype({column: str for column in data.data_columns(frame)})
            frame = hub_frame(frame) if hub_frame else frame
            frames.append(frame.assign(**{SPLIT_COLUMN: split}))
        return data.pool(frames)
    raise TaskError(
        "no data: pass local files with --data_files (or --train_file, --validation_file, --test_file), or a Hub "
        "dataset or save_to_disk folder with --dataset_name"
    )


def chosen_splits(
    frames: dict[str, pd.DataFrame], config: DataConfig, labelled: Callable[[pd.DataFrame], bool] | None = None
) -> dict[str, pd.DataFrame]:
    """A dataset's splits by role: train, validation and test for training (``dataset_splits``); in evaluation
    (``trainer-tasks evaluate``) the one split scored, as test."""
    if config.evaluation:
        return {"test": evaluation_split(frames, config, labelled)}
    return dataset_splits(frames, config, labelled)


def evaluation_split(
    frames: dict[str, pd.DataFrame], config: DataConfig, labelled: Callable[[pd.DataFrame], bool] | None
) -> pd.DataFrame:
    """The one split of a dataset that a trained model is scored on (``trainer-tasks evaluate --split``)."""
    name = config.test_split or "test"
    if name not in frames:
        raise TaskError(
            f"{config.dataset_name} has no split {name!r}; its splits: {list(frames)} (choose one with --split)"
        )
    frame = frames[name]
    if labelled is not None and not labelled(frame):
        raise TaskError(
            f"{config.dataset_name}[{name}] has no labels (every row is -1 or empty), so it cannot be scored; "
            f"choose a labelled split with --split (its splits: {list(frames)})"
        )
    return frame


def dataset_splits(
    frames: dict[str, pd.DataFrame], config: DataConfig, labelled: Callable[[pd.DataFrame], bool] | None = None
) -> dict[str, pd.DataFrame]:
    """The dataset's splits that are train, validation and test, by the options or by their usual names.

    A split named by an option must exist. Splits that are none of the three (IMDB's ``unsupervised``)
    and validation/test splits without labels (GLUE's test) are left out, each counted in a log line.
    """
    available = list(frames)
    chosen: dict[str, str] = {}
    for role, option, usual in (
        ("train", config.train_split, ("train",)),
        ("validation", config.validation_split, VALIDATION_NAMES),
        ("test", config.test_split, ("test",)),
    ):
        if option is not None:
            if option not in frames:
                raise TaskError(
                    f"--{role}_split {option!r}: {config.dataset_name} has no such split; its splits: {available}"
                )
            chosen[role] = option
        else:
            found = next((name for name in usual if name in frames and name not in chosen.values()), None)
            if found is not None:
                chosen[role] = found
    if "train" not in chosen:
        raise TaskError(
            f"{config.dataset_name}: no split named 'train' (its splits: {available}); name the training split "
            "with --train_split NAME"
        )
    kept: dict[str, pd.DataFrame] = {}
    for role, name in chosen.items():
        frame = frames[name]
        if labelled is not None and not labelled(frame):
            if role == "train":
                raise TaskError(
                    f"{config.dataset_name}[{name}]: the training split has no labels; name a labelled split "
                    "with --train_split, or check --label_column"
                )
            logger.warning(
                "left out %s[%s] (%d rows): it has no labels; the %s split is carved from the training rows",
                config.dataset_name,
                name,
                len(frame),
                role,
            )
            continue
        kept[role] = frame
    for name in available:
        if name not in chosen.values():
            logger.warning(
                "left out %s[%s] (%d rows): not used as train, validation or test (name it with --train_split, "
                "--validation_split or --test_split to use it)",
                config.dataset_name,
                name,
                len(frames[name]),
            )
    return kept


def given_splits(frame: pd.DataFrame) -> list[str]:
    """The splits the rows of ``frame`` were given for, in train/validation/test order."""
    if SPLIT_COLUMN not in frame:
        return ["train"]
    present = set(frame[SPLIT_COLUMN])
    return [name for name in SPLIT_NAMES if name in present]


def groups_of(frame: pd.DataFrame, config: DataConfig) -> np.ndarray | None:
    """The groups of ``--group_column`` (each kept on one side of a carved split), None without it."""
    if not config.group_column:
        return None
    return group_values(frame, config.group_column, f"--group_column {config.group_column}")


def group_values(frame: pd.DataFrame, column: str, option: str) -> np.ndarray:
    """The group of every row, for a grouped split; a row without one cannot be placed."""
    if column not in frame.columns:
        raise TaskError(
            f"{data.sources(frame)}: {option} needs the column {column!r}, which this data does not have "
            f"(columns: {data.data_columns(frame)})"
        )
    missing = data.is_blank(frame[column].astype("string"))
    if missing.any():
        raise TaskError(
            f"{option} needs a value on every row, but column {column!r} is empty at {data.where(frame, missing)}: "
            "fill it in or remove those rows"
        )
    return data.visible_text(frame[column].astype(str)).to_numpy()


def split_frame(
    frame: pd.DataFrame,
    config: DataConfig,
    *,
    stratify: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Row indices of train/validation/test: given splits as given, missing ones carved from the training rows.

    Carving takes ``test_size`` of the training rows for test, then ``validation_size`` of the rest
    for validation (the thesis's 80/20 then 10%). With ``groups`` every group lands on one side
    only; otherwise a seeded random split, stratified when ``stratify`` is given. Given splits keep
    their file order (the test rows are exactly the test file's rows); carved ones are shuffled, so
    ``--max_*_samples`` takes a random sample. In evaluation (``DataConfig.evaluation``) every row is
    test, in file order: a trained model is scored on all of it.
    """
    if config.evaluation:
        return {"test": np.arange(len(frame))}
    given = frame[SPLIT_COLUMN].to_numpy() if SPLIT_COLUMN in frame else np.full(len(frame), "train", dtype=object)
    parts = {name: np.flatnonzero(given == name) for name in SPLIT_NAMES}
    missing = [name for name in ("test", "validation") if len(parts[name]) == 0]
    if missing:
        pool = parts["train"]
        carved = carve(
            frame,
            pool,
            config,
            need=missing,
            stratify=None if stratify is None else stratify[pool],
            groups=None if groups is None else groups[pool],
        )
        parts.update({name: pool[rows] for name, rows in carved.items()})
    elif groups is not None:
        shared_groups_warning(parts, groups)
    if SPLIT_COLUMN in frame and len(given_splits(frame)) > 1:
        logger.info(
            "splits: %s",
            ", ".join(f"{name} {len(parts[name])} ({'carved' if name in missing else 'as given'})" for name in parts),
        )
    return parts


def carve(
    frame: pd.DataFrame,
    pool: np.ndarray,
    config: DataConfig,
    *,
    need: Sequence[str],
    stratify: np.ndarray | None,
    groups: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Positions in ``pool`` of the new train and of each split in ``need`` (``test`` first, then ``validation``)."""
    from sklearn.model_selection import train_test_split

    needed_rows = len(need) + 1
    if len(pool) < needed_rows:
        what = "training rows are" if len(pool) < len(frame) else "rows are"
        into = "train/validation/test" if len(need) == 2 else f"train/{need[0]}"
        raise TaskError(
            f"{data.sources(frame)}: only {len(pool)} {what} left after reading and cleaning (the log counts what "
            f"was dropped); splitting into {into} needs at least {needed_rows}: provide more rows"
        )
    positions = np.arange(len(pool))
    sizes = {"test": config.test_size, "validation": config.validation_size}
    carved: dict[str, np.ndarray] = {}
    rest = positions
    try:
        if groups is not None:
            return group_carve(positions, groups, need, sizes, config.seed, data.sources(frame))
        for name in need:
            strata = stratify[rest] if stratify is not None else None
            try:
                rest, carved[name] = train_test_split(
                    rest, test_size=sizes[name], random_state=config.seed, stratify=strata
                )
            except ValueError:
                if strata is None:
                    raise
                # Stratification needs 2+ rows per class in each part; tiny or very skewed data falls back.
                logger.warning("too few rows per class to stratify the split; splitting at random instead")
                return carve(frame, pool, config, need=need, stratify=None, groups=None)
    except ValueError as error:  # scikit-learn: a part would be empty
        raise TaskError(
            f"{data.sources(frame)}: cannot split {len(pool)} rows with --test_size {config.test_size} and "
            f"--validation_size {config.validation_size} ({error}); provide more rows or change those sizes"
        ) from None
    # train_test_split returns shuffled rows, so --max_*_samples takes a random sample of each split.
    return {"train": rest, **carved}


def group_carve(
    positions: np.ndarray, groups: np.ndarray, need: Sequence[str], sizes: dict[str, float], seed: int, origin: str
) -> dict[str, np.ndarray]:
    from sklearn.model_selection import GroupShuffleSplit

    distinct = len(np.unique(groups))
    if distinct < len(need) + 1:
        raise TaskError(
            f"{origin}: a grouped split needs at least {len(need) + 1} distinct groups, found {distinct}; "
            "use --split random (without --group_column) or provide more groups"
        )
    carved: dict[str, np.ndarray] = {}
    rest = positions
    for name in need:
        splitter = GroupShuffleSplit(n_splits=1, test_size=sizes[name], random_state=seed)
        keep, out = next(splitter.split(rest, groups=groups[rest]))
        rest, carved[name] = rest[keep], rest[out]
    # GroupShuffleSplit returns rows in file order; shuffle them so --max_*_samples takes a random
    # sample rather than the file's first (and, for news, earliest) stories.
    # Drawn in train, validation, test order: the same rows as before splits were kept as given, so earlier
    # results (--max_*_samples takes the first rows of each) stay comparable.
    rng = np.random.default_rng(seed)
    parts = {"train": rest, **carved}
    return {name: rng.permutation(parts[name]) for name in ("train", "validation", "test") if name in parts}


def shared_groups_warning(parts: dict[str, np.ndarray], groups: np.ndarray) -> None:
    """Given splits are kept as given, so a group on both sides can only be reported, not moved."""
    train = set(groups[parts["train"]])
    for name in ("validation", "test"):
        shared = {group for group in groups[parts[name]] if group in train}
        if shared:
            logger.warning(
                "%d group(s) of the given %s split also occur in the given training split (e.g. %r): the splits "
                "were given, so they are kept as they are",
                len(shared),
                name,
                sorted(shared)[0],
            )


def to_dataset_dict(
    texts: Sequence[str],
    labels: np.ndarray,
    parts: dict[str, np.ndarray],
    label_names: Sequence[str],
    multi_label: bool,
    origin: str = "the data",
    text_pairs: Sequence[str] | None = None,
    groups: np.ndarray | None = None,
) -> DatasetDict:
    """The engine's input: ``text`` (and ``text_pair`` for sentence pairs) and ``labels`` (class ids,
    or float 0/1 vectors for BCE); ``group`` (str) when the split was grouped, so that test scores
    can be resampled by group (a confidence interval by example would be too narrow).

    ``origin`` names the files (``data.sources``) for the message when a split came out empty.
    """
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
    from datasets import Sequence as HfSequence

    if multi_label:
        label_feature = HfSequence(Value("float32"), length=len(label_names))
    else:
        label_feature = ClassLabel(names=list(label_names))
    columns = {"text": Value("string"), **({"text_pair": Value("string")} if text_pairs is not None else {})}
    if groups is not None:
        columns["group"] = Value("string")
    features = Features({**columns, "labels": label_feature})
    texts = np.asarray(texts, dtype=object)
    pairs = np.asarray(text_pairs, dtype=object) if text_pairs is not None else None
    splits = {}
    for name, rows in parts.items():
        if len(rows) == 0:
            raise TaskError(
                f"{origin}: the {name} split is empty after cleaning and splitting ({len(texts)} rows in all); "
                "provide more rows, raise --max_text_chars or change --test_size/--validation_size"
            )
        split_labels = labels[rows].tolist() if multi_label else labels[rows].astype(int).tolist()
        values = {"text": texts[rows].tolist(), "labels": split_labels}
        if pairs is not None:
            values["text_pair"] = pairs[rows].tolist()
        if groups is not None:
            values["group"] = [str(group) for group in np.asarray(groups)[rows]]
        splits[name] = Dataset.from_dict(values, features=features)
    logger.info("split %d rows: %s", len(texts), ", ".join(f"{name} {len(split)}" for name, split in splits.items()))
    return DatasetDict(splits)
