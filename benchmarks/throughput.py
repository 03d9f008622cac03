"""Training and inference throughput, side by side: what users run today against ours, in one process.

    python benchmarks/throughput.py                    # real data and model from ../shared
    python benchmarks/throughput.py --smoke            # seconds: tiny model, every configuration runs

For each task (news, toxic) on the same real data and the same model, every configuration trains
from the same initial weights with the same seed for ``--warmup`` + ``--steps`` optimizer steps;
samples/s and real (unpadded) tokens/s are taken over the ``--steps`` after warm-up. Configurations
run round-robin, ``--repeats`` times, and each number is the median over repeats: load from other
processes falls on all of them alike. The matmul peak of each dtype is measured in the same run
(before each round; the best is kept) and achieved FLOP/s are reported as a share of it.

Configurations: seed style (pad to the longest input of the whole data set, fp32), transformers'
``run_classification.py`` default (pad to 128, fp32), the plain ``Trainer`` with each speed flag,
ours (``TaskTrainer`` + ``TaskTrainingArguments`` defaults) and ours with one option changed.
Inference compares ``pipeline()`` over the list at its default batch size with
``trainer-tasks predict`` (``TextClassifier``) at its defaults (bf16 where the hardware runs it
natively, batches capped by padded tokens), in fp32, and with fixed 64-text batches; each row
also scores its predictions on the true labels. The quality section
trains seed style, the best plain Trainer, ours, ours in fp32 and ours with torch's dropout for
``--quality_steps`` and evaluates them on the same validation examples.

Results: a printed markdown table, and ``throughput.md`` / ``throughput.json`` under ``--output``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import hashlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks.environment import set_defaults  # noqa: E402

set_defaults()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from datasets import DatasetDict  # noqa: E402
from transformers import (  # noqa: E402
    DataCollatorWithPadding,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    pipeline,
    set_seed,
)

from benchmarks import hardware, step_profile  # noqa: E402
from tasks import DataConfig, Task, get_task  # noqa: E402
from trainer_tasks.fast_path.prepare import prepare_for_training  # noqa: E402
from trainer_tasks.inference.classifier import TextClassifier  # noqa: E402
from trainer_tasks.record.results import markdown_table  # noqa: E402
from trainer_tasks.training.arguments import DataArguments, ModelArguments, TaskTrainingArguments  # noqa: E402
from trainer_tasks.training.modeling import load_model, load_tokenizer  # noqa: E402
from trainer_tasks.training.preprocessing import tokenize_splits  # noqa: E402
from trainer_tasks.training.trainer import TaskTrainer  # noqa: E402

SEED = 42
LEARNING_RATE = 5e-5  # the thesis's, and TrainingArguments' default
DATA_FILES = {
    "news": ["data/news/uci-news-aggregator.csv.gz"],
    "toxic": ["data/toxic/thesis_val.csv.gz", "data/toxic/thesis_test.csv.gz"],
}


@dataclass(frozen=True)
class TrainConfig:
    """One way to train. ``None`` means the default of the chosen trainer's arguments class."""

    key: str
    label: str
    trainer: str = "ours"  # "plain": Trainer + TrainingArguments; "ours": TaskTrainer + TaskTrainingArguments
    padding: str = "dynamic"  # "longest" (of the whole data set), "max128", "dynamic" (each batch's longest)
    order: str | None = None  # train_sampling_strategy: "random" or "group_by_length"
    bf16: bool | None = None
    attention: str | None = None  # set after the trainer is built: overrides what ours chose
    optim: str | None = None
    compile: bool = False
    cls_only: bool | None = None
    fast_dropout: bool | None = None
    embedding_buffer: bool | None = None
    threads: int | None = None


