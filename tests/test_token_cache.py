"""Tokenize once: a re-run with the same data, tokenizer and options reads the tokenized splits back from disk,
any change tokenizes again, and a damaged cache file is rebuilt rather than read or crashed on."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from conftest import train_args
from datasets import DatasetDict
from transformers import AutoTokenizer

import train
from tasks import DataConfig, TaskError, get_task
from trainer_tasks.training.arguments import DataArguments
from trainer_tasks.training.parsing import parse_args
from trainer_tasks.training.preprocessing import limit_samples, tokenize_splits
from trainer_tasks.training.token_cache import cache_folder

REUSED = "tokenized splits: reused from"
CACHED = "tokenized splits: tokenized and cached in"


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch) -> Path:
    """Each test its own cache: hits come only from what the test itself wrote."""
    monkeypatch.setenv("TRAINER_TASKS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tokenized"


@pytest.fixture(scope="module")
def raw(news_csv):
    return build(news_csv)


def build(path: str):
    return limit_samples(get_task("news").build_dataset(DataConfig(data_files=(path,))), DataArguments(task="news"))


def tokenize(raw, tokenizer, caplog, **options):
    """The splits and the one log line saying what became of them."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="trainer_tasks"):
        splits = tokenize_splits(raw, tokenizer, DataArguments(task="news", **options))
    lines = [record.getMessage() for record in caplog.records if "tokenized splits:" in record.getMessage()]
    assert len(lines) == 1, lines
    return splits, lines[0]


def as_lists(splits) -> dict:
    return {name: split.to_dict() for name, split in splits.items()}


def test_second_run_reuses_the_splits_and_returns_the_same_inputs(raw, tiny_bert, caplog, cache_root):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    first, line = tokenize(raw, tokenizer, caplog)
    assert line.startswith(CACHED) and str(cache_root) in line
    files = sorted(path.name for path in cache_root.iterdir())
    assert [name.split("-", 1)[1] for name in files] == ["test.arrow", "train.arrow", "validation.arrow"]
    assert f"(fingerprint {files[0].split('-')[0]})" in line  # the log names the files' prefix

    second, line = tokenize(raw, AutoTokenizer.from_pretrained(tiny_bert), caplog)
    assert line.startswith(REUSED) and str(cache_root) in line
    assert as_lists(second) == as_lists(first)
    assert second["train"].features == first["train"].features  # class names kept (ClassLabel)
    assert second["train"].column_names == first["train"].column_names
    # no text in the files: token ids, masks, lengths and labels only
    headline = raw["train"][0]["text"]
    assert not any(headline.encode() in path.read_bytes() for path in cache_root.iterdir())


def test_tokenizer_is_known_by_its_content_not_its_folder_or_last_call(raw, tiny_bert, tmp_path, caplog):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    tokenize(raw, tokenizer, caplog)
    copy = shutil.copytree(tiny_bert, tmp_path / "copy")
    moved = AutoTokenizer.from_pretrained(copy)
    moved("a headline", truncation=True, max_length=5)  # leaves its truncation setting in the backend
    assert tokenize(raw, moved, caplog)[1].startswith(REUSED)


def test_truncation_warning_is_logged_on_a_hit_too(raw, tiny_bert, caplog):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    for expected in (CACHED, REUSED):
        splits, line = tokenize(raw, tokenizer, caplog, max_seq_length=6)
        assert line.startswith(expected)
        assert "train texts reached 6 tokens and were truncated" in caplog.text
    assert max(splits["train"]["length"]) == 6


@pytest.mark.parametrize("change", ["one text", "max_seq_length", "padding", "tokenizer"])
def test_any_change_tokenizes_again(change, raw, tiny_bert, news_csv, tmp_path, caplog):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    first, _ = tokenize(raw, tokenizer, caplog, max_seq_length=32)
    options = {"max_seq_length": 32}
    if change == "one text":
        lines = Path(news_csv).read_text().splitlines()
        title = lines[1].split(",")[1]
        lines[1] = lines[1].replace(title, title + " again", 1)
        edited = tmp_path / "news.csv"
        edited.write_text("\n".join(lines) + "\n")
        raw = build(str(edited))
    elif change == "max_seq_length":
        options = {"max_seq_length": 8}
    elif change == "padding":
        options = {"max_seq_length": 32, "pad_to_max_length": True}
    else:
        tokenizer.add_tokens(["zzyzx"])
    second, line = tokenize(raw, tokenizer, caplog, **options)
    assert line.startswith(CACHED), line
    changed = [name for name in first if first[name].to_dict() != second[name].to_dict()]
    expected = {"one text": 1, "max_seq_length": 3, "padding": 3, "tokenizer": 0}[change]  # a new token, unused
    assert len(changed) == expected, changed


