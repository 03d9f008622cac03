"""The reading layer of the generic task: every input form into a frame with file and place columns.

Round trips write generated frames (texts with commas, quotes, tabs, line breaks and non-ASCII) in
every format, plain and gzipped, and read them back: CSV/TSV values as strings, JSON Lines and
Parquet values with their own types, and ``ROW_COLUMN`` the line an editor shows (or the row).
Bad input of any kind is one ``TaskError`` line naming the file and place, never a traceback.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tasks import DataConfig, TaskError, data
from tasks.readers import FILE_FORMATS, DatasetSplits, detect_format, read_dataset, read_file

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same examples on every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
# What breaks readers: delimiters, quotes, tabs, line breaks, backslashes, JSON syntax, non-ASCII, invisible marks.
ALPHABET = [*"abc XYZ09", *",;|\"'\t\n\\{}[]:", "é", "€", "😀", "ß", "\u200b", "\u00a0"]
TEXT = st.text(alphabet=st.sampled_from(ALPHABET), max_size=25)
LABEL = st.integers(min_value=-5, max_value=1000)
TAGS = st.lists(st.text(alphabet=st.sampled_from([*'abc ,"\n', "é"]), max_size=5), max_size=3)
COUNTER = itertools.count()


def fresh(tmp_path: Path, name: str) -> Path:
    """A path in a folder of its own: hypothesis runs many examples in one test's tmp_path."""
    folder = tmp_path / f"example{next(COUNTER)}"
    folder.mkdir()
    return folder / name


def one_line(error: pytest.ExceptionInfo) -> str:
    """The message, checked to be one line: the CLI prints it as is."""
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def as_json(values: object) -> str:
    """Values compared with their types: 1, 1.0, True and "1" all differ here."""
    return json.dumps(values, ensure_ascii=False)


def records(frame: pd.DataFrame) -> list[dict]:
    return frame[data.data_columns(frame)].to_dict("records")


# ---------------------------------------------------------------------------------------------- round trips


@st.composite
def text_rows(draw) -> list[dict]:
    return draw(st.lists(st.fixed_dictionaries({"text": TEXT, "title": TEXT, "label": LABEL}), min_size=1, max_size=12))


