"""Shared fixtures: tiny real models and data files built by the tests, and the ../shared data."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# Tests never reach the Hub: fail fast instead of retrying DNS for half a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRAINER_TASKS_SHARED", ROOT.parent / "shared"))
# Tokenized-split caches of the session's runs (subprocesses included) go to a folder removed at exit, not ~/.cache.
if "TRAINER_TASKS_CACHE" not in os.environ:
    os.environ["TRAINER_TASKS_CACHE"] = tempfile.mkdtemp(prefix="trainer-tasks-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TRAINER_TASKS_CACHE"], ignore_errors=True)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from trainer_tasks import testing as builders  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A 2-layer BERT (hidden 32) with a WordPiece tokenizer trained in the test session."""
    return builders.build_tiny_model(str(tmp_path_factory.mktemp("tiny-bert")), "bert")


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory) -> str:
    return builders.build_tiny_model(str(tmp_path_factory.mktemp("tiny-distilbert")), "distilbert")


@pytest.fixture(scope="session")
def news_csv(tmp_path_factory) -> str:
    return builders.write_news(str(tmp_path_factory.mktemp("news") / "news.csv"), n=800)


@pytest.fixture(scope="session")
def toxic_csv(tmp_path_factory) -> str:
    return builders.write_toxic(str(tmp_path_factory.mktemp("toxic") / "train.csv"), n=600)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The real data and models beside the project; real-data tests skip, saying why, without them."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"real-data test: {SHARED} not found (set TRAINER_TASKS_SHARED to the shared/ folder)")
    return SHARED


def train_args(model: str, output_dir: str, *extra: str) -> list[str]:
    """Flags for a seconds-long real Trainer run on a tiny model; a flag in ``extra`` replaces the default one.

    (train.py refuses a flag given twice, so overriding a default here means replacing it.)
    """
    defaults = [
        "--model_name_or_path", model, "--output_dir", output_dir,
        "--learning_rate", "3e-3", "--per_device_train_batch_size", "16", "--num_train_epochs", "6",
        "--logging_steps", "5", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--seed", "7",
    ]  # fmt: skip
    overridden = {word for word in extra if word.startswith("--")}
    kept: list[str] = []
    for flag, value in zip(defaults[::2], defaults[1::2], strict=True):
        if flag not in overridden:
            kept += [flag, value]
    return [*kept, *extra]
