"""``TaskTrainer``: the Trainer with the project's data conventions.

Kept deliberately small: methods that change the loss (class weights, distillation) subclass it
with a config dataclass beside them, as trl pairs its trainers and configs.
"""

from __future__ import annotations

import datasets
import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from trainer_tasks.publish import HubPublishingMixin

LENGTH_COLUMN = "length"


class TaskTrainer(HubPublishingMixin, Trainer):
    """A ``Trainer`` whose length grouping reads the precomputed ``length`` column.

    Its Hub integration (endpoint, card, one final push) comes from ``trainer_tasks.publish.HubPublishingMixin``.

    The stock sampler gets the dataset after unused columns were removed, so it re-reads every
    example's ``input_ids`` to measure it: tens of seconds per epoch on 300k headlines.

    Classification heads average their loss over the batch and ignore ``num_items_in_batch``, but
    their ``forward(**kwargs)`` makes the Trainer believe they normalise it themselves: it then
    multiplies the loss by the number of processes (a 2-process run trained on twice the loss, and
    clipped twice the gradient) and skips the division by gradient-accumulation steps. Declaring
    that the model does not take loss kwargs restores the plain mean.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False

    def _get_train_sampler(self, train_dataset=None) -> torch.utils.data.Sampler | None:
        source = self.train_dataset
        if (
            self.args.train_sampling_strategy == "group_by_length"
            and isinstance(source, datasets.Dataset)
            and LENGTH_COLUMN in source.column_names
        ):
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps,
                lengths=source[LENGTH_COLUMN],
            )
        return super()._get_train_sampler(train_dataset)
