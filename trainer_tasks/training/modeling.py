"""Load a tokenizer and a classification model whose config already knows the task's labels.

Labels are decided here, once: ``num_labels``, ``id2label``, ``label2id`` and ``problem_type`` go
into the model config, so the saved folder is all ``pipeline("text-classification")`` needs.
"""

from __future__ import annotations

import os
import pickle

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tasks import Task, TaskError
from trainer_tasks.core import safe_weights as weights
from trainer_tasks.core.boundary import first_line
from trainer_tasks.training.arguments import ModelArguments


def _unreachable(kind: str, name: str, error: Exception) -> TaskError:
    summary = first_line(error)
    if "contains custom code" in str(error):
        return weights.remote_code_error(name)
    if isinstance(error, pickle.UnpicklingError):
        return weights.unsafe_pickle_error(name, summary)
    if os.path.exists(name):
        return TaskError(f"cannot load {kind} from local folder {name!r}: {summary}")
    return TaskError(
        f"cannot load {kind} {name!r}: it is not a local folder and the Hub could not serve it ({summary}). "
        "Offline? Pass a local folder, e.g. --model_name_or_path ../shared/models/all-MiniLM-L6-v2"
    )


def load_tokenizer(model_args: ModelArguments) -> PreTrainedTokenizerBase:
    name = model_args.tokenizer_name or model_args.model_name_or_path
    try:
        return AutoTokenizer.from_pretrained(
            name,
            cache_dir=model_args.cache_dir,
            revision=model_args.model_revision,
            trust_remote_code=model_args.trust_remote_code,
        )
    except (OSError, ValueError) as error:
        raise _unreachable("tokenizer", name, error) from None


def load_model(model_args: ModelArguments, task: Task) -> PreTrainedModel:
    """The checkpoint with a classification head sized and labelled for ``task``.

    A checkpoint fine-tuned before keeps its head when its labels match the task; one with other
    labels is refused rather than silently re-initialised, which would throw its head away.
    """
    name = model_args.model_name_or_path
    common = {
        "cache_dir": model_args.cache_dir,
        "revision": model_args.model_revision,
        "trust_remote_code": model_args.trust_remote_code,
    }
    try:
        config = AutoConfig.from_pretrained(name, **common)
    except (OSError, ValueError) as error:
        raise _unreachable("model", name, error) from None
    check_existing_labels(config, task, name)
    weights.check_weights(name, model_args.allow_pickle_weights)
    config.num_labels = len(task.labels)
    config.id2label = task.id2label
    config.label2id = task.label2id
    config.problem_type = task.problem_type
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            name, config=config, **common, **weights.load_kwargs(model_args.allow_pickle_weights)
        )
    except (OSError, ValueError, pickle.UnpicklingError) as error:
        if weights.is_missing_safetensors(error):
            raise weights.pickle_only_error(name) from None
        raise _unreachable("model", name, error) from None


def check_existing_labels(config, task: Task, name: str) -> None:
    """Refuse a fine-tuned checkpoint whose labels are not this task's."""
    architectures = getattr(config, "architectures", None) or []
    if not any(arch.endswith("ForSequenceClassification") for arch in architectures):
        return  # a base encoder: its head is new anyway
    existing = [config.id2label[i] for i in sorted(config.id2label)]
    unnamed = all(str(label).startswith("LABEL_") for label in existing)
    if existing != list(task.labels) and (not unnamed or len(existing) != len(task.labels)):
        raise TaskError(
            f"{name} was fine-tuned for labels {existing}, but task {task.name!r} has {list(task.labels)}; "
            "start from a base checkpoint or one trained on this task"
        )
