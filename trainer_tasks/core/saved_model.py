"""What a saved classifier folder must hold, checked the same way wherever one is loaded.

Training (a teacher, a student's source), ``predict`` and ``export`` all load saved models: a real
tokenizer (not the special-tokens-only stand-in transformers builds when the files are missing),
a classification head, and the per-label thresholds a multi-label run saved in its config.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from tasks import TaskError
from trainer_tasks.core.boundary import first_line

CONFIG_ATTRIBUTE = "thresholds"  # config.json key of the per-label decision thresholds
DEFAULT_THRESHOLD = 0.5


def cannot_load(name: str, error: Exception) -> TaskError:
    summary = first_line(error)
    if os.path.isfile(name):
        return TaskError(f"cannot load model {name!r}: it is a file; pass the model's folder (with config.json)")
    if os.path.exists(name):
        return TaskError(f"cannot load model from local folder {name!r}: {summary}")
    return TaskError(
        f"cannot load model {name!r}: it is not a local folder and the Hub could not serve it ({summary}). "
        "Offline? Pass a local folder: a train.py --output_dir or a trainer-tasks export folder"
    )


def check_classifier(name: str, config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase) -> None:
    """Refuse what loads but cannot classify: a base encoder (its head would be random) or a missing tokenizer.

    Without tokenizer files transformers builds a tokenizer from config.json alone whose vocabulary is its
    special tokens: every text becomes [UNK], and the predictions look fine and mean nothing.
    """
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(arch.endswith("ForSequenceClassification") for arch in architectures):
        raise TaskError(
            f"{name} holds a {architectures[0]} without a classification head, so its scores would be random; "
            "pass a fine-tuned classifier (a train.py --output_dir)"
        )
    check_tokenizer(name, tokenizer)


def check_tokenizer(name: str, tokenizer: PreTrainedTokenizerBase) -> None:
    """A tokenizer whose vocabulary is only its special tokens was built from config.json, without tokenizer files."""
    if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
        raise TaskError(
            f"{name} has no tokenizer (its vocabulary is only the special tokens); save the tokenizer it was "
            "trained with into the folder (tokenizer.save_pretrained) or pass the train.py output folder"
        )


def thresholds_from_config(config: PretrainedConfig, label_names: Sequence[str]) -> np.ndarray:
    """The saved per-label thresholds in label order; 0.5 for labels the config has none for."""
    saved = getattr(config, CONFIG_ATTRIBUTE, None) or {}
    return np.array([float(saved.get(name, DEFAULT_THRESHOLD)) for name in label_names], dtype=np.float64)


HARD_MAX_LENGTH = 512


def load_classifier_files(name_or_path: str) -> tuple[PretrainedConfig, PreTrainedTokenizerBase]:
    """The config and tokenizer of a saved classifier, checked (predict and export load models the same way)."""
    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError, SafetensorError) as error:
        raise cannot_load(name_or_path, error) from None
    check_classifier(name_or_path, config, tokenizer)
    return config, tokenizer


def model_token_limit(tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig | None = None) -> int | None:
    """The most tokens the model can read: its tokenizer's limit and its position table's, whichever is less.

    Training (``--max_seq_length``) and prediction (``--max_length``) both cap by this one reading;
    by default both then use at most ``HARD_MAX_LENGTH``.
    """
    limits = []
    if tokenizer.model_max_length < 100_000:  # "no limit" is stored as a huge integer
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits) if limits else None
