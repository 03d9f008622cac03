"""Degenerate runs: refused before training, or flagged in the log, ``results.json`` and the model card."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import train_args
from datasets import Dataset, DatasetDict
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

import train
from tasks import TaskError, get_task
from trainer_tasks.core.boundary import run_entry_point
from trainer_tasks.training.degenerate import RunWarnings, check_label_coverage, check_sequence_length, check_truncation

NEWS, TOXIC = get_task("news"), get_task("toxic")


def train_split(labels) -> DatasetDict:
    return DatasetDict({"train": Dataset.from_dict({"text": ["x"] * len(labels), "labels": labels})})


@settings(max_examples=150, deadline=None)
@given(labels=st.lists(st.integers(0, 3), min_size=1, max_size=40))
def test_single_label_training_split_needs_two_classes_and_flags_each_missing_one(labels):
    warnings = RunWarnings()
    present = sorted(set(labels))
    if len(present) < 2:
        with pytest.raises(TaskError, match="holds only class"):
            check_label_coverage(train_split(labels), NEWS, warnings)
        return
    check_label_coverage(train_split(labels), NEWS, warnings)
    missing = [NEWS.labels[i] for i in range(4) if i not in present]
    assert len(warnings) == (1 if missing else 0)
    for name in missing:
        assert name in warnings[0]


@settings(max_examples=150, deadline=None)
@given(matrix=st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=6, max_size=6), min_size=1, max_size=30))
def test_multi_label_training_split_needs_a_positive_and_flags_labels_without_one(matrix):
    warnings = RunWarnings()
    positives = np.asarray(matrix).sum(axis=0)
    if not positives.any():
        with pytest.raises(TaskError, match="no positive example of any label"):
            check_label_coverage(train_split(matrix), TOXIC, warnings)
        return
    check_label_coverage(train_split(matrix), TOXIC, warnings)
    missing = [TOXIC.labels[i] for i in range(6) if positives[i] == 0]
    assert len(warnings) == (1 if missing else 0)
    assert all(name in warnings[0] for name in missing)


@settings(max_examples=60, deadline=None)
@given(requested=st.integers(1, 2000))
def test_sequence_length_must_leave_room_for_text_and_fit_the_model(tiny_bert, requested):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    special = tokenizer.num_special_tokens_to_add()
    if requested <= special or requested > 512:
        with pytest.raises(TaskError, match="--max_seq_length"):
            check_sequence_length(tokenizer, requested, 512)
    else:
        check_sequence_length(tokenizer, requested, 512)


@settings(max_examples=80, deadline=None)
@given(lengths=st.lists(st.integers(1, 64), min_size=1, max_size=50), limit=st.integers(2, 64))
def test_truncation_is_flagged_above_half_of_the_training_texts(lengths, limit):
    warnings = RunWarnings()
    share = check_truncation(lengths, limit, warnings)
    assert share == pytest.approx(sum(n >= limit for n in lengths) / len(lengths))
    assert bool(warnings) == (share > 0.5)


def run(capsys, argv):
    code = run_entry_point(lambda: train.main(argv))
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("error:")], err


def test_one_training_example_is_refused_before_training(tmp_path, capsys, tiny_bert, news_csv):
    flags = train_args(tiny_bert, str(tmp_path))
    argv = ["--task", "news", "--data_files", news_csv, "--max_train_samples", "1", *flags]
    code, errors, err = run(capsys, argv)
    assert code == 2 and "holds only class" in errors[0] and "Running training" not in err, err


def test_flagged_runs_say_so_in_results_and_card(tmp_path, tiny_bert, news_csv):
    """Two training examples (two classes of four) and texts cut to one token: trains, but never quietly."""
    out = tmp_path / "out"
    flags = train_args(tiny_bert, str(out), "--num_train_epochs", "1")
    data = ["--task", "news", "--data_files", news_csv, "--max_train_samples", "2", "--max_seq_length", "3"]
    results = train.main([*data, *flags])
    assert any("no example in the training split" in warning for warning in results["warnings"])
    assert any("cut to --max_seq_length 3" in warning for warning in results["warnings"])
    assert json.loads((out / "results.json").read_text())["warnings"] == results["warnings"]
    card = (out / "README.md").read_text()
    assert "Warnings from training" in card
    assert all(warning in card for warning in results["warnings"])


def test_a_diverged_run_is_flagged(tmp_path, tiny_bert, news_csv):
    out = tmp_path / "out"
    flags = train_args(tiny_bert, str(out), "--num_train_epochs", "1", "--learning_rate", "1e6")
    results = train.main(["--task", "news", "--data_files", news_csv, *flags])
    assert any("training diverged" in warning for warning in results["warnings"]), results["warnings"]
    assert "training diverged" in (out / "README.md").read_text()
