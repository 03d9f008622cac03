"""The generic ``--task text``: every input form, label kind and split arrangement, on data the tests generate.

Builder-level checks read real files on disk through the task (no model); the runs at the end are
real Trainer runs on a tiny model, and a real 2-process ``accelerate launch``.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import train_args
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import TaskError, get_task
from tasks.base import Columns, DataConfig

TOPICS = {
    "sport": ["goal", "match", "team", "coach", "league"],
    "food": ["recipe", "bread", "soup", "cheese", "oven"],
    "tech": ["laptop", "chip", "software", "phone", "robot"],
}


def rows(n: int, seed: int = 0) -> list[dict]:
    """Texts whose topic words give their label, each text distinct (a running number)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = rng.choice(sorted(TOPICS))
        words = rng.sample(TOPICS[topic], 3)
        out.append({"body": f"{' '.join(words)} number {i}", "queue": topic, "user": f"u{i % 17}"})
    return out


def write(frame: pd.DataFrame, path: Path, form: str) -> str:
    """``frame`` written as ``form`` (csv, tsv, jsonl, parquet; ``+gz`` compresses the whole file)."""
    kind, _, gz = form.partition("+")
    name = str(path) + {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "parquet": ".parquet"}[kind]
    if kind == "csv":
        frame.to_csv(name, index=False)
    elif kind == "tsv":
        frame.to_csv(name, index=False, sep="\t")
    elif kind == "jsonl":
        frame.to_json(name, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(name, index=False)
    if gz:
        with open(name, "rb") as raw, gzip.open(name + ".gz", "wb") as packed:
            packed.write(raw.read())
        os.unlink(name)
        name += ".gz"
    return name


def build(**options) -> tuple:
    """The task the data defines and its splits (what train.py gets), from DataConfig options."""
    columns = Columns(**options.pop("columns", {}))
    config = DataConfig(columns=columns, **options)
    task = get_task("text").for_data(config)
    return task, task.build_dataset(config)


@pytest.mark.parametrize("form", ["csv", "tsv", "jsonl", "parquet", "csv+gz", "tsv+gz", "jsonl+gz", "parquet+gz"])
def test_every_file_form_gives_the_same_task_and_rows(tmp_path, form):
    frame = pd.DataFrame(rows(120))
    path = write(frame, tmp_path / "tickets", form)
    task, splits = build(data_files=(path,), columns={"text": ("body",), "label": "queue"})
    assert task.labels == ("food", "sport", "tech") and not task.is_multi_label
    assert sum(len(split) for split in splits.values()) == 120
    texts = [text for split in splits.values() for text in split["text"]]
    assert sorted(texts) == sorted(frame["body"])
    names = splits["train"].features["labels"].names
    by_text = dict(zip(frame["body"], frame["queue"], strict=True))
    assert all(by_text[t] == names[i] for t, i in zip(splits["test"]["text"], splits["test"]["labels"], strict=True))


def test_headerless_file_with_column_names(tmp_path):
    frame = pd.DataFrame(rows(60))[["queue", "body"]]
    path = tmp_path / "noheader.tsv"
    frame.to_csv(path, index=False, header=False, sep="\t")
    task, splits = build(
        data_files=(str(path),), columns={"text": ("body",), "label": "queue", "column_names": ("queue", "body")}
    )
    assert sum(len(s) for s in splits.values()) == 60 and len(task.labels) == 3


def test_unknown_suffix_asks_for_the_format_and_then_reads(tmp_path):
    path = tmp_path / "data.export"
    pd.DataFrame(rows(30)).to_csv(path, index=False)
    with pytest.raises(TaskError, match="--file_format"):
        build(data_files=(str(path),), columns={"text": ("body",), "label": "queue"})
    _, splits = build(data_files=(str(path),), columns={"text": ("body",), "label": "queue", "file_format": "csv"})
    assert sum(len(s) for s in splits.values()) == 30


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_labels=st.integers(2, 6), n=st.integers(40, 90), seed=st.integers(0, 10_000))
def test_integer_ids_and_fixed_names(tmp_path, n_labels, n, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, n_labels, size=n)
    ids[:n_labels] = np.arange(n_labels)  # every class present
    frame = pd.DataFrame({"text": [f"row {i} about {k}" for i, k in enumerate(ids)], "label": ids})
    path = write(frame, tmp_path / f"ids{seed}", "csv")
    task, splits = build(data_files=(path,))
    assert task.labels == tuple(str(k) for k in range(n_labels))
    names = tuple(f"class-{k}" for k in range(n_labels))
    task, splits = build(data_files=(path,), columns={"labels": names})
    assert task.labels == names
    all_rows = [(t, i) for s in splits.values() for t, i in zip(s["text"], s["labels"], strict=True)]
    assert all(text.endswith(f"about {label}") for text, label in all_rows)


