"""The thesis's per-epoch table: train loss, validation loss and metric, and the times of each.

Collected by a callback, because the Trainer only keeps a flat log history: one row per epoch
needs the train loss averaged over exactly that epoch and the wall-clock time of its two phases.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


@dataclass
class EpochRow:
    epoch: int
    train_loss: float
    val_loss: float | None
    val_metric: float | None
    train_time: float
    val_time: float
    total_time: float


class EpochTableCallback(TrainerCallback):
    """Builds one ``EpochRow`` per epoch; read ``rows`` after training."""

    def __init__(self, metric_name: str) -> None:
        self.metric_name = metric_name
        self.rows: list[EpochRow] = []
        self._losses: list[tuple[float, int]] = []  # (mean loss, steps it covers) logged this epoch
        self._last_logged_step = 0
        self._epoch_start = 0.0
        self._run_start: float | None = None
        self._epoch_ended = False

    def on_train_begin(self, args, state: TrainerState, control: TrainerControl, **kwargs):
        self._run_start = time.perf_counter()
        self._last_logged_step = state.global_step

    def on_epoch_begin(self, args, state: TrainerState, control: TrainerControl, **kwargs):
        self._epoch_start = time.perf_counter()
        self._losses = []

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        # Force a loss log at the epoch boundary so the epoch's mean loss is exact.
        control.should_log = True
        self._epoch_ended = True
        self.rows.append(
            EpochRow(
                epoch=len(self.rows) + 1,
                train_loss=float("nan"),
                val_loss=None,
                val_metric=None,
                train_time=time.perf_counter() - self._epoch_start,
                val_time=0.0,
                total_time=time.perf_counter() - (self._run_start or 0.0),
            )
        )
        if self._last_logged_step == state.global_step:
            self._finish_epoch()  # the epoch's last step was just logged: nothing more will come
        return control

    def _finish_epoch(self) -> None:
        self._epoch_ended = False
        total = sum(steps for _, steps in self._losses)
        if total:
            self.rows[-1].train_loss = sum(loss * steps for loss, steps in self._losses) / total

    def on_log(self, args, state: TrainerState, control: TrainerControl, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return
        steps = state.global_step - self._last_logged_step
        self._last_logged_step = state.global_step
        if steps > 0:
            self._losses.append((float(logs["loss"]), steps))
        if self._epoch_ended and self.rows:
            self._finish_epoch()

    def on_evaluate(self, args, state: TrainerState, control: TrainerControl, metrics=None, **kwargs):
        if not self.rows or not metrics or self.rows[-1].val_loss is not None:
            return
        row = self.rows[-1]
        row.val_loss = metrics.get("eval_loss")
        row.val_metric = metrics.get(f"eval_{self.metric_name}")
        row.val_time = float(metrics.get("eval_runtime", 0.0))
        row.total_time = time.perf_counter() - (self._run_start or 0.0)

    def as_dicts(self) -> list[dict]:
        return [asdict(row) for row in self.rows]
