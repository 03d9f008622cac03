"""The model card (``README.md``): declared, collected from the run, rendered from one Jinja template.

``CardData`` declares everything the card says. ``collect_card`` fills it from ``results.json`` (the
run's single source of truth) and the ``Task`` (labels, meanings, examples, known limitations); the
user fields (repo id, base model, licence) can be overridden. ``render_card`` renders
``model_cards/text_classification.md`` through ``huggingface_hub.ModelCard.from_template``.

Deterministic and offline on purpose: the same ``results.json`` gives the same bytes, so a re-rendered
card of a finished run is identical and a retried push uploads the folder as it was. Nothing here
touches the network (the base model's licence is read from its local card when it is a folder).

Unlike the Trainer's card, the ``model-index`` holds every test metric under its own name, including
``jaccard_samples`` (the thesis's "Hamming score"), which the Trainer's metric whitelist drops.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from tasks import Task
from trainer_tasks.core.files import write_text_atomic
from trainer_tasks.core.output_files import CARD_FILE
from trainer_tasks.record.intervals import interval_method_text
from trainer_tasks.record.results import (
    data_source,
    duplicates_line,
    epoch_table,
    kept_epoch,
    kept_line,
    label_counts_table,
    markdown_table,
    redacted_command,
    split_description,
    test_table,
    threshold_rule_text,
)
from trainer_tasks.record.run_record import DataRecord, RunRecord, TrainingRecord

TEMPLATE = resources.files("model_cards") / "text_classification.md"  # package data: in the wheel too
NOT_METRICS = ("runtime", "samples_per_second", "steps_per_second", "epoch")
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
METRIC_NAMES = {
    "jaccard_samples": "Hamming score (example-based Jaccard)",
    "hamming_accuracy": "Hamming accuracy (1 - Hamming loss)",
    "exact_match": "Exact match (subset accuracy)",
    "accuracy": "Accuracy",
    "f1_macro": "Macro F1",
    "f1_micro": "Micro F1",
    "roc_auc_macro": "Macro ROC-AUC",
    "loss": "Loss",
}


@dataclass
class CardData:
    """What the card states. User fields first; the rest is filled from ``results.json`` and the task."""

    # --- user fields (overridable from `trainer-tasks card`) ---
    model_id: str  # what users pass to pipeline(): the Hub repo id, or the local folder
    base_model: str | None = None  # Hub id of the checkpoint fine-tuned, for the Hub's model tree
    license: str | None = None
    language: str | None = None
    datasets: list[str] = field(default_factory=list)  # Hub dataset ids, when the data has one
    # --- filled from the run ---
    task_name: str = ""
    task_description: str = ""
    multi_label: bool = False
    labels: list[tuple[str, str]] = field(default_factory=list)  # (label, meaning) in id order
    base_model_source: str = ""  # --model_name_or_path as given (a local folder or a Hub id)
    data_source: str = ""
    split: str = "random"
    split_text: str = ""  # how train/validation/test came about (record.results.split_description)
    sizes: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> rows
    duplicates: dict[str, int] = field(default_factory=dict)  # held-out copies of training texts, per split
    duplicates_dropped: bool = False
    group_column: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)  # the generic task's column options, as given
    primary_metric: str = ""
    test_metrics: dict[str, float] = field(default_factory=dict)  # without the "test_" prefix and timings
    epochs: list[dict] = field(default_factory=list)
    kept_epoch: float | None = None  # the epoch whose weights were kept (marked in the table)
    kept: str = ""  # which evaluation's weights were kept, and early stopping (record.results.kept_line)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    world_size: int = 1
    train_runtime: float | None = None
    test_runtime: float | None = None
    command: str = ""
    widget_examples: list[str] = field(default_factory=list)
    limitations: list[str] = field(default_factory=list)
    thresholds: dict[str, float] | None = None  # per-label decision thresholds, when the run tuned them
    threshold_rule: dict[str, Any] | None = None  # whether the tuned set was kept (training.thresholds)
    label_weights: tuple[str, dict[str, float]] | None = None  # ("pos_weight" | "class_weights", per label)
    warnings: list[str] = field(default_factory=list)  # what made the run suspect (trainer_tasks.training.degenerate)
    in_progress: str | None = None  # e.g. "epoch 2 of 4": a card pushed with a checkpoint
    test_intervals: dict[str, Any] | None = None  # bootstrap intervals of the test metrics (record.intervals)

    def metric_name(self, key: str) -> str:
        if key in METRIC_NAMES:
            return METRIC_NAMES[key]
        for prefix, name in (("f1_", "F1"), ("roc_auc_", "ROC-AUC")):
            if key.startswith(prefix) and key[len(prefix) :] in dict(self.labels):
                return f"{name} ({key[len(prefix) :]})"
        return key

    def eval_results(self) -> list[EvalResult]:
        """Every finite test metric, the primary one first: the Hub's model-index."""
        keys = sorted(self.test_metrics, key=lambda key: key != self.primary_metric)
        task_name = "Multi-label text classification" if self.multi_label else "Text classification"
        return [
            EvalResult(
                task_type="text-classification",
                task_name=task_name,
                dataset_type=self.datasets[0] if self.datasets else self.task_name,
                dataset_name=f"{self.data_source} ({self.split} split)",
                dataset_split="test",
                metric_type=key,
                metric_name=self.metric_name(key),
                metric_value=self.test_metrics[key],
            )
            for key in keys
            if math.isfinite(self.test_metrics[key])
        ]

    def metadata(self) -> ModelCardData:
        tags = [self.task_name, "multi-label" if self.multi_label else "single-label", "trainer-tasks"]
        return ModelCardData(
            language=self.language,
            license=self.license,
            library_name="transformers",
            pipeline_tag="text-classification",
            base_model=self.base_model,
            tags=tags,
            datasets=self.datasets or None,
            model_name=self.model_id,
            eval_results=self.eval_results() or None,
            widget=[{"text": text} for text in self.widget_examples] or None,
        )

    def usage_code(self) -> str:
        """Python that works as written: the pipeline() call this model needs, on the widget examples."""
        examples = self.widget_examples[:3] or ["An example text"]
        lines = ["from transformers import pipeline", ""]
        if self.multi_label:
            lines.append(f'classify = pipeline("text-classification", model="{self.model_id}", top_k=None)')
            if self.thresholds:
                lines.append(f"thresholds = {dict(self.thresholds)!r}  # tuned on the validation split")
            else:
                lines.append(f"thresholds = {dict.fromkeys([label for label, _ in self.labels], 0.5)!r}")
            lines += [f"texts = {list(examples)!r}", "for text, scores in zip(texts, classify(texts)):"]
            lines.append('    labels = [s["label"] for s in scores if s["score"] >= thresholds[s["label"]]]')
            lines.append("    print(text, labels)  # any number of labels, possibly none")
        else:
            lines.append(f'classify = pipeline("text-classification", model="{self.model_id}")')
            lines += [f"texts = {list(examples)!r}", "for text, best in zip(texts, classify(texts)):"]
            lines.append('    print(text, best["label"], round(best["score"], 3))')
        return "\n".join(lines)

    def template_values(self) -> dict[str, Any]:
        primary = self.test_metrics.get(self.primary_metric)
        labels = [[i, f"`{label}`", meaning] for i, (label, meaning) in enumerate(self.labels)]
        settings = [[key, _cell(value)] for key, value in self.hyperparameters.items()]
        thresholds = [[f"`{k}`", f"{v:.3f}"] for k, v in (self.thresholds or {}).items()]
        weights = [[f"`{k}`", f"{v:.3f}"] for k, v in (self.label_weights[1] if self.label_weights else {}).items()]
        tests = {f"test_{key}": value for key, value in self.test_metrics.items()}
        return {
            "data": self,
            "title": self.model_id.rstrip("/").rsplit("/", 1)[-1],
            "labels_table": markdown_table(["id", "label", "meaning"], labels),
            "epoch_table": epoch_table(self.epochs, self.primary_metric, self.kept_epoch) if self.epochs else "",
            "kept": self.kept,
            "test_table": test_table(tests, self.test_intervals) if tests else "",
            "intervals_note": interval_method_text(self.test_intervals, self.group_column),
            "primary_name": self.metric_name(self.primary_metric),
            "primary_value": None if primary is None or not math.isfinite(primary) else f"{primary:.4f}",
            "hyperparameters_table": markdown_table(["setting", "value"], settings),
            "thresholds_table": markdown_table(["label", "threshold"], thresholds) if thresholds else "",
            "threshold_rule": " ".join(threshold_rule_text(self.threshold_rule)),
            "weights_table": markdown_table(["label", "weight"], weights) if weights else "",
            "label_counts_table": label_counts_table(self.label_counts, [label for label, _ in self.labels]),
            "duplicates": duplicates_line(self.duplicates, self.duplicates_dropped),
            "split_text": self.split_text,
            "task_options_yaml": self.task_options_yaml(),
            "usage_code": self.usage_code(),
            "reproduce": self.reproduce_command(),
            "runtime": _duration(self.train_runtime),
            "test_runtime": _duration(self.test_runtime),
            "device": _device(self.hardware),
        }

    def task_options_yaml(self) -> str:
        """The generic task's column options as a recipe's YAML lines, so the data is read the same way again."""
        if not self.task_options:
            return ""
        recipe = {"task": self.task_name, **self.task_options}
        return yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True, default_flow_style=None).rstrip("\n")

    def reproduce_command(self) -> str:
        if self.world_size > 1:
            config = "--config_file accelerate_configs/cpu.yaml"
            return f"accelerate launch {config} --num_processes {self.world_size} {self.command}"
        return f"python {self.command}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def _duration(seconds: float | None) -> str | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    minutes, rest = divmod(round(seconds), 60)
    return f"{seconds:.1f} s ({minutes // 60}:{minutes % 60:02d}:{rest:02d})"