def test_multi_label_from_columns_lists_and_separated_strings(tmp_path):
    rng = random.Random(3)
    names = ["billing", "bug", "urgent"]
    records = []
    for i in range(90):
        chosen = sorted({name for name in names if rng.random() < 0.4})
        records.append({"text": f"ticket {i} {' '.join(chosen)}".strip(), "tags": chosen})
    columns_frame = pd.DataFrame([{"text": r["text"], **{n: int(n in r["tags"]) for n in names}} for r in records])
    separated = pd.DataFrame([{"text": r["text"], "tags": ";".join(r["tags"])} for r in records])
    listed = pd.DataFrame(records)
    results = [
        build(data_files=(write(columns_frame, tmp_path / "cols", "csv"),), columns={"label_columns": tuple(names)}),
        build(
            data_files=(write(separated, tmp_path / "sep", "csv"),),
            columns={"label": "tags", "label_separator": ";"},
        ),
        build(data_files=(write(listed, tmp_path / "list", "jsonl"),), columns={"label": "tags"}),
        build(data_files=(write(listed, tmp_path / "list", "parquet"),), columns={"label": "tags"}),
    ]
    expected = {r["text"]: [float(n in r["tags"]) for n in names] for r in records}
    for task, splits in results:
        assert task.is_multi_label and list(task.labels) == names
        got = {t: list(v) for s in splits.values() for t, v in zip(s["text"], s["labels"], strict=True)}
        assert got == expected


def test_a_label_that_could_be_a_list_asks_which(tmp_path):
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(30)], "label": ["a,b", "a", "b"] * 10})
    path = write(frame, tmp_path / "ambiguous", "csv")
    with pytest.raises(TaskError, match="--label_separator") as caught:
        build(data_files=(path,))
    assert "\n" not in str(caught.value) and re.search(r"ambiguous\.csv line \d+", str(caught.value))
    task, _ = build(data_files=(path,), columns={"problem_type": "single_label_classification"})
    assert task.labels == ("a", "a,b", "b")


def test_given_splits_are_kept_as_given(tmp_path):
    frame = pd.DataFrame(rows(150))
    train = write(frame.iloc[:90], tmp_path / "train", "csv")
    validation = write(frame.iloc[90:110], tmp_path / "validation", "jsonl")
    test = write(frame.iloc[110:], tmp_path / "test", "parquet")
    columns = {"text": ("body",), "label": "queue"}
    _, splits = build(train_file=train, validation_file=validation, test_file=test, columns=columns)
    assert splits["test"]["text"] == frame["body"].iloc[110:].tolist()  # the test file's rows, in its order
    assert splits["validation"]["text"] == frame["body"].iloc[90:110].tolist()
    assert sorted(splits["train"]["text"]) == sorted(frame["body"].iloc[:90])
    # train + test: validation is carved from train, the test file stays as it is
    _, splits = build(data_files=(train,), test_file=test, columns=columns, validation_size=0.2)
    assert splits["test"]["text"] == frame["body"].iloc[110:].tolist()
    assert len(splits["validation"]) == 18 and len(splits["train"]) == 72
    assert not set(splits["validation"]["text"]) & set(splits["train"]["text"])


def test_a_label_only_in_the_test_file_is_an_error_naming_it(tmp_path):
    frame = pd.DataFrame(rows(60))
    test = frame.iloc[40:].copy()
    test.loc[test.index[5], "queue"] = "travel"
    train_path = write(frame.iloc[:40], tmp_path / "train", "csv")
    test_path = write(test, tmp_path / "test", "csv")
    with pytest.raises(TaskError, match="travel") as caught:
        build(data_files=(train_path,), test_file=test_path, columns={"text": ("body",), "label": "queue"})
    assert f"{test_path} line 7" in str(caught.value)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), groups=st.integers(5, 30))
