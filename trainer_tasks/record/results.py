"""What a finished run reports: ``results.json`` and the thesis-style markdown tables.

``results.json`` is the single source of truth for a run: the model card, the comparison report
and the tests all read it, so it records what was trained, on which split and sizes, with which
settings, and every metric.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

import torch

from tasks.base import COLUMN_FLAGS
from trainer_tasks.core.files import write_json_atomic, write_text_atomic
from trainer_tasks.core.output_files import RESULTS_FILE, TABLE_FILE
from trainer_tasks.core.secrets import redacted_command, secret_values
from trainer_tasks.record.intervals import ci_header, interval_method_text, show_interval
from trainer_tasks.record.label_counts import label_counts as count_labels
from trainer_tasks.record.run_record import DATA_SOURCE_FIELDS, DataRecord, RunRecord, TrainingRecord


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def _format(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_format(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def kept_line(kept: dict | None, stopping: dict | None) -> str:
    """Which evaluation's weights the run saved, and whether it stopped early, in one sentence ("" if unknown)."""
    if not kept:
        return ""
    epoch = kept.get("epoch")
    step = kept.get("step")
    where = f"epoch {epoch:g} (step {step})" if isinstance(epoch, int | float) else f"step {step}"
    if str(kept.get("how", "")).startswith("best") and kept.get("metric"):
        value = kept.get("value")
        shown = f" ({value:.4f})" if isinstance(value, int | float) else ""
        line = f"Kept model: the best evaluation by {kept['metric']}, {where}{shown}; marked * in the per-epoch table."
    else:
        line = f"Kept model: the last weights, {where}."
    if stopping and stopping.get("stopped"):
        line += (
            f" Early stopping: no improvement for {stopping.get('patience')} evaluation(s); training stopped at "
            f"epoch {stopping.get('epoch'):g} (step {stopping.get('step')})."
        )
    elif stopping:
        line += f" Early stopping (patience {stopping.get('patience')}) did not trigger."
    return line


def epoch_table(epochs: Sequence[dict], metric_name: str, kept_epoch: float | None = None) -> str:
    """Thesis layout: epoch, train loss, val loss, val metric, train/val/total time in seconds; the epoch whose
    weights were kept is marked with a *."""
    header = [
        "epoch",
        "train loss",
        "val loss",
        f"val {metric_name}",
        "train time (s)",
        "val time (s)",
        "total time (s)",
    ]
    rows = [
        [
            f"{row['epoch']}*" if kept_epoch is not None and _same_epoch(row["epoch"], kept_epoch) else row["epoch"],
            row["train_loss"],
            row["val_loss"],
            row["val_metric"],
            f"{row['train_time']:.1f}",
            f"{row['val_time']:.1f}",
            f"{row['total_time']:.1f}",
        ]
        for row in epochs
    ]
    return markdown_table(header, rows)


def _same_epoch(row_epoch: Any, kept_epoch: float) -> bool:
    try:
        return abs(float(row_epoch) - float(kept_epoch)) < 1e-6
    except (TypeError, ValueError):
        return False


def kept_epoch(record: RunRecord) -> float | None:
    """The epoch whose weights were kept, for marking the per-epoch table (only when chosen as the best)."""
    kept = record.kept_model or {}
    epoch = kept.get("epoch")
    return float(epoch) if str(kept.get("how", "")).startswith("best") and isinstance(epoch, int | float) else None


def test_table(test_metrics: dict[str, float], intervals: dict[str, Any] | None = None) -> str:
    """Markdown: each test metric, with its bootstrap interval beside it when the run has them (``test_intervals``)."""
    shown = (intervals or {}).get("metrics")
    rows = [
        [key.removeprefix("test_"), value, *([show_interval(shown.get(key.removeprefix("test_")))] if shown else [])]
        for key, value in test_metrics.items()
        if key not in ("test_runtime", "test_samples_per_second", "test_steps_per_second", "epoch")
    ]
    return markdown_table(["test metric", "value", *([ci_header(intervals)] if shown else [])], rows)


def thresholds_table(record: RunRecord) -> str:
    """Markdown: each label's threshold and test F1 at 0.5 and at the tuned threshold."""
    at_default, tuned = record.test_metrics, record.test_metrics_tuned
    rows = [
        [row["label"], row["threshold"], row["validation_positives"], at_default[f"test_f1_{row['label']}"],
         tuned[f"test_f1_{row['label']}"]]
        for row in record.threshold_tuning
    ]  # fmt: skip
    for key in ("f1_macro", "f1_micro", "jaccard_samples"):
        rows.append([key, "", "", at_default[f"test_{key}"], tuned[f"test_{key}"]])
    header = ["label", "threshold", "val positives", "test @0.5", "test @tuned"]
    title = f"Per-label thresholds tuned on validation for {record.threshold_objective}; test F1 per label:"
    return "\n\n".join([title, markdown_table(header, rows), *threshold_rule_text(record.threshold_rule)])


