"""``trainer-tasks evaluate``: a saved model scored on labelled files, against metrics computed here by hand.

Real tiny models are trained by ``train.main`` (news, toxic with tuned thresholds, the generic task);
the expected numbers come from ``TextClassifier``'s predictions and plain numpy, never from the
code under test.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_workspace import assert_one_error_line
from conftest import train_args
from test_text_task import rows as ticket_rows

from tasks import DataConfig, get_task
from tasks.base import Columns
from tasks.news import CATEGORY_CODES
from tasks.news import LABELS as NEWS_LABELS
from tasks.toxic import LABELS as TOXIC_LABELS
from trainer_tasks import testing
from trainer_tasks.commands import main as cli
from trainer_tasks.inference.classifier import TextClassifier

EXACT = ["--precision", "fp32", "--no_progress"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_bert, news_csv, toxic_csv) -> dict[str, str]:
    """A news, a toxic (thresholds tuned and saved) and a generic ``--task text`` model, trained here."""
    import train

    root = tmp_path_factory.mktemp("evaluate-models")
    tickets = root / "tickets.jsonl"
    pd.DataFrame(ticket_rows(240)).to_json(tickets, orient="records", lines=True)
    runs = {
        "news": ["--task", "news", "--data_files", news_csv, "--num_train_epochs", "2"],
        "toxic": ["--task", "toxic", "--data_files", toxic_csv],
        "text": ["--task", "text", "--data_files", str(tickets), "--text_column", "body", "--label_column", "queue",
                 "--num_train_epochs", "3"],
    }  # fmt: skip
    folders = {}
    for name, extra in runs.items():
        folders[name] = str(root / name)
        train.main(train_args(tiny_bert, folders[name], *extra))
    return folders


def evaluate(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["evaluate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def written(folder: Path) -> dict:
    return json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))


# --- by hand ------------------------------------------------------------------------------------------------------


def per_label_by_hand(truth: np.ndarray, predicted: np.ndarray) -> list[dict]:
    """0/1 matrices -> precision, recall, F1, support and the four counts per column (0 where undefined)."""
    out = []
    for column in range(truth.shape[1]):
        t, p = truth[:, column].astype(bool), predicted[:, column].astype(bool)
        tp, fp, fn, tn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum()), int((~t & ~p).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({"precision": precision, "recall": recall, "f1": f1, "support": tp + fn,
                    "tp": tp, "fp": fp, "fn": fn, "tn": tn})  # fmt: skip
    return out


def check_table(table: list[dict], names, expected: list[dict]) -> None:
    assert [row["label"] for row in table] == list(names)
    for row, want in zip(table, expected, strict=True):
        for key, value in want.items():
            assert row[key] == pytest.approx(value, abs=1e-12), (row["label"], key)


def multi_label_by_hand(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    truth, predicted = truth.astype(bool), predicted.astype(bool)
    union = (truth | predicted).sum(axis=1)
    both = (truth & predicted).sum(axis=1)
    tp, fp, fn = both.sum(), (~truth & predicted).sum(), (truth & ~predicted).sum()
    per_label = per_label_by_hand(truth, predicted)
    return {
        "jaccard_samples": float(np.mean(np.where(union == 0, 1.0, both / np.maximum(union, 1)))),
        "hamming_accuracy": float((truth == predicted).mean()),
        "exact_match": float((truth == predicted).all(axis=1).mean()),
        "f1_micro": float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0,
        "f1_macro": float(np.mean([row["f1"] for row in per_label])),
        **{f"f1_{name}": row["f1"] for name, row in zip(TOXIC_LABELS, per_label, strict=True)},
    }


# --- files --------------------------------------------------------------------------------------------------------


def noisy_news(path: Path, n: int = 60) -> tuple[list[str], np.ndarray]:
    """A news file whose every fifth category is wrong, so the model makes mistakes; titles and class ids."""
    rows = testing.news_rows(n, seed=3)
    codes = list(CATEGORY_CODES)
    for index in range(0, n, 5):
        rows[index]["CATEGORY"] = codes[(codes.index(rows[index]["CATEGORY"]) + 1) % 4]
    pd.DataFrame(rows).to_csv(path, index=False)
    names = [CATEGORY_CODES[row["CATEGORY"]] for row in rows]
    return [row["TITLE"] for row in rows], np.array([NEWS_LABELS.index(name) for name in names])


def toxic_file(path: Path, n: int = 90) -> tuple[list[str], np.ndarray]:
    """A toxic file; its texts cleaned as the task cleans them (newlines to spaces, no double quotes)."""
    testing.write_toxic(str(path), n=n, seed=5)
    with open(path, encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    texts = [r["comment_text"].replace("\r\n", " ").replace("\n", " ").replace('"', "") for r in records]
    return texts, np.array([[int(r[label]) for label in TOXIC_LABELS] for r in records])


# --- single-label -------------------------------------------------------------------------------------------------


def test_news_metrics_table_and_confusion_matrix_match_the_predictions(models, tmp_path, capsys):
    data = tmp_path / "news-eval.csv"
    titles, truth = noisy_news(data)
    out = tmp_path / "report"
    code, stdout, err = evaluate(capsys, models["news"], str(data), "--output", str(out), *EXACT)
    assert code == 0, err
    assert sorted(path.name for path in out.iterdir()) == ["confusion_matrix.png", "evaluation.json", "evaluation.md"]
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = written(out)

    predictions = TextClassifier.load(models["news"], precision="fp32").predict(titles)
    predicted = np.array([NEWS_LABELS.index(labels[0]) for labels in predictions.labels])
    assert 0 < (predicted == truth).mean() < 1  # the wrong categories are really scored as mistakes
    one_hot = np.eye(4, dtype=int)
    expected = per_label_by_hand(one_hot[truth], one_hot[predicted])
    metrics = report["metrics"]["argmax"]
    assert metrics["accuracy"] == pytest.approx((predicted == truth).mean(), abs=1e-12)
    assert metrics["f1_macro"] == pytest.approx(np.mean([row["f1"] for row in expected]), abs=1e-12)
    for name, row in zip(NEWS_LABELS, expected, strict=True):
        assert metrics[f"f1_{name}"] == pytest.approx(row["f1"], abs=1e-12)
    check_table(report["per_label"]["argmax"], NEWS_LABELS, expected)
    matrix = np.zeros((4, 4), dtype=int)
    np.add.at(matrix, (truth, predicted), 1)
    assert report["confusion_matrix"]["matrix"] == matrix.tolist()
    assert report["rows"] == len(titles) and report["task"] == "news" and report["labels"] == list(NEWS_LABELS)
    markdown = (out / "evaluation.md").read_text(encoding="utf-8")
    assert "## Confusion matrix" in markdown and f"| accuracy | {metrics['accuracy']:.4f} |" in markdown
    assert stdout.startswith("wrote evaluation.json, evaluation.md, confusion_matrix.png")


def test_without_output_the_markdown_is_printed_and_nothing_written(models, tmp_path, capsys, monkeypatch):
    data = tmp_path / "news-eval.csv"
    noisy_news(data, n=20)
    monkeypatch.chdir(tmp_path)
    code, stdout, err = evaluate(capsys, models["news"], str(data), *EXACT)
    assert code == 0, err
    assert stdout.startswith("# Evaluation of ") and "## Per class" in stdout and "## Confusion matrix" in stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["news-eval.csv"]


def test_a_file_of_one_class_and_a_long_title_evaluates(models, tmp_path, capsys):
    """No training check: one class is a fine test set, and a 600-character title is scored (truncated), not dropped."""
    rows = [row for row in testing.news_rows(40, seed=9) if row["CATEGORY"] == "b"]
    rows[0]["TITLE"] = " ".join(["markets"] * 100)  # 700 characters: training drops titles of 512+
    data = tmp_path / "business.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    out = tmp_path / "report"
    code, _, err = evaluate(capsys, models["news"], str(data), "--output", str(out), *EXACT)
    assert code == 0, err
    report = written(out)
    assert report["rows"] == len(rows)
    assert [row["support"] for row in report["per_label"]["argmax"]] == [len(rows), 0, 0, 0]


# --- multi-label --------------------------------------------------------------------------------------------------


def test_toxic_metrics_at_one_half_and_at_the_saved_thresholds(models, tmp_path, capsys):
    data = tmp_path / "toxic-eval.csv"
    texts, truth = toxic_file(data)
    out = tmp_path / "report"
    code, _, err = evaluate(capsys, models["toxic"], str(data), "--output", str(out), *EXACT)
    assert code == 0, err
    assert sorted(path.name for path in out.iterdir()) == ["evaluation.json", "evaluation.md"]
    report = written(out)

    classifier = TextClassifier.load(models["toxic"], precision="fp32")
    saved = classifier.config.thresholds
    assert any(value != 0.5 for value in saved.values())  # the thresholds differ from 0.5, so both rows differ
    predictions = classifier.predict(texts)
    at_saved = np.array([[label in labels for label in TOXIC_LABELS] for labels in predictions.labels])
    at_half = predictions.scores >= 0.5
    assert report["thresholds_saved"] and report["thresholds"] == pytest.approx(saved)
    for key, predicted in (("at_0.5", at_half), ("at_saved_thresholds", at_saved)):
        expected = multi_label_by_hand(truth, predicted)
        for name, value in expected.items():
            assert report["metrics"][key][name] == pytest.approx(value, abs=1e-12), (key, name)
        check_table(report["per_label"][key], TOXIC_LABELS, per_label_by_hand(truth, predicted))
    assert report["metrics"]["at_0.5"] != report["metrics"]["at_saved_thresholds"]
    markdown = (out / "evaluation.md").read_text(encoding="utf-8")
    assert "| metric | at 0.5 | at saved thresholds |" in markdown and "TP | FP | FN | TN" in markdown


def test_onnx_folder_scores_as_its_pytorch_model(models, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="ONNX tests need pip install -e '.[dev]' (or [onnx])")
    from trainer_tasks.inference.onnx_export import export_onnx

    exported = str(tmp_path / "toxic-onnx")
    export_onnx(models["toxic"], exported)
    data = tmp_path / "toxic-eval.csv"
    toxic_file(data)
    reports = {}
    for name, model in (("pytorch", models["toxic"]), ("onnx", exported)):
        argv = [model, str(data), "--output", str(tmp_path / name), "--no_progress"]
        code, _, err = evaluate(capsys, *argv, *(["--precision", "fp32"] if name == "pytorch" else []))
        assert code == 0, err
        reports[name] = written(tmp_path / name)
    assert reports["onnx"]["backend"] == "onnxruntime"
    for key in ("at_0.5", "at_saved_thresholds"):
        pytorch, onnx = reports["pytorch"]["metrics"][key], reports["onnx"]["metrics"][key]
        assert pytorch.keys() == onnx.keys()
        for name in pytorch:
            assert onnx[name] == pytest.approx(pytorch[name], abs=1e-6, nan_ok=True), (key, name)
        assert reports["onnx"]["per_label"][key] == reports["pytorch"]["per_label"][key]


# --- the generic task ---------------------------------------------------------------------------------------------


def test_text_model_needs_no_task_options_and_maps_names_to_its_ids(models, tmp_path, capsys):
    """The file has no 'sport' rows and starts with 'tech': names found in it would number tech 1, not 2."""
    rows = [row for row in ticket_rows(60, seed=4) if row["queue"] != "sport"]
    rows.sort(key=lambda row: row["queue"] != "tech")
    data = tmp_path / "tickets-eval.jsonl"
    pd.DataFrame(rows).to_json(data, orient="records", lines=True)
    out = tmp_path / "report"
    code, _, err = evaluate(capsys, models["text"], str(data), "--output", str(out), *EXACT)
    assert code == 0, err
    report = written(out)
    names = ["food", "sport", "tech"]
    assert report["task"] == "text" and report["labels"] == names
    predictions = TextClassifier.load(models["text"], precision="fp32").predict([row["body"] for row in rows])
    predicted = np.array([names.index(labels[0]) for labels in predictions.labels])
    truth = np.array([names.index(row["queue"]) for row in rows])
    assert report["metrics"]["argmax"]["accuracy"] == pytest.approx((predicted == truth).mean(), abs=1e-12)
    one_hot = np.eye(3, dtype=int)
    check_table(report["per_label"]["argmax"], names, per_label_by_hand(one_hot[truth], one_hot[predicted]))
    assert report["per_label"]["argmax"][1]["support"] == 0


def test_a_dataset_split_scores_as_the_same_rows_in_a_file(models, tmp_path, capsys):
    """``--dataset_name`` (a save_to_disk DatasetDict; ClassLabel names in another order than the model's) and
    ``--split``: the report equals the one of the same rows as a JSON Lines file; a split without labels, a
    missing split and files given beside a dataset are one error line each."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    order = ["tech", "food", "sport"]  # not the model's (food, sport, tech): mapped by name, not by id
    features = Features({"body": Value("string"), "queue": ClassLabel(names=order)})

    def split(rows: list[dict], labelled: bool = True) -> Dataset:
        queue = [order.index(row["queue"]) if labelled else -1 for row in rows]
        return Dataset.from_dict({"body": [row["body"] for row in rows], "queue": queue}, features=features)

    test_rows, other_rows = ticket_rows(40, seed=8), ticket_rows(25, seed=9)
    folder = tmp_path / "tickets-dataset"
    DatasetDict(
        {"train": split(other_rows), "test": split(test_rows), "unsupervised": split(other_rows, labelled=False)}
    ).save_to_disk(str(folder))
    as_file = tmp_path / "tickets-test.jsonl"
    pd.DataFrame(test_rows).to_json(as_file, orient="records", lines=True)

    dataset = ["--dataset_name", str(folder)]
    code, _, err = evaluate(capsys, models["text"], *dataset, "--output", str(tmp_path / "d"), *EXACT)
    assert code == 0, err
    code, _, err = evaluate(capsys, models["text"], str(as_file), "--output", str(tmp_path / "f"), *EXACT)
    assert code == 0, err
    from_dataset, from_file = written(tmp_path / "d"), written(tmp_path / "f")
    assert from_dataset["data"] == [f"{folder}[test]"] and from_dataset["rows"] == len(test_rows)
    assert from_dataset["metrics"] == from_file["metrics"] and from_dataset["per_label"] == from_file["per_label"]

    train_report = tmp_path / "train-split"
    code, _, err = evaluate(
        capsys, models["text"], "--dataset_name", str(folder), "--split", "train", "--output", str(train_report), *EXACT
    )
    assert code == 0, err
    assert written(train_report)["rows"] == len(other_rows) and written(train_report)["data"] == [f"{folder}[train]"]
    code, _, err = evaluate(capsys, models["text"], "--dataset_name", str(folder), "--split", "unsupervised", *EXACT)
    assert_one_error_line(code, err, "[unsupervised] has no labels", "--split")
    code, _, err = evaluate(capsys, models["text"], "--dataset_name", str(folder), "--split", "dev", *EXACT)
    assert_one_error_line(code, err, "no split 'dev'", "'unsupervised'")
    code, _, err = evaluate(capsys, models["text"], "--dataset_name", str(folder), "--split", " ", *EXACT)
    assert_one_error_line(code, err, "--split is empty")
    code, _, err = evaluate(capsys, models["text"], str(as_file), "--dataset_name", str(folder), *EXACT)
    assert_one_error_line(code, err, "not both")
    code, _, err = evaluate(capsys, models["text"], *EXACT)
    assert_one_error_line(code, err, "--dataset_name")


def test_a_label_the_model_does_not_know_is_one_error_line_naming_it(models, tmp_path, capsys):
    rows = ticket_rows(10, seed=6)
    rows[2]["queue"] = "music"
    data = tmp_path / "unknown.jsonl"
    pd.DataFrame(rows).to_json(data, orient="records", lines=True)
    code, _, err = evaluate(capsys, models["text"], str(data), "--output", str(tmp_path / "report"), *EXACT)
    assert_one_error_line(code, err, "'music'", f"{data} line 3", "the model's labels")
    assert "--labels" not in err and not (tmp_path / "report").exists()


# --- errors -------------------------------------------------------------------------------------------------------


def test_a_model_that_does_not_name_its_task_needs_task(models, tmp_path, capsys):
    model = shutil.copytree(models["news"], tmp_path / "old-model")
    config = json.loads((model / "config.json").read_text())
    del config["training_task"]
    (model / "config.json").write_text(json.dumps(config))
    data = tmp_path / "news-eval.csv"
    noisy_news(data, n=12)
    code, _, err = evaluate(capsys, str(model), str(data), *EXACT)
    assert_one_error_line(code, err, "--task")
    code, out, err = evaluate(capsys, str(model), str(data), "--task", "news", *EXACT)
    assert code == 0 and "| accuracy |" in out, err


def test_the_wrong_task_and_a_bad_output_are_one_error_line(models, tmp_path, capsys):
    data = tmp_path / "toxic-eval.csv"
    toxic_file(data, n=12)
    code, _, err = evaluate(capsys, models["news"], str(data), "--task", "toxic", *EXACT)
    assert_one_error_line(code, err, "multi-label", "--task")
    code, _, err = evaluate(capsys, models["news"], str(data), "--output", str(data), *EXACT)
    assert_one_error_line(code, err, "is a file")
    code, _, err = evaluate(capsys, models["news"], str(tmp_path / "missing.csv"), *EXACT)
    assert_one_error_line(code, err, "missing.csv: no such file")
    code, _, err = evaluate(capsys, models["news"], str(data), "--label_column", "toxic", *EXACT)
    assert_one_error_line(code, err, "--label_column", "--task text")


# --- the builders' evaluation mode --------------------------------------------------------------------------------


def test_evaluation_mode_keeps_every_row_in_file_order_as_test(tmp_path):
    news = tmp_path / "news.csv"
    rows = testing.news_rows(2, seed=1)  # two rows: too few to split for training
    rows[1]["TITLE"] = "x" * 600
    pd.DataFrame(rows).to_csv(news, index=False)
    built = get_task("news").build_dataset(DataConfig(data_files=(str(news),), evaluation=True))
    assert list(built) == ["test"] and built["test"]["text"] == [row["TITLE"] for row in rows]

    toxic = testing.write_toxic(str(tmp_path / "toxic.csv"), n=2, seed=2)
    built = get_task("toxic").build_dataset(DataConfig(data_files=(toxic,), evaluation=True))
    assert list(built) == ["test"] and len(built["test"]) == 2

    text = tmp_path / "one-class.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x"] * 4}).to_csv(text, index=False)
    config = DataConfig(data_files=(str(text),), evaluation=True, columns=Columns(labels=("x", "y")))
    task = get_task("text").for_data(config)
    built = task.build_dataset(config)
    assert list(built) == ["test"] and built["test"]["text"] == ["a", "b", "c", "d"]
    assert task.labels == ("x", "y") and built["test"]["labels"] == [0, 0, 0, 0]
