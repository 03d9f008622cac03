"""Scoring a saved classifier on labelled data: the task's metrics, per-label counts and the confusion matrix.

The data is read by the task's own builder in evaluation mode (``DataConfig.evaluation``), so every
input form the task reads for training reads here too, with the same line-precise errors, and the
texts are cleaned exactly as in training. The model runs through ``TextClassifier``, as in
``predict``: the same length-sorted batches, precision and ONNX support. Label ids follow the
MODEL's ``id2label``: a task whose labels differ from the model's is refused, and the generic task
is given the model's labels as fixed names, so a label the model does not know is an error naming
its file and line.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tasks import DataConfig, Task, TaskError, get_task
from tasks.base import COLUMN_FLAGS, Columns
from tasks.metrics import multi_label_scores
from trainer_tasks.inference.classifier import TextClassifier
from trainer_tasks.inference.defaults import Batching

logger = logging.getLogger(__name__)

# The model config key train.py writes: {"task": name, "columns": the generic task's options given}.
TRAINING_TASK = "training_task"
SINGLE = "single_label_classification"
AT_HALF = "at_0.5"
AT_SAVED = "at_saved_thresholds"
# The Columns fields that say where the labels are: given on the command line, they replace training's as a group.
LABEL_OPTIONS = frozenset({"label", "label_columns", "label_separator"})


@dataclass
class LabelledData:
    """The rows to score, as the task's builder read them: texts (and pairs), label ids or 0/1 rows."""

    texts: list[str]
    pairs: list[str] | None
    labels: np.ndarray


@dataclass
class Evaluation:
    """Everything ``trainer-tasks evaluate`` reports; ``to_dict`` is ``evaluation.json``.

    Single-label: ``metrics`` holds one set (the argmax), ``per_label`` one table and ``confusion``
    the matrix (rows: true class, columns: predicted). Multi-label: ``metrics`` and ``per_label`` hold
    one entry at 0.5 and one at the saved thresholds (0.5 for labels without one).
    """

    model: str
    task: str
    problem_type: str
    data: list[str]
    labels: list[str]
    rows: int
    truncated: int
    max_length: int
    backend: str
    seconds: float
    metrics: dict[str, dict[str, float]]
    per_label: dict[str, list[dict]]
    thresholds: dict[str, float] | None = None
    thresholds_saved: bool = False
    confusion: list[list[int]] | None = None
    logits: np.ndarray = field(default=None, repr=False)  # for the confusion-matrix plot, not the JSON
    label_ids: np.ndarray = field(default=None, repr=False)

    @property
    def multi_label(self) -> bool:
        return self.problem_type != SINGLE

    def to_dict(self) -> dict:
        record = {
            "model": self.model,
            "task": self.task,
            "problem_type": self.problem_type,
            "data": self.data,
            "labels": self.labels,
            "rows": self.rows,
            "truncated": self.truncated,
            "max_length": self.max_length,
            "backend": self.backend,
            "seconds": round(self.seconds, 3),
            "metrics": self.metrics,
            "per_label": self.per_label,
        }
        if self.multi_label:
            record.update(thresholds=self.thresholds, thresholds_saved=self.thresholds_saved)
        else:
            record["confusion_matrix"] = {"rows": "true class", "columns": "predicted class", "matrix": self.confusion}
        return json_ready(record)


