"""Command-line and recipe arguments of ``train.py``, as dataclasses for ``HfArgumentParser``.

Three groups as in the transformers examples: what model, what data, how to train. Every field
documents itself in ``--help``; a YAML recipe may set any of them.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from tasks import DataConfig, TaskError
from tasks.base import Columns
from trainer_tasks.core.secrets import redacted_state

logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    """Which checkpoint to fine-tune, and how far to trust it."""

    model_name_or_path: str = field(
        default="distilbert-base-uncased",
        metadata={"help": "Hub model id or local folder of any AutoModelForSequenceClassification checkpoint."},
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Hub id or folder of the tokenizer, when not the model's own."}
    )
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of a Hub model."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where downloaded models and data are kept."})
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Run Python code shipped with a Hub checkpoint. Off: only enable for repos you trust."},
    )
    allow_pickle_weights: bool = field(
        default=False,
        metadata={
            "help": "Load a checkpoint whose weights exist only as pickle (pytorch_model.bin). Off: weights load "
            "from safetensors only, since unpickling an untrusted file can run code."
        },
    )


@dataclass
class DataArguments:
    """Which task and data, and how texts become model inputs."""

    task: str | None = field(
        default=None,
        metadata={"help": "Task name (news, toxic, an installed plugin) or path/to/file.py:NAME. Required."},
    )
    data_files: list[str] | None = field(
        default=None,
        metadata={
            "help": "One or more local files (CSV, TSV, JSON Lines, Parquet; plain or .gz): the training rows, "
            "pooled; the validation and test splits are carved from them unless given below."
        },
    )
    train_file: str | None = field(default=None, metadata={"help": "The training split, one file (as --data_files)."})
    validation_file: str | None = field(
        default=None, metadata={"help": "The validation split, used as given (else carved from the training rows)."}
    )
    test_file: str | None = field(
        default=None, metadata={"help": "The test split, used as given (else carved from the training rows)."}
    )
    dataset_name: str | None = field(
        default=None,
        metadata={"help": "Hub dataset id, or a folder written by datasets' save_to_disk (instead of files)."},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "The Hub dataset's configuration."})
    dataset_revision: str | None = field(default=None, metadata={"help": "Branch, tag or commit of the Hub dataset."})
    train_split: str | None = field(default=None, metadata={"help": "The dataset's training split (default: train)."})
    validation_split: str | None = field(
        default=None,
        metadata={"help": "The dataset's validation split (default: validation, valid or dev; else carved)."},
    )
    test_split: str | None = field(
        default=None, metadata={"help": "The dataset's test split (default: test; else carved from train)."}
    )
    text_column: list[str] = field(
        default_factory=lambda: ["text"],
        metadata={"help": "--task text: the text column, or two columns for sentence pairs (default: text)."},
    )
    label_column: str | None = field(
        default=None,
        metadata={
            "help": "--task text: the label column (default: label): names or integer ids; for multi-label, a "
            "list (JSON Lines, Parquet) or separated names (--label_separator)."
        },
    )
    label_columns: list[str] | None = field(
        default=None, metadata={"help": "--task text, multi-label: one 0/1 column per label, named by the columns."}
    )
    labels: list[str] | None = field(
        default=None,
        metadata={"help": "--task text: the label names in id order (default: the names found in the data, sorted)."},
    )
    labels_file: str | None = field(
        default=None, metadata={"help": "--task text: a file naming the labels, one a line, in id order."}
    )
    label_separator: str | None = field(
        default=None, metadata={"help": "--task text, multi-label: the separator inside the label column (e.g. ,)."}
    )
    problem_type: str | None = field(
        default=None,
        metadata={
            "help": "--task text: the head, when the options alone do not decide it.",
            "choices": ["single_label_classification", "multi_label_classification"],
        },
    )
    column_names: list[str] | None = field(
        default=None, metadata={"help": "The columns of headerless CSV/TSV files, in order."}
    )
    file_format: str | None = field(
        default=None,
        metadata={
            "help": "csv, tsv, jsonl or parquet, for files whose name does not say (.csv, .tsv, .jsonl, .parquet, "
            "each optionally .gz).",
            "choices": ["csv", "tsv", "jsonl", "parquet"],
        },
    )
    group_column: str | None = field(
        default=None,
        metadata={
            "help": "Keep rows sharing this column's value (a user, a thread, a story) on one side of the carved "
            "splits, so that none leaks from train into validation or test."
        },
    )
    drop_test_duplicates: bool = field(
        default=False,
        metadata={
            "help": "Remove validation and test rows whose text (whitespace and case aside) is also a training "
            "text. Off: they are counted and reported, not removed."
        },
    )
    split: str = field(
        default="random",
        metadata={
            "help": "How to split train/validation/test: random, or one the task declares (news: story, one STORY "
            "cluster per side); checked against the task's own list (`trainer-tasks tasks --verbose`)."
        },
    )
    split_seed: int | None = field(
        default=None,
        metadata={
            "help": "Seed of the train/validation/test split (default: --seed). Fix it to compare runs of "
            "several --seed values on one test set."
        },
    )
    test_size: float = field(default=0.2, metadata={"help": "Share of all rows held out for test."})
    validation_size: float = field(default=0.1, metadata={"help": "Share of the remaining rows used for validation."})
    max_text_chars: int | None = field(
        default=None,
        metadata={"help": "Drop texts of this many characters or more (news default: 512; thesis toxic: 200)."},
    )
    max_seq_length: int | None = field(
        default=None,
        metadata={"help": "Truncate inputs to this many tokens (default: the model's limit, at most 512)."},
    )
    long_text: str = field(
        default="truncate",
        metadata={
            "help": "Texts longer than --max_seq_length: truncate (default: the model sees their beginning) or "
            "chunk (overlapping windows, each trained with its text's label; validation and test scored per "
            "text from its windows' logits). Sentence pairs are always truncated.",
            "choices": ["truncate", "chunk"],
        },
    )
    stride: int = field(
        default=64,
        metadata={"help": "--long_text chunk: tokens shared by consecutive windows (below the window's text tokens)."},
    )
    chunk_aggregation: str | None = field(
        default=None,
        metadata={
            "help": "--long_text chunk: how a text's window logits become its logits (default: mean for "
            "single-label, max for multi-label).",
            "choices": ["mean", "max"],
        },
    )
    pad_to_max_length: bool = field(
        default=False,
        metadata={
            "help": "Pad every input to --max_seq_length as the thesis did. Off: pad each batch to its "
            "longest input (much faster, same results)."
        },
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep only the first N training examples (after the split)."}
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N validation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep only the first N test examples."})
    preprocessing_num_workers: int | None = field(
        default=None,
        metadata={"help": "Tokenize in this many processes (datasets' map num_proc; default: in this process)."},
    )
    token_cache: bool = field(
        default=True,
        metadata={
            "help": "Keep the tokenized splits on disk (--cache_dir/tokenized, else ~/.cache/trainer-tasks/tokenized) "
            "and reuse them when data, tokenizer and options are unchanged. --no_token_cache: tokenize every run."
        },
    )

    def __post_init__(self) -> None:
        for name in ("test_size", "validation_size"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise TaskError(f"--{name} must be between 0 and 1, got {value}")
        if self.test_size + self.validation_size * (1 - self.test_size) >= 1.0:
            raise TaskError(
                f"--test_size {self.test_size} and --validation_size {self.validation_size} leave no training data"
            )
        positive = (
            "max_train_samples",
            "max_eval_samples",
            "max_predict_samples",
            "max_seq_length",
            "max_text_chars",
            "preprocessing_num_workers",
        )
        for name in positive:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TaskError(f"--{name} must be a positive number, got {value}")
        if self.split_seed is not None and not 0 <= self.split_seed < 2**32:
            raise TaskError(f"--split_seed must be between 0 and 2**32 - 1, got {self.split_seed}")
        file_options = ("data_files", "train_file", "validation_file", "test_file")
        files = [f"--{name}" for name in file_options if getattr(self, name)]
        if files and self.dataset_name:
            raise TaskError(
                f"both {', '.join(files)} and --dataset_name {self.dataset_name!r} given; pass one source of data"
            )
        if self.data_files and self.train_file:
            raise TaskError("both --data_files and --train_file name the training rows; pass them all with one of them")
        splits = [f"--{name}" for name in ("train_split", "validation_split", "test_split") if getattr(self, name)]
        if splits and not self.dataset_name:
            raise TaskError(f"{', '.join(splits)} name splits of a dataset: pass --dataset_name too (or use --*_file)")
        if not 1 <= len(self.text_column) <= 2:
            raise TaskError(
                f"--text_column takes one column, or two for sentence pairs; got {len(self.text_column)}: "
                f"{self.text_column}"
            )
        if self.stride < 0:
            raise TaskError(f"--stride must be zero or more tokens, got {self.stride}")
        if self.pad_to_max_length and self.max_seq_length is None:
            raise TaskError("--pad_to_max_length needs --max_seq_length (the thesis used the longest input)")

    def data_config(self, seed: int, cache_dir: str | None = None) -> DataConfig:
        return DataConfig(
            data_files=tuple(self.data_files or ()),
            dataset_name=self.dataset_name,
            split=self.split,
            seed=seed if self.split_seed is None else self.split_seed,
            test_size=self.test_size,
            validation_size=self.validation_size,
            max_text_chars=self.max_text_chars,
            cache_dir=cache_dir,
            train_file=self.train_file,
            validation_file=self.validation_file,
            test_file=self.test_file,
            dataset_config_name=self.dataset_config_name,
            dataset_revision=self.dataset_revision,
            train_split=self.train_split,
            validation_split=self.validation_split,
            test_split=self.test_split,
            group_column=self.group_column,
            columns=Columns(
                text=tuple(self.text_column),
                label=self.label_column,
                label_columns=tuple(self.label_columns or ()),
                labels=tuple(self.labels or ()),
                labels_file=self.labels_file,
                label_separator=self.label_separator,
                problem_type=self.problem_type,
                column_names=tuple(self.column_names or ()),
                file_format=self.file_format,
            ),
        )


@dataclass
class TaskTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with the thesis's defaults and the fast path on.

    Defaults that differ from ``TrainingArguments``, and why:
        per_device_train_batch_size / per_device_eval_batch_size: 64 (8): the thesis's batch size.
        num_train_epochs: 4 (3): the thesis trained 4 epochs.
        eval_strategy / save_strategy: "epoch" ("no" / "steps"): the thesis table has one row per epoch.
        logging_steps: 50 (500): short CPU runs still show a loss curve.
        ddp_find_unused_parameters: False (None, which DDP turns into True for models with gradient
            checkpointing off): every parameter of a classifier is used; the search only costs time
            and makes PyTorch warn in every multi-process run.
        train_sampling_strategy: "group_by_length" ("random"): batches of similar length pad
            less; 1.6x faster on headlines with the same results.
        bf16: None = auto (False): bf16 mixed precision where the hardware runs it natively (CPUs
            with avx512_bf16/amx_bf16, GPUs with bf16), off elsewhere; same accuracy, see
            ``trainer_tasks.fast_path.mixed_precision`` and ``benchmarks/throughput.py``.
        cls_only_last_layer: True (new): the last layer computes only the [CLS] position the
            classification head reads; identical logits and gradients, less work.
        fast_dropout: True (new): on CPU, dropout masks from a quarter of the random draws (same
            keep probability to 1/65536, other masks than torch's for the same seed); see
            ``trainer_tasks.fast_path.fast_dropout``.
        reuse_embedding_gradient: True (new): on CPU, the word-embedding gradient goes into one
            buffer kept across steps instead of a fresh 47 MB tensor per backward; the same
            gradient, bit for bit, see ``trainer_tasks.fast_path.embedding_gradient``.
    Unchanged thesis settings: learning_rate 5e-5, linear schedule, no warm-up, max_grad_norm 1.0.
    """

    per_device_train_batch_size: int = field(default=64, metadata={"help": "Batch size per device (thesis: 64)."})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Eval batch size per device."})
    num_train_epochs: float = field(default=4.0, metadata={"help": "Epochs (thesis: 4)."})
    eval_strategy: str = field(
        default="epoch", metadata={"help": "When to evaluate: no, steps or epoch.", "choices": ["no", "steps", "epoch"]}
    )
    save_strategy: str = field(
        default="epoch",
        metadata={"help": "When to save a checkpoint.", "choices": ["no", "steps", "epoch", "best"]},
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Delete what --output_dir holds (an earlier run, another task's run, other files) right before "
            "training starts. Off: such a folder is refused, so no run's files are mixed with or lost to another."
        },
    )
    logging_steps: float = field(default=50, metadata={"help": "Log the training loss every N steps."})
    train_sampling_strategy: str = field(
        default="group_by_length",
        metadata={"help": "random, group_by_length (default: batches of similar length) or batch_rebalance."},
    )

    ddp_find_unused_parameters: bool | None = field(
        default=False,
        metadata={
            "help": "DDP's search for parameters the forward pass did not use. Off: a sequence classifier uses every "
            "parameter, and the search costs a traversal of the graph per step (PyTorch warns about it). Turn it on "
            "only for a model with parameters its forward skips."
        },
    )
    hub_endpoint: str | None = field(
        default=None,
        metadata={"help": "Hub-compatible server to push to (default: the HF_ENDPOINT variable, else huggingface.co)."},
    )
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 mixed precision. Default (not given): on where the hardware runs bf16 natively "
            "(CPU flags avx512_bf16/amx_bf16, bf16 GPUs), off elsewhere. --bf16 / --bf16 false force it.",
            "nargs": "?",
            "const": True,
        },
    )
    cls_only_last_layer: bool = field(
        default=True,
        metadata={
            "help": "Compute only the [CLS] position in the last layer, the only one the classification head "
            "reads (BERT, RoBERTa, ELECTRA, DistilBERT): same results, less work."
        },
    )
    fast_dropout: bool = field(
        default=True,
        metadata={
            "help": "On CPU, draw dropout masks from 16-bit slices of 64-bit random words: a quarter of the "
            "random draws, the same keep probability (to 1/65536). False: torch's own dropout."
        },
    )
    fp32_head: bool = field(
        default=True,
        metadata={
            "help": "Under mixed precision, run the pooler and classification head in fp32, so scores keep their "
            "ranking (bf16 logits tie). A few hundred multiply-adds per text."
        },
    )
    fast_path: bool = field(
        default=True,
        metadata={
            "help": "The fast path as a whole (--cls_only_last_layer, --fp32_head, --fast_dropout, "
            "--reuse_embedding_gradient). False turns every one off, for debugging: the stock model runs as it is."
        },
    )
    reuse_embedding_gradient: bool = field(
        default=True,
        metadata={
            "help": "On CPU, write the word-embedding gradient into one buffer kept across steps instead of "
            "allocating it anew in every backward: the same gradient, bit for bit, less time per step."
        },
    )

    def __post_init__(self) -> None:
        check_training_ranges(self)
        check_report_to(self.report_to)
        if self.fp16 and not has_cuda():
            raise TaskError(
                "--fp16 needs a CUDA GPU and this machine has none, so it would change nothing; drop it (bf16 is "
                "chosen automatically where the hardware runs it natively)"
            )
        if self.hub_endpoint is not None and not self.hub_endpoint.startswith(("http://", "https://")):
            raise TaskError(
                f"--hub_endpoint must be an http(s) URL, e.g. https://huggingface.co; got {self.hub_endpoint!r}"
            )
        if not self.use_cpu and launched_on_cpu_only():
            # `accelerate launch` with N processes and no accelerator: without this, accelerate opens
            # a process group but reports no parallelism, and every process trains alone on all data.
            self.use_cpu = True
            self.ddp_backend = self.ddp_backend or "gloo"
        if not has_accelerator():
            self.dataloader_pin_memory = False  # pinning only helps host-to-GPU copies; torch warns on CPU
        self.bf16 = self._resolve_bf16()
        super().__post_init__()

    def __getstate__(self) -> dict:
        """Pickles leave the Hub token out: the Trainer saves these arguments as ``training_args.bin`` in the
        output folder and in every checkpoint, and pushes them to the Hub. The token stays in this process only."""
        return redacted_state(self.__dict__)

    def _resolve_bf16(self) -> bool:
        from trainer_tasks.fast_path import mixed_precision

        device = mixed_precision.training_device(self.use_cpu)
        bf16, reason = mixed_precision.resolve_bf16_on_this_machine(self.bf16, fp16=self.fp16, device=device)
        if bf16 and device == "cpu":
            self.use_cpu = True  # TrainingArguments only accepts bf16 without a bf16 GPU when told to use the CPU
        logger.info("bf16 mixed precision %s (%s)", "on" if bf16 else "off", reason)
        return bf16


