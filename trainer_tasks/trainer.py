"""``TaskTrainer``: the Trainer with the project's data conventions and fast path.

Kept deliberately small: methods that change the loss (class weights, distillation) subclass it
with a config dataclass beside them, as trl pairs its trainers and configs.
"""

from __future__ import annotations

import logging

import datasets
import torch
from torch.utils.data import SequentialSampler
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from trainer_tasks import speed

LENGTH_COLUMN = "length"
logger = logging.getLogger(__name__)


class TaskTrainer(Trainer):
    """A ``Trainer`` whose length grouping reads lengths without a Python loop, and whose
    ``predict`` keeps the order of its dataset.

    The stock samplers get datasets after unused columns were removed, so they re-read every
    example's ``input_ids`` to measure it: tens of seconds per epoch on 300k headlines, and again at
    every evaluation. With ``train_sampling_strategy="group_by_length"`` the stock ``predict`` also
    returns predictions in a shuffled, length-grouped order; here it returns them in dataset order.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if getattr(self.args, "cls_only_last_layer", False) and self.model is not None:
            applied = speed.cls_only_last_layer(self.model)
            logger.info(
                "[CLS]-only last layer: %s", "on" if applied else f"not supported by {type(self.model).__name__}"
            )

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

    def _get_eval_sampler(self, eval_dataset) -> torch.utils.data.Sampler | None:
        """Evaluation batches of similar length (metrics do not depend on order), lengths read from Arrow."""
        if (
            self.args.train_sampling_strategy == "group_by_length"
            and isinstance(eval_dataset, datasets.Dataset)
            and "input_ids" in eval_dataset.column_names
        ):
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return LengthGroupedSampler(
                self.args.eval_batch_size,
                lengths=speed.sequence_lengths(eval_dataset),
                generator=torch.Generator().manual_seed(seed),
            )
        return super()._get_eval_sampler(eval_dataset)

    def get_test_dataloader(self, test_dataset) -> torch.utils.data.DataLoader:
        """``predict`` batches in dataset order, so prediction i belongs to example i."""
        return self._get_dataloader(
            dataset=test_dataset,
            description="test",
            batch_size=self.args.eval_batch_size,
            sampler_fn=lambda dataset: SequentialSampler(dataset) if self.args.world_size <= 1 else None,
        )
