"""Runs that would finish "successfully" and hand over a useless model: refused, or flagged loudly.

A run whose training split holds one class only, whose texts are cut to a token or two, or whose
precision flag does nothing still writes a model, test metrics and a card. The user would find
out in production. What cannot train at all is a ``TaskError`` before training; what trains but
is suspect becomes a warning logged at WARNING level, recorded under ``warnings`` in
``results.json`` and shown at the top of the model card.
"""

from __future__ import annotations

import logging
import warnings as python_warnings
from collections.abc import Sequence

import numpy as np
from datasets import DatasetDict
from transformers import PreTrainedTokenizerBase

from tasks import DataConfig, Task, TaskError
from trainer_tasks.record.label_counts import label_totals

logger = logging.getLogger(__name__)

# Above this share of training texts cut to --max_seq_length, the model mostly sees text beginnings.
TRUNCATED_SHARE_WARNING = 0.5


class RunWarnings(list):
    """Warnings about the run itself, in the order found; each is logged once when added."""

    def add(self, message: str) -> None:
        if message not in self:
            logger.warning("%s", message)
            self.append(message)


def check_label_coverage(raw: DatasetDict, task: Task, warnings: RunWarnings) -> None:
    """Refuse a training split with nothing to learn; flag each class or label it never shows."""
    train = raw["train"]
    if task.is_multi_label:
        positives = label_totals(train, task)
        if not positives.any():
            raise TaskError(
                f"the training split ({len(train)} examples) has no positive example of any label "
                f"({', '.join(task.labels)}): there is nothing to learn; check the label columns of the data"
            )
        missing = [name for name, count in zip(task.labels, positives, strict=True) if count == 0]
        if missing:
            warnings.add(
                f"label(s) {', '.join(missing)} have no positive example in the training split "
                f"({len(train)} examples): the model cannot learn them and will never predict them"
            )
        return
    counts = label_totals(train, task)
    present = [name for name, count in zip(task.labels, counts, strict=True) if count > 0]
    if len(present) < 2:
        raise TaskError(
            f"the training split ({len(train)} examples) holds only class {present or 'none'} of "
            f"{list(task.labels)}: a classifier needs examples of at least two classes; check the label column"
        )
    missing = [name for name, count in zip(task.labels, counts, strict=True) if count == 0]
    if missing:
        warnings.add(
            f"class(es) {', '.join(missing)} have no example in the training split ({len(train)} examples): the "
            "model will never predict them"
        )


def metric_names(task: Task) -> list[str]:
    """The keys the task's metric function returns, found by scoring a made-up prediction (no data needed)."""
    from transformers import EvalPrediction

    rng = np.random.default_rng(0)
    n, k = 2 * len(task.labels), len(task.labels)
    logits = rng.normal(size=(n, k))
    labels = (np.arange(n * k).reshape(n, k) % 2).astype(np.float32) if task.is_multi_label else np.arange(n) % k
    with python_warnings.catch_warnings():
        python_warnings.simplefilter("ignore")
        return sorted(task.compute_metrics(EvalPrediction(predictions=logits, label_ids=labels)))


def check_options_for_task(task: Task, training_args, split: str = "random", data: DataConfig | None = None) -> None:
    """Options whose valid values depend on the task or on installed packages, checked before anything loads.

    Each task declares its own ``--split`` strategies. A misspelt ``--metric_for_best_model``
    otherwise fails with a ``KeyError`` after the first evaluation; an optimizer whose package is
    missing fails when training starts.
    """
    if split not in task.splits:
        raise TaskError(f"--split {split!r}: task {task.name!r} supports {list(task.splits)}")
    if data is not None and not task.reads_columns and data.columns.given():
        raise TaskError(
            f"task {task.name!r} reads its own columns; {', '.join(data.columns.given())} "
            "is for your own data (--task text)"
        )
    metric = training_args.metric_for_best_model
    if metric is not None and not task.labels_from_data:  # the generic task's metrics are known once it read the data
        valid = ["loss", *metric_names(task)]
        if metric.removeprefix("eval_") not in valid:
            raise TaskError(f"--metric_for_best_model {metric!r} is not a metric of task {task.name!r}: one of {valid}")
    from transformers import Trainer

    try:
        Trainer.get_optimizer_cls_and_kwargs(training_args)
    except ImportError as error:
        raise TaskError(f"--optim {training_args.optim.value}: {str(error).strip()}") from None
    except (ValueError, TypeError, AttributeError):
        pass  # optimizers that need the model to decide (e.g. GaLore's target modules) are checked by the Trainer


def check_losses(train_loss: float | None, test_loss: float | None, warnings: RunWarnings) -> None:
    """A diverged run (a loss NaN or infinite) still saves a model: say so where the user will look."""
    for name, loss in (("training", train_loss), ("test", test_loss)):
        if loss is not None and not np.isfinite(loss):
            warnings.add(
                f"the {name} loss is {loss}: training diverged and the model is not usable; lower --learning_rate"
            )


def check_sequence_length(tokenizer: PreTrainedTokenizerBase, requested: int | None, model_limit: int | None) -> None:
    """Refuse a ``--max_seq_length`` that leaves no room for text, or that the model's positions cannot hold."""
    if requested is None:
        return
    special = tokenizer.num_special_tokens_to_add(pair=False)
    if requested <= special:
        raise TaskError(
            f"--max_seq_length {requested} leaves no room for text: the tokenizer adds {special} special tokens to "
            f"every input; use a length that fits the texts (e.g. 128), at least {special + 1}"
        )
    if model_limit is not None and requested > model_limit:
        raise TaskError(
            f"--max_seq_length {requested} is longer than the model's {model_limit} positions; "
            f"use at most {model_limit}"
        )


def check_truncation(lengths: Sequence[int], max_length: int, warnings: RunWarnings) -> float:
    """The share of training texts cut to ``max_length``; above half, a warning for the record."""
    if not len(lengths):
        return 0.0
    share = float(np.mean(np.asarray(lengths) >= max_length))
    if share > TRUNCATED_SHARE_WARNING:
        warnings.add(
            f"{share:.0%} of training texts were cut to --max_seq_length {max_length} tokens: the model sees only "
            "their beginnings; raise --max_seq_length"
        )
    return share