@SETTINGS
@given(rows=text_rows(), file_format=st.sampled_from(["csv", "tsv"]), zipped=st.booleans(), by_pandas=st.booleans())
def test_csv_tsv_round_trip(tmp_path, rows, file_format, zipped, by_pandas):
    """Values come back as the strings written; each row's line is where its record starts in the file."""
    sep = "," if file_format == "csv" else "\t"
    path = fresh(tmp_path, f"data.{file_format}" + (".gz" if zipped else ""))
    if by_pandas:
        pd.DataFrame(rows).to_csv(path, sep=sep, index=False, compression="gzip" if zipped else None)
    else:
        with (gzip.open if zipped else open)(path, "wt", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, ["text", "title", "label"], delimiter=sep, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    frame = read_file(str(path))
    assert records(frame) == [{key: str(value) for key, value in row.items()} for row in rows]
    starts, line = [], 2
    for row in rows:
        starts.append(line)
        line += 1 + sum(str(value).count("\n") for value in row.values())
    assert frame[data.ROW_COLUMN].tolist() == starts
    assert set(frame[data.SOURCE_COLUMN]) == {str(path)}


@st.composite
def json_records(draw) -> list[dict]:
    """Objects with some keys missing on some lines, values of every JSON type."""
    values = {
        "text": TEXT,
        "label": st.one_of(LABEL, TEXT, st.none()),
        "tags": TAGS,
        "score": st.floats(allow_nan=False, allow_infinity=False),
        "flag": st.booleans(),
    }
    row = st.lists(st.sampled_from(list(values)), unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({key: values[key] for key in keys})
    )
    return draw(st.lists(row, min_size=1, max_size=12))


@SETTINGS
@given(
    rows=json_records(),
    blanks=st.lists(st.tuples(st.integers(0, 12), st.sampled_from(["", "  ", "\t", "\r", "\u200b"])), max_size=4),
    zipped=st.booleans(),
    ascii_only=st.booleans(),
    crlf=st.booleans(),
)
def test_jsonl_round_trip(tmp_path, rows, blanks, zipped, ascii_only, crlf):
    """JSON types survive, missing keys are None, blank lines are skipped and the rows keep their line numbers."""
    lines = [json.dumps(row, ensure_ascii=ascii_only) for row in rows]
    for position, blank in sorted(blanks, reverse=True):
        lines.insert(min(position, len(lines)), blank)
    path = fresh(tmp_path, "data.jsonl" + (".gz" if zipped else ""))
    ending = "\r\n" if crlf else "\n"
    with (gzip.open if zipped else open)(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(ending.join(lines) + ending)
    frame = read_file(str(path))
    keys = list(dict.fromkeys(key for row in rows for key in row))
    assert data.data_columns(frame) == keys
    assert as_json(records(frame)) == as_json([{key: row.get(key) for key in keys} for row in rows])
    object_lines = [number for number, line in enumerate(lines, start=1) if line.startswith("{")]
    assert frame[data.ROW_COLUMN].tolist() == object_lines


@SETTINGS
@given(rows=json_records(), zipped=st.booleans())
def test_parquet_round_trip(tmp_path, rows, zipped):
    """Parquet keeps ints, floats, lists and nulls as Python values; rows are numbered from 1."""
    schema = pa.schema(
        [("text", pa.string()), ("tags", pa.list_(pa.string())), ("score", pa.float64()), ("flag", pa.bool_())]
    )
    table = pa.Table.from_pylist([{key: row.get(key) for key in schema.names} for row in rows], schema=schema)
    table = table.append_column(
        "label", pa.array([row.get("label") if isinstance(row.get("label"), int) else None for row in rows], pa.int64())
    )
    path = fresh(tmp_path, "data.parquet" + (".gz" if zipped else ""))
    plain = path.with_name("plain.parquet")
    pq.write_table(table, plain)
    if zipped:
        path.write_bytes(gzip.compress(plain.read_bytes()))
    frame = read_file(str(path) if zipped else str(plain))
    assert as_json(records(frame)) == as_json(table.to_pylist())
    assert frame[data.ROW_COLUMN].tolist() == list(range(1, len(rows) + 1))


def test_parquet_from_pandas_leaves_out_its_index(tmp_path):
    """A filtered frame's to_parquet stores its index as a column: a position, not data."""
    path = tmp_path / "data.parquet"
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 0]})
    frame[frame.label == 0].to_parquet(path)
    read = read_file(str(path))
    assert records(read) == [{"text": "a", "label": 0}, {"text": "c", "label": 0}]
    assert type(read["label"].iloc[0]) is int


CLASS_NAME = st.text(alphabet=st.sampled_from([*"abcXYZ _-", "é", "😀"]), min_size=1, max_size=6)


@settings(SETTINGS, max_examples=10)
@given(
    names=st.lists(CLASS_NAME, min_size=2, max_size=5, unique=True),
    data_=st.data(),
    zipped=st.booleans(),
)
def test_parquet_written_by_datasets_gives_class_names_not_ids(tmp_path, names, data_, zipped):
    """``Dataset.to_parquet`` keeps the features in the schema's metadata: ClassLabel ids (and lists of them)
    come back as their names, -1 as no label; an id outside the names is an error naming its row."""
    size = data_.draw(st.integers(1, 8))
    single = data_.draw(st.lists(st.integers(-1, len(names) - 1), min_size=size, max_size=size))
    multi = data_.draw(st.lists(st.lists(st.integers(0, len(names) - 1), max_size=3), min_size=size, max_size=size))
    features = Features(
        {"text": Value("string"), "label": ClassLabel(names=names), "tags": List(ClassLabel(names=names))}
    )
    dataset = Dataset.from_dict({"text": [f"t{i}" for i in range(size)], "label": single, "tags": multi}, features)
    plain = fresh(tmp_path, "data.parquet")
    dataset.to_parquet(str(plain))
    path = plain
    if zipped:
        path = plain.with_name("data.parquet.gz")
        path.write_bytes(gzip.compress(plain.read_bytes()))
    frame = read_file(str(path))
    assert frame["label"].tolist() == [names[i] if i >= 0 else None for i in single]
    assert frame["tags"].tolist() == [[names[i] for i in ids] for ids in multi]

    table = pq.read_table(plain)
    bad_row = data_.draw(st.integers(0, size - 1))
    labels = table.column("label").to_pylist()
    labels[bad_row] = len(names) + 3
    broken = table.set_column(table.column_names.index("label"), "label", pa.array(labels, pa.int64()))
    broken_path = plain.with_name("broken.parquet")
    pq.write_table(broken.replace_schema_metadata(table.schema.metadata), broken_path)
    with pytest.raises(TaskError) as error:
        read_file(str(broken_path))
    assert f"row {bad_row + 1}:" in one_line(error) and "ClassLabel" in one_line(error)


