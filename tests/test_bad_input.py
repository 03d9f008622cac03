"""Bad input fails with one clear ``TaskError`` naming file, line, column and value, and the fix;
whatever is dropped on purpose is counted in the log.

One test per case of issue 5. Line numbers are the ones an editor shows, also after quoted fields
that span lines.
"""

from __future__ import annotations

import gzip
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, train_args
from transformers import AutoTokenizer

import train
from tasks import DataConfig, TaskError, get_task
from trainer_tasks import testing as builders
from trainer_tasks.training.arguments import DataArguments
from trainer_tasks.training.preprocessing import limit_samples, tokenize_splits

NEWS, TOXIC = get_task("news"), get_task("toxic")
TOXIC_HEADER = "id,comment_text,toxic,severe_toxic,obscene,threat,insult,identity_hate"


def toxic_file(tmp_path: Path, rows: list[str], name: str = "comments.csv") -> str:
    """A Kaggle-layout file: the header, then ``rows`` (line 2 onwards), then 20 good rows."""
    good = [f"{100 + i:04d},a perfectly fine comment number {i},{i % 2},0,0,0,0,0" for i in range(20)]
    path = tmp_path / name
    path.write_text("\n".join([TOXIC_HEADER, *rows, *good]) + "\n", encoding="utf-8")
    return str(path)


def news_file(tmp_path: Path, n: int = 40) -> Path:
    path = tmp_path / "news.csv"
    builders.write_news(str(path), n=n)
    return path


def build(task, *paths: str, **config) -> None:
    task.build_dataset(DataConfig(data_files=tuple(paths), **config))


def test_missing_file(tmp_path):
    with pytest.raises(TaskError, match=r"nope\.csv: no such file; pass an existing file with --data_files"):
        build(NEWS, str(tmp_path / "nope.csv"))


def test_wrong_delimiter_news(tmp_path):
    path = news_file(tmp_path)
    path.write_text(path.read_text().replace(",", ";"))
    with pytest.raises(TaskError) as error:
        build(NEWS, str(path))
    message = str(error.value)
    assert f"{path} line 1" in message and "found 'ID;TITLE;URL" in message
    assert "looks semicolon-separated, not comma-separated: re-save the file comma-separated" in message


def test_wrong_delimiter_toxic(tmp_path):
    path = tmp_path / "tabs.csv"
    path.write_text(TOXIC_HEADER.replace(",", "\t") + "\n1\thello\t0\t0\t0\t0\t0\t0\n")
    with pytest.raises(TaskError) as error:
        build(TOXIC, str(path))
    message = str(error.value)
    assert f"{path} line 1: no text column" in message and "['comment_text', 'text']" in message
    assert "looks tab-separated, not comma-separated: re-save the file comma-separated" in message


def test_missing_text_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(TOXIC_HEADER.replace("comment_text", "body") + "\n1,hello,0,0,0,0,0,0\n")
    with pytest.raises(
        TaskError, match=r"t\.csv line 1: no text column: expected one of .*found columns \['id', 'body'"
    ):
        build(TOXIC, str(path))
    with pytest.raises(TaskError, match="Add or rename the header field"):
        build(TOXIC, str(path))


def test_missing_label_column(tmp_path):
    path = news_file(tmp_path)
    path.write_text(path.read_text().replace("CATEGORY", "TOPIC", 1))
    with pytest.raises(TaskError) as error:
        build(NEWS, str(path))
    message = str(error.value)
    assert f"{path} line 1: missing column(s) ['CATEGORY']" in message and "'TOPIC'" in message
    assert "Add or rename the header field(s)" in message


def test_empty_text(tmp_path):
    path = news_file(tmp_path)
    lines = path.read_text().splitlines()
    fields = lines[5].split(",")
    lines[5] = ",".join([fields[0], "   ", *fields[2:]])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        TaskError, match=rf"column 'TITLE' has no text \(found ''\) at {path} line 6: fill in or remove"
    ):
        build(NEWS, str(path))


def test_nan_text_after_a_multi_line_comment_names_the_editor_line(tmp_path):
    # line 2-4 hold one comment over three lines; the NaN comment is on line 5, the 4th record
    rows = ['0001,"first line\nsecond line\nthird line",0,0,0,0,0,0', "0002,NaN,1,0,0,0,0,0"]
    path = toxic_file(tmp_path, rows)
    with pytest.raises(TaskError) as error:
        build(TOXIC, path)
    assert str(error.value) == (
        f"column 'comment_text' has no text (found 'NaN') at {path} line 5: fill in or remove those rows"
    )