def threshold_rule_text(rule: dict | None) -> list[str]:
    """One sentence: whether the tuned set was kept, with the validation primary metric at 0.5 and tuned.

    Tuned thresholds that lower the validation primary metric are dropped for 0.5 (training.thresholds):
    a reader must see that it happened, and by how much, without opening results.json.
    """
    if not rule:
        return []
    metric, at_half, tuned = rule["primary_metric"], rule["validation_primary_at_0.5"], rule["validation_primary_tuned"]
    if not rule["kept"]:
        verdict = "rejected: every label uses 0.5"
    elif rule["labels_tuned"]:
        verdict = f"kept for {', '.join(rule['labels_tuned'])}; the other labels use 0.5"
    else:
        verdict = "not used: no label's threshold improved on 0.5, every label uses 0.5"
    return [f"Tuned thresholds {verdict} (validation {metric}: {at_half:.4f} at 0.5, {tuned:.4f} tuned)."]


def data_source(data: DataRecord) -> str:
    """Where the splits came from, in words: a Hub dataset with its config, revision and splits, or the file names
    per split (``train: a.csv; test: b.csv``; pooled training files alone, as ``a.csv, b.csv``)."""
    if data.dataset_name:
        details = [f"config {data.dataset_config_name}"] if data.dataset_config_name else []
        details += [f"revision {data.dataset_revision}"] if data.dataset_revision else []
        details += [
            f"{name} split: {getattr(data, f'{name}_split')}"
            for name in ("train", "validation", "test")
            if getattr(data, f"{name}_split")
        ]
        return data.dataset_name + (f" ({', '.join(details)})" if details else "")
    files = {
        "train": [*data.data_files, *([data.train_file] if data.train_file else [])],
        "validation": [data.validation_file] if data.validation_file else [],
        "test": [data.test_file] if data.test_file else [],
    }
    names = {split: ", ".join(os.path.basename(path) for path in paths) for split, paths in files.items() if paths}
    if set(names) <= {"train"}:
        return names.get("train", "")
    return "; ".join(f"{split}: {shown}" for split, shown in names.items())


def split_description(data: DataRecord) -> str:
    """How train/validation/test came about, in markdown: given by the user or the dataset, or carved (and how)."""
    if data.split == "story":
        carved = (
            "**story** (all headlines of one story cluster on the same side, so near-duplicates never leak from "
            "train into test)"
        )
    elif data.group_column:
        carved = f"**grouped by `{data.group_column}`** (each group on one side, seeded)"
    else:
        carved = f"**{data.split}** (stratified, seeded)"
    if data.dataset_name:
        return f"the dataset's own splits where it has them, any missing one carved from train: {carved}"
    given = [name for name in ("validation", "test") if getattr(data, f"{name}_file")]
    if len(given) == 2:
        return "**as given** (train, validation and test files)"
    if given:
        missing = "validation" if given == ["test"] else "test"
        return f"{given[0]} as given, {missing} carved from train: {carved}"
    return carved


def duplicates_line(duplicates: dict[str, int], dropped: bool) -> str:
    """The held-out copies of training texts in one sentence; "" when the run did not count them."""
    if not duplicates:
        return ""
    found = ", ".join(f"{name} {count}" for name, count in duplicates.items())
    if not any(duplicates.values()):
        return f"Exact duplicates of training texts (whitespace and case aside): none ({found})."
    if dropped:
        return f"Exact duplicates of training texts (whitespace and case aside): {found}; removed before evaluation."
    return (
        f"Exact duplicates of training texts (whitespace and case aside): {found}; kept, so they count in the "
        "validation and test scores (--drop_test_duplicates removes them)."
    )


def label_counts_table(label_counts: dict[str, dict[str, int]], labels: Sequence[str]) -> str:
    """Markdown: one row per label (in id order), one column per split; "" when the run did not count them."""
    if not label_counts:
        return ""
    splits = list(label_counts)
    rows = [[f"`{label}`", *(label_counts[split].get(label, 0) for split in splits)] for label in labels]
    return markdown_table(["label", *splits], rows)


def render_results_markdown(record: RunRecord) -> str:
    data = record.data
    source, duplicates = data_source(data), duplicates_line(data.duplicates, data.duplicates_dropped)
    paragraphs = [
        f"# {record.task} · {record.model_name_or_path}",
        f"Split: {split_description(data)}; train {data.train_size}, validation {data.validation_size}, "
        f"test {data.test_size} examples. Processes: {record.world_size}.",
        *([f"Data: {source}."] if source else []),
        *([duplicates] if duplicates else []),
    ]
    if data.label_counts:
        several = " (a row may have several)" if record.problem_type.startswith("multi") else ""
        paragraphs.append(f"Rows per label{several}:\n\n{label_counts_table(data.label_counts, record.labels)}")
    paragraphs += [
        epoch_table(record.epochs, record.primary_metric, kept_epoch(record)),
        *([kept_line(record.kept_model, record.early_stopping)] if record.kept_model else []),
        test_table(record.test_metrics, record.test_intervals),
        *([interval_method_text(record.test_intervals, data.group_column)] if record.test_intervals else []),
        f"Test evaluation time: {_format(record.test_metrics.get('test_runtime'), 2)} s.",
    ]
    if record.test_metrics_tuned:
        paragraphs.append(thresholds_table(record))
    return "\n\n".join(paragraphs) + "\n"


