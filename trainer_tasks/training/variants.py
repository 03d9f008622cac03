"""Which Trainer a run uses: the one place where loss-changing variants are chosen.

Each variant is a Trainer subclass beside its own argument group (``weighted_loss.py``: class
weights); a new variant (distillation) adds its argument group and one branch here, and
``train.py`` keeps a single ``build_trainer`` call.
"""

from __future__ import annotations

from typing import Any

import datasets

from tasks import Task
from trainer_tasks.training.distillation import DistillationArguments, select_trainer
from trainer_tasks.training.trainer import TaskTrainer
from trainer_tasks.training.weighted_loss import LossArguments, WeightedLossTrainer, compute_loss_weights


def build_trainer(
    task: Task,
    train_split: datasets.Dataset,
    loss_args: LossArguments,
    distillation_args: DistillationArguments,
    **kwargs: Any,
) -> TaskTrainer:
    """The Trainer for this run, built with the usual ``Trainer`` keyword arguments.

    ``train_split`` is the untokenized training split: weights are computed from its labels. With
    ``--teacher``, distillation is stacked on the (weighted or plain) task loss.
    """
    weights = compute_loss_weights(task, train_split, loss_args)
    if weights is not None:
        kwargs["loss_weights"] = weights
    base = WeightedLossTrainer if weights is not None else TaskTrainer
    return select_trainer(distillation_args, base=base)(**kwargs)
