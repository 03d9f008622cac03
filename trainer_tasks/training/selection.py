"""Which weights a run keeps: the best evaluation by the task's own metric, and when to stop trying.

With per-epoch (or per-steps) evaluation the saved model is the best one by ``eval_<primary
metric>`` unless the user says otherwise (``--metric_for_best_model``, ``--greater_is_better``).
transformers' ``load_best_model_at_end`` does that only through checkpoints on disk whose schedule
matches the evaluations; this project's default keeps the best weights in memory instead
(``KeepBestModel``), so it works with ``--save_strategy no`` (the CPU recipes) as well. A user who
sets ``--load_best_model_at_end`` gets transformers' own mechanism unchanged.

``--early_stopping_patience N`` stops after N evaluations without improvement (transformers'
``EarlyStoppingCallback``). Which evaluation was kept, and whether training stopped early, go into
``results.json``, the per-epoch table and the card.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

from transformers import EarlyStoppingCallback, TrainerCallback

from tasks import Task, TaskError
from trainer_tasks.core.output_files import KEPT_STATE_FILE, KEPT_WEIGHTS_FILE, checkpoint_folder

logger = logging.getLogger(__name__)


@dataclass
class SelectionArguments:
    """Which evaluation's weights are kept, and early stopping."""

    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "help": "Stop after this many evaluations in a row without improvement of --metric_for_best_model "
            "(default: the task's primary metric). Off by default."
        },
    )
    early_stopping_threshold: float = field(
        default=0.0,
        metadata={"help": "How much the metric must improve to count as an improvement (with the patience)."},
    )
    keep_best_model: bool = field(
        default=True,
        metadata={
            "help": "Keep the weights of the best evaluation (by --metric_for_best_model, default the task's primary "
            "metric), held in memory, whatever --save_strategy. Off: the last step's weights."
        },
    )

    def __post_init__(self) -> None:
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise TaskError(f"--early_stopping_patience must be 1 or more, got {self.early_stopping_patience}")
        if not math.isfinite(self.early_stopping_threshold) or self.early_stopping_threshold < 0:
            raise TaskError(f"--early_stopping_threshold must be 0 or more, got {self.early_stopping_threshold}")


def metric_key(name: str) -> str:
    return name if name.startswith("eval_") else f"eval_{name}"


class KeepBestModel(TrainerCallback):
    """Holds a CPU copy of the weights at the best evaluation and puts them back when training ends.

    Every process of a distributed run sees the same gathered metrics, so every process keeps the
    same evaluation's weights. Each checkpoint gets a copy of them (``KEPT_WEIGHTS_FILE``, written by
    the first process) and ``resume_from`` reads it back: an interrupted run that is resumed keeps the
    best of all its evaluations, not only of those after the resume.
    """

    def __init__(self, metric: str, greater_is_better: bool) -> None:
        self.metric = metric_key(metric)
        self.greater_is_better = greater_is_better
        self.best_value: float | None = None
        self.best_state: dict[str, Any] | None = None
        self.kept: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None

    def on_save(self, args, state, control, **kwargs):
        if self.best_state is None or not state.is_world_process_zero:
            return
        from safetensors.torch import save_file

        from trainer_tasks.core.files import write_json_atomic

        folder = checkpoint_folder(args.output_dir, state.global_step)
        if not os.path.isdir(folder):
            return
        # the weights first, the record of them last: a kill in between leaves no record, and nothing is resumed
        # the copies made in on_evaluate share no memory (safetensors refuses aliases); contiguous is a no-op for most
        save_file({name: tensor.contiguous() for name, tensor in self.best_state.items()},
                  os.path.join(folder, KEPT_WEIGHTS_FILE))  # fmt: skip
        write_json_atomic(
            os.path.join(folder, KEPT_STATE_FILE),
            {"metric": self.metric, "best_value": self.best_value, "kept": self.kept, "last": self.last},
        )

    def resume_from(self, checkpoint: str) -> None:
        """The best evaluation before ``checkpoint`` and its weights, when the checkpoint holds them."""
        state_file = os.path.join(checkpoint, KEPT_STATE_FILE)
        weights_file = os.path.join(checkpoint, KEPT_WEIGHTS_FILE)
        if not (os.path.isfile(state_file) and os.path.isfile(weights_file)):
            return
        import json

        from safetensors.torch import load_file

        with open(state_file, encoding="utf-8") as handle:
            saved = json.load(handle)
        if saved.get("metric") != self.metric:  # another metric now: the earlier best is not comparable
            logger.info("the checkpoint's kept weights are the best by %s, not %s: not used", saved.get("metric"),
                        self.metric)  # fmt: skip
            return
        self.best_value, self.kept, self.last = saved["best_value"], saved["kept"], saved["last"]
        self.best_state = load_file(weights_file)
        logger.info(
            "resumed with the best evaluation so far: epoch %s (step %d), %s %.4f",
            _epoch(self.kept["epoch"]), self.kept["step"], self.metric, self.best_value,
        )  # fmt: skip

    def better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.greater_is_better else value < self.best_value

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        value = (metrics or {}).get(self.metric)
        if value is None or model is None:
            return
        place = {"epoch": round(float(state.epoch or 0), 4), "step": int(state.global_step), "value": float(value)}
        self.last = place
        if self.better(float(value)):
            self.best_value = float(value)
            self.best_state = {
                name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()
            }
            self.kept = place

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.best_state is None or model is None or self.kept == self.last:
            return
        model.load_state_dict(self.best_state)
        logger.info(
            "kept the weights of epoch %s (step %d): %s %.4f, the best evaluation (the last: %.4f)",
            _epoch(self.kept["epoch"]),
            self.kept["step"],
            self.metric,
            self.kept["value"],
            self.last["value"] if self.last else float("nan"),
        )
        self.best_state = None  # the memory goes back once the weights are in place


