"""The news dataset builder on generated files in both UCI layouts."""

from pathlib import Path

import numpy as np
import pytest

from tasks import DataConfig, TaskError, get_task
from tasks.news import LABELS
from trainer_tasks import testing as builders

NEWS = get_task("news")


LAYOUTS = [("kaggle", "news.csv"), ("kaggle", "news.csv.gz"), ("uci", "newsCorpora.csv"), ("uci", "newsCorpora.csv.gz")]


@pytest.mark.parametrize(("layout", "name"), LAYOUTS)
def test_reads_both_layouts_plain_and_gzipped_with_thesis_split_sizes(tmp_path, layout, name):
    path = builders.write_news(str(tmp_path / name), n=1000, layout=layout)
    splits = NEWS.build_dataset(DataConfig(data_files=(path,), seed=1))
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (720, 80, 200)
    assert splits["train"].features["labels"].names == list(LABELS)
    expected = {row["TITLE"] for row in builders.news_rows(1000)}
    assert set(splits["train"]["text"]) | set(splits["validation"]["text"]) | set(splits["test"]["text"]) <= expected


def test_labels_follow_the_category_codes(tmp_path):
    path = builders.write_news(str(tmp_path / "n.csv"), n=200)
    splits = NEWS.build_dataset(DataConfig(data_files=(path,)))
    code_of = {row["TITLE"]: row["CATEGORY"] for row in builders.news_rows(200)}
    for text, label in zip(splits["test"]["text"], splits["test"]["labels"], strict=True):
        assert {"b": "business", "t": "science/tech", "e": "entertainment", "m": "health"}[code_of[text]] == LABELS[
            label
        ]


def test_split_is_seeded_and_pools_several_files(tmp_path):
    first = builders.write_news(str(tmp_path / "a.csv"), n=400, seed=1)
    second = builders.write_news(str(tmp_path / "b.tsv"), n=400, layout="uci", seed=2)
    # the two files repeat IDs 1..400, which is refused; renumber the second to pool them
    lines = Path(second).read_text().splitlines()
    with open(second, "w") as handle:
        handle.write("\n".join(str(1000 + i) + line[line.index("\t") :] for i, line in enumerate(lines)) + "\n")
    config = DataConfig(data_files=(first, second), seed=3)
    once, again = NEWS.build_dataset(config), NEWS.build_dataset(config)
    assert sum(len(s) for s in once.values()) == 800
    assert once["test"]["text"] == again["test"]["text"]


def test_story_split_keeps_each_story_on_one_side(tmp_path):
    path = builders.write_news(str(tmp_path / "n.csv"), n=1200)
    splits = NEWS.build_dataset(DataConfig(data_files=(path,), split="story", seed=0))
    story_of = {row["TITLE"]: row["STORY"] for row in builders.news_rows(1200)}
    sides = {name: {story_of[t] for t in split["text"]} for name, split in splits.items()}
    assert not sides["train"] & sides["test"]
    assert not sides["train"] & sides["validation"]
    assert not sides["validation"] & sides["test"]
    assert 0.1 < len(splits["test"]) / 1200 < 0.3


def test_titles_of_512_or_more_characters_are_dropped(tmp_path):
    path = builders.write_news(str(tmp_path / "n.csv"), n=100)
    lines = Path(path).read_text().splitlines()
    lines[1] = lines[1].replace(lines[1].split(",")[1], "x" * 600, 1)
    Path(path).write_text("\n".join(lines) + "\n")
    splits = NEWS.build_dataset(DataConfig(data_files=(path,)))
    assert sum(len(s) for s in splits.values()) == 99
    assert all(len(t) < 512 for s in splits.values() for t in s["text"])


def test_unknown_category_names_file_line_and_codes(tmp_path):
    path = builders.write_news(str(tmp_path / "n.csv"), n=50)
    text = Path(path).read_text().replace(",b,", ",x,", 1)
    Path(path).write_text(text)
    with pytest.raises(TaskError, match=r"found 'x' at .*n\.csv line 2"):
        NEWS.build_dataset(DataConfig(data_files=(path,)))


def test_toxic_has_no_story_split():
    with pytest.raises(TaskError, match="supports --split"):
        get_task("toxic").build_dataset(DataConfig(data_files=("x.csv",), split="story"))


def test_label_distribution_is_stratified(tmp_path):
    path = builders.write_news(str(tmp_path / "n.csv"), n=2000)
    splits = NEWS.build_dataset(DataConfig(data_files=(path,)))
    counts = np.bincount(splits["test"]["labels"], minlength=4)
    assert counts.min() == counts.max() == 100


def test_hub_dataset_offline_says_to_pass_local_files():
    with pytest.raises(TaskError, match=r"cannot load Hub dataset 'someone/uci-news'.*--data_files"):
        NEWS.build_dataset(DataConfig(dataset_name="someone/uci-news"))


def test_no_data_at_all_says_what_to_pass():
    with pytest.raises(TaskError, match=r"--data_files.*--dataset_name"):
        NEWS.build_dataset(DataConfig())
