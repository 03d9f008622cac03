"""``trainer-tasks evaluate``'s outputs: ``evaluation.json``, ``evaluation.md`` and ``confusion_matrix.png``.

The markdown is what a person reads (and what is printed without ``--output``); the JSON holds the
same numbers for scripts, NaN as null. Every file is written whole or not at all (atomic rename),
so an interrupted run never leaves half a report beside a complete one from before.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from types import SimpleNamespace

from trainer_tasks.core.files import write_json_atomic, write_text_atomic
from trainer_tasks.inference.evaluation import AT_HALF, AT_SAVED, Evaluation

logger = logging.getLogger(__name__)

JSON_FILE = "evaluation.json"
MARKDOWN_FILE = "evaluation.md"
CONFUSION_FILE = "confusion_matrix.png"
SETTING_TITLES = {"argmax": "value", AT_HALF: "at 0.5", AT_SAVED: "at saved thresholds"}


def number(value: float | None) -> str:
    """Four decimals; n/a for an undefined score (ROC-AUC of a label with one class in the data)."""
    if value is None or value != value:  # NaN
        return "n/a"
    return f"{value:.4f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table: numbers right-aligned, the first column left."""
    align = [":--", *["--:"] * (len(header) - 1)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def escaped(text: str) -> str:
    """A label or path inside a table cell: a ``|`` would end the cell."""
    return str(text).replace("|", "\\|")


def metrics_section(evaluation: Evaluation) -> list[str]:
    """One row per metric, one column per decision rule (the argmax, or 0.5 and the saved thresholds)."""
    settings = list(evaluation.metrics)
    if evaluation.multi_label and not evaluation.thresholds_saved:
        settings = [AT_HALF]  # the model saved no thresholds: both columns would be the same
    names = list(dict.fromkeys(name for setting in settings for name in evaluation.metrics[setting]))
    rows = [[name, *(number(evaluation.metrics[setting].get(name)) for setting in settings)] for name in names]
    return ["## Metrics", "", *table(["metric", *(SETTING_TITLES[setting] for setting in settings)], rows), ""]


def per_label_section(evaluation: Evaluation, setting: str, title: str) -> list[str]:
    """Precision, recall, F1 and support per label; multi-label adds its threshold and TP/FP/FN/TN."""
    header = ["class", "precision", "recall", "F1", "support"]
    if evaluation.multi_label:
        header = ["label", "threshold", "precision", "recall", "F1", "support", "TP", "FP", "FN", "TN"]
    rows = []
    for row in evaluation.per_label[setting]:
        scores = [number(row[key]) for key in ("precision", "recall", "f1")]
        cells = [escaped(row["label"]), *scores, str(row["support"])]
        if evaluation.multi_label:
            threshold = 0.5 if setting == AT_HALF else evaluation.thresholds[row["label"]]
            counts = [str(row[key]) for key in ("tp", "fp", "fn", "tn")]
            cells = [cells[0], f"{threshold:.4g}", *cells[1:], *counts]
        rows.append(cells)
    return [f"## {title}", "", *table(header, rows), ""]


def confusion_section(evaluation: Evaluation) -> list[str]:
    names = [escaped(name) for name in evaluation.labels]
    rows = [[name, *map(str, counts)] for name, counts in zip(names, evaluation.confusion, strict=True)]
    return [
        "## Confusion matrix",
        "",
        "Rows: the true class; columns: the predicted class.",
        "",
        *table(["true \\ predicted", *names], rows),
        "",
    ]


def render_markdown(evaluation: Evaluation) -> str:
    """The whole report: what was scored, the task's metrics, the per-label table, the confusion matrix."""
    kind = "multi-label" if evaluation.multi_label else "single-label"
    lines = [
        f"# Evaluation of {escaped(evaluation.model)}",
        "",
        f"- task: {evaluation.task} ({kind}, {len(evaluation.labels)} labels)",
        f"- data: {', '.join(escaped(path) for path in evaluation.data)} ({evaluation.rows} rows, "
        f"{evaluation.truncated} truncated to {evaluation.max_length} tokens)",
        f"- backend: {evaluation.backend}",
    ]
    if evaluation.multi_label:
        saved = "saved with the model" if evaluation.thresholds_saved else "none saved: 0.5 for every label"
        lines.append(f"- thresholds: {saved}")
    lines.append("")
    lines += metrics_section(evaluation)
    if not evaluation.multi_label:
        lines += per_label_section(evaluation, "argmax", "Per class")
        lines += confusion_section(evaluation)
    elif evaluation.thresholds_saved:
        lines += per_label_section(evaluation, AT_SAVED, "Per label, at the saved thresholds")
        lines += per_label_section(evaluation, AT_HALF, "Per label, at 0.5")
    else:
        lines += per_label_section(evaluation, AT_HALF, "Per label")
    return "\n".join(lines).rstrip("\n") + "\n"


def write_confusion_png(evaluation: Evaluation, path: str) -> bool:
    """The confusion matrix as ``reports.plots`` draws it for comparison reports; skipped without matplotlib."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        logger.warning("no %s: matplotlib is not installed (pip install 'trainer-tasks[report]')", CONFUSION_FILE)
        return False
    from trainer_tasks.reports.plots import confusion_matrices

    predictions = SimpleNamespace(label_names=evaluation.labels, logits=evaluation.logits, labels=evaluation.label_ids)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".png")
    os.close(handle)
    try:
        confusion_matrices([(os.path.basename(os.path.normpath(evaluation.model)), predictions)], temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return True


def write_evaluation(evaluation: Evaluation, folder: str) -> list[str]:
    """``evaluation.json``, ``evaluation.md`` and (single-label) ``confusion_matrix.png`` in ``folder``;
    returns the names written."""
    os.makedirs(folder, exist_ok=True)
    write_json_atomic(os.path.join(folder, JSON_FILE), evaluation.to_dict())
    write_text_atomic(os.path.join(folder, MARKDOWN_FILE), render_markdown(evaluation))
    written = [JSON_FILE, MARKDOWN_FILE]
    if not evaluation.multi_label and write_confusion_png(evaluation, os.path.join(folder, CONFUSION_FILE)):
        written.append(CONFUSION_FILE)
    return written
