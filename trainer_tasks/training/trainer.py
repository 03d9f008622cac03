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

from trainer_tasks.fast_path import cls_only, mixed_precision
from trainer_tasks.fast_path.embedding_gradient import reuse_embedding_gradient
from trainer_tasks.fast_path.fast_dropout import use_fast_dropout
from trainer_tasks.hub.publish import HubPublishingMixin
from trainer_tasks.training import preprocessing

LENGTH_COLUMN = "length"
logger = logging.getLogger(__name__)


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped batches in an order drawn from ``(seed, epoch)`` instead of the global RNG.

    The stock sampler shuffles with the global torch RNG at the start of each epoch, whose state by
    then depends on every dropout mask drawn before. A run resumed mid-epoch cannot restore that
    state before the epoch's order is drawn, so it would replay other batches than the interrupted
    run and end with other weights. Seeding by epoch makes the order a function of the seed alone
    (as accelerate's seedable sampler does for random order), so resuming is exact.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths, generator=torch.Generator())
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator.manual_seed(self.seed + self.epoch)
        return super().__iter__()


class TaskTrainer(HubPublishingMixin, Trainer):
    """A ``Trainer`` whose length grouping reads the precomputed ``length`` column.

    Its Hub integration (endpoint, card, one final push) comes from ``trainer_tasks.hub.publish.HubPublishingMixin``.

    The stock sampler gets the dataset after unused columns were removed, so it re-reads every
    example's ``input_ids`` to measure it: tens of seconds per epoch on 300k headlines. Ours also
    draws each epoch's order from the seed, so an interrupted run resumes onto the same batches.

    Classification heads average their loss over the batch and ignore ``num_items_in_batch``, but
    their ``forward(**kwargs)`` makes the Trainer believe they normalise it themselves: it then
    multiplies the loss by the number of processes (a 2-process run trained on twice the loss, and
    clipped twice the gradient) and skips the division by gradient-accumulation steps. Declaring
    that the model does not take loss kwargs restores the plain mean.

    Evaluation batches are length-grouped too (lengths read from Arrow), and ``predict`` returns
    predictions in dataset order, so prediction i belongs to example i.

    The CPU fast path is switched on here from the arguments: [CLS]-only last layer
    (``trainer_tasks.fast_path.speed``), cheaper dropout masks (``trainer_tasks.fast_path.fast_dropout``) and a kept
    buffer for the word-embedding gradient (``trainer_tasks.fast_path.embedding_gradient``). Under
    mixed precision the pooler and head run in fp32 (``mixed_precision.fp32_head``), so scores keep their ranking.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False
        if (
            getattr(self.args, "cls_only_last_layer", False)
            and self.model is not None
            and not getattr(self, "needs_every_position", False)  # e.g. distillation's hidden-state loss
        ):
            applied = cls_only.cls_only_last_layer(self.model)
            logger.info(
                "[CLS]-only last layer: %s", "on" if applied else f"not supported by {type(self.model).__name__}"
            )
        if self.model is not None and (self.args.bf16 or self.args.fp16):
            logger.info(
                "fp32 head under mixed precision: %s", ", ".join(mixed_precision.fp32_head(self.model)) or "none found"
            )
        # CPU-only speed-ups. Under DeepSpeed or FSDP the model is still on the CPU here and moves to
        # the GPU later, so the training device decides, not where the weights are now.
        trains_on_cpu = self.args.device.type == "cpu"
        if getattr(self.args, "fast_dropout", False) and self.model is not None:
            applied = trains_on_cpu and use_fast_dropout(self.model)
            logger.info("fast dropout: %s", "on" if applied else "off (not training on the CPU)")
        if getattr(self.args, "reuse_embedding_gradient", False) and self.model is not None:
            applied = trains_on_cpu and reuse_embedding_gradient(self.model)
            logger.info(
                "kept word-embedding gradient buffer: %s",
                "on" if applied else "off (not training on the CPU, or not a plain nn.Embedding)",
            )

    def _get_train_sampler(self, train_dataset=None) -> torch.utils.data.Sampler | None:
        source = self.train_dataset
        if (
            self.args.train_sampling_strategy == "group_by_length"
            and isinstance(source, datasets.Dataset)
            and LENGTH_COLUMN in source.column_names
        ):
            self._length_sampler = EpochSeededLengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps,
                lengths=source[LENGTH_COLUMN],
                seed=self.args.data_seed if self.args.data_seed is not None else self.args.seed,
            )
            return self._length_sampler
        return super()._get_train_sampler(train_dataset)

    def _run_epoch(self, *args, **kwargs):
        # accelerate forwards set_epoch to the sampler except in the dataloader that skips the
        # batches already trained when resuming under DDP (SkipBatchSampler around BatchSamplerShard),
        # where the sampler would replay epoch 0's order: tell it the epoch directly.
        sampler = getattr(self, "_length_sampler", None)
        if sampler is not None and "epoch" in kwargs:
            sampler.set_epoch(kwargs["epoch"])
        return super()._run_epoch(*args, **kwargs)

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
                lengths=preprocessing.sequence_lengths(eval_dataset),
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
