"""Every file name of a run's output folder (and of the folders the commands write), in one place.

A ``train.py`` output folder, as ``pipeline()``, the card, ``compare`` and a resumed run read it:

- the model: ``config.json`` (labels, problem type, tuned ``thresholds``), ``model.safetensors``,
  the tokenizer files, ``training_args.bin`` (token left out);
- ``results.json`` (``RESULTS_FILE``, the typed run record) and ``results.md`` (``TABLE_FILE``);
- ``README.md`` (``CARD_FILE``), the model card;
- ``predictions_test.npz`` (``PREDICTIONS_FILE``): test logits and labels for reports;
- ``distillation.json`` (``DISTILLATION_FILE``): the teacher and settings of a distilled run;
- ``trainer_state.json`` (``STATE_FILE``): the Trainer's log, in the folder and in each
  ``checkpoint-N`` (``checkpoint_folder``), whose presence marks a complete checkpoint;
- in each ``checkpoint-N`` also ``kept_best_model.safetensors`` and ``kept_best_model.json``
  (``KEPT_WEIGHTS_FILE``, ``KEPT_STATE_FILE``): the best evaluation's weights so far and which
  evaluation they are, read back when the run is resumed;
- ``_trainer_tasks_run.json`` (``IDENTITY_FILE``): whose folder it is (task, labels, base model);
  names starting with ``_`` are never pushed to the Hub.

``trainer-tasks export`` writes ``model.onnx`` (``ONNX_FILE``) and ``onnx_export.json``
(``EXPORT_RECORD``); ``trainer-tasks compare`` writes ``report.md`` and ``summary.json``.
"""

import os

RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"
CARD_FILE = "README.md"
PREDICTIONS_FILE = "predictions_test.npz"
DISTILLATION_FILE = "distillation.json"
STATE_FILE = "trainer_state.json"
KEPT_WEIGHTS_FILE = "kept_best_model.safetensors"
KEPT_STATE_FILE = "kept_best_model.json"
IDENTITY_FILE = "_trainer_tasks_run.json"
ONNX_FILE = "model.onnx"
EXPORT_RECORD = "onnx_export.json"
REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.json"


def checkpoint_folder(output_dir: str, step: int) -> str:
    """Where the Trainer saves the checkpoint of ``step`` (``checkpoint-N``, transformers' naming)."""
    return os.path.join(output_dir, f"checkpoint-{step}")