def _device(hardware: dict[str, Any]) -> str:
    if hardware.get("gpu"):
        return f"{hardware.get('gpu_count', 1)} x {hardware['gpu']}"
    return f"CPU ({hardware.get('cpu', 'unknown')}, {hardware.get('cpu_count', '?')} cores)"


def base_model_card_metadata(path: str) -> dict[str, Any]:
    """The YAML metadata of a local base model's own card (README.md or MODEL_CARD.md), or {}.

    The card is only a source of defaults (licence, base model): an unreadable one gives none, not an error.
    """
    for name in ("README.md", "MODEL_CARD.md"):
        card = os.path.join(path, name)
        if os.path.isfile(card):
            try:
                text = Path(card).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return {}
            match = re.match(r"^---\s*\n(.*?)\n---", text, re.S)
            try:
                meta = yaml.safe_load(match.group(1)) if match else None
            except yaml.YAMLError:
                meta = None
            return meta if isinstance(meta, dict) else {}
    return {}


def _label_weights(record: RunRecord, labels: Sequence[str]) -> tuple[str, dict[str, float]] | None:
    for key in ("pos_weight", "class_weights"):
        weights = getattr(record, key)
        if isinstance(weights, dict):
            return key, {str(k): float(v) for k, v in weights.items()}
        if isinstance(weights, (list, tuple)) and len(weights) == len(labels):
            return key, {label: float(v) for label, v in zip(labels, weights, strict=True)}
    return None


