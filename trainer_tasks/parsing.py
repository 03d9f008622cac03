"""Parse a YAML/JSON recipe plus command-line flags into the argument dataclasses.

``train.py recipe.yaml --learning_rate 3e-5``: the recipe supplies defaults and flags override
them. Unlike trl's parser, a key that no dataclass knows is an error: a misspelt key that is
silently ignored runs the wrong experiment.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml
from transformers import HfArgumentParser

from tasks import TaskError

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")


def load_recipe(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise TaskError(f"recipe {path!r}: no such file")
    with open(path, encoding="utf-8") as handle:
        try:
            recipe = json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)
        except (yaml.YAMLError, json.JSONDecodeError) as error:
            raise TaskError(
                f"recipe {path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: {error}"
            ) from None
    if recipe is None:
        return {}
    if not isinstance(recipe, dict):
        raise TaskError(f"recipe {path}: expected a mapping of argument names to values, got {type(recipe).__name__}")
    return recipe


def split_recipe(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """The recipe path (first positional argument, or ``--config PATH``) and the other flags."""
    argv = list(argv)
    if argv and argv[0].endswith(RECIPE_SUFFIXES) and not argv[0].startswith("-"):
        return argv[0], argv[1:]
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise TaskError("--config needs the path of a YAML or JSON recipe")
        return argv[index + 1], argv[:index] + argv[index + 2 :]
    return None, argv


def parse_args(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple[Any, ...]:
    """Instances of ``dataclass_types`` from a recipe and flags (flags win)."""
    parser = HfArgumentParser(dataclass_types)
    recipe_path, flags = split_recipe(sys.argv[1:] if argv is None else argv)
    if recipe_path is not None:
        recipe = load_recipe(recipe_path)
        known = {action.dest: action for action in parser._actions}
        unknown = sorted(set(recipe) - set(known))
        if unknown:
            raise TaskError(
                f"recipe {recipe_path}: unknown key(s) {unknown}; run `python train.py --help` for the valid names"
            )
        for key, value in recipe.items():
            # A recipe value becomes the flag's default, so an explicit flag still overrides it.
            if known[key].nargs in ("+", "*") and isinstance(value, str):
                value = [value]
            known[key].default = value
            known[key].required = False
    return parser.parse_args_into_dataclasses(args=flags)