# (field, lowest, lowest allowed?, highest, highest allowed?, what it means): the Trainer options whose
# out-of-range values otherwise fail deep inside transformers or torch after the data and model have
# loaded (a zero batch size), or train without a word (a negative learning rate ascends the loss).
TRAINING_RANGES: tuple[tuple[str, float | None, bool, float | None, bool], ...] = (
    ("learning_rate", 0, False, None, False),
    ("per_device_train_batch_size", 1, True, None, False),
    ("per_device_eval_batch_size", 1, True, None, False),
    ("gradient_accumulation_steps", 1, True, None, False),
    ("eval_accumulation_steps", 1, True, None, False),
    ("num_train_epochs", 0, True, None, False),
    ("warmup_steps", 0, True, None, False),
    ("weight_decay", 0, True, None, False),
    ("max_grad_norm", 0, True, None, False),
    ("adam_beta1", 0, True, 1, False),
    ("adam_beta2", 0, True, 1, False),
    ("adam_epsilon", 0, False, None, False),
    ("label_smoothing_factor", 0, True, 1, False),
    ("logging_steps", 0, False, None, False),
    ("eval_steps", 0, False, None, False),
    ("save_steps", 0, False, None, False),
    ("save_total_limit", 1, True, None, False),
    ("seed", 0, True, 2**32 - 1, True),
    ("data_seed", 0, True, 2**32 - 1, True),
    ("dataloader_num_workers", 0, True, None, False),
    ("eval_delay", 0, True, None, False),
)


