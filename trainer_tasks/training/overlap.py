"""Held-out texts that are also training texts: counted always, removed with ``--drop_test_duplicates``.

A validation or test row whose text the model saw in training measures memory, not generalisation:
scraped data (headlines syndicated under several URLs, reposted comments) holds many such copies, and
splits given as files are rarely checked against each other. The match is exact once case and
whitespace are set aside, which catches the copies datasets usually hold (re-capitalised, re-spaced)
without the false matches of fuzzy matching; near-duplicates are the split's job (``--split story``,
``--group_column``).

Fast enough to run on every training run: each text column is read once as a Python list from
Arrow, and held-out keys are looked up in one set of training keys (400k headlines: about a second).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

from datasets import Dataset, DatasetDict

from tasks import TaskError

logger = logging.getLogger(__name__)

HELD_OUT = ("validation", "test")
PAIR_COLUMN = "text_pair"


def normalize(text: str | None) -> str:
    """``text`` casefolded, every run of whitespace (Unicode's too: no-break, ideographic, line separators)
    one space, and stripped: the key under which two texts count as the same."""
    return " ".join(text.casefold().split()) if text else ""


def row_keys(split: Dataset) -> list[Hashable]:
    """The normalized key of every row: its text, or (text, text_pair) for a sentence-pair task."""
    table = split.with_format("arrow")  # the selected rows (split.data would ignore a select's indices)
    texts = [normalize(text) for text in table["text"].to_pylist()]
    if PAIR_COLUMN not in split.column_names:
        return texts
    pairs = [normalize(text) for text in table[PAIR_COLUMN].to_pylist()]
    return list(zip(texts, pairs, strict=True))


def duplicate_rows(raw: DatasetDict) -> dict[str, list[int]]:
    """Per held-out split present, the indices of its rows whose key is also a training row's key."""
    train_keys = set(row_keys(raw["train"]))
    return {
        name: [index for index, key in enumerate(row_keys(raw[name])) if key in train_keys]
        for name in HELD_OUT
        if name in raw
    }


def count_duplicates(raw: DatasetDict) -> dict[str, int]:
    """Per held-out split (validation, test), how many of its rows repeat a training text."""
    return {name: len(rows) for name, rows in duplicate_rows(raw).items()}


def drop_duplicates(raw: DatasetDict) -> tuple[DatasetDict, dict[str, int]]:
    """``raw`` without the held-out rows that repeat a training text (train is never touched), and their counts.

    Refuses to empty a held-out split: the metrics of an empty split are not zero but missing, and a split
    made only of training texts says the data, not the option, needs fixing.
    """
    found = duplicate_rows(raw)
    for name, rows in found.items():
        if rows and len(rows) == len(raw[name]):
            raise TaskError(
                f"--drop_test_duplicates would leave the {name} split empty: all its {len(rows)} rows are also "
                f"training texts (whitespace and case aside); give a {name} split that is not a copy of the "
                "training data, or leave out --drop_test_duplicates to keep (and count) them"
            )
    kept = dict(raw)
    for name, rows in found.items():
        if rows:
            dropped = set(rows)
            kept[name] = raw[name].select([index for index in range(len(raw[name])) if index not in dropped])
    return DatasetDict(kept), {name: len(rows) for name, rows in found.items()}


def report_duplicates(raw: DatasetDict, drop: bool = False) -> tuple[DatasetDict, dict[str, int]]:
    """``train.py`` step: count (and with ``drop``, remove) held-out copies of training texts; one log line.

    Returns the splits to train and evaluate on (``raw`` itself unless rows were dropped) and the counts.
    """
    sizes = {name: len(raw[name]) for name in HELD_OUT if name in raw}
    raw, counts = drop_duplicates(raw) if drop else (raw, count_duplicates(raw))
    found = ", ".join(f"{name} {counts[name]} of {sizes[name]}" for name in counts)
    action = "removed (--drop_test_duplicates)" if drop else "kept (pass --drop_test_duplicates to remove them)"
    logger.info("exact duplicates of training texts (whitespace and case aside): %s; %s", found, action)
    return raw, counts