def test_group_column_keeps_every_group_on_one_side(tmp_path, seed, groups):
    frame = pd.DataFrame(rows(120, seed=seed % 1000))
    frame["user"] = [f"u{i % groups}" for i in range(len(frame))]
    path = write(frame, tmp_path / f"g{seed}", "csv")
    by_text = dict(zip(frame["body"], frame["user"], strict=True))
    _, splits = build(data_files=(path,), seed=seed, group_column="user", columns={"text": ("body",), "label": "queue"})
    sides = [{by_text[t] for t in split["text"]} for split in splits.values()]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sum(len(s) for s in splits.values()) == 120


def test_saved_dataset_dict_uses_class_names_and_leaves_unlabelled_splits_out(tmp_path, caplog):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"review": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    make = lambda n, offset, labelled: Dataset.from_dict(  # noqa: E731
        {
            "review": [f"{'great' if i % 2 else 'awful'} film {offset + i}" for i in range(n)],
            "label": [i % 2 if labelled else -1 for i in range(n)],
        },
        features=features,
    )
    folder = tmp_path / "imdb-like"
    DatasetDict(
        {"train": make(80, 0, True), "test": make(30, 1000, True), "unsupervised": make(50, 5000, False)}
    ).save_to_disk(str(folder))
    with caplog.at_level("INFO"):
        task, splits = build(dataset_name=str(folder), columns={"text": ("review",)})
    assert task.labels == ("neg", "pos")
    assert len(splits["test"]) == 30 and len(splits["train"]) + len(splits["validation"]) == 80
    assert any("unsupervised" in r.getMessage() and "50 rows" in r.getMessage() for r in caplog.records)
    # a test split without labels (GLUE's -1) is left out and test is carved from train instead
    folder = tmp_path / "glue-like"
    DatasetDict({"train": make(80, 0, True), "test": make(30, 1000, False)}).save_to_disk(str(folder))
    with caplog.at_level("INFO"):
        task, splits = build(dataset_name=str(folder), columns={"text": ("review",)})
    assert sum(len(s) for s in splits.values()) == 80
    assert any("test" in r.getMessage() and "no labels" in r.getMessage() for r in caplog.records)


def test_built_in_tasks_take_given_splits_and_refuse_column_options(tmp_path):
    from trainer_tasks import testing

    train = testing.write_news(str(tmp_path / "train.csv"), n=200, seed=1)
    test = testing.write_news(str(tmp_path / "test.csv"), n=50, seed=2)
    renumbered = pd.read_csv(test, dtype=str, keep_default_na=False)
    renumbered["ID"] = [str(10_000 + i) for i in range(len(renumbered))]  # ids repeated across files are refused
    renumbered.to_csv(test, index=False)
    config = DataConfig(data_files=(train,), test_file=test)
    splits = get_task("news").build_dataset(config)
    assert splits["test"]["text"] == pd.read_csv(test)["TITLE"].tolist()
    with pytest.raises(TaskError, match="--label_column"):
        get_task("news").for_data(DataConfig(data_files=(train,), columns=Columns(label="CATEGORY")))


def test_text_task_trains_saves_and_reloads(tmp_path, tiny_bert):
    from transformers import pipeline

    import train

    frame = pd.DataFrame(rows(240))
    path = write(frame, tmp_path / "tickets", "jsonl")
    out = str(tmp_path / "out")
    result = train.main(
        train_args(tiny_bert, out, "--task", "text", "--data_files", path, "--text_column", "body",
                   "--label_column", "queue", "--num_train_epochs", "4")
    )  # fmt: skip
    assert result["task"] == "text" and result["labels"] == ["food", "sport", "tech"]
    saved = json.loads(Path(out, "results.json").read_text())
    assert saved["data"]["label_counts"]["train"]["food"] > 0
    card = Path(out, "README.md").read_text()
    assert "tickets.jsonl" in card and "queue" in card
    config = json.loads(Path(out, "config.json").read_text())
    assert config["input_columns"] == ["body"] and config["id2label"]["0"] == "food"
    prediction = pipeline("text-classification", model=out)("goal match team")[0]
    assert prediction["label"] in {"food", "sport", "tech"}


