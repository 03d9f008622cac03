"""``trainer-tasks tasks [--verbose]``: the tasks ``train.py --task`` accepts."""

from __future__ import annotations

import argparse


def add_tasks_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help="Also print labels and problem type.")


def run_tasks(args: argparse.Namespace) -> None:
    """List the tasks ``--task`` accepts."""
    from tasks import available_tasks, get_task

    for name in available_tasks():
        task = get_task(name)
        print(f"{name}: {task.description}")
        if args.verbose and task.labels_from_data:
            print("    labels and problem type from the data and the column options (--text_column, --label_column)")
        elif args.verbose:
            print(f"    {task.problem_type}; labels: {', '.join(task.labels)}")
