"""Parse a YAML/JSON recipe plus command-line flags into the argument dataclasses, refusing every mistake.

``train.py recipe.yaml --learning_rate 3e-5``: the recipe supplies defaults and flags override
them. Every way a run could silently differ from what the user wrote is an error instead:

- a key that no dataclass knows (trl's parser ignores it: a misspelt key then runs the wrong experiment);
- an abbreviated or misspelt flag (argparse takes ``--hub_tok`` for ``--hub_token``, so a value
  arrives under a name nothing else recognises), with a "did you mean";
- a recipe value of the wrong type: values are converted by the flag's own type, so
  ``per_device_train_batch_size: 8.5`` fails as ``--per_device_train_batch_size 8.5`` would;
- a flag given twice: a list flag (``--data_files a.csv --data_files b.csv``) is extended, any
  other is refused, since argparse would keep the last value without a word;
- a recipe that is not first, or not a ``.yaml``/``.yml``/``.json`` file.

Range checks of the values themselves live in the dataclasses' ``__post_init__``; an error raised
there (ours or transformers') reaches the user as one line too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml
from transformers import HfArgumentParser

from tasks import TaskError
from trainer_tasks.core.boundary import StrictArgumentParser, one_line, unused_arguments_message

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
LIST_NARGS = ("+", "*")


class TrainArgumentParser(HfArgumentParser, StrictArgumentParser):
    """``HfArgumentParser`` with the strict parser's manners: no abbreviations, mistakes as ``TaskError``."""


def load_recipe(path: str) -> dict[str, Any]:
    if not path.endswith(RECIPE_SUFFIXES):
        raise TaskError(f"recipe {path!r}: a recipe is a .yaml, .yml or .json file (rename it, or pass flags)")
    if os.path.isdir(path):
        raise TaskError(f"recipe {path}: is a folder; pass the recipe file itself")
    if not os.path.isfile(path):
        raise TaskError(f"recipe {path!r}: no such file")
    is_json = path.endswith(".json")
    try:
        with open(path, encoding="utf-8") as handle:
            recipe = json.load(handle) if is_json else yaml.safe_load(handle)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise TaskError(f"recipe {path}: not valid {'JSON' if is_json else 'YAML'}: {one_line(error)}") from None
    except UnicodeDecodeError:
        raise TaskError(f"recipe {path}: not UTF-8 text; re-save it as UTF-8") from None
    except OSError as error:
        raise TaskError(f"recipe {path}: cannot read it ({error.strerror or error})") from None
    if recipe is None:
        return {}
    if not isinstance(recipe, dict):
        raise TaskError(f"recipe {path}: expected a mapping of argument names to values, got {type(recipe).__name__}")
    return recipe


