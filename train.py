"""Fine-tune a text classifier for one task: the project's single Trainer entrypoint.

    accelerate launch train.py --task toxic --data_files train.csv --output_dir out/toxic
    accelerate launch --config_file accelerate_configs/cpu.yaml train.py recipes/news_minilm_cpu.yaml

Every ``TrainingArguments`` flag works here, on the command line or in a YAML/JSON recipe.
Adding a task never touches this file: tasks come from the registry in ``tasks/``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict

from trainer_tasks.training.help_cache import print_kept_help

if __name__ == "__main__":  # a bare --help, answered before the imports below (seconds: they import torch)
    print_kept_help(sys.argv[1:], __file__)  # prints the kept help and exits, when it is kept and current

import transformers
from transformers import set_seed

from tasks import TaskError, get_task
from trainer_tasks.core.boundary import run_entry_point
from trainer_tasks.core.saved_model import model_token_limit
from trainer_tasks.core.secrets import check_no_secrets, install_log_redaction, secret_values
from trainer_tasks.fast_path.mixed_precision import precision_warnings
from trainer_tasks.fast_path.prepare import prepare_for_training
from trainer_tasks.hub.publish import ModelCardCallback, push_output, write_model_card
from trainer_tasks.record.intervals import test_intervals
from trainer_tasks.record.results import collect_results, write_results
from trainer_tasks.training.arguments import DataArguments, ModelArguments, TaskTrainingArguments
from trainer_tasks.training.checkpoints import interruption_advice, resolve_checkpoint
from trainer_tasks.training.degenerate import (
    RunWarnings,
    check_label_coverage,
    check_losses,
    check_options_for_task,
    check_sequence_length,
    check_truncation,
)
from trainer_tasks.training.distillation import DistillationArguments
from trainer_tasks.training.epoch_table import EpochTableCallback
from trainer_tasks.training.label_counts import report_label_counts
from trainer_tasks.training.long_text import split_off_windows
from trainer_tasks.training.output_folder import RunIdentity, check_checkpoint_fits, claim_output_dir
from trainer_tasks.training.overlap import report_duplicates
from trainer_tasks.training.parsing import parse_args
from trainer_tasks.training.preprocessing import (
    limit_samples,
    make_collator,
    max_length,
    token_counts,
    tokenize_splits,
)
from trainer_tasks.training.search import SearchArguments, check_search, refuse_multi_process_search, run_search
from trainer_tasks.training.selection import SelectionArguments, choose_model_selection
from trainer_tasks.training.split_predictions import evaluate_test
from trainer_tasks.training.student import load_tokenizer_and_model
from trainer_tasks.training.thresholds import ThresholdArguments, tune_thresholds
from trainer_tasks.training.variants import build_trainer
from trainer_tasks.training.weighted_loss import LossArguments, loss_weight_results

logger = logging.getLogger("train")
ARGUMENT_TYPES = (
    ModelArguments,
    DataArguments,
    TaskTrainingArguments,
    LossArguments,
    ThresholdArguments,
    DistillationArguments,
    SelectionArguments,
    SearchArguments,
)


class RunState:
    """What the interruption message needs to know about the run, filled in as the run proceeds."""

    training_args: TaskTrainingArguments | None = None


def main(argv: list[str] | None = None) -> dict:
    """Train, evaluate on the test split, save the model, write ``results.json`` and the card, push if asked."""
    refuse_multi_process_search(argv)  # before parsing, which joins a launch's process group
    arguments = parse_args(ARGUMENT_TYPES, argv)
    model_args, data_args, training_args = arguments[:3]
    check_search(arguments, argv)  # --hp_search: one process, optuna, a valid space (kept on its arguments)
    RunState.training_args = training_args
    configure_logging(training_args)
    if data_args.task is None:
        raise TaskError("--task is required (e.g. --task news), on the command line or in the recipe")
    set_seed(training_args.seed)
    task = get_task(data_args.task)
    check_options_for_task(task, training_args, split=data_args.split, data=data_config(data_args, training_args))
    with claim_output_dir(training_args, RunIdentity.of(task, model_args.model_name_or_path)) as output_folder:
        return run(task, output_folder, *arguments)


def run(
    task,
    output_folder,
    model_args,
    data_args,
    training_args,
    loss_args,
    threshold_args,
    distillation_args,
    selection_args,
    search_args,
) -> dict:
    """The run itself, in a claimed output folder: data, model, Trainer, test, results, card, push."""
    warnings = RunWarnings()
    for message in precision_warnings(training_args):
        warnings.add(message)

    config = data_config(data_args, training_args, model_args.cache_dir)
    with training_args.main_process_first(desc="building the dataset"):
        task = task.for_data(config)  # the generic task's labels and head come from the data
        raw = limit_samples(task.build_dataset(config), data_args)
    if task.reads_columns:  # now that its labels are known: the metric option, and whose the output folder is
        check_options_for_task(task, training_args, split=data_args.split)
        output_folder.confirm(RunIdentity.of(task, model_args.model_name_or_path))
    check_label_coverage(raw, task, warnings)
    raw, duplicates = report_duplicates(raw, drop=data_args.drop_test_duplicates)  # before tokenizing
    label_counts = report_label_counts(raw, task)
    tokenizer, model = load_tokenizer_and_model(model_args, task, distillation_args)
    model.config.input_columns = list(config.columns.text)  # what `trainer-tasks predict` reads from a file
    model.config.training_task = {"task": task.name, "columns": config.columns.saved_options()}  # for `evaluate`
    check_sequence_length(tokenizer, data_args.max_seq_length, model_token_limit(tokenizer, model.config))
    with training_args.main_process_first(desc="tokenizing"):  # the others read what the main process cached
        splits = tokenize_splits(raw, tokenizer, data_args, model.config, cache_dir=model_args.cache_dir)
    # --long_text chunk: the window-to-text mappings, kept aside (never a model input)
    windows = split_off_windows(
        splits, data_args.long_text, data_args.stride, data_args.chunk_aggregation, task.problem_type
    )
    splits = windows.splits
    if not windows.chunked:  # windows that fill max_length were not cut
        check_truncation(token_counts(splits["train"]), max_length(tokenizer, data_args, model.config), warnings)
    if search_args.hp_search:  # trials scored on validation replace training, test and saving
        return run_search(
            task, output_folder, raw, splits, tokenizer, model_args=model_args, data_args=data_args,
            training_args=training_args, loss_args=loss_args, distillation_args=distillation_args,
            search_args=search_args,
        )  # fmt: skip

    fast_path = prepare_for_training(model, training_args, keep_every_position=distillation_args.reads_every_position)
    epoch_table = EpochTableCallback(task.primary_metric)
    selection = choose_model_selection(training_args, task, selection_args)  # the best evaluation's weights
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
        compute_metrics=windows.compute_metrics(task.compute_metrics),  # per text when chunked
        ordered_evaluation=windows.chunked,  # window i of the metrics is window i of the split
        callbacks=[epoch_table, *selection.callbacks, ModelCardCallback(task, model_args, data_args, raw, epoch_table)],
    )
    checkpoint = resolve_checkpoint(training_args)
    if checkpoint is not None:
        check_checkpoint_fits(checkpoint, output_folder.identity)
        selection.resume_from(checkpoint)  # the best evaluation before the interruption, and its weights
    output_folder.make_ready()
    try:
        train_output = trainer.train(resume_from_checkpoint=checkpoint)
        test_metrics, test_predictions = evaluate_test(trainer, splits["test"], per_text=windows.per_text_predictions)
        # multi-label only: tuned on validation, saved into the config; test scored from its predictions
        threshold_results = tune_thresholds(
            trainer, splits, task, threshold_args, test_predictions, per_text=windows.per_text_predictions
        )
        if (threshold_results.get("threshold_rule") or {}).get("warning"):
            warnings.add(threshold_results["threshold_rule"]["warning"])
    finally:
        fast_path.undo()  # what the fast path registered in transformers ends with the run
    check_losses(train_output.training_loss, test_metrics.get("test_loss"), warnings)
    trainer.save_model()

    record = collect_results(
        task, model_args, data_args, training_args, raw, train_output, test_metrics, epoch_table,
        duplicates=duplicates, label_counts=label_counts,
    )  # fmt: skip
    record.add(**loss_weight_results(trainer), **threshold_results, warnings=list(warnings))
    record.add(fast_path=fast_path.switches, loss_arguments=asdict(loss_args), long_text=windows.results())
    record.add(distillation_arguments=asdict(distillation_args), **selection.results(trainer))
    record.add(test_intervals=test_intervals(task.compute_metrics, test_predictions, raw["test"]))  # every rank: seeded
    if trainer.is_world_process_zero():
        print(write_results(training_args.output_dir, record))
    write_model_card(trainer, task, record)
    if trainer.is_world_process_zero():
        check_no_secrets(training_args.output_dir, secret_values(training_args))
    push_output(trainer)
    report_outputs(trainer, warnings)
    return record.to_dict()


def data_config(data_args: DataArguments, training_args: TaskTrainingArguments, cache_dir: str | None = None):
    """The data options the task builder is told, with the split seed (``--split_seed``, else ``--seed``)."""
    return data_args.data_config(training_args.seed, cache_dir)


def configure_logging(training_args: TaskTrainingArguments) -> None:
    """Each message once, however many processes: the main process tells the run (this project's messages at
    INFO, or at ``--log_level``); the others (``--log_level_replica``, default warning) only the libraries'
    warnings and errors, this project's errors, and no progress bars. This project's warnings are about the
    options, the data and the results, the same on every process: the main process says them once."""
    import datasets

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    level = training_args.get_process_log_level()  # transformers' rule: --log_level, or --log_level_replica
    logging.getLogger().setLevel(level)
    transformers.utils.logging.set_verbosity(level)
    datasets.utils.logging.set_verbosity(level)
    if training_args.should_log:
        project_level = logging.INFO if training_args.log_level == "passive" else level
    else:
        project_level = level if level < logging.WARNING else logging.ERROR
        transformers.utils.logging.disable_progress_bar()  # "Loading weights" once, from the main process
        datasets.disable_progress_bars()  # "Tokenizing" once
    for name in ("train", "tasks", "trainer_tasks"):  # this project's loggers: train.py's, the tasks', the engine's
        logging.getLogger(name).setLevel(project_level)
    install_log_redaction(secret_values(training_args))


def report_outputs(trainer, warnings: RunWarnings) -> None:
    """The last lines of a run, printed once: where its outputs are, and what to look at before using the model.

    The other processes are done by then (the main process alone writes results, card and push) and log no
    more than the libraries' warnings and errors (``configure_logging``): nothing of theirs follows these lines.
    """
    if not trainer.is_world_process_zero():
        return
    sys.stdout.flush()  # the results table (stdout) comes before these lines (stderr), also through one pipe
    folder = trainer.args.output_dir
    if warnings:
        logger.warning("%d warning(s) about this run, also in results.json and the model card", len(warnings))
    logger.info("model, tokenizer, results.json and the model card (README.md) saved to %s", folder)


def interrupted() -> str:
    training_args = RunState.training_args
    if training_args is None:
        return "nothing was written"
    return interruption_advice(training_args.output_dir, sys.argv)


def cli() -> None:
    """Entry for ``python train.py``: mistakes print as one ``error:`` line (exit 2), never a traceback."""
    sys.exit(run_entry_point(main, secrets=lambda: secret_values(RunState.training_args), on_interrupt=interrupted))


if __name__ == "__main__":
    cli()