def test_label_outside_the_task_classes(tmp_path):
    path = news_file(tmp_path)
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(",t,", ",sports,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TaskError) as error:
        build(NEWS, str(path))
    message = str(error.value)
    assert "column 'CATEGORY' must hold one of the task's classes [b (business), t (science/tech)" in message
    assert f"found 'sports' at {path} line 4: correct or remove those rows" in message


def test_multi_label_value_other_than_0_or_1(tmp_path):
    path = toxic_file(tmp_path, ["0001,hello there,0,0,0,yes,0,0"])
    with pytest.raises(TaskError) as error:
        build(TOXIC, path)
    message = str(error.value)
    assert "column 'threat' must hold 0 or 1" in message and f"found 'yes' at {path} line 2" in message
    assert "set it to 0 or 1, or remove those rows" in message


def test_short_row_is_named_by_its_line(tmp_path):
    path = toxic_file(tmp_path, ["0001,a comment,0,0", "0002,another comment,0,0,0,0,0,0"])
    with pytest.raises(TaskError, match=rf"column 'obscene' must hold 0 or 1.*found '' at {path} line 2"):
        build(TOXIC, path)


def test_duplicated_ids(tmp_path):
    path = toxic_file(tmp_path, ["0001,hello,0,0,0,0,0,0", "0002,hi,0,0,0,0,0,0", "0001,hello again,0,0,0,0,0,0"])
    with pytest.raises(TaskError) as error:
        build(TOXIC, path)
    message = str(error.value)
    assert f"column 'id' repeats the value '0001' (and maybe others) at {path} line 2, {path} line 4" in message
    assert "remove the repeated rows or pass each file only once" in message


def test_the_same_file_twice_is_a_duplicate(tmp_path):
    path = str(news_file(tmp_path))
    with pytest.raises(TaskError, match=r"column 'ID' repeats .*pass each file only once"):
        build(NEWS, path, path)


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "latin1.csv.gz"
    text = "\n".join([TOXIC_HEADER, "0001,fine,0,0,0,0,0,0", "0002,caf\xe9 au lait,0,0,0,0,0,0"]) + "\n"
    path.write_bytes(gzip.compress(text.encode("latin-1")))
    with pytest.raises(TaskError) as error:
        build(TOXIC, str(path))
    assert str(error.value) == (
        f"{path} line 3: byte 0xe9 at character 9 is not UTF-8 text; "
        "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 IN > OUT)"
    )


def test_utf16_spreadsheet_export(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes((TOXIC_HEADER + "\n0001,hello,0,0,0,0,0,0\n").encode("utf-16"))
    with pytest.raises(TaskError, match=r"export\.csv: is UTF-16 text.*re-save the file as UTF-8"):
        build(TOXIC, str(path))


def test_unquoted_delimiter_inside_a_field(tmp_path):
    path = toxic_file(tmp_path, ["0001,hello, world,0,0,0,0,0,0"])
    with pytest.raises(TaskError) as error:
        build(TOXIC, path)
    assert str(error.value).startswith(
        f"{path} line 2: 9 comma-separated fields where the header has 8; a field that contains a comma must be "
        "in double quotes"
    )


def test_unclosed_quote(tmp_path):
    path = toxic_file(tmp_path, ['0001,"never closed,0,0,0,0,0,0'])
    with pytest.raises(TaskError, match=rf"{path} near line 2: a double quote opens a field that never closes"):
        build(TOXIC, path)


def test_workbook_instead_of_csv(tmp_path):
    path = tmp_path / "comments.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(TaskError, match=r"comments\.xlsx: is a zip archive .*export the sheet as CSV"):
        build(TOXIC, str(path))


def test_damaged_gzip(tmp_path):
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(Path(news_file(tmp_path)).read_bytes())[:300])
    with pytest.raises(TaskError, match=r"cut\.csv\.gz: gzip data damaged or cut short .*compress or fetch it again"):
        build(NEWS, str(path))


def test_empty_split_after_filtering_counts_what_was_dropped(tmp_path, caplog):
    path = news_file(tmp_path)
    with caplog.at_level(logging.INFO), pytest.raises(TaskError) as error:
        build(NEWS, str(path), max_text_chars=10)
    assert str(error.value) == (
        f"{path}: only 0 rows are left after reading and cleaning: --max_text_chars 10 dropped 40 of 40 texts with "
        f"10+ characters ({path}: 40); splitting into train/validation/test needs at least 3: raise "
        "--max_text_chars or provide shorter texts"
    )
    assert "dropped 40 of 40 texts with 10+ characters (--max_text_chars 10)" in caplog.text


def test_too_few_rows_without_any_filter_names_the_file(tmp_path):
    path = news_file(tmp_path, n=2)
    with pytest.raises(TaskError, match=rf"^{path}: only 2 rows are left after reading and cleaning"):
        build(NEWS, str(path))


def test_header_only_file(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(TOXIC_HEADER + "\r\n\r\n")
    with pytest.raises(TaskError) as error:
        build(TOXIC, str(path))
    assert str(error.value) == (
        f"{path}: has a header but no data rows; add rows below the header (line 1), or leave this file out of "
        "--data_files"
    )


def test_invisible_text_is_an_empty_text(tmp_path):
    path = toxic_file(tmp_path, ["0001,\u200b\u200d\ufeff\u2060\u00ad,0,0,0,0,0,0"])
    with pytest.raises(TaskError) as error:
        build(TOXIC, path)
    assert str(error.value) == (
        f"column 'comment_text' has no text (found '\\u200b\\u200d\\ufeff\\u2060\\xad') at {path} line 2: "
        "fill in or remove those rows"
    )


def test_single_class_news_is_refused(tmp_path):
    path = news_file(tmp_path, n=12)
    path.write_text(path.read_text().replace(",t,", ",b,").replace(",e,", ",b,").replace(",m,", ",b,"))
    with pytest.raises(TaskError) as error:
        build(NEWS, str(path))
    assert str(error.value) == (
        f"{path}: all 12 rows left after reading and cleaning have the class 'business (b)' (class counts: "
        "business (b) 12, science/tech (t) 0, entertainment (e) 0, health (m) 0); a classifier needs rows of at "
        "least 2 classes: add rows of the other classes (or pass the other files too)"
    )


def test_toxic_without_any_positive_is_refused(tmp_path):
    path = tmp_path / "clean.csv"
    path.write_text(TOXIC_HEADER + "\n" + "".join(f"{i},comment {i},0,0.0,0,0,0,0\n" for i in range(10)))
    with pytest.raises(
        TaskError, match=rf"^{path}: all 10 rows left .* have no label set \(all 0\) \(rows per label: "
    ):
        build(TOXIC, str(path))


def test_utf16_message_says_how_to_convert_utf16(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes((TOXIC_HEADER + "\n0001,hello,0,0,0,0,0,0\n").encode("utf-16"))
    with pytest.raises(TaskError, match=r"iconv -f utf-16 -t utf-8"):
        build(TOXIC, str(path))


def test_split_sizes_that_leave_a_part_empty(tmp_path):
    path = news_file(tmp_path, n=4)
    with pytest.raises(TaskError, match=r"cannot split 4 rows with --test_size 0\.9 .*change those sizes"):
        build(NEWS, str(path), test_size=0.9)


def test_every_drop_is_counted_in_the_log(tmp_path, caplog, tiny_bert):
    path = news_file(tmp_path, n=200)
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace(lines[1].split(",")[1], "x" * 600, 1)
    path.write_text("\n".join([*lines[:50], "", "", *lines[50:]]) + "\n")
    data_args = DataArguments(max_train_samples=100, max_seq_length=8)
    with caplog.at_level(logging.INFO):
        raw = limit_samples(NEWS.build_dataset(DataConfig(data_files=(str(path),))), data_args)
        tokenize_splits(raw, AutoTokenizer.from_pretrained(tiny_bert), data_args)
    assert f"{path}: skipped 2 blank line(s)" in caplog.text
    assert "dropped 1 of 200 texts with 512+ characters" in caplog.text
    assert "split 199 rows: train 143, validation 16, test 40" in caplog.text
    assert "kept the first 100 of 143 train examples" in caplog.text
    assert "texts reached 8 tokens and were truncated" in caplog.text


def test_unknown_task_lists_the_known_ones(tmp_path):
    known = r"unknown task 'sentiment'; known tasks: news, text, toxic.*path/to/file\.py:NAME"
    with pytest.raises(TaskError, match=known):
        train.main(["--task", "sentiment", "--output_dir", str(tmp_path)])


def test_checkpoint_fine_tuned_for_other_labels(tmp_path, tiny_bert, news_csv, toxic_csv):
    news_model = str(tmp_path / "news-model")
    flags = train_args(tiny_bert, news_model, "--num_train_epochs", "1", "--max_train_samples", "32")
    train.main(["--task", "news", "--data_files", news_csv, *flags])
    with pytest.raises(TaskError) as error:
        train.main(["--task", "toxic", "--data_files", toxic_csv, *train_args(news_model, str(tmp_path / "toxic"))])
    assert str(error.value) == (
        f"{news_model} was fine-tuned for labels ['business', 'science/tech', 'entertainment', 'health'], but task "
        "'toxic' has ['toxic', 'severe_toxic', 'obscene', 'threat', 'insult', 'identity_hate']; start from a base "
        "checkpoint or one trained on this task"
    )


@pytest.mark.slow
def test_command_line_prints_one_line_not_a_traceback(tmp_path):
    missing = str(tmp_path / "missing.csv")
    command = [sys.executable, str(ROOT / "train.py"), "--task", "news", "--data_files", missing]
    done = subprocess.run([*command, "--output_dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1]
        == f"error: {missing}: no such file; pass an existing file with --data_files"
    )
    assert "Traceback" not in done.stderr