CONFIGS = [
    TrainConfig("seed", "seed style: pad to longest, fp32", "plain", "longest", "random", False),
    TrainConfig("rc128", "run_classification default: pad to 128, fp32", "plain", "max128", "random", False),
    TrainConfig("plain-dyn", "Trainer: dynamic padding, fp32", "plain", "dynamic", "random", False),
    TrainConfig(
        "plain-group", "Trainer: dynamic + group_by_length, fp32", "plain", "dynamic", "group_by_length", False
    ),
    TrainConfig("plain-dyn-bf16", "Trainer: dynamic, bf16", "plain", "dynamic", "random", True),
    TrainConfig("plain-best", "Trainer: dynamic + group_by_length + bf16", "plain", "dynamic", "group_by_length", True),
    TrainConfig("ours", "ours: defaults"),
    TrainConfig("ours-fp32", "ours, fp32 (bf16 off)", bf16=False),
    TrainConfig("ours-random", "ours, random order (no length grouping)", order="random"),
    TrainConfig("ours-longest", "ours, pad to longest (no dynamic padding)", padding="longest"),
    TrainConfig("ours-fullcls", "ours, full last layer (no [CLS]-only)", cls_only=False),
    TrainConfig("ours-torchdrop", "ours, torch's dropout (no fast dropout)", fast_dropout=False),
    TrainConfig("ours-freshgrad", "ours, fresh embedding gradient (no kept buffer)", embedding_buffer=False),
    TrainConfig("ours-adamw", "ours, adamw_torch (not fused)", optim="adamw_torch"),
    TrainConfig("ours-sdpa", "ours, SDPA attention (torch's attention dropout)", attention="sdpa"),
    TrainConfig("ours-compile", "ours + torch.compile", compile=True),
    TrainConfig("ours-1thread", "ours, 1 thread", threads=1),
]
CONFIG_KEYS = [config.key for config in CONFIGS]
DEFAULT_CONFIGS = {
    "news": [key for key in CONFIG_KEYS if key != "ours-compile"],  # compiling: minutes, and slower here
    "toxic": ["seed", "rc128", "plain-best", "ours", "ours-fp32"],
}
# Accuracy at equal steps: ours against seed style and the best plain Trainer (fp32, and bf16 where
# native: emulated bf16 rows are skipped), and each of ours' changes to the numerics (bf16, fast
# dropout) against ours without it. Seed style on toxic pads to 145 tokens: the slowest run of all,
# so toxic checks ours' own changes only.
# A second, threshold-free view of quality beside each task's primary metric: after a few hundred
# steps a multi-label model can still predict no label at 0.5 for anyone, which ties every run.
SECOND_METRIC = {"news": "f1_macro", "toxic": "roc_auc_macro"}
QUALITY_CONFIGS = {
    "news": ["seed", "plain-group", "plain-best", "ours-fp32", "ours-torchdrop", "ours"],
    "toxic": ["ours-fp32", "ours-torchdrop", "ours"],
}
SMOKE_SKIPS = {"ours-compile"}  # compiling takes minutes even for a tiny model


# ----------------------------------------------------------------------------------------------
# Data


@dataclass
class TaskData:
    task: Task
    tokenizer: object
    splits: DatasetDict  # train / validation subsets, tokenized without padding, with a length column
    longest: int  # longest tokenized input of the whole data set: what seed style pads to
    texts: list[str]  # inference texts (validation)
    text_labels: np.ndarray  # their true labels, to score each inference configuration
    model: torch.nn.Module  # the initial weights every run starts from
    model_path: str
    description: dict = field(default_factory=dict)


def whole_dataset_longest(raw: DatasetDict, tokenizer, key: str, cache_file: Path) -> int:
    """Longest input of all splits in tokens, cached: tokenizing 420k headlines takes a while."""
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    if key in cache:
        return cache[key]
    longest = 0
    for split in raw.values():
        texts = list(split["text"])
        for start in range(0, len(texts), 20_000):
            encoded = tokenizer(texts[start : start + 20_000], truncation=True, max_length=512)["input_ids"]
            longest = max(longest, max(len(ids) for ids in encoded))
    cache[key] = longest
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(cache, indent=1))
    return longest


def prepare_task(name: str, files: list[str], model_path: str, args: argparse.Namespace) -> TaskData:
    task = get_task(name)
    started = time.perf_counter()
    raw = task.build_dataset(DataConfig(data_files=tuple(files), seed=SEED))
    tokenizer = load_tokenizer(ModelArguments(model_name_or_path=model_path))
    stamp = "|".join(f"{path}:{os.path.getsize(path)}:{os.path.getmtime(path)}" for path in files)
    key = hashlib.sha1(f"{name}|{stamp}|{model_path}".encode()).hexdigest()
    longest = whole_dataset_longest(raw, tokenizer, key, Path(args.output) / "cache" / "longest.json")
    steps_needed = max(args.warmup + args.steps, args.quality_steps if "quality" in args.sections else 0)
    train_size = min(len(raw["train"]), max(args.train_samples, steps_needed * args.batch_size))
    subset = DatasetDict(
        train=raw["train"].select(range(train_size)),
        validation=raw["validation"].select(range(min(len(raw["validation"]), args.eval_samples))),
    )
    splits = tokenize_splits(subset, tokenizer, DataArguments(task=name))
    set_seed(SEED)
    model = load_model(ModelArguments(model_name_or_path=model_path), task)
    lengths = np.asarray(splits["train"]["length"])
    description = {
        "files": files,
        "sizes": {split: len(rows) for split, rows in raw.items()},
        "train_examples_used": train_size,
        "eval_examples": len(subset["validation"]),
        "longest_tokens_whole_dataset": longest,
        "mean_tokens_train": round(float(lengths.mean()), 2),
        "prepare_seconds": round(time.perf_counter() - started, 1),
    }
    texts = list(subset["validation"]["text"])[: args.infer_texts]
    text_labels = np.asarray(subset["validation"]["labels"][: args.infer_texts])
    return TaskData(task, tokenizer, splits, longest, texts, text_labels, model, model_path, description)