def split_recipe(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The recipe path (first argument when it is not a flag, or ``--config PATH``) and the other flags."""
    argv = list(argv)
    if argv and not argv[0].startswith("-"):
        return argv[0], argv[1:]
    configs = [index for index, word in enumerate(argv) if word == "--config" or word.startswith("--config=")]
    if len(configs) > 1:
        raise TaskError("--config given more than once; one recipe per run (flags override its values)")
    if configs:
        index = configs[0]
        if "=" in argv[index]:
            return argv[index].split("=", 1)[1], argv[:index] + argv[index + 1 :]
        if index + 1 >= len(argv) or argv[index + 1].startswith("-"):
            raise TaskError("--config needs the path of a YAML or JSON recipe")
        return argv[index + 1], argv[:index] + argv[index + 2 :]
    return None, argv


def coerce_recipe_value(action: argparse.Action, key: str, value: Any, where: str) -> Any:
    """``value`` converted exactly as the flag ``--key`` would convert its text, or a ``TaskError``."""
    if value is None or isinstance(value, dict):
        return value  # null keeps the field's "not set"; dicts are the JSON-typed Trainer options (fsdp_config, ...)
    if action.nargs in LIST_NARGS:
        values = value if isinstance(value, list) else [value]
        return [_convert(action, key, item, where) for item in values]
    if isinstance(value, list):
        raise TaskError(f"{where}: {key} takes one value, got a list {value}")
    return _convert(action, key, value, where)


def _convert(action: argparse.Action, key: str, value: Any, where: str) -> Any:
    kind = action.type
    if isinstance(value, bool) and kind in (int, float):
        raise TaskError(f"{where}: {key} must be a number, got {value}")
    if isinstance(value, (dict, list)):
        raise TaskError(f"{where}: {key} must be a single value, got {type(value).__name__} {value}")
    text = str(value)
    try:
        converted = kind(text) if callable(kind) else text
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        expected = {int: "a whole number", float: "a number"}.get(kind, "a value of the flag's type")
        raise TaskError(f"{where}: {key} must be {expected}, got {value!r}") from None
    if action.choices is not None and converted not in action.choices:
        choices = [getattr(choice, "value", choice) for choice in action.choices]
        raise TaskError(f"{where}: {key} must be one of {choices}, got {value!r}")
    return converted


def apply_recipe(parser: argparse.ArgumentParser, recipe: dict[str, Any], recipe_path: str) -> None:
    """Make the recipe's values the parser's defaults, so an explicit flag still overrides them."""
    actions: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if action.option_strings and action.nargs != 0:  # the --no_X twin of a boolean stores the same dest
            actions.setdefault(action.dest, action)
    unknown = sorted(str(key) for key in recipe if key not in actions)
    if unknown:
        hints = "".join(_recipe_hint(key, actions) for key in unknown)
        raise TaskError(
            f"recipe {recipe_path}: unknown key(s) {unknown}{hints}; run `python train.py --help` for the valid names"
        )
    for key, value in recipe.items():
        action = actions[key]
        action.default = coerce_recipe_value(action, key, value, f"recipe {recipe_path}")
        action.required = False
        for twin in parser._actions:  # keep --no_X in step, argparse reads the default of the first action
            if twin.dest == key:
                twin.default = action.default


def _recipe_hint(key: str, actions: dict[str, argparse.Action]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(actions), n=1, cutoff=0.6)
    return f" ({key!r}: did you mean {close[0]!r}?)" if close else ""


def merge_repeated_flags(parser: argparse.ArgumentParser, flags: Sequence[str]) -> list[str]:
    """``--data_files a --data_files b`` becomes ``--data_files a b``; any other flag given twice is an error.

    argparse keeps only the last occurrence of a flag: a second ``--data_files`` would silently drop
    the first file, and a repeated ``--learning_rate`` keeps one of two values the user wrote.
    """
    by_option = {option: action for action in parser._actions for option in action.option_strings}
    chunks: list[tuple[argparse.Action | None, list[str]]] = []
    for word in flags:
        name = word.split("=", 1)[0]
        if word.startswith("--") and name in by_option:
            chunks.append((by_option[name], [word]))
        elif chunks:
            chunks[-1][1].append(word)
        else:
            chunks.append((None, [word]))
    ordered: list[tuple[argparse.Action | None, list[str]]] = []
    index_of: dict[str, int] = {}
    for action, words in chunks:
        if action is None or action.dest == "help":
            ordered.append((action, words))
            continue
        if action.nargs in LIST_NARGS and "=" in words[0]:
            words = [*words[0].split("=", 1), *words[1:]]
        if action.dest not in index_of:
            index_of[action.dest] = len(ordered)
            ordered.append((action, list(words)))
        elif action.nargs in LIST_NARGS:
            ordered[index_of[action.dest]][1].extend(words[1:])
        else:
            flag = words[0].split("=", 1)[0]
            raise TaskError(f"{flag} given more than once; give it once (a later value would silently win)")
    return [word for _, words in ordered for word in words]


def refuse_misplaced_recipe(parser: argparse.ArgumentParser, flags: Sequence[str]) -> None:
    """A YAML file after the flags is a recipe in the wrong place, not a value of a list flag like --data_files."""
    by_option = {option: action for action in parser._actions for option in action.option_strings}
    for index, word in enumerate(flags):
        if word.startswith("-") or not word.endswith((".yaml", ".yml")):
            continue
        previous = by_option.get(flags[index - 1].split("=", 1)[0]) if index else None
        if previous is None or previous.nargs in LIST_NARGS:
            raise TaskError(
                f"the recipe {word} must come first (python train.py {word} --flag value ...), or be given as "
                f"--config {word}"
            )


def parse_args(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Instances of ``dataclass_types`` from a recipe and flags (flags win); every mistake a ``TaskError``."""
    parser = TrainArgumentParser(dataclass_types, prog="train.py")
    recipe_path, flags = split_recipe(sys.argv[1:] if argv is None else argv)
    if recipe_path is not None:
        apply_recipe(parser, load_recipe(recipe_path), recipe_path)
    refuse_misplaced_recipe(parser, flags)
    flags = merge_repeated_flags(parser, flags)
    try:
        *parsed, remaining = parser.parse_args_into_dataclasses(
            args=flags, return_remaining_strings=True, look_for_args_file=False
        )
    except TaskError:
        raise
    except (ValueError, TypeError) as error:  # raised by a dataclass's __post_init__ (ours or transformers')
        raise TaskError(f"invalid options: {one_line(error)}") from None
    if remaining:
        misplaced = [word for word in remaining if word.endswith(RECIPE_SUFFIXES) and not word.startswith("-")]
        if misplaced:
            raise TaskError(
                f"the recipe {misplaced[0]} must come first (python train.py {misplaced[0]} --flag value ...), "
                f"or be given as --config {misplaced[0]}"
            )
        raise TaskError(unused_arguments_message(parser, remaining))
    return tuple(parsed)
