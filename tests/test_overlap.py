"""Held-out copies of training texts (training.overlap) and rows per label (training.label_counts).

The generated splits plant case and whitespace variants of training texts in validation and test; every
other text is unique after normalization, so the planted number is the only right count.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from conftest import builders, train_args
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import train
from tasks import DataConfig, Task, TaskError, get_task
from trainer_tasks.record.label_counts import label_counts
from trainer_tasks.training.overlap import count_duplicates, drop_duplicates, normalize, report_duplicates

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# characters whose case changes survive casefold() (not e.g. the dotless i), and the whitespace variants use
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéüßøÆ0123456789.,!?'-"
SPACES = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2003", " \r\n "]

words = st.text(alphabet=LETTERS, min_size=1, max_size=6)
texts = st.lists(words, min_size=1, max_size=5).map(" ".join)


def variant(text: str, rng: random.Random) -> str:
    """``text`` with random case and each space (and the ends) as a random run of whitespace."""
    recased = "".join(char.upper() if rng.random() < 0.5 else char.lower() for char in text)
    spaced = "".join(rng.choice(SPACES) if char == " " else char for char in recased)
    return rng.choice(["", " ", "\t"]) + spaced + rng.choice(["", " ", "\n"])


@st.composite
def planted_splits(draw, pairs: bool = False):
    """(DatasetDict, planted count per held-out split, the held-out texts that are not copies)."""
    item = st.tuples(texts, texts) if pairs else texts
    key = (lambda p: (normalize(p[0]), normalize(p[1]))) if pairs else normalize
    unique = draw(st.lists(item, min_size=3, max_size=40, unique_by=key))
    n_train = draw(st.integers(1, len(unique) - 2))
    n_validation = draw(st.integers(1, len(unique) - n_train - 1))
    train_rows = unique[:n_train]
    own = {"validation": unique[n_train : n_train + n_validation], "test": unique[n_train + n_validation :]}
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    splits, planted = {"train": train_rows}, {}
    for name, rows in own.items():
        copies = [rng.choice(train_rows) for _ in range(draw(st.integers(0, 12)))]
        if pairs:
            copies = [(variant(a, rng), variant(b, rng)) for a, b in copies]
        else:
            copies = [variant(text, rng) for text in copies]
        splits[name] = rng.sample(rows + copies, len(rows) + len(copies))
        planted[name] = len(copies)

    def dataset(rows):
        columns = {"text": [r[0] for r in rows], "text_pair": [r[1] for r in rows]} if pairs else {"text": rows}
        return Dataset.from_dict({**columns, "labels": [0] * len(rows)})

    return DatasetDict({name: dataset(rows) for name, rows in splits.items()}), planted, own


def test_normalize_sets_case_and_every_kind_of_whitespace_aside():
    assert normalize("  Stocks\u00a0FALL\t\tas\u3000rates\n rise ") == "stocks fall as rates rise"
    assert normalize("Straße") == normalize("STRASSE")
    assert normalize("") == normalize(None) == ""
    assert normalize("a-b") != normalize("a b")  # punctuation is not whitespace


@SETTINGS
@given(planted_splits())
def test_count_finds_exactly_the_planted_copies(case):
    raw, planted, _ = case
    assert count_duplicates(raw) == planted


@SETTINGS
@given(planted_splits())
def test_drop_removes_exactly_the_planted_copies_and_never_touches_train(case):
    raw, planted, own = case
    kept, counts = drop_duplicates(raw)
    assert counts == planted
    assert kept["train"]["text"] == raw["train"]["text"]
    for name, rows in own.items():
        assert Counter(kept[name]["text"]) == Counter(rows)  # what was not planted, all of it
        assert len(kept[name]) == len(raw[name]) - planted[name]
    assert count_duplicates(kept) == {"validation": 0, "test": 0}  # counted on the selected rows only


@SETTINGS
@given(planted_splits(pairs=True))
def test_pairs_match_on_both_texts(case):
    raw, planted, _ = case
    assert count_duplicates(raw) == planted
    kept, counts = drop_duplicates(raw)
    assert counts == planted and len(kept["test"]) == len(raw["test"]) - planted["test"]


def test_a_pair_sharing_only_its_first_text_is_not_a_copy():
    def split(rows):
        return Dataset.from_dict({"text": [a for a, _ in rows], "text_pair": [b for _, b in rows]})

    raw = DatasetDict(
        {
            "train": split([("A man sleeps", "Someone rests")]),
            "validation": split([("a  MAN sleeps", "someone RESTS "), ("A man sleeps", "Nobody rests")]),
            "test": split([("someone rests", "a man sleeps")]),  # the two texts swapped: another pair
        }
    )
    assert count_duplicates(raw) == {"validation": 1, "test": 0}


def test_drop_refuses_to_empty_a_held_out_split():
    def split(rows):
        return Dataset.from_dict({"text": rows})

    raw = DatasetDict({"train": split(["a b", "c"]), "validation": split(["x"]), "test": split(["A  B", "C"])})
    with pytest.raises(TaskError, match=r"would leave the test split empty: all its 2 rows.*leave out"):
        drop_duplicates(raw)
    kept, counts = report_duplicates(raw, drop=False)  # counting alone never refuses
    assert kept is raw and counts == {"validation": 0, "test": 2}


def test_report_logs_one_line_with_the_counts(caplog):
    def split(rows):
        return Dataset.from_dict({"text": rows})

    raw = DatasetDict({"train": split(["a b", "c"]), "validation": split(["x", "C "]), "test": split(["A  B", "d"])})
    with caplog.at_level("INFO", logger="trainer_tasks.training.overlap"):
        kept, counts = report_duplicates(raw, drop=True)
    assert counts == {"validation": 1, "test": 1} and kept["validation"]["text"] == ["x"]
    assert [record.getMessage() for record in caplog.records] == [
        "exact duplicates of training texts (whitespace and case aside): validation 1 of 2, test 1 of 2; "
        "removed (--drop_test_duplicates)"
    ]


def make_task(labels: list[str], multi_label: bool) -> Task:
    problem = "multi_label_classification" if multi_label else "single_label_classification"
    return Task("generated", "", labels, problem, lambda config: None, lambda prediction: {}, "accuracy")


SPLITS = ("train", "validation", "test")


@SETTINGS
@given(st.integers(1, 6), st.booleans(), st.lists(st.integers(0, 30), min_size=3, max_size=3), st.randoms())
def test_label_counts_equal_a_hand_count(n_labels, multi_label, sizes, rng):
    names = [f"label {i}" for i in range(n_labels)]
    task = make_task(names, multi_label)
    if multi_label:
        feature = Sequence(Value("float32"), length=n_labels)
        rows = {
            s: [[float(rng.random() < 0.3) for _ in names] for _ in range(n)]
            for s, n in zip(SPLITS, sizes, strict=True)
        }
    else:
        feature = ClassLabel(names=names)
        rows = {s: [rng.randrange(n_labels) for _ in range(n)] for s, n in zip(SPLITS, sizes, strict=True)}

    def hand_count(labels: list) -> dict[str, int]:
        if multi_label:
            return {name: sum(int(row[i]) for row in labels) for i, name in enumerate(names)}
        return {name: labels.count(i) for i, name in enumerate(names)}

    features = Features({"text": Value("string"), "labels": feature})
    raw = DatasetDict(
        {
            s: Dataset.from_dict({"text": ["x"] * len(labels), "labels": labels}, features=features)
            for s, labels in rows.items()
        }
    )
    counts = label_counts(raw, task)
    assert counts == {s: hand_count(labels) for s, labels in rows.items()}
    assert list(counts["train"]) == names  # id order
    chosen = list(range(0, len(raw["test"]), 2))  # after a select (an indices mapping) only the chosen rows count
    subset = DatasetDict({**raw, "test": raw["test"].select(chosen)})
    assert label_counts(subset, task)["test"] == hand_count([rows["test"][r] for r in chosen])


# --- end to end: train.py on a news file with planted copies -------------------------------------------------


def write_news_with_copies(path: Path, n: int = 240, copies: int = 60, seed: int = 3) -> dict[str, int]:
    """A news CSV whose titles are unique after normalization, plus ``copies`` re-cased and re-spaced copies of
    some of them; returns exact title -> the original's group (a copy shares its original's group)."""
    rng = random.Random(seed)
    rows, seen = [], set()
    for row in builders.news_rows(n, seed=seed):
        if normalize(row["TITLE"]) not in seen:
            seen.add(normalize(row["TITLE"]))
            rows.append(row)
    group = {row["TITLE"]: i for i, row in enumerate(rows)}
    for i, original in enumerate(rng.sample(rows, copies)):
        title = variant(original["TITLE"], rng).strip().replace("\n", " ").replace("\t", " ")  # one CSV line
        if title in group:  # the same exact string twice would be a repeat, not a new row
            continue
        group[title] = group[original["TITLE"]]
        rows.append({**original, "ID": str(100000 + i), "TITLE": title})
    rng.shuffle(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return group


def held_out_copies(path: Path, group: dict[str, int], seed: int) -> dict[str, int]:
    """The planted copies that the split put on the other side of their original: a hand count by group."""
    raw = get_task("news").build_dataset(DataConfig(data_files=(str(path),), seed=seed))
    in_train = {group[text] for text in raw["train"]["text"]}
    return {name: sum(group[text] in in_train for text in raw[name]["text"]) for name in ("validation", "test")}


@pytest.mark.timeout(600)
def test_train_counts_records_and_drops_the_planted_copies(tmp_path, tiny_bert):
    data = tmp_path / "news.csv"
    group = write_news_with_copies(data)
    expected = held_out_copies(data, group, seed=7)  # train_args' --seed 7 is the split's seed
    assert expected["validation"] > 0 and expected["test"] > 0  # the planted copies reach both held-out splits

    def run(out: Path, *flags: str) -> dict:
        extra = ("--num_train_epochs", "1", *flags)
        train.main(["--task", "news", "--data_files", str(data), *train_args(tiny_bert, str(out), *extra)])
        return json.loads((out / "results.json").read_text())

    kept = run(tmp_path / "kept")
    assert kept["data"]["duplicates"] == expected and kept["data"]["duplicates_dropped"] is False
    counts = kept["data"]["label_counts"]
    assert {split: sum(per_label.values()) for split, per_label in counts.items()} == {
        split: kept["data"][f"{split}_size"] for split in ("train", "validation", "test")
    }
    card = (tmp_path / "kept" / "README.md").read_text()
    found = f"validation {expected['validation']}, test {expected['test']}; kept"
    assert f"Exact duplicates of training texts (whitespace and case aside): {found}" in card
    assert "| label | train | validation | test |" in card
    business = counts["train"]["business"], counts["validation"]["business"], counts["test"]["business"]
    assert "| `business` | {} | {} | {} |".format(*business) in card

    dropped = run(tmp_path / "dropped", "--drop_test_duplicates")
    assert dropped["data"]["duplicates"] == expected and dropped["data"]["duplicates_dropped"] is True
    assert dropped["data"]["test_size"] == kept["data"]["test_size"] - expected["test"]
    assert dropped["data"]["validation_size"] == kept["data"]["validation_size"] - expected["validation"]
    assert dropped["data"]["train_size"] == kept["data"]["train_size"]
    assert "removed before evaluation" in (tmp_path / "dropped" / "README.md").read_text()