@pytest.mark.slow
def test_text_task_under_two_process_accelerate_launch(tmp_path, tiny_bert):
    from test_launch import launch

    frame = pd.DataFrame(rows(300))
    path = write(frame, tmp_path / "tickets", "csv")
    out = str(tmp_path / "out")
    done = launch(2, "--task", "text", "--data_files", path, "--text_column", "body", "--label_column", "queue",
                  *train_args(tiny_bert, out))  # fmt: skip
    results = json.loads(Path(out, "results.json").read_text())
    assert results["world_size"] == 2 and results["labels"] == ["food", "sport", "tech"]
    assert results["data"]["test_size"] == 60
    assert Counter(line.startswith("error") for line in done.stderr.splitlines())[True] == 0


def test_a_recipe_holds_every_generic_option(tmp_path, tiny_bert):
    import train

    frame = pd.DataFrame(rows(200))
    frame["queue"] = frame["queue"].map({"food": 0, "sport": 1, "tech": 2})
    train_path = write(frame.iloc[:160], tmp_path / "train", "tsv")
    test_path = write(frame.iloc[160:], tmp_path / "test", "tsv")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "task: text\n"
        f"train_file: {train_path}\n"
        f"test_file: {test_path}\n"
        "text_column: body\n"
        "label_column: queue\n"
        "labels: [cooking, football, gadgets]\n"
        "group_column: user\n"
        "drop_test_duplicates: true\n"
    )
    out = str(tmp_path / "out")
    result = train.main([str(recipe), *train_args(tiny_bert, out, "--num_train_epochs", "1")])
    assert result["labels"] == ["cooking", "football", "gadgets"]
    assert result["data"]["test_size"] == 40 and result["data"]["task_options"]["labels"] == [
        "cooking",
        "football",
        "gadgets",
    ]
    card = Path(out, "README.md").read_text()
    assert "test: test.tsv" in card and "cooking" in card


HUB_CARD = """---
dataset_info:
  features:
  - name: sentence
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': very bad
          '1': bad
          '2': good
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
  - split: unsupervised
    path: data/unsupervised-*
---
# A dataset repository as the Hub serves it
"""


def test_a_hub_dataset_repository_gives_class_names_and_its_own_splits(tmp_path, caplog):
    """The Hub path itself (``load_dataset``), offline, on a local copy of a dataset repository."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "README.md").write_text(HUB_CARD)
    words = ["awful", "poor", "great"]  # ids 0..2 are "very bad", "bad", "good": not sorted names
    for split, n, labelled in (("train", 90, True), ("test", 30, True), ("unsupervised", 20, False)):
        ids = [i % 3 for i in range(n)]
        frame = pd.DataFrame(
            {"sentence": [f"{words[k]} film {split} {i}" for i, k in enumerate(ids)], "label": ids if labelled else -1}
        )
        frame.to_parquet(repo / "data" / f"{split}-00000-of-00001.parquet")
    with caplog.at_level("INFO"):
        task, splits = build(dataset_name=str(repo), cache_dir=str(tmp_path / "cache"), columns={"text": ("sentence",)})
    assert task.labels == ("very bad", "bad", "good")  # the ClassLabel order, not sorted
    assert splits["test"]["text"][:3] == ["awful film test 0", "poor film test 1", "great film test 2"]
    assert splits["test"]["labels"][:3] == [0, 1, 2]
    assert len(splits["train"]) + len(splits["validation"]) == 90
    assert any("unsupervised" in r.getMessage() and "20 rows" in r.getMessage() for r in caplog.records)


def test_multi_label_list_run_and_its_card_rerendered_by_the_card_command(tmp_path, tiny_bert):
    import train
    from trainer_tasks.commands import main as cli

    rng = random.Random(5)
    records = []
    for i in range(200):
        tags = sorted({topic for topic in TOPICS if rng.random() < 0.4})
        words = [word for tag in tags for word in rng.sample(TOPICS[tag], 2)]
        records.append({"text": f"{' '.join(words)} item {i}", "tags": tags})
    path = write(pd.DataFrame(records), tmp_path / "tagged", "jsonl")
    out = str(tmp_path / "out")
    result = train.main(train_args(tiny_bert, out, "--task", "text", "--data_files", path, "--label_column", "tags"))
    assert result["problem_type"] == "multi_label_classification" and result["labels"] == sorted(TOPICS)
    card = Path(out, "README.md").read_text()
    assert "any number of labels" in card and "Rows with each label" in card
    Path(out, "README.md").unlink()
    assert cli.main(["card", out]) == 0
    assert Path(out, "README.md").read_text() == card
