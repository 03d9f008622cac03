"""The comparison report on real (tiny) runs: tables, ratios, PNG plots, the CLI, and refusals."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import train_args
from sklearn.metrics import roc_auc_score
from transformers import AutoModelForSequenceClassification

import train
from tasks import TaskError
from trainer_tasks.commands import main as cli
from trainer_tasks.record.run_record import DataRecord, RunRecord, TrainingRecord
from trainer_tasks.reports.compare import Run, load_run, paired_margins, write_report
from trainer_tasks.training.split_predictions import load_predictions

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def quick(model: str, out: Path, *extra: str) -> list[str]:
    limits = ["--max_train_samples", "200", "--num_train_epochs", "1", "--split_seed", "7"]
    return train_args(model, str(out), *limits, *extra)


@pytest.fixture(scope="module")
def news_runs(tmp_path_factory, tiny_bert, news_csv) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("news-runs")
    data = ["--task", "news", "--data_files", news_csv]
    train.main([*data, *quick(tiny_bert, root / "teacher")])
    students = []
    for seed in ("1", "2"):
        flags = quick("unused", root / f"student{seed}", "--seed", seed)
        flags[flags.index("--model_name_or_path") : flags.index("--model_name_or_path") + 2] = []
        train.main([*data, *flags, "--student_from_teacher", tiny_bert])
        students.append(str(root / f"student{seed}"))
    return {"teacher": [str(root / "teacher")], "student": students}


@pytest.fixture(scope="module")
def toxic_runs(tmp_path_factory, tiny_distilbert, toxic_csv) -> dict[str, str]:
    """A DistilBERT teacher and a student distilled from it on the multi-label task."""
    root = tmp_path_factory.mktemp("toxic-runs")
    data = ["--task", "toxic", "--data_files", toxic_csv]
    train.main([*data, *quick(tiny_distilbert, root / "teacher")])
    flags = quick("unused", root / "distilled")
    flags[flags.index("--model_name_or_path") : flags.index("--model_name_or_path") + 2] = []
    train.main([*data, *flags, "--student_from_teacher", tiny_distilbert, "--teacher", str(root / "teacher")])
    return {"teacher": str(root / "teacher"), "distilled": str(root / "distilled")}


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    import matplotlib.image

    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 200 and width > 200


def test_saved_test_predictions_match_the_reported_metrics(news_runs):
    folder = news_runs["teacher"][0]
    predictions = load_predictions(folder)
    results = json.loads(Path(folder, "results.json").read_text())
    assert predictions.logits.shape == (results["data"]["test_size"], 4)
    assert predictions.label_names == ("business", "science/tech", "entertainment", "health")
    accuracy = float((predictions.logits.argmax(-1) == predictions.labels).mean())
    assert accuracy == pytest.approx(results["test_metrics"]["test_accuracy"])


def test_news_report_tables_ratios_and_plots(news_runs, tmp_path):
    runs = [load_run("teacher", news_runs["teacher"][0])] + [load_run("student", f) for f in news_runs["student"]]
    out = tmp_path / "report"
    markdown = write_report(runs, str(out))
    summary = json.loads((out / "summary.json").read_text())
    for name in ("training_curves.png", "confusion_matrix.png"):
        assert_png(out / name)
        assert f"]({name})" in markdown
    assert not (out / "roc.png").exists()

    teacher, student = summary["models"]["teacher"], summary["models"]["student"]
    model = AutoModelForSequenceClassification.from_pretrained(news_runs["student"][0])
    assert student["parameters"] == sum(p.numel() for p in model.parameters())
    assert student["parameters"] < teacher["parameters"]
    assert student["runs"] == 2 and student["seeds"] == [1, 2]
    accuracies = [run.test("accuracy") for run in runs[1:]]
    assert student["accuracy"] == pytest.approx(np.mean(accuracies))
    assert student["accuracy_sd"] == pytest.approx(np.std(accuracies, ddof=1))
    assert student["metric_share"] == pytest.approx(student["accuracy"] / teacher["accuracy"])
    assert student["eval_time_ratio"] == pytest.approx(student["eval_time"] / teacher["eval_time"])
    assert teacher["eval_time_ratio"] == 1.0

    assert "Split **random** (split seed 7): train 200, validation 64, test 160 examples" in markdown
    assert "Hardware: " in markdown and "CPU cores" in markdown
    assert (
        "| epoch | train loss | val loss | val accuracy | train time (s) | val time (s) | total time (s) |" in markdown
    )
    assert markdown.count("### student (seed") == 2
    assert "| student | 2 |" in markdown


def test_toxic_report_has_per_label_roc_and_pr_and_the_distillation_settings(toxic_runs, tmp_path):
    out = tmp_path / "report"
    assert cli.main(["compare", "--run", f"teacher={toxic_runs['teacher']}", "--run",
                     f"distilled={toxic_runs['distilled']}", "--output", str(out)]) == 0  # fmt: skip
    markdown = (out / "report.md").read_text()
    for name in ("training_curves.png", "roc.png", "pr.png"):
        assert_png(out / name)
    assert not (out / "confusion_matrix.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"][:2] == ["jaccard_samples", "f1_micro"]
    assert summary["models"]["distilled"]["parameters"] < summary["models"]["teacher"]["parameters"]
    assert f"Distilled from `{toxic_runs['teacher']}`: alpha_task 0.5, alpha_soft 0.5, alpha_cos 0.5" in markdown
    # the multi-label predictions kept for the ROC plot give the Trainer's own per-label AUC
    predictions = load_predictions(toxic_runs["distilled"])
    results = json.loads(Path(toxic_runs["distilled"], "results.json").read_text())
    auc = roc_auc_score(predictions.labels[:, 0], predictions.logits[:, 0])
    assert auc == pytest.approx(results["test_metrics"]["test_roc_auc_toxic"], abs=1e-6)
    # the distilled student logged its task term, which the training-curve plot draws
    state = json.loads(Path(toxic_runs["distilled"], "trainer_state.json").read_text())
    assert any("loss_task" in row and "loss_soft" in row for row in state["log_history"])


def test_runs_on_different_test_sets_are_refused(news_runs, toxic_runs, tmp_path, capsys):
    code = cli.main(["compare", "--run", f"a={news_runs['teacher'][0]}", "--run", f"b={toxic_runs['teacher']}",
                     "--output", str(tmp_path / "r")])  # fmt: skip
    assert code == 2
    assert "were not tested on the same data" in capsys.readouterr().err
    with pytest.raises(TaskError, match=r"no results\.json"):
        load_run("x", str(tmp_path))


def fake_run(name: str, seed: int, accuracy: float) -> Run:
    record = RunRecord(
        task="news", problem_type="single_label_classification", labels=["a", "b"], primary_metric="accuracy",
        model_name_or_path="m", data=DataRecord(split="random", train_size=1, validation_size=1, test_size=1),
        training=TrainingRecord(learning_rate=1e-4, per_device_train_batch_size=8, num_train_epochs=1, seed=seed,
                                global_steps=1),
        test_metrics={"test_accuracy": accuracy},
    )  # fmt: skip
    return Run(name, f"/runs/{name}{seed}", record, None, None, [], None)


def test_paired_margins_compare_seed_by_seed():
    groups = {
        "teacher": [fake_run("teacher", 42, 0.9)],
        "student": [fake_run("student", s, a) for s, a in ((1, 0.80), (2, 0.82), (3, 0.81))],
        "distilled": [fake_run("distilled", s, a) for s, a in ((3, 0.84), (1, 0.83), (2, 0.81))],
    }
    (margin,) = paired_margins(groups, "accuracy", "teacher")
    assert (margin["better"], margin["than"], margin["pairs"], margin["wins"]) == ("distilled", "student", 3, 2)
    assert [m["seed"] for m in margin["per_seed"]] == [3, 1, 2]
    assert [round(m["difference"], 6) for m in margin["per_seed"]] == [0.03, 0.03, -0.01]
    assert margin["mean_difference"] == pytest.approx(0.05 / 3)
    assert margin["sd_difference"] == pytest.approx(np.std([0.03, 0.03, -0.01], ddof=1))
    assert not math.isnan(margin["sd_difference"])