class FixedLengthCollator:
    """Truncate and pad every input to one length, as seed style and run_classification.py do."""

    def __init__(self, tokenizer, length: int) -> None:
        self.length = length
        self.pad = DataCollatorWithPadding(tokenizer, padding="max_length", max_length=length)

    def __call__(self, features: list[dict]) -> dict:
        cut = [
            {key: value[: self.length] if isinstance(value, list) else value for key, value in row.items()}
            for row in features
        ]
        return self.pad(cut)


class RecordingCollator:
    """Counts what each batch really holds: rows, real tokens, padded tokens, sum of squared lengths."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batches: list[tuple[int, int, int, int]] = []

    def __call__(self, features: list[dict]) -> dict:
        batch = self.inner(features)
        real = batch["attention_mask"].sum(dim=1)
        self.batches.append((len(real), int(real.sum()), batch["attention_mask"].numel(), int((real**2).sum())))
        return batch


def collator_for(config: TrainConfig, data: TaskData):
    if config.padding == "longest":
        return FixedLengthCollator(data.tokenizer, data.longest)
    if config.padding == "max128":
        return FixedLengthCollator(data.tokenizer, 128)
    return DataCollatorWithPadding(data.tokenizer)


# ----------------------------------------------------------------------------------------------
# Training


class StepTimer(TrainerCallback):
    """Wall-clock time at the end of every optimizer step, and the logged loss of every step."""

    def __init__(self) -> None:
        self.begin = 0.0
        self.ends: list[float] = []
        self.losses: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.begin = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        hardware.synchronize()
        self.ends.append(time.perf_counter())

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))


def training_arguments(config: TrainConfig, output_dir: str, max_steps: int, batch_size: int):
    common = {
        "output_dir": output_dir,
        "max_steps": max_steps,
        "per_device_train_batch_size": batch_size,
        "learning_rate": LEARNING_RATE,
        "logging_steps": 1,
        "save_strategy": "no",
        "eval_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": SEED,
        "torch_compile": config.compile,
        "log_level": "error",
    }
    if config.order is not None:
        common["train_sampling_strategy"] = config.order
    if config.optim is not None:
        common["optim"] = config.optim
    if config.trainer == "plain":
        return TrainingArguments(
            **common, bf16=bool(config.bf16), use_cpu=bool(config.bf16) and hardware.device().type == "cpu"
        )
    extra = {}
    if config.bf16 is not None:
        extra["bf16"] = config.bf16
    if config.cls_only is not None:
        extra["cls_only_last_layer"] = config.cls_only
    if config.fast_dropout is not None:
        extra["fast_dropout"] = config.fast_dropout
    if config.embedding_buffer is not None:
        extra["reuse_embedding_gradient"] = config.embedding_buffer
    return TaskTrainingArguments(**common, **extra)


def make_trainer(config: TrainConfig, data: TaskData, args, collator, callbacks, train_steps: int):
    model = copy.deepcopy(data.model)
    train = data.splits["train"]
    if config.trainer == "plain":
        # What a user of the plain Trainer has: tokenized inputs, no precomputed length column.
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train.remove_columns("length"),
            processing_class=data.tokenizer,
            data_collator=collator,
            compute_metrics=data.task.compute_metrics,
            callbacks=callbacks,
        )
    else:
        prepare_for_training(model, args)  # the fast path, as train.py applies it
        trainer = TaskTrainer(
            model=model,
            args=args,
            train_dataset=train,
            processing_class=data.tokenizer,
            data_collator=collator,
            compute_metrics=data.task.compute_metrics,
            callbacks=callbacks,
        )
    trainer.remove_callback(PrinterCallback)  # one printed line per step would drown the progress lines
    if config.attention is not None:
        trainer.model.set_attn_implementation(config.attention)
    return trainer


def train_once(
    config: TrainConfig, data: TaskData, args: argparse.Namespace, workdir: str, callbacks: tuple = ()
) -> dict:
    """One timed run: ``warmup + steps`` optimizer steps from the shared initial weights (``callbacks``: more
    Trainer callbacks, e.g. the profiler)."""
    total = args.warmup + args.steps
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        recorder = RecordingCollator(collator_for(config, data))
        timer = StepTimer()
        training_args = training_arguments(config, workdir, total, args.batch_size)
        trainer = make_trainer(config, data, training_args, recorder, [timer, *callbacks], total)
        set_seed(SEED)
        trainer.train()
    finally:
        torch.set_num_threads(threads)
    measured = recorder.batches[args.warmup : total]
    seconds = timer.ends[total - 1] - timer.ends[args.warmup - 1]
    rows = sum(batch[0] for batch in measured)
    tokens = sum(batch[1] for batch in measured)
    flops = hardware.model_flops(data.model, tokens, sum(batch[3] for batch in measured), training=True)
    return {
        "seconds": seconds,
        "samples_per_s": rows / seconds,
        "tokens_per_s": tokens / seconds,
        "flops_per_s": flops / seconds,
        "padding_share": 1 - tokens / sum(batch[2] for batch in measured),
        "warmup_seconds": timer.ends[args.warmup - 1] - timer.begin,
        "loss_measured_steps": statistics.fmean(timer.losses[args.warmup : total]),
        "loss_last_step": timer.losses[total - 1],
        "bf16": bool(training_args.bf16),
        "optim": str(getattr(training_args.optim, "value", training_args.optim)),
        "train_sampling_strategy": training_args.train_sampling_strategy,
        "fast_dropout": bool(getattr(training_args, "fast_dropout", False)),
    }


# ----------------------------------------------------------------------------------------------
# Inference


def save_for_pipeline(model: torch.nn.Module, tokenizer, folder: str) -> str:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


INFER_CONFIGS = [
    ("pipeline", "pipeline(), default batch size, fp32"),
    ("pipeline-64", "pipeline(batch_size=64), fp32"),
    ("ours", "ours: trainer-tasks predict, defaults"),
    ("ours-fp32", "ours, --precision fp32"),
    ("ours-64-texts", "ours, 64 texts per batch (no token budget)"),
]
# What each of our rows passes to TextClassifier: (precision, batch_size, batch_tokens); None = default.
OURS_INFER = {"ours": ("auto", None, None), "ours-fp32": ("fp32", None, None), "ours-64-texts": ("auto", 64, 10**9)}


def infer_once(key: str, model_dir: str, data: TaskData, args: argparse.Namespace) -> tuple[dict, np.ndarray]:
    if key.startswith("pipeline"):
        classify = pipeline("text-classification", model=model_dir, device=hardware.device(), top_k=None)
        batch = {"batch_size": 64} if key == "pipeline-64" else {}
        started = time.perf_counter()
        outputs = classify(data.texts, **batch)
        hardware.synchronize()
        seconds = time.perf_counter() - started
        order = {label: i for i, label in enumerate(data.task.labels)}
        scores = np.zeros((len(outputs), len(order)), dtype=np.float32)
        for row, labels in enumerate(outputs):
            for item in labels:
                scores[row, order[item["label"]]] = item["score"]
        dtype = "fp32"
    else:
        precision, batch_size, batch_tokens = OURS_INFER[key]
        classifier = TextClassifier.load(model_dir, precision=precision)
        limits = {"batch_size": batch_size, "batch_tokens": batch_tokens}
        started = time.perf_counter()
        scores = classifier.predict(data.texts, **{k: v for k, v in limits.items() if v is not None}).scores
        hardware.synchronize()
        seconds = time.perf_counter() - started
        dtype = classifier.backend.split()[-1]
    return {"seconds": seconds, "texts_per_s": len(data.texts) / seconds, "dtype": dtype}, scores


def score_metrics(task: Task, scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The task's metrics of predicted probabilities, through its own ``compute_metrics`` (which takes logits)."""
    from transformers import EvalPrediction

    clipped = np.clip(scores.astype(np.float64), 1e-12, 1 - 1e-12)
    logits = np.log(clipped / (1 - clipped)) if task.is_multi_label else np.log(clipped)
    return task.compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))


