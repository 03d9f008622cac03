"""Fine-tune a text classifier for one task: the project's single Trainer entrypoint.

    accelerate launch train.py --task toxic --data_files train.csv --output_dir out/toxic
    accelerate launch --config_file accelerate_configs/cpu.yaml train.py recipes/news_minilm_cpu.yaml

Every ``TrainingArguments`` flag works here, on the command line or in a YAML/JSON recipe.
Adding a task never touches this file: tasks come from the registry in ``tasks/``.
"""

from __future__ import annotations

import logging
import sys

import transformers
from transformers import set_seed

from tasks import TaskError, get_task
from trainer_tasks.arguments import DataArguments, ModelArguments, TaskTrainingArguments
from trainer_tasks.checkpoints import resolve_checkpoint
from trainer_tasks.distillation import DistillationArguments
from trainer_tasks.epoch_table import EpochTableCallback
from trainer_tasks.parsing import parse_args
from trainer_tasks.predictions import evaluate_test
from trainer_tasks.preprocessing import limit_samples, make_collator, tokenize_splits
from trainer_tasks.publish import ModelCardCallback, push_output, write_model_card
from trainer_tasks.results import collect_results, write_results
from trainer_tasks.secrets import install_log_redaction, secret_values
from trainer_tasks.student import load_tokenizer_and_model
from trainer_tasks.thresholds import ThresholdArguments, tune_thresholds
from trainer_tasks.variants import build_trainer
from trainer_tasks.weighted_loss import LossArguments, loss_weight_results

logger = logging.getLogger("train")


def main(argv: list[str] | None = None) -> dict:
    """Train, evaluate on the test split, save the model, write ``results.json`` and the card, push if asked."""
    model_args, data_args, training_args, loss_args, threshold_args, distillation_args = parse_args(
        (
            ModelArguments,
            DataArguments,
            TaskTrainingArguments,
            LossArguments,
            ThresholdArguments,
            DistillationArguments,
        ),
        argv,
    )
    configure_logging(training_args)
    if data_args.task is None:
        raise TaskError("--task is required (e.g. --task news), on the command line or in the recipe")
    set_seed(training_args.seed)
    task = get_task(data_args.task)

    with training_args.main_process_first(desc="building the dataset"):
        raw = limit_samples(
            task.build_dataset(data_args.data_config(training_args.seed, model_args.cache_dir)), data_args
        )
    tokenizer, model = load_tokenizer_and_model(model_args, task, distillation_args)
    splits = tokenize_splits(raw, tokenizer, data_args)

    epoch_table = EpochTableCallback(task.primary_metric)
    trainer = build_trainer(
        task,
        raw["train"],
        loss_args,
        distillation_args,
        model=model,
        args=training_args,
        train_dataset=splits["train"],
        eval_dataset=splits["validation"],
        processing_class=tokenizer,
        data_collator=make_collator(tokenizer, data_args),
        compute_metrics=task.compute_metrics,
        callbacks=[epoch_table, ModelCardCallback(task, model_args, data_args, raw, epoch_table)],
    )
    train_output = trainer.train(resume_from_checkpoint=resolve_checkpoint(training_args))
    test_metrics, test_predictions = evaluate_test(trainer, splits["test"])
    # multi-label only: tuned on validation, saved into the config; test scored from its predictions
    threshold_results = tune_thresholds(trainer, splits, task, threshold_args, test_predictions)
    trainer.save_model()

    results = collect_results(task, model_args, data_args, training_args, raw, train_output, test_metrics, epoch_table)
    results |= loss_weight_results(trainer) | threshold_results
    if trainer.is_world_process_zero():
        print(write_results(training_args.output_dir, results))
    write_model_card(trainer, task, results)
    push_output(trainer)
    return results


def configure_logging(training_args: TaskTrainingArguments) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    level = training_args.get_process_log_level()
    logging.getLogger().setLevel(level)
    transformers.utils.logging.set_verbosity(level)
    install_log_redaction(secret_values(training_args))


def cli() -> None:
    """Entry for ``python train.py``: project errors print as one line, not a traceback."""
    try:
        main()
    except TaskError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    cli()
