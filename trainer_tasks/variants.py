"""Which Trainer a run uses: the one place where loss-changing variants are chosen.

Each variant is a Trainer subclass beside its own argument group (``weighted_loss.py``: class
weights); a new variant (distillation) adds its argument group and one branch here, and
``train.py`` keeps a single ``build_trainer`` call.
"""

from __future__ import annotations

from typing import Any

import datasets

from tasks import Task
from trainer_tasks.trainer import TaskTrainer
from trainer_tasks.weighted_loss import LossArguments, WeightedLossTrainer, compute_loss_weights


def build_trainer(task: Task, train_split: datasets.Dataset, loss_args: LossArguments, **kwargs: Any) -> TaskTrainer:
    """The Trainer for this run, built with the usual ``Trainer`` keyword arguments.

    ``train_split`` is the untokenized training split: weights are computed from its labels.
    """
    weights = compute_loss_weights(task, train_split, loss_args)
    if weights is not None:
        return WeightedLossTrainer(loss_weights=weights, **kwargs)
    return TaskTrainer(**kwargs)
