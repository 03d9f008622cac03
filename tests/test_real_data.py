"""Real-data tests on ../shared (skipped, with the reason, where it is absent)."""

import numpy as np
import pytest
from transformers import AutoTokenizer, pipeline

import train
from tasks import DataConfig, get_task
from tasks.base import Columns

pytestmark = pytest.mark.real_data

NEWS_FILE = "data/news/uci-news-aggregator.csv.gz"
TOXIC_FILES = ("data/toxic/thesis_val.csv.gz", "data/toxic/thesis_test.csv.gz")


def test_news_builder_on_the_full_uci_file(shared):
    splits = get_task("news").build_dataset(DataConfig(data_files=(str(shared / NEWS_FILE),), seed=42))
    sizes = {name: len(split) for name, split in splits.items()}
    assert sum(sizes.values()) == 422_937  # no title reaches 512 characters
    assert sizes == {"train": 304_514, "validation": 33_835, "test": 84_588}
    counts = np.bincount(
        np.concatenate([split["labels"] for split in splits.values()]), minlength=4
    )  # business, science/tech, entertainment, health
    assert counts.tolist() == [115_967, 108_503, 152_828, 45_639]


def test_news_story_split_on_the_full_file(shared):
    splits = get_task("news").build_dataset(DataConfig(data_files=(str(shared / NEWS_FILE),), split="story", seed=42))
    assert sum(len(s) for s in splits.values()) == 422_937
    assert 0.15 < len(splits["test"]) / 422_937 < 0.25


def test_toxic_builder_on_the_thesis_files(shared):
    files = tuple(str(shared / f) for f in TOXIC_FILES)
    splits = get_task("toxic").build_dataset(DataConfig(data_files=files, seed=42))
    assert sum(len(s) for s in splits.values()) == 21_892
    labels = np.concatenate([np.array(s["labels"]) for s in splits.values()])
    # positives per label, val + test, from data/SOURCES.md
    assert labels.sum(axis=0).astype(int).tolist() == [2833, 314, 1632, 98, 1516, 268]
    thesis = get_task("toxic").build_dataset(DataConfig(data_files=files, seed=42, max_text_chars=200))
    assert sum(len(s) for s in thesis.values()) == 21_892  # the thesis files are already < 200 chars


def label_counts_per_split(task, splits) -> dict[str, dict[str, float]]:
    """Rows per label name in each split (multi-label: rows with the label set)."""
    counts = {}
    for name, split in splits.items():
        values = np.array(split["labels"])
        totals = values.sum(axis=0) if task.is_multi_label else np.bincount(values, minlength=len(task.labels))
        counts[name] = dict(zip(task.labels, totals.tolist(), strict=True))
    return counts


@pytest.mark.parametrize("split", ["random", "story"])
def test_generic_task_reads_the_news_file_as_the_news_task_does(shared, split):
    path = (str(shared / NEWS_FILE),)
    news = get_task("news")
    expected = label_counts_per_split(news, news.build_dataset(DataConfig(data_files=path, split=split, seed=42)))
    columns = Columns(text=("TITLE",), label="CATEGORY")
    config = DataConfig(data_files=path, seed=42, columns=columns, group_column="STORY" if split == "story" else None)
    text = get_task("text").for_data(config)
    assert text.labels == ("b", "e", "m", "t") and not text.is_multi_label
    found = label_counts_per_split(text, text.build_dataset(config))
    codes = {"business": "b", "science/tech": "t", "entertainment": "e", "health": "m"}
    assert found == {name: {codes[k]: v for k, v in counts.items()} for name, counts in expected.items()}


def test_generic_task_reads_the_toxic_files_as_the_toxic_task_does(shared):
    files = tuple(str(shared / f) for f in TOXIC_FILES)
    toxic = get_task("toxic")
    expected = label_counts_per_split(toxic, toxic.build_dataset(DataConfig(data_files=files, seed=42)))
    config = DataConfig(data_files=files, seed=42, columns=Columns(label_columns=tuple(toxic.labels)))
    text = get_task("text").for_data(config)
    assert text.labels == toxic.labels and text.is_multi_label
    assert label_counts_per_split(text, text.build_dataset(config)) == expected


def test_thesis_tokenizer_ids(shared):
    tokenizer = AutoTokenizer.from_pretrained(str(shared / "models/bert-base-uncased-tokenizer"))
    ids = tokenizer("one but two flagrantly fake thunderstorms")["input_ids"]
    assert ids == [101, 2028, 2021, 2048, 5210, 17884, 2135, 8275, 8505, 19718, 2015, 102]


@pytest.mark.slow
def test_minilm_fine_tune_on_real_headlines_beats_majority(shared, tmp_path):
    results = train.main(
        [
            "--task", "news", "--data_files", str(shared / NEWS_FILE), "--split", "story",
            "--model_name_or_path", str(shared / "models/all-MiniLM-L6-v2"),
            "--max_train_samples", "3000", "--max_eval_samples", "300", "--max_predict_samples", "1000",
            "--num_train_epochs", "1", "--per_device_train_batch_size", "32", "--learning_rate", "1e-4",
            "--output_dir", str(tmp_path), "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    test_labels = get_task("news").build_dataset(
        DataConfig(data_files=(str(shared / NEWS_FILE),), split="story", seed=42)
    )["test"]["labels"][:1000]
    majority = np.bincount(test_labels).max() / len(test_labels)
    accuracy = results["test_metrics"]["test_accuracy"]
    assert accuracy > majority + 0.3, (accuracy, majority)
    predictions = pipeline("text-classification", model=str(tmp_path))(["Stocks slide as bond yields climb"])
    assert predictions[0]["label"] in {"business", "science/tech", "entertainment", "health"}