def json_ready(value: object) -> object:
    """NaN (ROC-AUC of a label with one class in the data) as null: ``evaluation.json`` stays strict JSON."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# --- which task, and how it reads the data ------------------------------------------------------------------------


def saved_training_task(classifier: TextClassifier) -> tuple[str | None, dict]:
    """The task name and generic column options train.py saved in the model config (None, {} for other models)."""
    saved = getattr(classifier.config, TRAINING_TASK, None)
    if saved is None:
        return None, {}
    columns = saved.get("columns", {}) if isinstance(saved, dict) else None
    name = saved.get("task") if isinstance(saved, dict) else None
    if not isinstance(name, str) or not name or not isinstance(columns, dict):
        raise TaskError(
            f"the model's config.json has {TRAINING_TASK} {saved!r}; expected {{'task': NAME, 'columns': {{...}}}}: "
            "pass the task with --task"
        )
    return name, columns


def resolve_task(classifier: TextClassifier, requested: str | None, model: str) -> tuple[Task, dict]:
    """``--task``, else the task the model was trained on; and the column options training gave (for ``text``)."""
    saved_name, saved_columns = saved_training_task(classifier)
    if requested is not None:
        return get_task(requested), saved_columns if requested == saved_name else {}
    if saved_name is None:
        raise TaskError(
            f"{model} does not say which task it was trained on (no {TRAINING_TASK} in its config.json: trained "
            "before trainer-tasks saved it, or elsewhere); pass it with --task NAME (e.g. --task text)"
        )
    try:
        return get_task(saved_name), saved_columns
    except TaskError as error:
        raise TaskError(
            f"the model was trained on task {saved_name!r}, which cannot be loaded here ({error})"
        ) from None


def saved_columns_options(saved: Mapping[str, object]) -> dict[str, object]:
    """The saved options as ``Columns`` fields (lists back to tuples); a field this version lacks is an error."""
    fields = set(COLUMN_FLAGS.values())
    unknown = sorted(set(saved) - fields)
    if unknown:
        raise TaskError(
            f"the model's config.json {TRAINING_TASK} names column options {unknown} this trainer-tasks does not "
            "know; pass the columns with --text_column/--label_column/... and --task"
        )
    return {name: tuple(value) if isinstance(value, list) else value for name, value in saved.items()}


@dataclass(frozen=True)
class LabelledSource:
    """What ``evaluate`` scores: local files, or one split of a Hub dataset or ``save_to_disk`` folder."""

    files: tuple[str, ...] = ()
    dataset_name: str | None = None
    dataset_config_name: str | None = None
    dataset_revision: str | None = None
    split: str = "test"

    def names(self) -> list[str]:
        """The data as the report names it: the files, or ``dataset[split]``."""
        return [os.fspath(path) for path in self.files] if self.files else [f"{self.dataset_name}[{self.split}]"]

    def data_config(self, columns: Columns) -> DataConfig:
        if self.files:
            return DataConfig(data_files=self.files, evaluation=True, columns=columns)
        return DataConfig(
            dataset_name=self.dataset_name,
            dataset_config_name=self.dataset_config_name,
            dataset_revision=self.dataset_revision,
            test_split=self.split,
            evaluation=True,
            columns=columns,
        )


def data_config(
    task: Task, classifier: TextClassifier, source: LabelledSource, saved: Mapping[str, object], given: Columns
) -> DataConfig:
    """How the task's builder reads ``source`` to score this model: every row, as the model's test split.

    A task that reads columns (the generic ``text``) gets the options training gave, the ones given
    now on top, the model's text columns by default, its head, and its labels as fixed names (so a
    name maps to the model's id, and an unknown name is an error); with ``--label_columns`` the
    columns name the labels, checked against the model's afterwards. Other tasks read their own
    columns: any column option given now is refused by ``Task.for_data``.
    """
    columns = given
    if task.reads_columns:
        options = {"text": tuple(classifier.input_columns), **saved_columns_options(saved)}
        now = given_fields(given)
        if LABEL_OPTIONS & set(now):  # labels read another way now: none of training's label options apply
            options = {name: value for name, value in options.items() if name not in LABEL_OPTIONS}
        options.update({name: getattr(given, name) for name in now})
        options.update(problem_type=classifier.config.problem_type or SINGLE, labels_file=None)
        options["labels"] = () if options.get("label_columns") else tuple(classifier.labels)
        columns = Columns(**options)
    return source.data_config(columns)


def given_fields(columns: Columns) -> list[str]:
    """The ``Columns`` fields set on the command line (anything but their default)."""
    default = Columns()
    return [name for name in COLUMN_FLAGS.values() if getattr(columns, name) != getattr(default, name)]


def read_labelled(task: Task, config: DataConfig, classifier: TextClassifier) -> tuple[Task, LabelledData]:
    """Every row of the files, read by the task's builder; label ids in the model's order."""
    try:
        task = task.for_data(config)
        built = task.build_dataset(config)
    except TaskError as error:
        raise in_model_terms(error, config) from None
    if list(built) != ["test"]:  # a builder of its own that ignores evaluation mode: its test split is a sample
        raise TaskError(
            f"task {task.name!r} cannot evaluate: its builder returned the splits {list(built)}, not every row as "
            "'test' (DataConfig.evaluation); split with tasks.splits.split_frame, or honour config.evaluation"
        )
    test = built["test"]
    check_same_head(task, classifier)
    labels, order = np.asarray(test["labels"]), label_order(task, classifier)
    if task.is_multi_label:
        labels = labels[:, order]
    pairs = test["text_pair"] if "text_pair" in test.column_names else None
    check_same_inputs(task, classifier, pairs is not None)
    return task, LabelledData(texts=list(test["text"]), pairs=None if pairs is None else list(pairs), labels=labels)


def in_model_terms(error: TaskError, config: DataConfig) -> TaskError:
    """The label parser's message for a name outside fixed labels, about the model's labels rather than a
    ``--labels`` option the user never gave (``data_config`` passes the model's labels that way)."""
    message = str(error)
    if config.columns.labels and "(--labels)" in message:
        message = message.replace("(--labels)", "(the model's labels)").replace(
            ", or add it to --labels", "; the model was not trained on it"
        )
    return TaskError(message)


def check_same_head(task: Task, classifier: TextClassifier) -> None:
    """The task's head must be the model's: a single-label task cannot score a multi-label model."""
    head = classifier.config.problem_type or SINGLE
    if task.problem_type != head:
        raise TaskError(
            f"task {task.name!r} is {task.problem_type.replace('_', '-')}, the model {head.replace('_', '-')}: "
            "pass the task the model was trained on with --task"
        )


def label_order(task: Task, classifier: TextClassifier) -> list[int]:
    """Where each of the model's labels is among the task's: the task must have the model's labels (any order
    for 0/1 label columns, which name them; the same order for every other task, as ids index them)."""
    model, found = list(classifier.labels), list(task.labels)
    if found == model or (task.is_multi_label and sorted(found) == sorted(model) and task.reads_columns):
        return [found.index(name) for name in model]
    raise TaskError(
        f"task {task.name!r} has the labels {found}, the model {model}: pass the task the model was trained on "
        "with --task (for --task text, the label columns of the model's labels)"
    )


def check_same_inputs(task: Task, classifier: TextClassifier, pairs: bool) -> None:
    """Text pairs for a pair model, single texts otherwise: a mismatch would score texts without their partner."""
    if pairs == classifier.pairs:
        return
    if classifier.pairs:
        raise TaskError(
            f"the model classifies text pairs (columns {list(classifier.input_columns)}) but task {task.name!r} "
            "reads single texts: pass --task text with --text_column A B"
        )
    raise TaskError(
        f"the model classifies single texts but the data was read as text pairs: pass one --text_column "
        f"(the model was trained on {classifier.input_columns[0]!r})"
    )


# --- scores -------------------------------------------------------------------------------------------------------


def label_counts(truth: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """TP, FP, FN and TN per label, from 0/1 matrices (one column per label)."""
    truth, predicted = truth.astype(bool), predicted.astype(bool)
    return {
        "tp": (truth & predicted).sum(axis=0),
        "fp": (~truth & predicted).sum(axis=0),
        "fn": (truth & ~predicted).sum(axis=0),
        "tn": (~truth & ~predicted).sum(axis=0),
    }


def per_label_table(names: Sequence[str], counts: Mapping[str, np.ndarray]) -> list[dict]:
    """Precision, recall, F1 and support per label from its counts; 0 where undefined, as scikit-learn's
    ``zero_division=0`` (the task metrics' convention)."""
    tp, fp, fn = (counts[key].astype(np.float64) for key in ("tp", "fp", "fn"))
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    rows = []
    for index, name in enumerate(names):
        row = {
            "label": name,
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "f1": float(f1[index]),
            "support": int(tp[index] + fn[index]),
            **{key: int(values[index]) for key, values in counts.items()},
        }
        rows.append(row)
    return rows


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, size: int) -> np.ndarray:
    """Counts of (true class, predicted class)."""
    matrix = np.zeros((size, size), dtype=np.int64)
    np.add.at(matrix, (truth.astype(int), predicted.astype(int)), 1)
    return matrix


def task_metrics(task: Task, logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The task's own ``compute_metrics``, as the Trainer calls it on the test split (0.5 for multi-label)."""
    from transformers import EvalPrediction

    return dict(task.compute_metrics(EvalPrediction(predictions=logits, label_ids=labels)))


def single_label_scores(task: Task, names: list[str], logits: np.ndarray, labels: np.ndarray) -> dict:
    predicted = logits.argmax(axis=-1)
    matrix = confusion_matrix(labels, predicted, len(names))
    one_hot = np.eye(len(names), dtype=bool)
    counts = label_counts(one_hot[labels.astype(int)], one_hot[predicted])
    return {
        "metrics": {"argmax": task_metrics(task, logits, labels)},
        "per_label": {"argmax": per_label_table(names, counts)},
        "confusion": matrix.tolist(),
    }


def multi_label_scores_at(task: Task, classifier: TextClassifier, logits: np.ndarray, labels: np.ndarray) -> dict:
    """At 0.5 (the task's metrics, as training's test metrics) and at the saved thresholds (as training's
    ``test_metrics_tuned``, and as ``predict`` decides: a label is on where its score >= its threshold)."""
    names = list(classifier.labels)
    scores = classifier.scores(logits)
    thresholds = np.asarray(classifier.thresholds, dtype=np.float64)
    at_half, at_saved = scores >= 0.5, scores >= thresholds
    return {
        "metrics": {
            AT_HALF: task_metrics(task, logits, labels),
            AT_SAVED: multi_label_scores(labels, at_saved, names, scores),
        },
        "per_label": {
            AT_HALF: per_label_table(names, label_counts(labels, at_half)),
            AT_SAVED: per_label_table(names, label_counts(labels, at_saved)),
        },
        "thresholds": {name: float(value) for name, value in zip(names, thresholds, strict=True)},
        "thresholds_saved": bool(getattr(classifier.config, "thresholds", None)),
    }


def evaluate_model(
    model: str,
    source: Sequence[str] | LabelledSource,
    task_name: str | None = None,
    columns: Columns | None = None,
    batching: Batching | None = None,
) -> Evaluation:
    """Load the model, read every row of ``source`` (files, or a dataset's split) with its task's builder,
    classify, score.

    ``columns``: column options given now (``--task text``), on top of the ones training saved.
    """
    batching = batching or Batching()
    classifier = TextClassifier.load(model, precision=batching.precision, max_length=batching.max_length)
    task, saved = resolve_task(classifier, task_name, model)
    source = source if isinstance(source, LabelledSource) else LabelledSource(files=tuple(source))
    config = data_config(task, classifier, source, saved, columns or Columns())
    task, data = read_labelled(task, config, classifier)
    start = time.perf_counter()
    logits, truncated = classifier.logits(data.texts, text_pairs=data.pairs, **batching.classify_options())
    seconds = time.perf_counter() - start
    names = list(classifier.labels)
    if task.is_multi_label:
        scored = multi_label_scores_at(task, classifier, logits, data.labels)
    else:
        scored = single_label_scores(task, names, logits, data.labels)
    return Evaluation(
        model=model,
        task=task.name,
        problem_type=task.problem_type,
        data=source.names(),
        labels=names,
        rows=len(data.texts),
        truncated=int(truncated.sum()),
        max_length=classifier.max_length,
        backend=classifier.backend,
        seconds=seconds,
        logits=logits,
        label_ids=data.labels,
        **scored,
    )
