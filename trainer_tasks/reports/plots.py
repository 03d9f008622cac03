"""The comparison report's figures, as PNG files: training curves, confusion matrices, ROC and PR curves.

matplotlib is imported lazily with the file-only ``Agg`` backend (no display on a server), and is an
optional dependency (``pip install 'trainer-tasks[report]'``): training never needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tasks import TaskError
from tasks.metrics import sigmoid


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise TaskError(
            "the comparison report draws its plots with matplotlib, which is not installed: "
            "pip install 'trainer-tasks[report]' (or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def group_colors(groups: Sequence[str]) -> dict[str, str]:
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    return {group: palette[i % len(palette)] for i, group in enumerate(dict.fromkeys(groups))}


def training_curves(runs, path: str, metric_name: str) -> str:
    """Train loss per logging step, validation loss and metric per epoch; one colour per model.

    A distilled run's logged ``loss`` is its whole objective; its task term (``loss_task``) is what
    compares with the other runs' loss, so that is drawn, and the legend says so.
    """
    plt = _pyplot()
    colors = group_colors([run.name for run in runs])
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    labelled: set[str] = set()
    for run in runs:
        color = colors[run.name]
        label = None if run.name in labelled else run.name
        labelled.add(run.name)
        history = [row for row in run.log_history if "loss" in row and "epoch" in row]
        key = "loss_task" if any("loss_task" in row for row in history) else "loss"
        if history:
            axes[0].plot(
                [row["epoch"] for row in history],
                [row.get(key, row["loss"]) for row in history],
                color=color,
                alpha=0.8,
                linewidth=1.2,
                label=(f"{label} (task term)" if key == "loss_task" else label) if label else None,
            )
        epochs = run.record.epochs
        xs = [row["epoch"] for row in epochs]
        axes[1].plot(xs, [row["val_loss"] for row in epochs], "o-", color=color, alpha=0.8, label=label)
        axes[2].plot(xs, [row["val_metric"] for row in epochs], "o-", color=color, alpha=0.8, label=label)
    for axis, title in zip(
        axes, ("training loss (per logging step)", "validation loss", f"validation {metric_name}"), strict=True
    ):
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:  # a run without trainer_state.json draws no training curve
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def confusion_matrices(named_predictions, path: str) -> str:
    """One row-normalised confusion matrix per model (rows: true class, columns: predicted), counts shown."""
    plt = _pyplot()
    count = len(named_predictions)
    figure, axes = plt.subplots(1, count, figsize=(4.6 * count, 4.4), squeeze=False)
    for axis, (name, predictions) in zip(axes[0], named_predictions, strict=True):
        names = predictions.label_names
        size = len(names)
        predicted = predictions.logits.argmax(axis=-1)
        matrix = np.zeros((size, size), dtype=int)
        np.add.at(matrix, (predictions.labels.astype(int), predicted), 1)
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        for row in range(size):
            for column in range(size):
                axis.text(
                    column,
                    row,
                    f"{shares[row, column]:.2f}\n({matrix[row, column]})",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if shares[row, column] > 0.6 else "black",
                )
        axis.set_xticks(range(size), names, rotation=30, ha="right", fontsize=8)
        axis.set_yticks(range(size), names, fontsize=8)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        accuracy = float((predicted == predictions.labels.astype(int)).mean())
        axis.set_title(f"{name}: accuracy {accuracy:.3f}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def label_curves(named_predictions, path: str, kind: str) -> str:
    """Per-label ROC (``kind="roc"``) or precision-recall (``kind="pr"``) curves, one line per model."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    plt = _pyplot()
    names = named_predictions[0][1].label_names
    columns = 3
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    colors = group_colors([name for name, _ in named_predictions])
    for index, label in enumerate(names):
        axis = axes[index // columns][index % columns]
        for name, predictions in named_predictions:
            truth = predictions.labels[:, index].astype(int)
            scores = sigmoid(predictions.logits[:, index].astype(np.float64))
            if len(np.unique(truth)) < 2:
                axis.text(0.5, 0.5, "one class only in test", ha="center", transform=axis.transAxes)
                continue
            if kind == "roc":
                fpr, tpr, _ = roc_curve(truth, scores)
                axis.plot(fpr, tpr, color=colors[name], label=f"{name} AUC {roc_auc_score(truth, scores):.3f}")
            else:
                precision, recall, _ = precision_recall_curve(truth, scores)
                average = average_precision_score(truth, scores)
                axis.plot(recall, precision, color=colors[name], label=f"{name} AP {average:.3f}")
        if kind == "roc":
            axis.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1)
            axis.set_xlabel("false positive rate")
            axis.set_ylabel("true positive rate")
        else:
            axis.set_xlabel("recall")
            axis.set_ylabel("precision")
        positives = int(named_predictions[0][1].labels[:, index].sum())
        axis.set_title(f"{label} ({positives} positives in test)", fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right" if kind == "roc" else "upper right")
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle("ROC per label" if kind == "roc" else "precision-recall per label")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