@pytest.mark.parametrize("file_format", ["csv", "tsv"])
@pytest.mark.parametrize("zipped", [False, True])
def test_headerless_files_take_column_names(tmp_path, file_format, zipped):
    sep = "," if file_format == "csv" else "\t"
    body = f'"a{sep} multi\nline text"{sep}pos\nplain{sep}neg\n'
    path = tmp_path / f"data.{file_format}{'.gz' if zipped else ''}"
    path.write_bytes(gzip.compress(body.encode()) if zipped else body.encode())
    frame = read_file(str(path), column_names=("text", "label"))
    assert records(frame) == [{"text": f"a{sep} multi\nline text", "label": "pos"}, {"text": "plain", "label": "neg"}]
    assert frame[data.ROW_COLUMN].tolist() == [1, 3]
    with pytest.raises(TaskError) as error:
        read_file(str(path), column_names=("text", "label", "extra"))
    assert f"{path} line 1: 2 fields, expected 3" in one_line(error)


def test_column_names_are_refused_where_files_name_their_columns(tmp_path):
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text('{"text": "a", "label": "b"}\n')
    with pytest.raises(TaskError) as error:
        read_file(str(jsonl), column_names=("text", "label"))
    assert str(jsonl) in one_line(error) and "--column_names" in str(error.value)


# ---------------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("a.tsv", "tsv"),
        ("dir.v2/a.tsv.gz", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.jsonl.gz", "jsonl"),
        ("a.json", "jsonl"),
        ("a.json.gz", "jsonl"),
        ("a.parquet", "parquet"),
        ("a.parquet.gz", "parquet"),
    ],
)
def test_detect_format_by_name(name, expected):
    assert detect_format(name) == expected
    assert detect_format(name, "tsv") == "tsv"  # the option is explicit: it wins over the name


@pytest.mark.parametrize("name", ["a.txt", "a.gz", "a", "a.xlsx", "a.csv.zip"])
def test_unknown_name_asks_for_file_format(name):
    with pytest.raises(TaskError) as error:
        detect_format(name)
    assert name in one_line(error) and "--file_format csv|tsv|jsonl|parquet" in str(error.value)


def test_file_format_must_be_known():
    with pytest.raises(TaskError) as error:
        detect_format("a.csv", "xlsx")
    assert "'xlsx'" in one_line(error) and "csv|tsv|jsonl|parquet" in str(error.value)
    assert set(FILE_FORMATS) == {"csv", "tsv", "jsonl", "parquet"}


def test_file_format_reads_a_file_its_name_does_not_tell(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text("text\tlabel\nhello, world\tpos\n")
    with pytest.raises(TaskError, match="--file_format"):
        read_file(str(path))
    assert records(read_file(str(path), file_format="tsv")) == [{"text": "hello, world", "label": "pos"}]
    path.write_text('{"text": "hello", "label": 1}\n')
    assert records(read_file(str(path), file_format="jsonl")) == [{"text": "hello", "label": 1}]


def test_where_says_line_for_text_files_and_row_for_the_others(tmp_path):
    csv_path, parquet_path = tmp_path / "a.csv", tmp_path / "a.parquet"
    csv_path.write_text("text,label\n" + "".join(f"t{i},x\n" for i in range(6)))
    pd.DataFrame({"text": ["a", "b"]}).to_parquet(parquet_path)
    frame = read_file(str(csv_path))
    assert (
        data.where(frame, frame.index >= 1) == f"{csv_path} line 3, {csv_path} line 4, {csv_path} line 5 (and 2 more)"
    )
    frame = read_file(str(parquet_path))
    assert data.where(frame, [False, True]) == f"{parquet_path} row 2"
    zipped = tmp_path / "b.data"  # a gzipped Parquet file whose name says nothing
    zipped.write_bytes(gzip.compress(parquet_path.read_bytes()))
    frame = read_file(str(zipped), file_format="parquet")
    assert data.where(frame, [True, False]) == f"{zipped} row 1"


# ---------------------------------------------------------------------------------------------- save_to_disk

FEATURES = Features(
    {"text": Value("string"), "label": ClassLabel(names=["neg", "pos"]), "tags": List(ClassLabel(names=["x", "y"]))}
)


def saved_dataset(labels: list[int]) -> Dataset:
    texts = [f"text {i}" for i in range(len(labels))]
    tags = [[0, 1] if i % 2 else [] for i in range(len(labels))]
    return Dataset.from_dict({"text": texts, "label": labels, "tags": tags}, features=FEATURES)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, str]:
    """A DatasetDict folder (train labelled, test unlabelled as in GLUE) and a Dataset folder."""
    root = tmp_path_factory.mktemp("saved")
    folders = {"dict": str(root / "dict"), "dataset": str(root / "dataset")}
    DatasetDict(train=saved_dataset([0, 1, 1]), test=saved_dataset([-1, -1])).save_to_disk(folders["dict"])
    saved_dataset([1, 0]).select([1, 0]).save_to_disk(folders["dataset"])
    return folders