class QuietEarlyStopping(EarlyStoppingCallback):
    """transformers' early stopping, without its warning that the best model is not loaded: here it is
    (``KeepBestModel``), or the user chose the last weights knowingly."""

    def __init__(self, patience: int, threshold: float) -> None:
        super().__init__(early_stopping_patience=patience, early_stopping_threshold=threshold)
        self.stopped_at: dict[str, Any] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        pass

    def on_evaluate(self, args, state, control, metrics, **kwargs):
        super().on_evaluate(args, state, control, metrics, **kwargs)
        if control.should_training_stop and self.stopped_at is None:
            self.stopped_at = {"epoch": round(float(state.epoch or 0), 4), "step": int(state.global_step)}
            logger.info(
                "early stopping: %s has not improved for %d evaluation(s); training stops at epoch %s (step %d)",
                metric_key(args.metric_for_best_model),
                self.early_stopping_patience,
                _epoch(self.stopped_at["epoch"]),
                self.stopped_at["step"],
            )


def _epoch(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


@dataclass
class ModelSelection:
    """The callbacks that choose the kept weights, and what to record about the choice afterwards."""

    metric: str | None
    how: str  # "best (in memory)", "best (load_best_model_at_end)" or "last"
    keep_best: KeepBestModel | None = None
    early_stopping: QuietEarlyStopping | None = None

    def resume_from(self, checkpoint: str) -> None:
        if self.keep_best is not None:
            self.keep_best.resume_from(checkpoint)

    @property
    def callbacks(self) -> list[TrainerCallback]:
        return [callback for callback in (self.keep_best, self.early_stopping) if callback is not None]

    def results(self, trainer) -> dict[str, Any]:
        """``kept_model`` and ``early_stopping`` for ``results.json`` (and through it, the epoch table and card)."""
        state = trainer.state
        kept: dict[str, Any] = {"how": self.how, "metric": self.metric}
        if self.keep_best is not None and self.keep_best.kept is not None:
            kept |= self.keep_best.kept
        elif self.how.startswith("best") and state.best_metric is not None:
            step = _checkpoint_step(state.best_model_checkpoint)
            kept |= {"value": float(state.best_metric), "step": step, "epoch": _epoch_of_step(state, step)}
        else:
            kept |= {"step": int(state.global_step), "epoch": round(float(state.epoch or 0), 4)}
        stopping = None
        if self.early_stopping is not None:
            stopping = {
                "patience": self.early_stopping.early_stopping_patience,
                "threshold": self.early_stopping.early_stopping_threshold,
                "stopped": self.early_stopping.stopped_at is not None,
                **(self.early_stopping.stopped_at or {}),
            }
        return {"kept_model": kept, "early_stopping": stopping}


def _checkpoint_step(folder: str | None) -> int | None:
    if not folder:
        return None
    tail = folder.rstrip("/").rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _epoch_of_step(state, step: int | None) -> float | None:
    for entry in state.log_history:
        if step is not None and entry.get("step") == step and "epoch" in entry:
            return round(float(entry["epoch"]), 4)
    return None


def sharding(training_args) -> str | None:
    """FSDP or DeepSpeed, from the Trainer options or from ``accelerate launch``'s environment, else None."""
    if getattr(training_args, "fsdp", None) or os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "FSDP"
    if getattr(training_args, "deepspeed", None) or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return "DeepSpeed"
    return None


def choose_model_selection(training_args, task: Task, selection: SelectionArguments) -> ModelSelection:
    """``train.py`` step: decide how the kept weights are chosen, before the Trainer is built.

    Sets ``metric_for_best_model`` to the task's primary metric when the user did not name one, so
    that transformers tracks the best value (early stopping reads it) and reports agree on one metric.
    """
    evaluating = str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy)) != "no"
    if not evaluating:
        if selection.early_stopping_patience is not None:
            raise TaskError(
                "--early_stopping_patience needs evaluations to compare: pass --eval_strategy epoch (or steps)"
            )
        return ModelSelection(metric=None, how="last")
    if training_args.metric_for_best_model is None:
        training_args.metric_for_best_model = task.primary_metric
    if training_args.greater_is_better is None:
        training_args.greater_is_better = not training_args.metric_for_best_model.endswith("loss")
    metric = metric_key(training_args.metric_for_best_model)
    stopping = None
    if selection.early_stopping_patience is not None:
        stopping = QuietEarlyStopping(selection.early_stopping_patience, selection.early_stopping_threshold)
    if training_args.load_best_model_at_end:
        return ModelSelection(metric=metric, how="best (load_best_model_at_end)", early_stopping=stopping)
    if not selection.keep_best_model:
        return ModelSelection(metric=metric, how="last", early_stopping=stopping)
    sharded = sharding(training_args)
    if sharded:
        logger.warning(
            "keeping the last weights: the in-memory copy of the best evaluation is not made under %s (its weights "
            "are sharded); pass --load_best_model_at_end with a matching --save_strategy to keep the best",
            sharded,
        )
        return ModelSelection(metric=metric, how=f"last ({sharded})", early_stopping=stopping)
    keep = KeepBestModel(metric, bool(training_args.greater_is_better))
    return ModelSelection(metric=metric, how="best (in memory)", keep_best=keep, early_stopping=stopping)
