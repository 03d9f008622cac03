"""Load a tokenizer and a classification model whose config already knows the task's labels.

Labels are decided here, once: ``num_labels``, ``id2label``, ``label2id`` and ``problem_type`` go
into the model config, so the saved folder is all ``pipeline("text-classification")`` needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Iterator

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tasks import Task, TaskError
from trainer_tasks.core import safe_weights as weights
from trainer_tasks.core.boundary import first_line, is_first_process
from trainer_tasks.training.arguments import ModelArguments

logger = logging.getLogger(__name__)
LOAD_REPORT_LOGGER = "transformers.modeling_utils"  # where from_pretrained logs its table of missing weights


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
        with load_report(name, len(task.labels)) as report:
            model, report.info = AutoModelForSequenceClassification.from_pretrained(
                name,
                config=config,
                output_loading_info=True,
                **common,
                **weights.load_kwargs(model_args.allow_pickle_weights),
            )
            report.model = model
        return model
    except (OSError, ValueError, pickle.UnpicklingError) as error:
        if weights.is_missing_safetensors(error):
            raise weights.pickle_only_error(name) from None
        raise _unreachable("model", name, error) from None


class LoadReport(logging.Filter):
    """Holds back transformers' load report (a table row and a note per weight the checkpoint lacks) while
    ``from_pretrained`` runs; ``load_report`` then decides what the log gets."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []
        self.info: dict | None = None
        self.model: PreTrainedModel | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" in record.getMessage():
            self.held.append(record)
            return False
        return True

    def new_head_only(self) -> list[str] | None:
        """The missing weights when they are all the new classification head's (nothing else missing, unexpected
        or resized), else None: everything outside the base model (``bert.``, ``distilbert.``, ...) is the head."""
        if self.info is None or self.model is None or not self.info.get("missing_keys"):
            return None
        if self.info.get("unexpected_keys") or self.info.get("mismatched_keys") or self.info.get("error_msgs"):
            return None
        prefix = f"{self.model.base_model_prefix}."
        missing = sorted(self.info["missing_keys"])
        return None if any(key.startswith(prefix) for key in missing) else missing


@contextlib.contextmanager
def load_report(name: str, num_labels: int) -> Iterator[LoadReport]:
    """One line instead of transformers' load report when the only new weights are the classification head, as
    they always are when a base checkpoint is fine-tuned; any other report (encoder weights missing, unexpected or
    resized) is logged as transformers wrote it. Either, once: by the first process."""
    report = LoadReport()
    report_logger = logging.getLogger(LOAD_REPORT_LOGGER)
    report_logger.addFilter(report)
    try:
        yield report
    except BaseException:
        report_logger.removeFilter(report)
        emit(report.held)  # the error may point at "the report above"
        raise
    report_logger.removeFilter(report)
    head = report.new_head_only()
    if head is None:
        emit(report.held)
    elif is_first_process():
        logger.info(
            "%s: new classification head for %d labels (%s), initialised at random; this run trains it",
            name,
            num_labels,
            ", ".join(head),
        )


def emit(records: list[logging.LogRecord]) -> None:
    if is_first_process():
        for record in records:
            logging.getLogger(record.name).handle(record)


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