def agreement(scores: np.ndarray, reference: np.ndarray, multi_label: bool) -> float:
    """Share of texts whose predicted label (set) equals the reference's."""
    if multi_label:
        return float(np.mean(np.all((scores >= 0.5) == (reference >= 0.5), axis=1)))
    return float(np.mean(scores.argmax(axis=1) == reference.argmax(axis=1)))


# ----------------------------------------------------------------------------------------------
# Quality


def train_for_quality(
    config: TrainConfig, data: TaskData, args: argparse.Namespace, workdir: str
) -> tuple[dict, object]:
    """Train ``--quality_steps`` steps, then evaluate on the validation examples."""
    recorder = RecordingCollator(collator_for(config, data))
    timer = StepTimer()
    training_args = training_arguments(config, workdir, args.quality_steps, args.batch_size)
    training_args.per_device_eval_batch_size = args.batch_size
    trainer = make_trainer(config, data, training_args, recorder, [timer], args.quality_steps)
    set_seed(SEED)
    started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    metrics = trainer.evaluate(data.splits["validation"])
    eval_seconds = time.perf_counter() - started
    primary = data.task.primary_metric
    result = {
        "steps": args.quality_steps,
        "train_seconds": train_seconds,
        "final_loss_last10": statistics.fmean(timer.losses[-10:]),
        "eval_loss": metrics["eval_loss"],
        primary: metrics[f"eval_{primary}"],
        "metrics": {key.removeprefix("eval_"): value for key, value in metrics.items()},
        "eval_seconds": eval_seconds,
        "eval_samples_per_s": len(data.splits["validation"]) / eval_seconds,
        "bf16": bool(training_args.bf16),
    }
    return result, trainer


