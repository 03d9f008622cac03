"""Test-split predictions kept beside the model, for reports that need more than summary metrics.

A confusion matrix or a ROC curve needs every test example's scores, which ``results.json`` does not
hold. ``evaluate_test`` is ``train.py``'s test step: it evaluates as ``trainer.evaluate`` would (same
metrics, same ``test_`` prefix, same timing) and writes ``predictions_test.npz`` (logits, labels,
label names) and ``trainer_state.json`` (the step-by-step log history, for training curves).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from transformers import Trainer

from trainer_tasks.core.output_files import PREDICTIONS_FILE


@dataclass(frozen=True)
class Predictions:
    logits: np.ndarray  # (examples, labels)
    labels: np.ndarray  # class ids (examples,), or 0/1 floats (examples, labels) for multi-label
    label_names: tuple[str, ...]
    problem_type: str

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"


def save_predictions(folder: str, predictions: Predictions) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, PREDICTIONS_FILE)
    temporary = path + ".tmp.npz"  # np.savez appends .npz to names without it
    np.savez_compressed(
        temporary,
        logits=predictions.logits.astype(np.float32),
        labels=predictions.labels,
        label_names=np.array(predictions.label_names),
        problem_type=np.array(predictions.problem_type),
    )
    os.replace(temporary, path)
    return path


def load_predictions(folder: str) -> Predictions | None:
    path = os.path.join(folder, PREDICTIONS_FILE)
    if not os.path.isfile(path):
        return None
    with np.load(path, allow_pickle=False) as stored:
        return Predictions(
            logits=stored["logits"],
            labels=stored["labels"],
            label_names=tuple(str(name) for name in stored["label_names"]),
            problem_type=str(stored["problem_type"]),
        )


def predict_split(trainer: Trainer, dataset, prefix: str) -> tuple[dict[str, float], Predictions]:
    """``trainer.predict`` over one split: its metrics (``{prefix}_*``) and its logits and labels."""
    output = trainer.predict(dataset, metric_key_prefix=prefix)
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    config = trainer.model.config
    predictions = Predictions(
        logits=np.asarray(logits),
        labels=np.asarray(output.label_ids),
        label_names=tuple(config.id2label[i] for i in sorted(config.id2label)),
        problem_type=config.problem_type,
    )
    return output.metrics, predictions


def evaluate_test(
    trainer: Trainer, test_dataset, per_text: Callable[[Predictions, str], Predictions] | None = None
) -> tuple[dict[str, float], Predictions]:
    """Test metrics (``test_*``) as ``trainer.evaluate`` returns them, and the test predictions.

    Process 0 keeps the predictions (``predictions_test.npz``) and the log history; every process
    gets them back, so later steps (threshold tuning) score the test split without predicting it again.
    ``per_text`` (``--long_text chunk``) turns window predictions into one row per text before they are kept.
    """
    metrics, predictions = predict_split(trainer, test_dataset, "test")
    if per_text is not None:
        predictions = per_text(predictions, "test")
    if trainer.is_world_process_zero():
        save_predictions(trainer.args.output_dir, predictions)
    trainer.save_state()  # trainer_state.json with the log history (process 0 only)
    return metrics, predictions
