"""The ``trainer-tasks`` command: everything around training (train with ``train.py``).

Each subcommand lives in its own module and is registered here in ``COMMANDS`` by name: its help
line, its module, and the names of the function that adds its arguments and the one that runs it.
A module is imported only when its command is used, and adding its arguments needs nothing heavy
(torch, transformers, pandas are imported where the command runs), so ``--help`` answers at once.
Every parser is a ``StrictArgumentParser`` and every command runs through ``run_entry_point``: a
mistake a user can make (a misspelt flag, a missing file, a folder that cannot be written) ends in
one line, ``error: ...``, and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from tasks import TaskError
from trainer_tasks.core.boundary import (
    StrictArgumentParser,
    did_you_mean,
    option_names,
    run_entry_point,
    unused_arguments_message,
)
from trainer_tasks.core.secrets import secret_values

PROG = "trainer-tasks"


class Command(NamedTuple):
    """A subcommand: its help line, and where its code is (``module``, imported when the command is used)."""

    help: str
    module: str
    add_arguments: str  # add_arguments(parser): the command's options; must not need heavy imports
    run: str  # run(args): the command itself

    def function(self, name: str) -> Callable:
        return getattr(importlib.import_module(self.module), name)


COMMANDS: dict[str, Command] = {
    "tasks": Command(
        "List the available tasks.", "trainer_tasks.commands.task_list", "add_tasks_arguments", "run_tasks"
    ),
    "card": Command(
        "Re-render the model card of a finished run; --push publishes the folder.",
        "trainer_tasks.commands.card",
        "add_card_arguments",
        "run_card",
    ),
    "predict": Command(
        "Classify a CSV/JSON Lines/text file with a saved model.",
        "trainer_tasks.commands.predict",
        "add_predict_arguments",
        "run_predict",
    ),
    "evaluate": Command(
        "Score a saved model on labelled data: metrics, per-label table, confusion matrix.",
        "trainer_tasks.commands.evaluate",
        "add_evaluate_arguments",
        "run_evaluate",
    ),
    "export": Command(
        "Export a model to ONNX, checked against PyTorch.",
        "trainer_tasks.commands.export",
        "add_export_arguments",
        "run_export",
    ),
    "student": Command(
        "Build a half-depth student from a BERT-family checkpoint.",
        "trainer_tasks.commands.student",
        "add_student_arguments",
        "run_student",
    ),
    "compare": Command(
        "Compare finished runs of one task in a report folder.",
        "trainer_tasks.commands.compare",
        "add_compare_arguments",
        "run_compare",
    ),
}
# What Ctrl-C or SIGTERM leaves behind, per command: the one line printed when a command is stopped.
INTERRUPTED: dict[str, Callable[[argparse.Namespace], str]] = {
    "predict": lambda args: (
        f"{args.output} holds no partial predictions (they are renamed into place only when complete); run it again"
        if args.output
        else "the predictions on standard output are incomplete; run it again"
    ),
    "evaluate": lambda args: (
        f"each file in {args.output} is whole (renamed into place when complete), this run's or an earlier one's; "
        "run it again"
        if args.output
        else "the report was not printed; run it again"
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


class SubcommandParser(StrictArgumentParser):
    """A subcommand's parser; its arguments are added (and its module imported) when it is first needed."""

    command: str = ""
    complete: bool = False

    def complete_arguments(self) -> SubcommandParser:
        if not self.complete:
            self.complete = True
            COMMANDS[self.command].function(COMMANDS[self.command].add_arguments)(self)
        return self


class Subcommands(argparse._SubParsersAction):
    """argparse's subcommand action, adding the chosen command's arguments just before they are parsed."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        chosen = self._name_parser_map.get(values[0])
        if isinstance(chosen, SubcommandParser):
            chosen.complete_arguments()
        super().__call__(parser, namespace, values, option_string)


def build_parser() -> StrictArgumentParser:
    """The ``trainer-tasks`` parser; a subcommand's own parser is ``command_parser(parser, name)``.

    Subcommand parsers start with their help line only: ``trainer-tasks --help`` imports no command.
    """
    parser = CommandParser(prog=PROG, description=__doc__.splitlines()[0].replace("``", ""))
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=SubcommandParser, action=Subcommands)
    for name, command in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=command.help, description=command.help)
        subparser.command = name
    return parser


def command_parser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser | None:
    """The subcommand ``name``'s parser with all its arguments, or None for no such command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            chosen = action.choices[name]
            return chosen.complete_arguments() if isinstance(chosen, SubcommandParser) else chosen
    return None


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, by name, with all its arguments (this imports every command's module)."""
    return {name: chosen for name in COMMANDS if (chosen := command_parser(parser, name)) is not None}


def parse_command_line(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line; words no parser took are reported against the chosen subcommand's options.

    argparse hands a subcommand's unknown words back to the top-level parser, which knows only
    ``--help``: its "did you mean" would never find the option the user misspelt.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(words)
    chosen = command_parser(parser, getattr(args, "command", None)) or parser
    if extras:
        misplaced_option(chosen, words, extras, args.command)
        raise TaskError(unused_arguments_message(chosen, extras))
    check_single_values(chosen, args)
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
        command = COMMANDS[args.command]
        command.function(command.run)(args)

    def on_interrupt() -> str:
        args = parsed.get("args")
        if args is None or args.command not in INTERRUPTED:
            return "nothing was written"
        return INTERRUPTED[args.command](args)

    return run_entry_point(run, secrets=secret_values, on_interrupt=on_interrupt)


if __name__ == "__main__":
    sys.exit(main())