# ----------------------------------------------------------------------------------------------
# The run


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure_peaks(peaks: dict, size: int) -> None:
    for dtype in hardware.peak_dtypes():
        peaks.setdefault(dtype, []).append(hardware.matmul_peak(dtype, size))


def native_configs(configs: list[TrainConfig], smoke: bool = False) -> list[TrainConfig]:
    """The configurations this device runs natively: one that forces bf16 on a device that only emulates it
    (an AVX2-only CPU) would measure the emulation, minutes per step; it is left out, and said so. The smoke
    keeps them all: it proves every code path on a tiny model, and its numbers mean nothing."""
    if smoke or hardware.native_bf16():
        return configs
    skipped = [config.key for config in configs if config.bf16]
    if skipped:
        print(f"  skipped (bf16 is emulated on this device, not native): {', '.join(skipped)}", flush=True)
    return [config for config in configs if not config.bf16]


def run_training(data: TaskData, configs: list[TrainConfig], args, peaks: dict, workdir: str) -> list[dict]:
    runs: dict[str, list[dict]] = {config.key: [] for config in configs}
    for repeat in range(args.repeats):
        measure_peaks(peaks, args.peak_size)
        for config in configs:
            result = train_once(config, data, args, os.path.join(workdir, config.key))
            runs[config.key].append(result)
            print(
                f"  [{data.task.name} round {repeat + 1}/{args.repeats}] {config.label}: "
                f"{result['samples_per_s']:.1f} samples/s",
                flush=True,
            )
    rows = []
    for config in configs:
        results = runs[config.key]
        first = results[0]
        rows.append(
            {
                "task": data.task.name,
                "key": config.key,
                "configuration": config.label,
                "config": asdict(config),
                "dtype": "bf16" if first["bf16"] else "fp32",
                "samples_per_s": median([r["samples_per_s"] for r in results]),
                "tokens_per_s": median([r["tokens_per_s"] for r in results]),
                "flops_per_s": median([r["flops_per_s"] for r in results]),
                "padding_share": first["padding_share"],
                "loss_measured_steps": first["loss_measured_steps"],
                "loss_last_step": first["loss_last_step"],
                "warmup_seconds": first["warmup_seconds"],
                "optim": first["optim"],
                "fast_dropout": first["fast_dropout"],
                "train_sampling_strategy": first["train_sampling_strategy"],
                "repeats": results,
            }
        )
    return rows


def run_inference(data: TaskData, model_dir: str, args, peaks: dict) -> list[dict]:
    runs: dict[str, list[dict]] = {key: [] for key, _ in INFER_CONFIGS}
    scores: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        measure_peaks(peaks, args.peak_size)
        for key, _ in INFER_CONFIGS:
            result, scores[key] = infer_once(key, model_dir, data, args)
            runs[key].append(result)
    encoded = data.tokenizer(data.texts, truncation=True, max_length=512)["input_ids"]
    lengths = np.array([len(ids) for ids in encoded])
    rows = []
    for key, label in INFER_CONFIGS:
        seconds = median([r["seconds"] for r in runs[key]])
        flops = hardware.model_flops(data.model, int(lengths.sum()), int((lengths**2).sum()), training=False)
        rows.append(
            {
                "task": data.task.name,
                "key": key,
                "configuration": label,
                "dtype": runs[key][0]["dtype"],
                "texts_per_s": len(data.texts) / seconds,
                "tokens_per_s": int(lengths.sum()) / seconds,
                "flops_per_s": flops / seconds,
                "agreement_with_pipeline": agreement(scores[key], scores["pipeline"], data.task.is_multi_label),
                "metrics": score_metrics(data.task, scores[key], data.text_labels),
                "repeats": runs[key],
            }
        )
    return rows


