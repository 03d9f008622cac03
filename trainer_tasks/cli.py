"""The ``trainer-tasks`` command: everything around training (train with ``train.py``).

Each subcommand lives in its own module and registers itself here through ``COMMANDS``: a name, a
function that adds its arguments, and a function that runs it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tasks import TaskError, available_tasks, get_task
from trainer_tasks.compare import add_compare_arguments, run_compare
from trainer_tasks.onnx_export import add_export_arguments, run_export
from trainer_tasks.predict import add_predict_arguments, run_predict
from trainer_tasks.publish import add_card_arguments, run_card
from trainer_tasks.student import add_student_arguments, run_student


def add_tasks_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help="Also print labels and problem type.")


def run_tasks(args: argparse.Namespace) -> None:
    """List the tasks ``--task`` accepts."""
    for name in available_tasks():
        task = get_task(name)
        print(f"{name}: {task.description}")
        if args.verbose:
            print(f"    {task.problem_type}; labels: {', '.join(task.labels)}")


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], None]]] = {
    "tasks": ("List the available tasks.", add_tasks_arguments, run_tasks),
    "card": ("Re-render the model card of a finished run; --push publishes the folder.", add_card_arguments, run_card),
    "predict": ("Classify a CSV/JSON Lines/text file with a saved model.", add_predict_arguments, run_predict),
    "export": ("Export a model to ONNX, checked against PyTorch.", add_export_arguments, run_export),
    "student": ("Build a half-depth student from a BERT-family checkpoint.", add_student_arguments, run_student),
    "compare": ("Compare finished runs of one task in a report folder.", add_compare_arguments, run_compare),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trainer-tasks", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command][2](args)
    except TaskError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
