"""Reading a finished run's files back (``results.json``, ``trainer_state.json``, ``distillation.json``).

``compare`` and ``card`` read what ``train.py`` wrote at the end of a run. A run that was killed,
a copy cut short, or a hand-edited file leaves them missing, truncated, not JSON, or without the
keys the report needs; each of those is a one-line ``TaskError`` naming the file and saying that
the run may not have finished, instead of a ``KeyError`` deep inside the report. The shapes below
list only what the readers use: extra keys (newer runs, tuned thresholds) are always accepted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from tasks import TaskError
from trainer_tasks.core.output_files import STATE_FILE
from trainer_tasks.record.results import RESULTS_FILE
from trainer_tasks.record.run_record import DATA_SOURCE_FIELDS, RunRecord

FINISHED_RUN_ADVICE = (
    "the run may not have finished (or the file was cut short): train it again, or pass the folder of a finished run"
)


@dataclass(frozen=True)
class ListOf:
    """A JSON list whose every item has the shape ``item``."""

    item: Any


@dataclass(frozen=True)
class MapOf:
    """A JSON object with any keys, whose every value has the shape ``value``."""

    value: Any


@dataclass(frozen=True)
class OrNull:
    """``shape`` or JSON ``null``."""

    shape: Any


NUMBER = "number"  # int or float (NaN included: train.py writes NaN losses), never a bool

EPOCH_SHAPE = {
    "epoch": NUMBER,
    "train_loss": OrNull(NUMBER),
    "val_loss": OrNull(NUMBER),
    "val_metric": OrNull(NUMBER),
    "train_time": NUMBER,
    "val_time": NUMBER,
    "total_time": NUMBER,
}
# What ``collect_results`` writes and ``compare`` / ``card`` read; keys ending in "?" may be absent.
RESULTS_SHAPE = {
    "task": str,
    "problem_type": str,
    "labels": ListOf(str),
    "primary_metric": str,
    "model_name_or_path": str,
    "data": {
        "split": str,
        "split_seed?": OrNull(int),
        "data_files?": OrNull(ListOf(str)),
        "dataset_name?": OrNull(str),
        "train_size": int,
        "validation_size": int,
        "test_size": int,
        **{f"{name}?": OrNull(str) for name in DATA_SOURCE_FIELDS},
        "task_options?": OrNull(dict),
        "duplicates?": OrNull(MapOf(int)),
        "duplicates_dropped?": OrNull(bool),
        "label_counts?": OrNull(MapOf(MapOf(int))),
    },
    "training": {
        "learning_rate": NUMBER,
        "per_device_train_batch_size": int,
        "gradient_accumulation_steps?": int,
        "num_train_epochs": NUMBER,
        "seed": int,
        "global_steps": int,
        "train_runtime?": OrNull(NUMBER),
    },
    "world_size?": OrNull(int),
    "epochs": ListOf(EPOCH_SHAPE),
    "test_metrics": MapOf(NUMBER),
    "test_intervals?": OrNull(
        {"method": str, "resamples": int, "seed": int, "confidence": NUMBER, "metrics": MapOf(ListOf(NUMBER))}
    ),
    "thresholds?": OrNull(MapOf(NUMBER)),
    "hardware?": OrNull(dict),
    "command?": str,
    "hub?": OrNull(
        {"model_id?": OrNull(str), "endpoint?": OrNull(str), "private?": OrNull(bool), "revision?": OrNull(str)}
    ),
}
# The rows the training-curve plot reads; rows without these keys (e.g. eval logs) are skipped by it.
STATE_SHAPE = {"log_history?": ListOf({"epoch?": NUMBER, "loss?": NUMBER, "loss_task?": NUMBER})}
DISTILLATION_SHAPE = {
    "teacher": str,
    "alpha_task": NUMBER,
    "alpha_soft": NUMBER,
    "alpha_cos": NUMBER,
    "cosine_layers": str,
    "temperature": NUMBER,
}


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def shape_problem(value: Any, shape: Any, where: str = "") -> str | None:
    """The first place where ``value`` (parsed JSON) does not have ``shape``, as words; None when it does.

    Why not a schema library: the project has none, and the message must name the key a person
    would look for (``data.test_size``), not a path in a schema.
    """
    at = where or "the top level"
    if isinstance(shape, OrNull):
        return None if value is None else shape_problem(value, shape.shape, where)
    if shape == NUMBER:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"{at} must be a number, found {_type_name(value)}"
    if isinstance(shape, type):
        ok = isinstance(value, shape) and (shape is bool or not isinstance(value, bool))
        return None if ok else f"{at} must be {_type_name(shape())}, found {_type_name(value)}"
    if isinstance(shape, ListOf):
        if not isinstance(value, list):
            return f"{at} must be a list, found {_type_name(value)}"
        for index, item in enumerate(value):
            problem = shape_problem(item, shape.item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if not isinstance(value, dict):
        return f"{at} must be an object, found {_type_name(value)}"
    if isinstance(shape, MapOf):
        for key, item in value.items():
            problem = shape_problem(item, shape.value, f"{where}.{key}" if where else key)
            if problem:
                return problem
        return None
    for spec, item_shape in shape.items():
        key = spec.removesuffix("?")
        name = f"{where}.{key}" if where else key
        if key not in value:
            if spec.endswith("?"):
                continue
            return f"{name} is missing"
        problem = shape_problem(value[key], item_shape, name)
        if problem:
            return problem
    return None


def read_json_file(path: str, shape: Any, advice: str) -> Any:
    """``path`` parsed and checked against ``shape``; any failure is one line naming the file, ending in ``advice``."""
    if os.path.isdir(path):
        raise TaskError(f"{path} is a folder, not a JSON file; {advice}")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        raise TaskError(f"{path}: not UTF-8 text ({error.reason}); {advice}") from None
    except OSError as error:
        raise TaskError(f"{path}: cannot read the file ({error.strerror or error}); {advice}") from None
    if not text.strip():
        raise TaskError(f"{path}: the file is empty; {advice}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise TaskError(
            f"{path}: not valid JSON ({error.msg}: line {error.lineno} column {error.colno}); {advice}"
        ) from None
    except RecursionError:  # nested thousands of levels deep: not a file train.py writes
        raise TaskError(f"{path}: not valid JSON (nested too deeply); {advice}") from None
    problem = shape_problem(value, shape)
    if problem:
        raise TaskError(f"{path}: {problem}; {advice}")
    return value


def check_run_folder(folder: str, what: str) -> None:
    """A run folder must exist and be a folder; say so before looking for files inside it."""
    if not os.path.exists(folder):
        raise TaskError(f"{what}: no such folder {folder}; pass the output folder of a finished train.py run")
    if not os.path.isdir(folder):
        raise TaskError(f"{what}: {folder} is a file; pass the output folder of a finished train.py run")


def read_results_file(folder: str) -> RunRecord:
    """A finished run's ``results.json`` as its typed record, checked to hold everything reports and cards read."""
    results = read_json_file(os.path.join(folder, RESULTS_FILE), RESULTS_SHAPE, FINISHED_RUN_ADVICE)
    if not results["labels"]:
        raise TaskError(f"{os.path.join(folder, RESULTS_FILE)}: labels is empty; {FINISHED_RUN_ADVICE}")
    return RunRecord.from_dict(results)


def read_log_history(folder: str) -> list[dict]:
    """The step-by-step log of ``trainer_state.json`` for the training curves; [] when the run wrote none."""
    path = os.path.join(folder, STATE_FILE)
    if not os.path.lexists(path):
        return []
    return read_json_file(path, STATE_SHAPE, FINISHED_RUN_ADVICE).get("log_history", [])


def read_distillation_file(path: str) -> dict | None:
    """A distilled run's ``distillation.json`` (teacher and settings), or None for a run without one."""
    if not os.path.lexists(path):
        return None
    return read_json_file(path, DISTILLATION_SHAPE, FINISHED_RUN_ADVICE)