def test_read_dataset_from_a_dataset_dict_folder(saved):
    splits = read_dataset(saved["dict"])
    assert isinstance(splits, DatasetSplits) and splits.origin == saved["dict"]
    assert list(splits.frames) == ["train", "test"]
    assert splits.class_names == {"label": ("neg", "pos"), "tags": ("x", "y")}
    train, test = splits.frames["train"], splits.frames["test"]
    assert records(train) == [
        {"text": "text 0", "label": "neg", "tags": []},
        {"text": "text 1", "label": "pos", "tags": ["x", "y"]},
        {"text": "text 2", "label": "pos", "tags": []},
    ]
    assert test["label"].tolist() == [None, None]
    assert train[data.ROW_COLUMN].tolist() == [0, 1, 2]
    assert set(test[data.SOURCE_COLUMN]) == {f"{saved['dict']}[test]"}
    assert data.where(test, [False, True]) == f"{saved['dict']}[test] row 1"


def test_read_dataset_from_a_dataset_folder_is_its_train_split(saved):
    splits = read_dataset(saved["dataset"])
    assert list(splits.frames) == ["train"]
    frame = splits.frames["train"]
    assert records(frame) == [  # the saved selection's order
        {"text": "text 1", "label": "neg", "tags": ["x", "y"]},
        {"text": "text 0", "label": "pos", "tags": []},
    ]
    assert set(frame[data.SOURCE_COLUMN]) == {f"{saved['dataset']}[train]"}


def test_read_file_reads_a_dataset_folder_and_refuses_a_dataset_dict_folder(saved, tmp_path):
    frame = read_file(saved["dataset"])
    assert frame["label"].tolist() == ["neg", "pos"] and frame[data.ROW_COLUMN].tolist() == [0, 1]
    assert set(frame[data.SOURCE_COLUMN]) == {saved["dataset"]}
    assert data.where(frame, [True, False]) == f"{saved['dataset']} row 0"
    with pytest.raises(TaskError) as error:
        read_file(saved["dict"])
    assert f"holds the splits ['train', 'test']; pass it as --dataset_name {saved['dict']}" in one_line(error)
    with pytest.raises(TaskError) as error:
        read_file(saved["dataset"], column_names=("a", "b"))
    assert "--column_names" in one_line(error)
    for read in (read_file, read_dataset):
        with pytest.raises(TaskError) as error:
            read(str(tmp_path))
        assert f"{tmp_path}: is a folder, but not one written by save_to_disk" in one_line(error)


def test_a_dataset_read_for_a_built_in_task_pools_its_splits_as_strings(saved):
    from tasks import splits

    frame = splits.read_frames(DataConfig(dataset_name=saved["dict"]), read_one=lambda path: None)
    assert frame["label"].tolist()[:3] == ["neg", "pos", "pos"]
    assert frame["label"].isna().tolist() == [False, False, False, True, True]  # "no label" stays missing
    assert all(isinstance(value, str) for value in frame["tags"])
    assert frame[data.SOURCE_COLUMN].tolist()[-1] == f"{saved['dict']}[test]"