def run_quality(data: TaskData, args, workdir: str) -> tuple[list[dict], object]:
    rows, best = [], None
    by_key = {config.key: config for config in CONFIGS}
    configs = [by_key[key] for key in args.quality_configs or QUALITY_CONFIGS[data.task.name]]
    for config in native_configs(configs, smoke=args.smoke):
        key = config.key
        result, trainer = train_for_quality(config, data, args, os.path.join(workdir, f"quality-{key}"))
        rows.append({"task": data.task.name, "key": key, "configuration": by_key[key].label, **result})
        print(f"  [{data.task.name} quality] {by_key[key].label}: {result}", flush=True)
        if key == "ours":
            best = trainer.model
    return rows, best


def run_profile(data: TaskData, args, workdir: str) -> dict:
    """Ours' default configuration once more, its measured steps under torch's profiler: what is left to win."""
    config = next(config for config in CONFIGS if config.key == "ours")
    profiler = step_profile.StepProfiler(skip=args.warmup, steps=args.steps)
    result = train_once(config, data, args, os.path.join(workdir, "profile"), callbacks=(profiler,))
    summary = step_profile.summarize(profiler.operators, args.steps, result["seconds"] / args.steps)
    print(f"  [{data.task.name} profile] {summary['step_ms']:.0f} ms per step", flush=True)
    return {"task": data.task.name, "dtype": "bf16" if result["bf16"] else "fp32", **summary}


def share(flops: float, dtype: str, peaks: dict) -> float:
    return flops / max(peaks[dtype]) if peaks.get(dtype) else float("nan")


def round_ratio_range(row: dict, reference: dict | None) -> str:
    """Min-max of the row's speed over the reference's in the same round: how far one run's ratio can be trusted."""
    if reference is None or len(row["repeats"]) != len(reference["repeats"]):
        return ""
    pairs = zip(row["repeats"], reference["repeats"], strict=True)
    ratios = [ours["samples_per_s"] / base["samples_per_s"] for ours, base in pairs]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def best_plain_trainer(task_rows: list[dict], dtype: str | None = None) -> dict | None:
    """The fastest stock-Trainer row of a task (of ``dtype`` if given): what ours is compared with. Chosen among
    the rows measured, so the comparison holds for whatever ``--configs`` a run was given."""
    plain = [row for row in task_rows if row["config"]["trainer"] == "plain" and dtype in (None, row["dtype"])]
    return max(plain, key=lambda row: row["samples_per_s"], default=None)


