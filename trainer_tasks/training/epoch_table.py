"""The thesis's per-epoch table: train loss, validation loss and metric, and the times of each.

Collected by a callback, because the Trainer only keeps a flat log history: one row per epoch
needs the train loss averaged over exactly that epoch and the wall-clock time of its two phases.

The table survives an interrupted run: it rides along in every checkpoint's ``trainer_state.json``
(under ``STATE_KEY``) and is picked up again when the run resumes, so the finished table has every
epoch. The loss of steps between the last log and the checkpoint is lost with the process (the
Trainer drops it too); checkpoint on logging steps to keep the resumed table exact.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

STATE_KEY = "epoch_table"


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
        self._resumed_mid_epoch = False

    def on_train_begin(self, args, state: TrainerState, control: TrainerControl, **kwargs):
        self._run_start = time.perf_counter()
        self._last_logged_step = state.global_step
        saved = state.stateful_callbacks.get(STATE_KEY) if state.global_step else None
        if saved and not self.rows:
            self._restore(saved, state)

    def on_epoch_begin(self, args, state: TrainerState, control: TrainerControl, **kwargs):
        if self._resumed_mid_epoch:  # the epoch started before the interruption: keep what it logged
            self._resumed_mid_epoch = False
            return
        self._epoch_start = time.perf_counter()
        self._losses = []

    def on_step_end(self, args, state: TrainerState, control: TrainerControl, **kwargs):
        self._export(state)

    def _export(self, state: TrainerState) -> None:
        """Keep the table in the state the Trainer writes into each checkpoint's trainer_state.json.

        A plain key rather than ``ExportableState``: the Trainer restores those by replacing the
        callback object, and ``train.py`` holds this one.
        """
        now = time.perf_counter()
        state.stateful_callbacks[STATE_KEY] = {
            "rows": self.as_dicts(),
            "losses": [list(pair) for pair in self._losses],
            "epoch_elapsed": now - self._epoch_start,
            "run_elapsed": now - (self._run_start or now),
        }

    def _restore(self, saved: dict, state: TrainerState) -> None:
        now = time.perf_counter()
        self.rows = [EpochRow(**row) for row in saved.get("rows", [])]
        self._losses = [(float(loss), int(steps)) for loss, steps in saved.get("losses", [])]
        self._epoch_start = now - float(saved.get("epoch_elapsed", 0.0))
        self._run_start = now - float(saved.get("run_elapsed", 0.0))
        epochs_done = int(state.epoch or 0)
        self._resumed_mid_epoch = (state.epoch or 0) > epochs_done
        if not self._resumed_mid_epoch and len(self.rows) < epochs_done:
            # Saved on an epoch's last step before the epoch ended: the Trainer resumes with the
            # next epoch and never ends this one, so close its row here (without validation).
            elapsed, total = float(saved.get("epoch_elapsed", 0.0)), float(saved.get("run_elapsed", 0.0))
            self.rows.append(EpochRow(epochs_done, float("nan"), None, None, elapsed, 0.0, total))
            self._finish_epoch()
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
        self._export(state)
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
        self._export(state)

    def on_evaluate(self, args, state: TrainerState, control: TrainerControl, metrics=None, **kwargs):
        if not self.rows or not metrics or self.rows[-1].val_loss is not None:
            return
        row = self.rows[-1]
        row.val_loss = metrics.get("eval_loss")
        row.val_metric = metrics.get(f"eval_{self.metric_name}")
        row.val_time = float(metrics.get("eval_runtime", 0.0))
        row.total_time = time.perf_counter() - (self._run_start or 0.0)
        self._export(state)

    def as_dicts(self) -> list[dict]:
        return [asdict(row) for row in self.rows]
