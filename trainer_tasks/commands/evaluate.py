"""``trainer-tasks evaluate MODEL DATA...``: score a saved model on labelled files, read as its task reads them.

The task is the one the model was trained on (train.py saves it in the config, ``training_task``,
with the generic task's column options), or ``--task``. The files are read by that task's builder
in evaluation mode: every row, in file order, with the usual line-precise errors. The model runs
as ``predict`` runs it (``TextClassifier``: same batches, precision, ONNX folders).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from tasks import TaskError
from trainer_tasks.commands.predict import add_batching_arguments
from trainer_tasks.inference.defaults import Batching

# The classifier and the task builders import torch, transformers, pandas and datasets: imported in
# `run_evaluate`, so that `trainer-tasks evaluate --help` starts in a fraction of a second.

OUTPUT_FILES = "evaluation.json, evaluation.md and, for a single-label model, confusion_matrix.png"


def check_data_source(files: Sequence[str], dataset_name: str | None, split: str = "test") -> None:
    """Files or a dataset, one of the two; every DATA path must exist. Checked before the model is loaded,
    so a typo fails at once."""
    if files and dataset_name:
        raise TaskError(f"give labelled files (DATA) or --dataset_name, not both (got {len(files)} file(s) and "
                        f"--dataset_name {dataset_name})")  # fmt: skip
    if not files and not dataset_name:
        raise TaskError("nothing to score: give labelled data files (DATA...) or --dataset_name NAME [--split test]")
    if dataset_name and not split.strip():
        raise TaskError("--split is empty: name the dataset's split to score (default: test)")
    for path in files:
        if not os.path.exists(path):
            raise TaskError(f"{path}: no such file; pass labelled data files the task reads (DATA...)")


def check_output_folder(output: str | None) -> None:
    """``--output`` must be a folder this process can create or write in, and not a data file."""
    if output is None:
        return
    if os.path.exists(output) and not os.path.isdir(output):
        raise TaskError(f"--output {output} is a file; --output is a folder ({OUTPUT_FILES} are written in it)")
    existing = os.path.abspath(output)
    while not os.path.exists(existing):  # the nearest folder that exists: the one it is created in
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise TaskError(f"--output {output}: {existing} is a file, so the folder cannot be created under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TaskError(f"--output {output}: no permission to write in {existing}; choose another folder")


def given_columns(args: argparse.Namespace):
    """The column options given on the command line (for ``--task text``), as ``tasks.base.Columns``."""
    from tasks.base import Columns

    options = {
        "text": tuple(args.text_column or ()),
        "label": args.label_column,
        "label_columns": tuple(args.label_columns or ()),
        "label_separator": args.label_separator,
        "column_names": tuple(args.column_names or ()),
        "file_format": args.file_format,
    }
    return Columns(**{name: value for name, value in options.items() if value not in (None, ())})


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Score a saved model on labelled data: the task's metrics (multi-label: at 0.5 and at the thresholds "
        "saved with the model), precision/recall/F1/support per label, and the confusion matrix (single-label) "
        f"or TP/FP/FN/TN per label (multi-label). Without --output the report is printed as markdown and "
        f"nothing is written; with it, {OUTPUT_FILES} are written into that folder."
    )
    parser.add_argument("model", help="train.py output folder, Hub model id, or trainer-tasks export folder (ONNX).")
    parser.add_argument(
        "data",
        nargs="*",
        metavar="DATA",
        help="Labelled file(s) in any form the task reads; every row is scored (or --dataset_name instead).",
    )
    dataset = parser.add_argument_group("a dataset instead of files")
    dataset.add_argument(
        "--dataset_name",
        default=None,
        metavar="NAME",
        help="A Hub dataset id, a save_to_disk folder or a local copy of a Hub dataset repository; one split is "
        "scored (--split).",
    )
    dataset.add_argument("--dataset_config_name", default=None, metavar="CONFIG", help="The dataset's configuration.")
    dataset.add_argument("--dataset_revision", default=None, metavar="REVISION", help="A branch, tag or commit.")
    dataset.add_argument("--split", default="test", help="The split scored, every row of it (default: test).")
    parser.add_argument(
        "--task",
        default=None,
        help="The task whose builder reads DATA and whose metrics score it (default: the one the model was trained "
        "on, saved in its config; required for models that do not say).",
    )
    parser.add_argument(
        "--output",
        default=None,
        metavar="FOLDER",
        help=f"Write {OUTPUT_FILES} here (default: print the markdown report to stdout, write nothing).",
    )
    add_batching_arguments(parser)
    columns = parser.add_argument_group(
        "columns (--task text only; default: the options the model was trained with, saved in its config)"
    )
    columns.add_argument("--text_column", nargs="+", default=None, metavar="NAME", help="Text column(s).")
    columns.add_argument("--label_column", default=None, metavar="NAME", help="Single label column.")
    columns.add_argument("--label_columns", nargs="+", default=None, metavar="NAME", help="0/1 label columns.")
    columns.add_argument("--label_separator", default=None, help="Separator of several labels in one column.")
    columns.add_argument("--column_names", nargs="+", default=None, metavar="NAME", help="Headerless CSV columns.")
    columns.add_argument("--file_format", default=None, help="csv, tsv, jsonl or parquet, for unusual file names.")


def run_evaluate(args: argparse.Namespace) -> None:
    import transformers

    from trainer_tasks.inference.evaluation import LabelledSource, evaluate_model
    from trainer_tasks.reports.evaluation import render_markdown, write_evaluation

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers.utils.logging.disable_progress_bar()  # one bar, ours: not one per weight file loaded
    batching = Batching.from_args(args)
    batching.check()
    check_data_source(args.data, args.dataset_name, args.split)
    check_output_folder(args.output)
    source = LabelledSource(
        files=tuple(args.data),
        dataset_name=args.dataset_name,
        dataset_config_name=args.dataset_config_name,
        dataset_revision=args.dataset_revision,
        split=args.split,
    )
    evaluation = evaluate_model(args.model, source, task_name=args.task, columns=given_columns(args), batching=batching)
    print(
        f"evaluate: {evaluation.rows} rows in {evaluation.seconds:.1f}s "
        f"({evaluation.rows / max(evaluation.seconds, 1e-9):.0f} texts/s, {evaluation.backend}); "
        f"{evaluation.truncated} truncated to {evaluation.max_length} tokens",
        file=sys.stderr,
    )
    if args.output is None:
        sys.stdout.write(render_markdown(evaluation))
        return
    try:
        written = write_evaluation(evaluation, args.output)
    except OSError as error:
        where = error.filename or args.output
        raise TaskError(f"--output {args.output}: cannot write {where} ({error.strerror or error})") from None
    print(f"wrote {', '.join(written)} to {args.output}")