@pytest.mark.timeout(120)
def test_missing_hub_dataset_offline_is_one_quick_line(monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    start = time.monotonic()
    with pytest.raises(TaskError) as error:
        read_dataset("some/missing-id", config_name="plain", revision="v1")
    message = one_line(error)
    assert message.startswith("cannot load Hub dataset 'some/missing-id:plain@v1' (")
    assert "Offline? Pass local files with --data_files/--train_file, or a save_to_disk folder with --dataset_name" in (
        message
    )
    assert time.monotonic() - start < 60


def test_a_file_is_not_a_dataset_name(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\na,b\n")
    with pytest.raises(TaskError) as error:
        read_dataset(str(path))
    assert f"{path}: is a file" in one_line(error) and "--data_files" in str(error.value)


# ---------------------------------------------------------------------------------------------- bad input

GOOD_LINE = json.dumps({"text": 'a "quoted", text', "label": ["x", "y"]})
NOT_OBJECTS = st.one_of(
    st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=10), st.booleans(), st.none(), st.floats(0, 1)
).map(json.dumps)
CUT_SHORT = st.integers(1, len(GOOD_LINE) - 1).map(lambda end: GOOD_LINE[:end])
RANDOM_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\n"), min_size=1, max_size=30)
INVISIBLE = data.invisible_characters() + " \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85"


def is_object_line(line: str) -> bool:
    """The oracle: whether a line holds a JSON object (around whitespace or invisible marks) or shows nothing."""
    for candidate in (line.strip(), line.strip(INVISIBLE)):
        if not candidate:
            return True
        try:
            if isinstance(json.loads(candidate), dict):
                return True
        except ValueError:
            pass
    return False


@SETTINGS
@given(
    good=st.integers(0, 8),
    position=st.integers(0, 8),
    garbage=st.one_of(NOT_OBJECTS, CUT_SHORT, RANDOM_TEXT, st.just('{"text": "a", "text": "b"}')),
    zipped=st.booleans(),
)
def test_garbage_line_in_jsonl_is_named_by_its_line(tmp_path, good, position, garbage, zipped):
    assume(garbage.startswith('{"text": "a", "text"') or not is_object_line(garbage))
    lines = [GOOD_LINE] * good
    lines.insert(min(position, good), garbage)
    path = fresh(tmp_path, "data.jsonl" + (".gz" if zipped else ""))
    body = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(body) if zipped else body)
    with pytest.raises(TaskError) as error:
        read_file(str(path))
    assert one_line(error).startswith(f"{path} line {min(position, good) + 1}: ")


def test_json_array_lines_and_documents_say_what_to_write(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(GOOD_LINE + "\n" + json.dumps([{"text": "a"}, {"text": "b"}]) + "\n")
    with pytest.raises(TaskError) as error:
        read_file(str(path))
    assert one_line(error).startswith(f"{path} line 2: a JSON array, not an object")
    path.write_text(json.dumps([{"text": "a"}, {"text": "b"}], indent=2))
    with pytest.raises(TaskError) as error:
        read_file(str(path))
    assert one_line(error).startswith(f"{path} line 1: not valid JSON") and "lines=True" in str(error.value)


@pytest.mark.parametrize("body", ["", "\n  \n\n"])
def test_jsonl_without_objects_is_an_error(tmp_path, body):
    path = tmp_path / "data.jsonl"
    path.write_text(body)
    with pytest.raises(TaskError) as error:
        read_file(str(path))
    assert str(path) in one_line(error) and "one JSON object per line" in str(error.value)


@SETTINGS
@given(payload=st.binary(max_size=300), name=st.sampled_from(["x.parquet", "x.parquet.gz", "x.jsonl", "x.json.gz"]))
def test_garbage_bytes_are_one_line_errors(tmp_path, payload, name):
    """Random bytes as Parquet or JSON Lines, plain or gzipped: one line naming the file, never a traceback."""
    path = fresh(tmp_path, name)
    path.write_bytes(gzip.compress(payload) if name.endswith(".gz") else payload)
    try:
        frame = read_file(str(path))
    except TaskError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(path)), message
    else:  # only JSON Lines bytes can happen to be valid
        assert name.startswith("x.json") and len(frame) >= 1


def test_not_utf8_and_zip_files_reuse_the_usual_messages(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(TaskError) as error:
        read_file(str(path))
    assert one_line(error).startswith(f"{path} line 2: byte 0xe9")
    path = tmp_path / "data.parquet"
    path.write_bytes(data.ZIP_MAGIC + b"rest of a workbook")
    with pytest.raises(TaskError, match="zip archive"):
        read_file(str(path))
    with pytest.raises(TaskError, match="no such file"):
        read_file(str(tmp_path / "missing.jsonl"))


def test_importing_the_readers_is_cheap():
    """The task registry imports tasks: datasets and pyarrow.parquet load only when data is read."""
    code = "import sys, tasks.readers; print('datasets' in sys.modules, 'pyarrow.parquet' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout.split() == ["False", "False"]
