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

``--help`` shows the recipe first, then one group of options per dataclass, the project's before the
Trainer's: the options a user of this project reaches for are not lost among the Trainer's hundred.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml
from transformers import HfArgumentParser

from tasks import TaskError
from trainer_tasks.core.boundary import StrictArgumentParser, one_line, unused_arguments_message
from trainer_tasks.training import help_cache

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
LIST_NARGS = ("+", "*")

USAGE = """%(prog)s [RECIPE.yaml] [--option value ...]
       %(prog)s --config RECIPE.yaml [--option value ...]"""
DESCRIPTION = (
    "Fine-tune a text classifier for one task (--task), then save the model, results.json and the model card "
    "in --output_dir. Several processes or GPUs: run it with `accelerate launch train.py ...`.\n\n"
    "The options come in groups, this project's first, then every Trainer option. A boolean takes --flag, "
    "--flag true or --flag false (and --no_flag where it is true by default)."
)
RECIPE_HELP = (
    "RECIPE.yaml, first on the command line or as --config RECIPE.yaml: a YAML or JSON file (.yaml, .yml, "
    ".json) whose keys are option names below without the leading --, with their values (a list where an "
    "option takes several). Options on the command line override the recipe's; a key that is no option is "
    "an error."
)
EXAMPLES = """examples:
  python train.py --task news --data_files news.csv --model_name_or_path MODEL --output_dir outputs/news
  accelerate launch --config_file accelerate_configs/cpu.yaml train.py recipes/news_minilm_cpu.yaml --seed 7"""
TRAINER_GROUP = "Trainer options"
TRAINER_HELP = (
    "Every other option of transformers' TrainingArguments, with the Trainer's own defaults: "
    "https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments"
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help (as ``HfArgumentParser`` shows them); texts wrapped paragraph by
    paragraph, and indented lines (examples) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if any(line.startswith("  ") for line in paragraph.splitlines()):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


class TrainArgumentParser(HfArgumentParser, StrictArgumentParser):
    """``HfArgumentParser`` with the strict parser's manners (no abbreviations, mistakes as ``TaskError``) and a
    help grouped for people: the recipe, then one group per dataclass in the order given, a ``TrainingArguments``
    subclass's own fields (the project's defaults and additions) and then the Trainer's options last.

    Groups only change what ``--help`` shows: every option is parsed exactly as ``HfArgumentParser`` parses it.
    """

    def __init__(self, dataclass_types: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("usage", USAGE)
        kwargs.setdefault("description", DESCRIPTION)
        kwargs.setdefault("epilog", EXAMPLES)
        kwargs.setdefault("formatter_class", HelpFormatter)
        self.trainer_groups: list[argparse._ArgumentGroup] = []
        super().__init__(dataclass_types, **kwargs)
        recipe = self.add_argument_group("recipe", RECIPE_HELP)
        project = [group for group in self._action_groups if group not in (self._positionals, self._optionals)]
        project = [group for group in project if group is not recipe and group not in self.trainer_groups]
        self._action_groups[:] = [self._positionals, recipe, self._optionals, *project, *self.trainer_groups]

    def _add_dataclass_arguments(self, dtype: Any) -> None:
        """``HfArgumentParser``'s own, then its new options moved from the default group into this dataclass's."""
        first = len(self._actions)
        super()._add_dataclass_arguments(dtype)
        added = [action for action in self._actions[first:] if action in self._optionals._group_actions]
        own = trainer_subclass_fields(dtype)
        if own is None:
            self._move(added, self.add_argument_group(group_title(dtype), group_description(dtype)))
            return
        ours = [action for action in added if action.dest in own]
        if ours:
            self.trainer_groups.append(self.add_argument_group("training options", group_description(dtype)))
            self._move(ours, self.trainer_groups[-1])
        self.trainer_groups.append(self.add_argument_group(TRAINER_GROUP, TRAINER_HELP))
        self._move([action for action in added if action.dest not in own], self.trainer_groups[-1])

    def _move(self, actions: list[argparse.Action], group: argparse._ArgumentGroup) -> None:
        """Show ``actions`` under ``group`` rather than "options" (the parser's own list of actions is unchanged)."""
        for action in actions:
            self._optionals._group_actions.remove(action)
            group._group_actions.append(action)

    def print_help(self, file: Any = None) -> None:
        text = self.format_help()
        self._print_message(text, sys.stdout if file is None else file)
        if file is None:
            help_cache.keep_help(text)  # a bare `train.py --help` keeps its text for the next one


def trainer_subclass_fields(dtype: Any) -> set[str] | None:
    """For a ``TrainingArguments`` subclass, the fields its own classes declare (new or with another default);
    None for any other dataclass. transformers is not imported here: without it loaded there is no subclass."""
    base = getattr(sys.modules.get("transformers.training_args"), "TrainingArguments", None)
    if base is None or not (isinstance(dtype, type) and issubclass(dtype, base)):
        return None
    own: set[str] = set()
    for cls in dtype.__mro__:
        if cls is base:
            break
        own |= set(vars(cls).get("__annotations__", {}))
    return own


def group_title(dtype: Any) -> str:
    """``ModelArguments`` -> "model options", ``ThresholdArguments`` -> "threshold options"."""
    name = dtype.__name__.removesuffix("Arguments") or dtype.__name__
    words = "".join(f" {char.lower()}" if char.isupper() else char for char in name).split()
    return f"{' '.join(words)} options"


def group_description(dtype: Any) -> str | None:
    """The first paragraph of the dataclass's docstring (none for the signature ``dataclass`` writes)."""
    doc = inspect.cleandoc(vars(dtype).get("__doc__") or "")
    if not doc or doc.startswith(f"{dtype.__name__}("):
        return None
    return " ".join(doc.split("\n\n", 1)[0].split()).replace("``", "")


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