def check_training_ranges(args: Any) -> None:
    """Refuse out-of-range Trainer options before any data or model is loaded, naming the flag and the range."""
    for name, low, low_ok, high, high_ok in TRAINING_RANGES:
        value = getattr(args, name, None)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise TaskError(f"--{name} must be a finite number, got {value}")
        too_low = low is not None and (value < low if low_ok else value <= low)
        too_high = high is not None and (value > high if high_ok else value >= high)
        if too_low or too_high:
            lower = "" if low is None else f"{'>=' if low_ok else '>'} {low}"
            upper = "" if high is None else f"{'<=' if high_ok else '<'} {high}"
            raise TaskError(f"--{name} must be {' and '.join(part for part in (lower, upper) if part)}, got {value}")
    if args.max_steps == 0 or (args.max_steps < 0 and args.num_train_epochs == 0):
        raise TaskError(
            f"zero training steps (--num_train_epochs {args.num_train_epochs}, --max_steps {args.max_steps}): the run "
            "would save an untrained model as finished; give --num_train_epochs > 0 or --max_steps > 0"
        )
    if args.max_steps < -1:
        raise TaskError(f"--max_steps must be a positive number (or -1: use --num_train_epochs), got {args.max_steps}")


def check_report_to(report_to: str | list[str] | None) -> None:
    """Unknown ``--report_to`` names fail only when the Trainer is built, after data and model have loaded."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    valid = ["all", "none", *INTEGRATION_TO_CALLBACK]
    for name in names:
        if name not in valid:
            raise TaskError(f"--report_to {name!r} is not one of {valid}")


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def launched_on_cpu_only() -> bool:
    """True in a multi-process launch (torchrun/accelerate) on a machine with no accelerator."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    return world_size > 1 and "LOCAL_RANK" in os.environ and not has_accelerator()


def has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())