def collect_card(
    record: RunRecord,
    task: Task,
    output_dir: str,
    *,
    model_id: str | None = None,
    base_model: str | None = None,
    license: str | None = None,
) -> CardData:
    """Fill a ``CardData`` from a run's results and its task; keyword arguments override user fields."""
    hub = record.hub or {}
    source = record.model_name_or_path
    local_base = os.path.isdir(source)
    base_meta = base_model_card_metadata(source) if local_base else {}
    if base_model is None:
        base_model = base_meta.get("base_model") if local_base else (source if HUB_ID.match(source) else None)
    data = record.data
    datasets = [d for d in (task.dataset_id, data.dataset_name) if d]
    training = record.training
    world_size = int(record.world_size or 1)
    test_runtime = record.test_metrics.get("test_runtime")
    return CardData(
        model_id=model_id or hub.get("model_id") or output_dir,
        base_model=base_model if isinstance(base_model, str) else None,
        license=license or (base_meta.get("license") if isinstance(base_meta.get("license"), str) else None),
        language=task.language or None,
        datasets=list(dict.fromkeys(datasets)),
        task_name=task.name,
        task_description=task.description,
        multi_label=task.is_multi_label,
        labels=[(label, task.label_descriptions.get(label, "")) for label in record.labels],
        base_model_source=source,
        data_source=data_source(data) or task.name,
        split=data.split,
        split_text=split_description(data),
        sizes={name: getattr(data, f"{name}_size") for name in ("train", "validation", "test")},
        label_counts={str(split): dict(counts) for split, counts in data.label_counts.items()},
        duplicates=dict(data.duplicates),
        duplicates_dropped=bool(data.duplicates_dropped),
        group_column=data.group_column,
        task_options=dict(data.task_options),
        primary_metric=record.primary_metric,
        test_metrics={
            key.removeprefix("test_"): float(value)
            for key, value in record.test_metrics.items()
            if not key.removeprefix("test_").endswith(NOT_METRICS)
        },
        epochs=list(record.epochs),
        kept_epoch=kept_epoch(record),
        kept=kept_line(record.kept_model, record.early_stopping),
        hyperparameters=_hyperparameters(training, data, world_size) | _fast_path(record),
        hardware=dict(record.hardware),
        world_size=world_size,
        train_runtime=training.train_runtime,
        test_runtime=test_runtime,
        command=redacted_command(record.command.split()),
        widget_examples=list(task.widget_examples),
        limitations=list(getattr(task, "limitations", ())),
        thresholds={str(k): float(v) for k, v in record.thresholds.items()} if record.thresholds else None,
        threshold_rule=dict(record.threshold_rule) if record.threshold_rule else None,
        label_weights=_label_weights(record, record.labels),
        in_progress=record.in_progress,
        test_intervals=record.test_intervals,
        warnings=[str(message) for message in record.warnings],
    )