def write_results(output_dir: str, record: RunRecord) -> str:
    """Write ``results.json`` and ``results.md``; return the markdown for printing."""
    markdown = render_results_markdown(record)
    write_json_atomic(os.path.join(output_dir, RESULTS_FILE), record.to_dict())
    write_text_atomic(os.path.join(output_dir, TABLE_FILE), markdown)
    return markdown


def command_line(training_args: Any = None) -> str:
    """The command that started the run, with every token this run knows replaced (by value, wherever it came from)."""
    return redacted_command(sys.argv, secret_values(training_args))


def task_options(data_args) -> dict[str, Any]:
    """The generic task's column options that were set, as a YAML recipe writes them (``text_column: [q, a]``)."""
    defaults = type(data_args)() if dataclasses.is_dataclass(data_args) else None
    options = {}
    for name in COLUMN_FLAGS:
        value = getattr(data_args, name, None)
        if value is not None and value != getattr(defaults, name, None):
            options[name] = list(value) if isinstance(value, (list, tuple)) else value
    return options


def collect_results(
    task,
    model_args,
    data_args,
    training_args,
    raw,
    train_output,
    test_metrics,
    epoch_table,
    *,
    duplicates: dict[str, int] | None = None,
    label_counts: dict[str, dict[str, int]] | None = None,
) -> RunRecord:
    """Everything a report, a model card or a test needs to know about the finished run.

    ``duplicates``: held-out copies of training texts (``training.overlap``), when counted; ``label_counts``:
    rows per label and split (``training.label_counts``), counted here from ``raw`` when not given.
    """
    if label_counts is None:
        label_counts = count_labels(raw, task)
    return RunRecord(
        task=task.name,
        problem_type=task.problem_type,
        labels=list(task.labels),
        primary_metric=task.primary_metric,
        model_name_or_path=model_args.model_name_or_path,
        data=DataRecord(
            split=data_args.split,
            split_seed=training_args.seed if data_args.split_seed is None else data_args.split_seed,
            data_files=list(data_args.data_files or []),
            dataset_name=data_args.dataset_name,
            train_size=len(raw["train"]),
            validation_size=len(raw["validation"]),
            test_size=len(raw["test"]),
            max_seq_length=data_args.max_seq_length,
            pad_to_max_length=data_args.pad_to_max_length,
            long_text=getattr(data_args, "long_text", "truncate"),
            max_text_chars=data_args.max_text_chars,
            **{name: getattr(data_args, name, None) for name in DATA_SOURCE_FIELDS},
            task_options=task_options(data_args),
            duplicates=dict(duplicates or {}),
            duplicates_dropped=bool(duplicates is not None and getattr(data_args, "drop_test_duplicates", False)),
            label_counts=label_counts,
        ),
        training=TrainingRecord(
            learning_rate=training_args.learning_rate,
            per_device_train_batch_size=training_args.per_device_train_batch_size,
            gradient_accumulation_steps=training_args.gradient_accumulation_steps,
            num_train_epochs=training_args.num_train_epochs,
            max_steps=training_args.max_steps,
            lr_scheduler_type=str(getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type)),
            warmup_steps=training_args.warmup_steps,
            weight_decay=training_args.weight_decay,
            max_grad_norm=training_args.max_grad_norm,
            seed=training_args.seed,
            bf16=training_args.bf16,
            fp16=training_args.fp16,
            train_sampling_strategy=training_args.train_sampling_strategy,
            global_steps=train_output.global_step,
            train_runtime=train_output.metrics.get("train_runtime"),
            train_loss=train_output.training_loss,
        ),
        world_size=training_args.world_size,
        epochs=epoch_table.as_dicts(),
        test_metrics=test_metrics,
        hardware=hardware(),
        command=command_line(training_args),
        hub=hub_settings(training_args),
    )


def hub_settings(training_args) -> dict[str, Any]:
    """Where the model is published, never the token: the card names the repo and a retried push goes there.

    ``model_id`` is the full repo id once the Trainer created the repo (``HubPublishingMixin`` pins it).
    """
    strategy = training_args.hub_strategy
    return {
        "push_to_hub": training_args.push_to_hub,
        "model_id": training_args.hub_model_id,
        "endpoint": getattr(training_args, "hub_endpoint", None) or os.environ.get("HF_ENDPOINT"),
        "private": training_args.hub_private_repo,
        "revision": training_args.hub_revision,
        "strategy": str(getattr(strategy, "value", strategy)),
    }