def render(results: dict) -> str:
    peaks = results["peaks"]
    machine = results["machine"]
    lines = [
        "# Throughput: ours against what users run today",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {machine['cpu']} ({machine['cpu_count']} CPUs, torch threads {machine['torch_threads']}, "
        f"flags {', '.join(machine['cpu_flags']) or 'none'})"
        + (f"; GPU {machine['gpu']}" if "gpu" in machine else "")
        + f"; torch {machine['torch']}, transformers {machine.get('transformers')}.",
        f"Load average (1/5/15 min) at start {results['load_start']}, at end {results['load_end']}; "
        f"wall time {results['wall_seconds']:.0f} s.",
        "Matmul peak measured in this run (best of rounds, "
        f"{results['args']['peak_size']}^3): "
        + ", ".join(f"{dtype} {max(values) / 1e9:.0f} GFLOP/s" for dtype, values in peaks.items())
        + ".",
        "",
        "FLOPs count the stock model's work on real, unpadded tokens: 6 x linear weights x tokens + "
        "12 x layers x width x sum(length^2) for training (2x and 4x for inference); embeddings are lookups.",
        "",
    ]
    if results["train"]:
        lines += ["## Training", ""]
        header = [
            "task", "configuration", "dtype", "samples/s", "tokens/s", "x seed style", "x best Trainer",
            "x best Trainer, per round", "x best fp32 Trainer", "padding", "loss (measured steps)", "GFLOP/s",
            "% of peak",
        ]  # fmt: skip
        rows = []
        best_names = []
        for task in dict.fromkeys(row["task"] for row in results["train"]):
            task_rows = [row for row in results["train"] if row["task"] == task]
            seed = next((row["samples_per_s"] for row in task_rows if row["key"] == "seed"), float("nan"))
            best_row, best_fp32_row = best_plain_trainer(task_rows), best_plain_trainer(task_rows, dtype="fp32")
            best = best_row["samples_per_s"] if best_row else float("nan")
            best_fp32 = best_fp32_row["samples_per_s"] if best_fp32_row else float("nan")
            if best_row:
                best_names.append(f"{task}: {best_row['configuration']}")
            for row in task_rows:
                rows.append(
                    [
                        task,
                        row["configuration"],
                        row["dtype"],
                        f"{row['samples_per_s']:.1f}",
                        f"{row['tokens_per_s']:.0f}",
                        f"{row['samples_per_s'] / seed:.2f}",
                        f"{row['samples_per_s'] / best:.2f}",
                        round_ratio_range(row, best_row),
                        f"{row['samples_per_s'] / best_fp32:.2f}",
                        f"{100 * row['padding_share']:.0f}%",
                        f"{row['loss_measured_steps']:.4f}",
                        f"{row['flops_per_s'] / 1e9:.1f}",
                        f"{100 * share(row['flops_per_s'], row['dtype'], peaks):.0f}%",
                    ]
                )
        lines += [markdown_table(header, rows), ""]
        args = results["args"]
        lines += [
            f"{args['steps']} measured optimizer steps after {args['warmup']} warm-up steps, batch "
            f"{args['batch_size']}, median of {args['repeats']} interleaved rounds (the per-round column divides each "
            "round's speed by the best Trainer's in that round); every configuration starts from the same "
            "weights and seed, so configurations with the same batch order see the same batches. The best Trainer "
            "is the fastest plain-Trainer configuration measured in this run (" + "; ".join(best_names) + "); the "
            "best fp32 Trainer, the fastest of them in fp32.",
            "",
        ]
    if results.get("profile"):
        lines += render_profile(results["profile"])
    if results["inference"]:
        lines += ["## Inference", ""]
        header = ["task", "configuration", "dtype", "texts/s", "x pipeline()", "% of peak",
                  "same labels as pipeline()", "metric", "value", "second metric", "value"]  # fmt: skip
        rows = []
        for task in dict.fromkeys(row["task"] for row in results["inference"]):
            task_rows = [row for row in results["inference"] if row["task"] == task]
            base = next(row["texts_per_s"] for row in task_rows if row["key"] == "pipeline")
            metric, second = get_task(task).primary_metric, SECOND_METRIC.get(task, "")
            rows += [
                [
                    task,
                    row["configuration"],
                    row["dtype"],
                    f"{row['texts_per_s']:.1f}",
                    f"{row['texts_per_s'] / base:.2f}",
                    f"{100 * share(row['flops_per_s'], row['dtype'], peaks):.0f}%",
                    f"{100 * row['agreement_with_pipeline']:.1f}%",
                    metric,
                    f"{row.get('metrics', {}).get(metric, float('nan')):.4f}",
                    second,
                    f"{row.get('metrics', {}).get(second, float('nan')):.4f}",
                ]
                for row in task_rows
            ]
        lines += [markdown_table(header, rows), ""]
        lines += [
            "Metrics of the inference rows: the model scored on the true labels of the inference texts "
            "(the quality section's model when that section ran, else the untrained initial weights).",
            "",
        ]
    if results["quality"]:
        lines += ["## Quality after the same number of steps", ""]
        header = ["task", "configuration", "steps", "metric", "value", "second metric", "value", "eval loss",
                  "train loss (last 10)", "train s", "eval texts/s"]  # fmt: skip
        rows = []
        for row in results["quality"]:
            metric = get_task(row["task"]).primary_metric
            rows.append(
                [
                    row["task"],
                    row["configuration"],
                    row["steps"],
                    metric,
                    f"{row[metric]:.4f}",
                    SECOND_METRIC.get(row["task"], ""),
                    f"{row['metrics'].get(SECOND_METRIC.get(row['task']), float('nan')):.4f}",
                    f"{row['eval_loss']:.4f}",
                    f"{row['final_loss_last10']:.4f}",
                    f"{row['train_seconds']:.0f}",
                    f"{row['eval_samples_per_s']:.0f}",
                ]
            )
        lines += [markdown_table(header, rows), ""]
    return "\n".join(lines)


def render_profile(profiles: list[dict]) -> list[str]:
    lines = ["## Where ours' step time goes", ""]
    rows = [
        [p["task"], p["dtype"], row["category"], f"{row['ms_per_step']:.1f}", f"{100 * row['share']:.0f}%"]
        for p in profiles
        for row in p["categories"]
    ]
    lines += [markdown_table(["task", "dtype", "kind of work", "ms per step", "share of the step"], rows), ""]
    rows = [
        [p["task"], row["operator"], row["category"], f"{row['ms_per_step']:.1f}", f"{100 * row['share']:.0f}%"]
        for p in profiles
        for row in p["operators"]
    ]
    lines += [markdown_table(["task", "operator (self time)", "kind", "ms per step", "share"], rows), ""]
    lines += [
        "torch's profiler over ours' measured steps, in a run of its own (the profiler slows a step a little); "
        "self time, so each operator counts once; 'unaccounted' is the step time no operator holds (Python, "
        "the collator, the Trainer's bookkeeping).",
        "",
    ]
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"), help="The shared/ folder (data, models).")
    parser.add_argument("--model", default=None, help="Model folder (default: <shared>/models/all-MiniLM-L6-v2).")
    parser.add_argument("--tasks", nargs="+", default=["news", "toxic"], choices=["news", "toxic"])
    parser.add_argument("--sections", nargs="+", default=["train", "profile", "infer", "quality"],
                        choices=["train", "profile", "infer", "quality"])  # fmt: skip
    parser.add_argument("--configs", nargs="+", default=None, choices=CONFIG_KEYS,
                        help="Training configurations (default: all for news, five for toxic).")  # fmt: skip
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--train_samples", type=int, default=4096)
    parser.add_argument("--eval_samples", type=int, default=2000)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8, help="Measured optimizer steps per run.")
    parser.add_argument("--warmup", type=int, default=2, help="Unmeasured optimizer steps first.")
    parser.add_argument("--repeats", type=int, default=3, help="Interleaved rounds; the median is reported.")
    parser.add_argument("--infer_texts", type=int, default=1000)
    parser.add_argument("--quality_steps", type=int, default=60)
    parser.add_argument(
        "--quality_configs",
        nargs="+",
        choices=CONFIG_KEYS,
        help="Configurations of the accuracy check (default: per task, QUALITY_CONFIGS).",
    )
    parser.add_argument("--peak_size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--smoke", action="store_true", help="Tiny model and data built here; seconds.")
    args = parser.parse_args(argv)
    if args.smoke:
        args.train_samples, args.eval_samples, args.batch_size = 64, 32, 8
        args.steps, args.warmup, args.repeats = 2, 1, 1
        args.infer_texts, args.quality_steps, args.peak_size = 24, 3, 128
        # One thread: on a busy machine, every multi-threaded op of a tiny model waits for the scheduler.
        args.threads = args.threads or 1
    if args.warmup < 1 or args.steps < 1 or args.repeats < 1:
        parser.error("--warmup, --steps and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = run(args, argv)
    finally:
        torch.set_num_threads(threads)
        gc.unfreeze()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    table = render(results)
    (output / "throughput.md").write_text(table + "\n")
    (output / "throughput.json").write_text(json.dumps(results, indent=1, default=str))
    print(table)
    return results


def run(args: argparse.Namespace, argv: list[str] | None) -> dict:
    """Every section for every task; the results as one dict."""
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="throughput-") as workdir:
        if args.smoke:
            from benchmarks import smoke

            assets = smoke.build(os.path.join(workdir, "assets"))
            model_path, files = assets["model"], {task: assets[task] for task in args.tasks}
        else:
            shared = Path(args.shared)
            model_path = args.model or str(shared / "models" / "all-MiniLM-L6-v2")
            files = {task: [str(shared / path) for path in DATA_FILES[task]] for task in args.tasks}
        results = {
            "command": " ".join(["python benchmarks/throughput.py", *(argv if argv is not None else sys.argv[1:])]),
            "machine": hardware.describe(),
            "args": vars(args),
            "model": model_path,
            "peaks": {},
            "data": {},
            "train": [],
            "inference": [],
            "quality": [],
            "profile": [],
        }
        by_key = {config.key: config for config in CONFIGS}
        for name in args.tasks:
            print(f"{name}: preparing data", flush=True)
            data = prepare_task(name, files[name], model_path, args)
            gc.freeze()  # the Trainer runs gc.collect() after each training; skip the long-lived heap
            results["data"][name] = data.description
            keys = [key for key in (args.configs or DEFAULT_CONFIGS[name]) if not (args.smoke and key in SMOKE_SKIPS)]
            if "train" in args.sections:
                configs = native_configs([by_key[key] for key in keys], smoke=args.smoke)
                results["train"] += run_training(data, configs, args, results["peaks"], workdir)
            if "profile" in args.sections:
                results["profile"].append(run_profile(data, args, workdir))
            trained = None
            if "quality" in args.sections:
                rows, trained = run_quality(data, args, workdir)
                results["quality"] += rows
            if "infer" in args.sections:
                model = trained if trained is not None else data.model
                model_dir = save_for_pipeline(model, data.tokenizer, os.path.join(workdir, f"model-{name}"))
                results["inference"] += run_inference(data, model_dir, args, results["peaks"])
        if not results["peaks"]:
            measure_peaks(results["peaks"], args.peak_size)
    results["load_start"], results["load_end"] = load_start, [round(x, 2) for x in os.getloadavg()]
    results["wall_seconds"] = time.perf_counter() - started
    return results


if __name__ == "__main__":
    main()