def _hyperparameters(training: TrainingRecord, data: DataRecord, world_size: int) -> dict[str, Any]:
    per_device = training.per_device_train_batch_size
    accumulation = training.gradient_accumulation_steps
    precision = "bf16" if training.bf16 else "fp16" if training.fp16 else "fp32"
    settings = {
        "learning_rate": training.learning_rate,
        "per_device_train_batch_size": per_device,
        "processes": world_size,
        "gradient_accumulation_steps": accumulation,
        "total_train_batch_size": per_device * world_size * accumulation,
        "num_train_epochs": training.num_train_epochs,
        "max_steps": training.max_steps if (training.max_steps or -1) > 0 else None,
        "optimizer steps": training.global_steps,
        "lr_scheduler_type": training.lr_scheduler_type,
        "warmup_steps": training.warmup_steps,
        "weight_decay": training.weight_decay,
        "max_grad_norm": training.max_grad_norm,
        "precision": precision,
        "train_sampling_strategy": training.train_sampling_strategy,
        "max_seq_length": data.max_seq_length or "model limit (at most 512)",
        "long_text": data.long_text,  # truncate (the default) or chunk: overlapping windows, scored per text
        "padding": "fixed length" if data.pad_to_max_length else "dynamic (per batch)",
        "max_text_chars": data.max_text_chars,
        "seed": training.seed,
    }
    return {key: value for key, value in settings.items() if value is not None}


def _fast_path(record: RunRecord) -> dict[str, str]:
    """Each speed-up the run trained with, as the card's hyperparameter rows (``trainer_tasks.fast_path.prepare``)."""
    switches = record.fast_path
    return {f"fast path: {name}": str(state) for name, state in switches.items()}


def render_card(card: CardData) -> ModelCard:
    with resources.as_file(TEMPLATE) as template:
        rendered = ModelCard.from_template(card.metadata(), template_path=str(template), **card.template_values())
    return ModelCard(re.sub(r"\n{3,}", "\n\n", str(rendered)).rstrip("\n") + "\n")


def write_card(output_dir: str, card: CardData) -> str:
    """Render ``card`` into ``output_dir/README.md`` (atomically) and return the path."""
    path = os.path.join(output_dir, CARD_FILE)
    write_text_atomic(path, str(render_card(card)))
    return path