def test_a_selection_is_known_by_the_rows_it_holds(raw, tiny_bert, caplog):
    """A slice (--max_*_samples) and an indices mapping (a filtered split) are keyed on their rows, not on the
    table under them."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    rows = len(raw["train"]) // 2
    selections = {
        "first half": raw["train"].select(range(rows)),
        "second half": raw["train"].select(range(rows, 2 * rows)),
        "even rows": raw["train"].select(range(0, 2 * rows, 2)),
        "odd rows": raw["train"].select(range(1, 2 * rows, 2)),
    }
    for name, selection in selections.items():
        _, line = tokenize(DatasetDict({**raw, "train": selection}), tokenizer, caplog)
        assert line.startswith(CACHED), name
    again = DatasetDict({**raw, "train": raw["train"].select(range(1, 2 * rows, 2))})
    splits, line = tokenize(again, tokenizer, caplog)
    assert line.startswith(REUSED)
    assert splits["train"]["labels"][:] == again["train"]["labels"][:]


def test_two_workers_give_what_one_gives(raw, tiny_bert, caplog):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    alone, _ = tokenize(raw, tokenizer, caplog, token_cache=False)
    parallel, line = tokenize(raw, tokenizer, caplog, preprocessing_num_workers=2)
    assert line.startswith(CACHED)
    assert as_lists(parallel) == as_lists(alone)
    reread, line = tokenize(raw, tokenizer, caplog, preprocessing_num_workers=1)  # workers are not in the key
    assert line.startswith(REUSED) and as_lists(reread) == as_lists(alone)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_file_is_tokenized_again_and_replaced(damage, raw, tiny_bert, caplog, cache_root):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    first, _ = tokenize(raw, tokenizer, caplog)
    (path,) = cache_root.glob("*-train.arrow")
    content = path.read_bytes()
    damaged = {"truncated": content[: len(content) // 2], "garbage": b"\x00not arrow" * 50, "empty": b""}
    path.write_bytes(damaged[damage])

    second, line = tokenize(raw, tokenizer, caplog)
    assert f"tokenized split {path} is unreadable" in caplog.text
    assert "validation, test reused from" in line and "train tokenized and cached" in line
    assert as_lists(second) == as_lists(first)
    assert path.read_bytes() == content  # rewritten whole
    assert tokenize(raw, tokenizer, caplog)[1].startswith(REUSED)
    assert not list(cache_root.glob(".*"))  # no temporary file left behind


def test_a_folder_that_cannot_be_written_only_costs_the_reuse(raw, tiny_bert, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with caplog.at_level(logging.INFO, logger="trainer_tasks"):
        splits = tokenize_splits(raw, AutoTokenizer.from_pretrained(tiny_bert), DataArguments(), cache_dir=str(blocker))
    assert "could not keep the tokenized train split" in caplog.text
    assert "tokenized splits: tokenized and not cached" in caplog.text
    assert len(splits["train"]) == len(raw["train"])


def test_cache_folder_follows_cache_dir_then_the_variable_then_xdg(monkeypatch, tmp_path):
    assert cache_folder("/data/hf") == "/data/hf/tokenized"
    assert cache_folder(None) == str(tmp_path / "cache" / "tokenized")
    monkeypatch.delenv("TRAINER_TASKS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert cache_folder(None) == "/xdg/trainer-tasks/tokenized"


def test_options_parse(tmp_path, tiny_bert):
    flags = ["--task", "news", *train_args(tiny_bert, str(tmp_path))]
    data_args = parse_args(train.ARGUMENT_TYPES, [*flags, "--no_token_cache", "--preprocessing_num_workers", "2"])[1]
    assert (data_args.token_cache, data_args.preprocessing_num_workers) == (False, 2)
    assert parse_args(train.ARGUMENT_TYPES, [*flags, "--token_cache", "false"])[1].token_cache is False
    assert parse_args(train.ARGUMENT_TYPES, flags)[1].token_cache is True
    with pytest.raises(TaskError, match="preprocessing_num_workers must be a positive number"):
        parse_args(train.ARGUMENT_TYPES, [*flags, "--preprocessing_num_workers", "0"])


def test_a_second_training_run_reuses_the_splits_and_gets_the_same_results(tmp_path, tiny_bert, news_csv, caplog):
    """The whole entrypoint twice, same seed: the second run reads the first's splits and ends where it did."""
    results, lines = [], []
    for run in ("first", "second"):
        flags = train_args(tiny_bert, str(tmp_path / run), "--num_train_epochs", "3", "--max_train_samples", "200")
        flags += ["--task", "news", "--data_files", news_csv, "--cache_dir", str(tmp_path)]
        caplog.clear()
        with caplog.at_level(logging.INFO):
            results.append(train.main(flags))
        lines.append([record.getMessage() for record in caplog.records if "tokenized splits:" in record.getMessage()])
    assert len(lines[0]) == 1 and lines[0][0].startswith(f"{CACHED} {tmp_path / 'tokenized'} (fingerprint "), lines
    assert lines[1] == [lines[0][0].replace(CACHED, REUSED)], lines  # the same folder and fingerprint
    timing = ("test_runtime", "test_samples_per_second", "test_steps_per_second")
    scores = [{key: value for key, value in result["test_metrics"].items() if key not in timing} for result in results]
    assert scores[1] == scores[0] and scores[0]["test_accuracy"] > 0.25  # learned something, identically
    losses = [[(epoch["train_loss"], epoch["val_loss"]) for epoch in result["epochs"]] for result in results]
    assert losses[1] == losses[0]
