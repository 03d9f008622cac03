"""The ``trainer-tasks`` command: everything around training (train with ``train.py``).

Each subcommand lives in its own module and registers itself here through ``COMMANDS``: a name, a
function that adds its arguments, and a function that runs it. Every parser is a
``StrictArgumentParser`` and every command runs through ``run_entry_point``: a mistake a user can
make (a misspelt flag, a missing file, a folder that cannot be written) ends in one line,
``error: ...``, and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tasks import TaskError, available_tasks, get_task
from trainer_tasks.commands.card import add_card_arguments, run_card
from trainer_tasks.commands.compare import add_compare_arguments, run_compare
from trainer_tasks.commands.export import add_export_arguments, run_export
from trainer_tasks.commands.predict import add_predict_arguments, run_predict
from trainer_tasks.commands.student import add_student_arguments, run_student
from trainer_tasks.core.boundary import (
    StrictArgumentParser,
    did_you_mean,
    option_names,
    run_entry_point,
    unused_arguments_message,
)
from trainer_tasks.core.secrets import secret_values

PROG = "trainer-tasks"


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
# What Ctrl-C or SIGTERM leaves behind, per command: the one line printed when a command is stopped.
INTERRUPTED: dict[str, Callable[[argparse.Namespace], str]] = {
    "predict": lambda args: (
        f"{args.output} holds no partial predictions (they are renamed into place only when complete); run it again"
        if args.output
        else "the predictions on standard output are incomplete; run it again"
    ),
    "export": lambda args: f"{args.output_dir} may hold a partial export; run it again with --overwrite",
    "student": lambda args: f"{args.output_dir} may hold a partial checkpoint; run it again",
    "compare": lambda args: f"the report in {args.output} may be incomplete; run it again",
    "card": lambda args: f"{args.output_dir}/README.md is the old card or the new one, never half; run it again",
}


class CommandParser(StrictArgumentParser):
    """The top-level parser: a misspelt command gets a "did you mean" too, like a misspelt option."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "invalid choice" in message:
            word = message.split("invalid choice: ", 1)[-1].split(" (choose", 1)[0].strip("'\"")
            message = message.replace(" (choose", f"{did_you_mean(word, COMMANDS)} (choose", 1)
        super().error(message)


def build_parser() -> StrictArgumentParser:
    """The ``trainer-tasks`` parser; its subcommand parsers are in ``command_parsers(parser)``."""
    parser = CommandParser(prog=PROG, description=__doc__.splitlines()[0].replace("``", ""))
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=StrictArgumentParser)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
    return parser


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each subcommand's own parser, by name (its options are what a "did you mean" can suggest)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parse_command_line(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line; words no parser took are reported against the chosen subcommand's options.

    argparse hands a subcommand's unknown words back to the top-level parser, which knows only
    ``--help``: its "did you mean" would never find the option the user misspelt.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(words)
    if extras:
        chosen = command_parsers(parser).get(getattr(args, "command", None) or "", parser)
        misplaced_option(chosen, words, extras, args.command)
        raise TaskError(unused_arguments_message(chosen, extras))
    check_single_values(command_parsers(parser).get(args.command, parser), args)
    return args


def misplaced_option(parser: argparse.ArgumentParser, words: list[str], extras: list[str], command: str) -> None:
    """A real option of the command left unused: it came before the command name, or after a ``--``.

    Without this the message would be "unknown option --output (did you mean --output?)".
    """
    known = set(option_names(parser))
    for word in extras:
        name = word.split("=", 1)[0]
        if name not in known or word not in words:
            continue
        position = words.index(word)
        if command in words and position < words.index(command):
            raise TaskError(f"{name} belongs after the command: trainer-tasks {command} ... {name} ...")
        if "--" in words[:position]:
            raise TaskError(
                f"{name} comes after `--`, which ends the options; move it before the `--` "
                f"(run `{parser.prog} --help` for the options)"
            )


def check_single_values(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse ``--option=--``: argparse (3.11) drops the ``--`` and stores an empty list, unconverted.

    The command would then compare a list with a number or split it as a string, deep inside.
    """
    for action in parser._actions:
        if not action.option_strings or action.nargs not in (None, argparse.OPTIONAL):
            continue
        value = getattr(args, action.dest, None)
        values = value if isinstance(action, argparse._AppendAction) and isinstance(value, list) else [value]
        if any(isinstance(item, list) for item in values):
            raise TaskError(
                f"{action.option_strings[0]} needs a value, got `--` (which ends the options); "
                f"run `{parser.prog} --help` for the options"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0, 2 for a user's mistake, 1 for a bug, 130/143 when stopped).

    ``--help`` still exits through argparse's ``SystemExit(0)``, after printing the help.
    """
    parser = build_parser()
    parsed: dict[str, argparse.Namespace] = {}

    def run() -> None:
        args = parse_command_line(parser, argv)
        parsed["args"] = args
        COMMANDS[args.command][2](args)

    def on_interrupt() -> str:
        args = parsed.get("args")
        if args is None or args.command not in INTERRUPTED:
            return "nothing was written"
        return INTERRUPTED[args.command](args)

    return run_entry_point(run, secrets=secret_values, on_interrupt=on_interrupt)


if __name__ == "__main__":
    sys.exit(main())
