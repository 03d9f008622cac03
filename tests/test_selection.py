"""The kept weights are the best evaluation's, early stopping stops, and both are recorded.

Planted: the given validation file carries the training mapping shifted by one class, so the more the
model learns, the worse its validation accuracy gets; the best epoch is an early one, never the last.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import train_args

import train
from tasks import TaskError
from trainer_tasks.inference.classifier import TextClassifier

TOPICS = {
    "food": ["recipe", "bread", "soup", "cheese", "oven"],
    "sport": ["goal", "match", "team", "coach", "league"],
    "tech": ["laptop", "chip", "software", "phone", "robot"],
}
SHIFTED = {"food": "sport", "sport": "tech", "tech": "food"}


def write_planted(folder: Path) -> tuple[str, str, pd.DataFrame]:
    rng = random.Random(11)
    rows = []
    for i in range(330):
        topic = rng.choice(sorted(TOPICS))
        rows.append({"text": f"{' '.join(rng.sample(TOPICS[topic], 3))} number {i}", "label": topic})
    frame = pd.DataFrame(rows)
    train_path, validation_path = folder / "train.csv", folder / "validation.csv"
    frame.iloc[:270].to_csv(train_path, index=False)
    validation = frame.iloc[270:].assign(label=frame["label"].iloc[270:].map(SHIFTED))
    validation.to_csv(validation_path, index=False)
    return str(train_path), str(validation_path), validation


def run(tmp_path: Path, tiny_bert: str, *extra: str) -> tuple[dict, str, pd.DataFrame]:
    train_path, validation_path, validation = write_planted(tmp_path)
    out = str(tmp_path / "out")
    train.main(
        train_args(tiny_bert, out, "--task", "text", "--train_file", train_path, "--validation_file", validation_path,
                   "--num_train_epochs", "6", *extra)
    )  # fmt: skip
    return json.loads(Path(out, "results.json").read_text()), out, validation


def validation_accuracy(out: str, validation: pd.DataFrame) -> float:
    classifier = TextClassifier.load(out, precision="fp32")
    predicted = classifier.predict(validation["text"].tolist(), progress=False)
    names = [classifier.labels[i] for i in np.argmax(predicted.scores, axis=1)]
    return float(np.mean(np.array(names) == validation["label"].to_numpy()))


def test_the_saved_model_is_the_best_epochs_not_the_last(tmp_path, tiny_bert):
    results, out, validation = run(tmp_path, tiny_bert)
    kept, epochs = results["kept_model"], results["epochs"]
    values = [row["val_metric"] for row in epochs]
    best = int(np.argmax(values))
    assert kept["how"] == "best (in memory)" and kept["metric"] == "eval_accuracy"
    assert best < len(epochs) - 1 and values[best] > values[-1]  # the plant worked: the last epoch is worse
    assert kept["epoch"] == pytest.approx(epochs[best]["epoch"]) and kept["value"] == pytest.approx(values[best])
    # the saved weights score what the kept evaluation scored (fp32 here, bf16 autocast in training: a row may flip)
    assert validation_accuracy(out, validation) == pytest.approx(values[best], abs=2 / len(validation))
    table = Path(out, "results.md").read_text()
    assert f"| {epochs[best]['epoch']}* |" in table and "Kept model: the best evaluation by eval_accuracy" in table
    assert "Kept model: the best evaluation" in Path(out, "README.md").read_text()


def test_early_stopping_stops_and_says_when(tmp_path, tiny_bert, caplog):
    with caplog.at_level("INFO"):
        results, _, _ = run(tmp_path, tiny_bert, "--early_stopping_patience", "1")
    stopping = results["early_stopping"]
    assert stopping["stopped"] and stopping["patience"] == 1
    assert len(results["epochs"]) < 6 and stopping["epoch"] == pytest.approx(results["epochs"][-1]["epoch"])
    assert any("early stopping" in record.getMessage() for record in caplog.records)
    assert "training stopped at epoch" in Path(tmp_path, "out", "README.md").read_text()


def test_user_choices_are_kept(tmp_path, tiny_bert):
    results, _, _ = run(
        tmp_path, tiny_bert, "--save_strategy", "epoch", "--load_best_model_at_end", "true",
        "--metric_for_best_model", "eval_loss",
    )  # fmt: skip
    kept = results["kept_model"]
    losses = [row["val_loss"] for row in results["epochs"]]
    assert kept["how"] == "best (load_best_model_at_end)" and kept["metric"] == "eval_loss"
    assert kept["value"] == pytest.approx(min(losses), rel=1e-4)


def test_early_stopping_needs_evaluations(tmp_path, tiny_bert, news_csv):
    with pytest.raises(TaskError, match="--eval_strategy"):
        train.main(
            train_args(tiny_bert, str(tmp_path / "out"), "--task", "news", "--data_files", news_csv,
                       "--eval_strategy", "no", "--early_stopping_patience", "2")
        )  # fmt: skip


def test_a_resumed_run_keeps_the_best_evaluation_made_before_the_interruption(tmp_path, tiny_bert):
    """Each checkpoint holds the kept weights and which evaluation they are: resumed from a checkpoint after the
    best epoch, the run keeps that epoch's weights (not the best of the later, worse evaluations) and saves the
    same model as the uninterrupted run."""
    from trainer_tasks.core.output_files import KEPT_STATE_FILE, KEPT_WEIGHTS_FILE

    results, out, validation = run(tmp_path, tiny_bert, "--save_strategy", "epoch")
    kept, epochs = results["kept_model"], results["epochs"]
    best = int(np.argmax([row["val_metric"] for row in epochs]))
    assert best < len(epochs) - 1
    checkpoints = sorted(Path(out).glob("checkpoint-*"), key=lambda folder: int(folder.name.split("-")[1]))
    after_best = next(folder for folder in checkpoints if int(folder.name.split("-")[1]) > kept["step"])
    assert (after_best / KEPT_WEIGHTS_FILE).is_file()
    saved = json.loads((after_best / KEPT_STATE_FILE).read_text())
    assert saved["kept"]["step"] == kept["step"] and saved["best_value"] == pytest.approx(kept["value"])
    uninterrupted = validation_accuracy(out, validation)

    # as if the run had stopped right after that checkpoint: the later checkpoints and the outputs never written
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / after_best.name).symlink_to(after_best, target_is_directory=True)
    train_path, validation_path = str(tmp_path / "train.csv"), str(tmp_path / "validation.csv")
    train.main(
        train_args(tiny_bert, str(resumed), "--task", "text", "--train_file", train_path, "--validation_file",
                   validation_path, "--num_train_epochs", "6", "--save_strategy", "epoch",
                   "--resume_from_checkpoint", "auto")
    )  # fmt: skip
    again = json.loads((resumed / "results.json").read_text())["kept_model"]
    assert (again["step"], again["epoch"]) == (kept["step"], kept["epoch"])
    assert again["value"] == pytest.approx(kept["value"])
    assert validation_accuracy(str(resumed), validation) == pytest.approx(uninterrupted, abs=1e-9)


def test_per_steps_evaluation_keeps_the_best_step(tmp_path, tiny_bert):
    """With ``--eval_strategy steps`` the kept weights are the best evaluation's, mid-epoch ones included."""
    results, out, validation = run(tmp_path, tiny_bert, "--eval_strategy", "steps", "--eval_steps", "5")
    history = json.loads(Path(out, "trainer_state.json").read_text())["log_history"]
    evaluations = [(entry["step"], entry["eval_accuracy"]) for entry in history if "eval_accuracy" in entry]
    assert len(evaluations) > len(results["epochs"])  # more evaluations than epochs: per steps really ran
    best_step, best_value = max(evaluations, key=lambda pair: pair[1])  # the first of equal values, as kept
    kept = results["kept_model"]
    assert kept["how"] == "best (in memory)" and kept["step"] == best_step
    assert kept["value"] == pytest.approx(best_value)
    assert validation_accuracy(out, validation) == pytest.approx(best_value, abs=2 / len(validation))
