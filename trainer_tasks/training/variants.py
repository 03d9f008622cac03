"""Which trainer a run uses, in one function: the task trainer, or distillation; the task loss as a value.

trl pairs each trainer with its config dataclass: ``TaskTrainer`` with ``TaskTrainingArguments``,
``DistillationTrainer`` with ``DistillationArguments``. A loss that changes the task term (class or
label weights, ``LossArguments``) is not a third trainer: it is a ``WeightedLoss`` value the
trainer holds, so it combines with distillation without a class built at run time.
"""

from __future__ import annotations

from typing import Any

import datasets

from tasks import Task
from trainer_tasks.training.distillation import DistillationArguments, DistillationTrainer
from trainer_tasks.training.trainer import TaskTrainer
from trainer_tasks.training.weighted_loss import LossArguments, WeightedLoss, compute_loss_weights


def build_trainer(
    task: Task,
    train_split: datasets.Dataset,
    loss_args: LossArguments,
    distillation_args: DistillationArguments,
    **kwargs: Any,
) -> TaskTrainer:
    """The trainer for this run, built with the usual ``Trainer`` keyword arguments.

    ``train_split`` is the untokenized training split: automatic weights are computed from its
    labels. With ``--teacher``, distillation adds its terms to the (weighted or plain) task loss.
    """
    weights = compute_loss_weights(task, train_split, loss_args)
    task_loss = WeightedLoss(weights) if weights is not None else None
    if distillation_args.teacher is not None:
        return DistillationTrainer(task_loss=task_loss, distillation_args=distillation_args, **kwargs)
    return TaskTrainer(task_loss=task_loss, **kwargs)
