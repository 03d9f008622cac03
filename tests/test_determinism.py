"""Same seed, same data, same machine: the same metrics, to the last bit."""

from __future__ import annotations

import pytest
from conftest import train_args

import train

TIMINGS = ("runtime", "samples_per_second", "steps_per_second")


def run(model: str, data: str, out: str, *extra: str) -> dict:
    flags = train_args(model, out, "--num_train_epochs", "2", "--max_train_samples", "160", *extra)
    return train.main(["--task", "toxic", "--data_files", data, *flags, "--max_eval_samples", "48"])


def metrics(results: dict) -> dict:
    return {key: value for key, value in results["test_metrics"].items() if not key.endswith(TIMINGS)}


def losses(results: dict) -> list:
    return [(row["train_loss"], row["val_loss"], row["val_metric"]) for row in results["epochs"]]


@pytest.fixture(scope="module")
def first(tmp_path_factory, tiny_distilbert, toxic_csv) -> dict:
    return run(tiny_distilbert, toxic_csv, str(tmp_path_factory.mktemp("first")))


def test_same_seed_gives_identical_metrics(tmp_path, first, tiny_distilbert, toxic_csv):
    # dropout on, length-grouped shuffling, a random split and a freshly initialised head: all seeded
    again = run(tiny_distilbert, toxic_csv, str(tmp_path))
    assert metrics(again) == metrics(first)  # exact: no tolerance
    assert losses(again) == losses(first)
    assert again["data"] == first["data"]


def test_another_seed_gives_another_run(tmp_path, first, tiny_distilbert, toxic_csv):
    """The check above is not vacuous: the seed does reach the split, the head and the batches."""
    other = run(tiny_distilbert, toxic_csv, str(tmp_path), "--seed", "8")
    assert metrics(other)["test_loss"] != metrics(first)["test_loss"]
    assert losses(other) != losses(first)
