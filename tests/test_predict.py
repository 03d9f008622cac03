"""``trainer-tasks predict``: every input row comes back once, in order, scored as PyTorch scores it alone."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from classifiers import reference_scores, save_classifier
from conftest import ROOT

from tasks import TaskError
from tasks.toxic import LABELS as TOXIC_LABELS
from trainer_tasks.commands import main as cli
from trainer_tasks.fast_path import mixed_precision
from trainer_tasks.inference.classifier import TextClassifier, token_budget_batches
from trainer_tasks.inference.readers import read_texts

EXACT = ["--precision", "fp32"]  # these tests compare scores with pipeline()'s to 1e-5
NEWS_LABELS = ("business", "science/tech", "entertainment", "health")
LONG = " ".join(["stupid idiot kill"] * 300)  # ~900 tokens: far past the tiny model's 128
LINES = [
    "you are an idiot",
    "",
    "thanks for the citation",
    LONG,
    "   ",
    "kill hurt stupid",
    "Ünïcödé – “quotes”, commas, and\ttabs",
    "last line",
]


@pytest.fixture(scope="module")
def toxic_model(tmp_path_factory, tiny_bert) -> str:
    """Multi-label; thresholds saved for five labels (identity_hate falls back to 0.5)."""
    folder = str(tmp_path_factory.mktemp("toxic-classifier"))
    save_classifier(tiny_bert, folder, TOXIC_LABELS, multi_label=True)
    texts = [line for line in LINES if line.strip()]
    scores = reference_scores(folder, texts, 128).numpy()
    # a cut-off in the middle of each label's scores, so both outcomes occur
    thresholds = {label: float(np.median(scores[:, i])) for i, label in enumerate(TOXIC_LABELS[:5])}
    return save_classifier(tiny_bert, folder, TOXIC_LABELS, multi_label=True, thresholds=thresholds)


@pytest.fixture(scope="module")
def news_model(tmp_path_factory, tiny_distilbert) -> str:
    return save_classifier(tiny_distilbert, str(tmp_path_factory.mktemp("news-classifier")), NEWS_LABELS, False)


def check_rows(rows: list[dict], texts: list[str], model: str) -> None:
    """Row i is input row i: same text, flags right, scores as the model gives for that text alone."""
    classifier = TextClassifier.load(model)
    assert [row["row"] for row in rows] == list(range(1, len(texts) + 1))
    assert [row["text"] for row in rows] == texts
    present = [i for i, text in enumerate(texts) if text.strip()]
    expected = reference_scores(model, [texts[i] for i in present], 128).numpy()
    for i, row in enumerate(rows):
        if i not in present:
            assert row["empty"] and row["scores"] is None and row["labels"] == [] and not row["truncated"]
            continue
        scores = np.array([row["scores"][label] for label in classifier.labels])
        assert not row["empty"]
        np.testing.assert_allclose(scores, expected[present.index(i)], atol=1e-5)
        if classifier.multi_label:
            thresholds = [classifier.config.thresholds.get(label, 0.5) for label in classifier.labels]
            on = [label for label, s, t in zip(classifier.labels, scores, thresholds, strict=True) if s >= t]
            assert row["labels"] == on
        else:
            assert row["labels"] == [classifier.labels[int(np.argmax(scores))]]


def test_text_file_with_blank_and_overlong_lines(tmp_path, toxic_model, capsys):
    source = tmp_path / "comments.txt"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    output = tmp_path / "predictions.jsonl"
    assert cli.main(["predict", toxic_model, str(source), "--output", str(output), "--batch_size", "3", *EXACT]) == 0
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(LINES)
    check_rows(rows, LINES, toxic_model)
    assert [row["truncated"] for row in rows] == [text == LONG for text in LINES]
    assert [row["empty"] for row in rows] == [False, True, False, False, True, False, False, False]
    # thresholds really decide: some labels on, some off, across the rows
    decisions = {label in row["labels"] for row in rows if not row["empty"] for label in TOXIC_LABELS}
    assert decisions == {True, False}
    log = capsys.readouterr().err
    assert "8 rows" in log and "2 empty (kept, no scores)" in log and "1 truncated to 128 tokens" in log


def test_truncated_text_scores_as_its_first_tokens(toxic_model):
    classifier = TextClassifier.load(toxic_model, precision="fp32")
    prefix = classifier.tokenizer.decode(classifier.tokenizer(LONG, truncation=True, max_length=128)["input_ids"][1:-1])
    result = classifier.predict([LONG, prefix])
    assert result.truncated.tolist() == [True, False]
    np.testing.assert_allclose(result.scores[0], result.scores[1], atol=1e-5)


def test_csv_in_csv_out_keeps_rows_with_empty_cells_and_quoted_newlines(tmp_path, toxic_model):
    texts = ["idiot, moron", "", 'a "quoted"\nmulti-line comment', "fine", LONG]
    source = tmp_path / "in.csv"
    pd.DataFrame({"id": range(len(texts)), "comment": texts}).to_csv(source, index=False)
    output = tmp_path / "out.csv"
    command = ["predict", toxic_model, str(source), "--text_column", "comment", "--output", str(output), *EXACT]
    assert cli.main(command) == 0
    with open(output, encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    rows = [
        {
            "row": int(line["row"]),
            "text": line["text"],
            "labels": line["labels"].split("|") if line["labels"] else [],
            "scores": None
            if line["empty"] == "1"
            else {label: float(line[f"score_{label}"]) for label in TOXIC_LABELS},
            "empty": line["empty"] == "1",
            "truncated": line["truncated"] == "1",
        }
        for line in table
    ]
    check_rows(rows, texts, toxic_model)
    assert [row["truncated"] for row in rows] == [False, False, False, False, True]


def test_jsonl_to_stdout_with_blank_lines_bare_strings_and_nulls(tmp_path, toxic_model, capsys):
    source = tmp_path / "in.jsonl"
    records = ['{"text": "kill hurt"}', "", '"a bare string"', '{"text": null, "id": 3}', '{"text": "last"}']
    source.write_text("\n".join(records) + "\n", encoding="utf-8")
    assert cli.main(["predict", toxic_model, str(source), "--no_progress", *EXACT]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    check_rows(rows, ["kill hurt", "", "a bare string", "", "last"], toxic_model)


def test_single_label_model_gives_softmax_and_argmax(news_model):
    texts = ["stocks market profit", "film star", "", "vaccine study"]
    result = TextClassifier.load(news_model, precision="fp32").predict(texts, batch_size=2)
    present = result.scores[[0, 1, 3]]
    np.testing.assert_allclose(present.sum(axis=1), 1.0, atol=1e-9)
    assert np.isnan(result.scores[2]).all() and result.labels[2] == []
    rows = [
        {"row": i + 1, "text": t, "labels": result.labels[i], "empty": bool(result.empty[i]), "truncated": False}
        | {"scores": None if result.empty[i] else dict(zip(NEWS_LABELS, result.scores[i], strict=True))}
        for i, t in enumerate(texts)
    ]
    check_rows(rows, texts, news_model)


def test_bad_inputs_are_one_line_errors(tmp_path, toxic_model, capsys):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "ok"}\n{"comment": "no text key"}\n')
    assert cli.main(["predict", toxic_model, str(bad_json)]) == 2
    assert "bad.jsonl line 2: no 'text' key (found ['comment']); pass --text_column" in capsys.readouterr().err
    no_column = tmp_path / "in.csv"
    no_column.write_text("id,body\n1,hello\n")
    with pytest.raises(TaskError, match=r"no column 'text'; found \['id', 'body'\]"):
        read_texts(str(no_column))
    assert cli.main(["predict", "someone/not-downloaded", str(no_column)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a local folder" in error and "Offline?" in error
    assert cli.main(["predict", toxic_model, str(bad_json), "--output", str(tmp_path / "out.xlsx")]) == 2
    assert "use a .csv, .tsv or .jsonl" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_reads_stdin_and_writes_stdout_in_a_real_process(toxic_model):
    done = subprocess.run(
        [sys.executable, "-m", "trainer_tasks.commands.main", "predict", toxic_model, "-", "--batch_size", "2", *EXACT],
        input="\n".join(LINES) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    check_rows(rows, LINES, toxic_model)
    assert "2 empty" in done.stderr and "1 truncated" in done.stderr


def test_token_budget_batches_cover_every_row_once_within_both_limits():
    lengths = np.array([400, 120, 100, 60, 60, 33, 20, 20, 20, 9, 9, 3, 3, 3, 3, 3])
    rows = np.arange(len(lengths)) * 10  # positions in some input order
    batches = list(token_budget_batches(lengths, rows, batch_size=4, batch_tokens=128))
    assert np.concatenate(batches).tolist() == rows.tolist()
    start = 0
    for batch in batches:
        longest, count = lengths[start], len(batch)
        assert count <= 4
        assert count * longest <= 128 or count == 1  # a text over the budget goes alone
        if start + count < len(lengths):  # full: one more text would break a limit
            assert count == 4 or (count + 1) * longest > 128
        start += count
    assert [len(batch) for batch in batches] == [1, 1, 1, 2, 3, 4, 4]


def test_batch_limits_do_not_change_scores(toxic_model):
    classifier = TextClassifier.load(toxic_model, precision="fp32")
    texts = [line for line in LINES if line.strip()]
    one_by_one = classifier.predict(texts, batch_size=1).scores
    by_tokens = classifier.predict(texts, batch_tokens=40).scores
    np.testing.assert_allclose(by_tokens, one_by_one, atol=1e-5)
    with pytest.raises(TaskError, match="--batch_tokens must be a positive number"):
        classifier.predict(texts, batch_tokens=0)


@pytest.mark.parametrize(("flags", "expected"), [("avx512f avx512_bf16", "bf16"), ("avx2 avx512f", "fp32")])
def test_auto_precision_is_bf16_only_on_cpus_that_run_it_natively(monkeypatch, toxic_model, flags, expected):
    monkeypatch.setattr(mixed_precision, "read_cpuinfo", lambda: f"processor : 0\nflags : fpu {flags}\n")
    classifier = TextClassifier.load(toxic_model)  # the default: auto
    assert classifier.backend == f"pytorch {expected}"
    exact = TextClassifier.load(toxic_model, precision="fp32").predict(LINES).scores
    np.testing.assert_allclose(classifier.predict(LINES).scores, exact, atol=0.03 if expected == "bf16" else 1e-6)
