"""The toxic dataset builder on generated files in the Kaggle and thesis layouts."""

from pathlib import Path

import numpy as np
import pytest

from tasks import DataConfig, TaskError, get_task
from tasks.toxic import LABELS
from trainer_tasks import testing as builders

TOXIC = get_task("toxic")


LAYOUTS = [("kaggle", "train.csv"), ("kaggle", "train.csv.gz"), ("thesis", "val.csv.gz")]


@pytest.mark.parametrize(("layout", "name"), LAYOUTS)
def test_reads_kaggle_and_thesis_layouts_into_float_label_vectors(tmp_path, layout, name):
    path = builders.write_toxic(str(tmp_path / name), n=500, layout=layout)
    splits = TOXIC.build_dataset(DataConfig(data_files=(path,)))
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (360, 40, 100)
    labels = np.array(splits["train"]["labels"])
    assert labels.shape == (360, 6)
    assert set(np.unique(labels)) == {0.0, 1.0}
    assert splits["train"].features["labels"].feature.dtype == "float32"
    # every generated label vector is found again, attached to its cleaned text
    truth = {builders_clean(text): flags for text, flags in builders.toxic_rows(500)}
    for text, flags in zip(splits["test"]["text"], splits["test"]["labels"], strict=True):
        assert truth[text] == [int(f) for f in flags]


def builders_clean(text: str) -> str:
    return text.replace("\n", " ").replace('"', "")


def test_newlines_and_quotes_are_cleaned_as_in_the_thesis(tmp_path):
    path = builders.write_toxic(str(tmp_path / "t.csv"), n=100)
    splits = TOXIC.build_dataset(DataConfig(data_files=(path,)))
    texts = [t for s in splits.values() for t in s["text"]]
    assert not any("\n" in t or '"' in t for t in texts)
    assert any("quoted" in t for t in texts)


def test_thesis_option_keeps_comments_under_200_characters(tmp_path):
    path = builders.write_toxic(str(tmp_path / "t.csv"), n=100)
    lines = Path(path).read_text().split("\n0000000000000005,")
    long_text = "word " * 60
    Path(path).write_text(lines[0] + f"\n0000000000000005,{long_text}" + lines[1][lines[1].index(",") :])
    splits = TOXIC.build_dataset(DataConfig(data_files=(path,), max_text_chars=200))
    texts = [t for s in splits.values() for t in s["text"]]
    assert len(texts) == 99 and max(map(len, texts)) < 200


def test_label_other_than_0_or_1_names_column_and_line(tmp_path):
    path = builders.write_toxic(str(tmp_path / "t.csv"), n=30)
    lines = Path(path).read_text().splitlines()
    lines[-1] = lines[-1][: lines[-1].rindex(",")] + ",2"
    Path(path).write_text("\n".join(lines) + "\n")
    with pytest.raises(TaskError, match=r"identity_hate.*'2'.*t\.csv line"):
        TOXIC.build_dataset(DataConfig(data_files=(path,)))


def test_missing_label_column_lists_found_columns(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,comment_text,toxic\n1,hello,0\n")
    with pytest.raises(TaskError, match=r"missing column.*severe_toxic.*found columns"):
        TOXIC.build_dataset(DataConfig(data_files=(str(path),)))


def test_task_declares_multi_label_head():
    assert TOXIC.problem_type == "multi_label_classification" and TOXIC.labels == LABELS
