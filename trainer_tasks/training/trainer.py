"""``TaskTrainer``: the Trainer with the project's data conventions and fast path.

Kept deliberately small: methods that change the loss (class weights, distillation) subclass it
with a config dataclass beside them, as trl pairs its trainers and configs.
"""

from __future__ import annotations

import logging

import datasets
import torch
from torch.utils.data import SequentialSampler
from transformers import Trainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler

from trainer_tasks.core.boundary import raise_if_interrupted
from trainer_tasks.hub.publish import HubPublishingMixin
from trainer_tasks.training import preprocessing
from trainer_tasks.training.weighted_loss import TaskLoss

LENGTH_COLUMN = "length"
logger = logging.getLogger(__name__)


class StopWhenInterrupted(TrainerCallback):
    """Ends training at the next step after Ctrl-C/SIGTERM whose exception was swallowed (raised inside a
    ``__del__`` or GC callback, which Python prints and drops): a stopped job must not train on unseen."""

    def on_step_end(self, args, state, control, **kwargs):
        raise_if_interrupted()

    def on_evaluate(self, args, state, control, **kwargs):
        raise_if_interrupted()


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

    A loss that replaces the model's own (class or label weights) is a value the trainer holds,
    ``task_loss``, not a subclass; the CPU fast path is applied to the model before the trainer is
    built, in one visible place (``trainer_tasks.fast_path.prepare``).
    """

    # Every loss here is a per-batch mean: the Trainer divides it by the gradient-accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(self, *args, task_loss: TaskLoss | None = None, ordered_evaluation: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_callback(StopWhenInterrupted())
        self.model_accepts_loss_kwargs = False
        self.task_loss = task_loss
        # --long_text chunk: metrics aggregate windows per text by position, so evaluation keeps dataset order
        self.ordered_evaluation = ordered_evaluation

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's own loss, or ``task_loss`` (e.g. class weights) on its logits when one is held."""
        if self.task_loss is None:
            return super().compute_loss(model, inputs, return_outputs=return_outputs)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = self.task_loss(outputs.logits, labels)
        return (loss, outputs) if return_outputs else loss

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
            and not self.ordered_evaluation
            and isinstance(eval_dataset, datasets.Dataset)
            and "input_ids" in eval_dataset.column_names
        ):
            seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
            return LengthGroupedSampler(
                self.args.eval_batch_size,
                lengths=preprocessing.sequence_lengths(eval_dataset),
                generator=torch.Generator().manual_seed(seed),
            )
        if self.ordered_evaluation:  # the base class would group by length too: keep dataset order
            return torch.utils.data.SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None
        return super()._get_eval_sampler(eval_dataset)

    def get_test_dataloader(self, test_dataset) -> torch.utils.data.DataLoader:
        """``predict`` batches in dataset order, so prediction i belongs to example i."""
        return self._get_dataloader(
            dataset=test_dataset,
            description="test",
            batch_size=self.args.eval_batch_size,
            sampler_fn=lambda dataset: SequentialSampler(dataset) if self.args.world_size <= 1 else None,
        )
