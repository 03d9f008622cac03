"""Hyperparameter search: ``train.py --hp_search optuna --n_trials N [--hp_space space.yaml]``.

The trials run through ``Trainer.hyperparameter_search`` (optuna backend) in one process, on the data,
tokenizer and tokenized splits the run builds once; ``model_init`` loads a fresh model per trial. Each
trial is scored on the VALIDATION split only, by the task's primary metric (``eval_<primary_metric>``,
maximised): the test split is never evaluated, so it stays an unbiased estimate for the run that trains
the winner. The search writes into ``--output_dir``:

- ``trials.csv`` and ``trials.md``: one row per trial (its number, each parameter, the validation
  objective, its state);
- ``best_recipe.yaml``: the run's own options (as given on the command line and in the recipe) with the
  best trial's values, ``output_dir`` set to ``<output_dir>/best``: ``python train.py best_recipe.yaml``
  trains, tests and saves the winner as any run.

The space is a YAML mapping; each key names an option of ``train.py`` with a distribution::

    learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
    num_train_epochs: {type: int, low: 1, high: 4}
    per_device_train_batch_size: {type: categorical, choices: [16, 32]}

Any Trainer option, loss weighting option (``LossArguments``) or distillation weight
(``DistillationArguments``) can be searched through this one mechanism; the model, data, threshold
and search options are fixed for the whole search, since they are built once before the trials.
Without ``--hp_space`` a built-in space is searched (``default_space``).

optuna is optional (``pip install -e ".[search]"``): without it, ``--hp_search`` is refused before
anything loads, as is a multi-process launch (the optuna backend would need every process to agree
on each trial, which the project does not test).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

import yaml

from tasks import Task, TaskError
from trainer_tasks.core.boundary import one_line

logger = logging.getLogger(__name__)

BACKENDS = ("optuna",)
INSTALL_HINT = 'pip install -e ".[search]"'
TRIALS_CSV = "trials.csv"
TRIALS_TABLE = "trials.md"
BEST_RECIPE = "best_recipe.yaml"
BEST_FOLDER = "best"
KINDS = ("float", "int", "categorical")
SPEC_KEYS = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}, "categorical": {"choices"}}
# Options that say where or whether a run is written or resumed, or which models are loaded: never a
# hyperparameter, and changing them per trial would break the run rather than tune it.
FIXED_OPTIONS = frozenset(
    {
        "output_dir", "overwrite_output_dir", "resume_from_checkpoint", "hub_token", "push_to_hub",
        "teacher", "student_from_teacher", "student_layers",
    }
)  # fmt: skip

BASE_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-4, "log": True},
    "num_train_epochs": {"type": "int", "low": 2, "high": 5},
    "per_device_train_batch_size": {"type": "categorical", "choices": [16, 32, 64]},
    "warmup_steps": {"type": "float", "low": 0.0, "high": 0.1},  # below 1: a share of the training steps
    "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
}
DISTILLATION_SPACE: dict[str, dict[str, Any]] = {
    "alpha_soft": {"type": "float", "low": 0.1, "high": 1.0},
    "alpha_cos": {"type": "float", "low": 0.0, "high": 1.0},
    "temperature": {"type": "float", "low": 1.0, "high": 4.0},
}
POS_WEIGHT_SPACE: dict[str, dict[str, Any]] = {
    "pos_weight_max": {"type": "float", "low": 5.0, "high": 100.0, "log": True}
}


@dataclass
class SearchArguments:
    """Hyperparameter search: trials scored on the validation split, then a recipe for the best one.

    Defaults, and why: no search unless asked (an ordinary run); 10 trials, a few times the number of
    parameters of the built-in space; the sampler's seed is --seed, so a search is repeatable.
    """

    hp_search: str | None = field(
        default=None,
        metadata={
            "help": "Search hyperparameters with this backend instead of one training run: each trial trains on "
            "the training split and is scored on validation by the task's primary metric (the test split is not "
            "used). Writes trials.csv, trials.md and best_recipe.yaml to --output_dir. Needs pip install -e "
            '".[search]".',
            "choices": list(BACKENDS),
        },
    )
    n_trials: int = field(default=10, metadata={"help": "With --hp_search: how many trials to run."})
    hp_space: str | None = field(
        default=None,
        metadata={
            "help": "With --hp_search: a YAML file naming options and their distributions, e.g. learning_rate: "
            "{type: float, low: 1e-5, high: 1e-3, log: true} (see recipes/search_space.yaml). Default: learning "
            "rate, epochs, batch size, warm-up and weight decay, plus the distillation weights with --teacher."
        },
    )
    search_seed: int | None = field(
        default=None, metadata={"help": "With --hp_search: seed of the trial sampler (default: --seed)."}
    )
    # Filled by check_search before anything loads (not options: init=False keeps them out of the parser).
    space: dict[str, Dimension] = field(default_factory=dict, init=False, repr=False)
    given: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    best_of_trial: bool = field(default=True, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_trials < 1:
            raise TaskError(f"--n_trials must be at least 1, got {self.n_trials}")
        if self.hp_search is None and self.hp_space is not None:
            raise TaskError("--hp_space is the space of a search: pass --hp_search optuna too (or drop --hp_space)")


# ---- the space ----


@dataclass(frozen=True)
class Dimension:
    """One searched option: its distribution, and the parser action that converts values as the flag would."""

    key: str
    kind: str
    owner: type
    action: argparse.Action
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The trial's value, converted to the option's type (``warmup_steps`` stays a float, a list option
        receives a list)."""
        if self.kind == "categorical":
            return self.convert(trial.suggest_categorical(self.key, list(self.choices)))
        if self.kind == "int":
            step = int(self.step or 1)
            return self.convert(trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log, step=step))
        return self.convert(trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step))

    def convert(self, value: Any) -> Any:
        from trainer_tasks.training.parsing import coerce_recipe_value

        return coerce_recipe_value(self.action, self.key, value, "--hp_space")

    def edge_values(self) -> list[Any]:
        """The values that bound the range (or every choice): checked against the option before any trial."""
        if self.kind == "categorical":
            return [self.convert(choice) for choice in self.choices]
        return [self.convert(self.low), self.convert(self.high)]


def default_space(distillation_args: Any, loss_args: Any) -> dict[str, dict[str, Any]]:
    """The built-in space: the Trainer's usual five, plus the weights this run actually uses (the distillation
    terms with ``--teacher``, the cap of ``--pos_weight auto``); weights a run does not use would only add noise."""
    space = dict(BASE_SPACE)
    if getattr(distillation_args, "teacher", None) is not None:
        space |= DISTILLATION_SPACE
    if getattr(loss_args, "pos_weight", None) == ["auto"]:
        space |= POS_WEIGHT_SPACE
    return space


def read_space_file(path: str) -> dict[str, Any]:
    """The YAML mapping of ``--hp_space``, or a one-line error naming the file."""
    if not os.path.isfile(path):
        raise TaskError(f"--hp_space {path!r}: no such file; pass a YAML file of option: {{type: ..., ...}} lines")
    try:
        with open(path, encoding="utf-8") as handle:
            space = yaml.safe_load(handle)
    except yaml.YAMLError as error:
        raise TaskError(f"--hp_space {path}: not valid YAML: {one_line(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TaskError(f"--hp_space {path}: cannot read it ({one_line(error)})") from None
    if not isinstance(space, dict) or not space:
        raise TaskError(
            f"--hp_space {path}: expected a mapping of option names to distributions, e.g. "
            "learning_rate: {type: float, low: 1e-5, high: 1e-3, log: true}"
        )
    return space


def option_actions(types: Sequence[type]) -> dict[str, tuple[argparse.Action, type]]:
    """Each option of ``train.py`` (by name) with its parser action and the dataclass that declares it."""
    from trainer_tasks.training.parsing import TrainArgumentParser

    actions: dict[str, tuple[argparse.Action, type]] = {}
    for dtype in types:
        parser = TrainArgumentParser([dtype], prog="train.py")
        for action in parser._actions:
            if action.option_strings and action.nargs != 0 and action.dest != "help":
                actions.setdefault(action.dest, (action, dtype))
    return actions


def is_searchable(dtype: type) -> bool:
    """Trainer options, loss weighting and distillation weights change per trial; the rest is built once."""
    from transformers import TrainingArguments

    from trainer_tasks.training.distillation import DistillationArguments
    from trainer_tasks.training.weighted_loss import LossArguments

    return issubclass(dtype, (TrainingArguments, LossArguments, DistillationArguments))


def parse_dimension(key: Any, spec: Any, actions: dict[str, tuple[argparse.Action, type]], where: str) -> Dimension:
    """One ``key: {type: ..., ...}`` entry checked and turned into a ``Dimension``, or a one-line error."""
    from trainer_tasks.training.parsing import group_title

    if key not in actions:
        import difflib

        close = difflib.get_close_matches(str(key), list(actions), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TaskError(f"{where}: {key!r} is not an option of train.py{hint}; see `python train.py --help`")
    action, owner = actions[key]
    if key in FIXED_OPTIONS or not is_searchable(owner):
        raise TaskError(
            f"{where}: {key} ({group_title(owner)}) cannot change between trials: the model, data and outputs are "
            "set up once for the whole search; set it in the recipe or on the command line instead"
        )
    if not isinstance(spec, dict) or spec.get("type") not in KINDS:
        raise TaskError(
            f"{where}: {key}: expected {{type: float|int|categorical, ...}}, e.g. {key}: {{type: float, low: 1e-5, "
            f"high: 1e-3, log: true}} or {key}: {{type: categorical, choices: [a, b]}}; got {spec!r}"
        )
    kind = spec["type"]
    unknown = sorted(set(spec) - SPEC_KEYS[kind] - {"type"})
    if unknown:
        raise TaskError(f"{where}: {key}: unknown setting(s) {unknown} for type {kind}; use {sorted(SPEC_KEYS[kind])}")
    if kind == "categorical":
        return _categorical(key, spec, action, owner, where)
    return _numeric(key, kind, spec, action, owner, where)


def _categorical(key: str, spec: dict, action: argparse.Action, owner: type, where: str) -> Dimension:
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise TaskError(f"{where}: {key}: categorical needs a non-empty list, e.g. choices: [16, 32]")
    if any(not (choice is None or isinstance(choice, (bool, int, float, str))) for choice in choices):
        raise TaskError(f"{where}: {key}: each choice must be a single value (number, text, true/false or null)")
    return Dimension(key, "categorical", owner, action, choices=tuple(choices))


def _numeric(key: str, kind: str, spec: dict, action: argparse.Action, owner: type, where: str) -> Dimension:
    numeric_types = (int,) if kind == "int" else (int, float)
    if action.type not in (int, float) or (kind == "float" and action.type is int):
        fix = "type: int" if action.type is int else "type: categorical with choices: [...]"
        raise TaskError(f"{where}: {key} does not take a {kind} range; use {fix}")
    bounds = {name: yaml_number(spec.get(name)) for name in ("low", "high")}
    for name, value in bounds.items():
        if isinstance(value, bool) or not isinstance(value, numeric_types) or not math.isfinite(value):
            expected = "whole numbers" if kind == "int" else "numbers"
            raise TaskError(f"{where}: {key}: low and high must be {expected}, got {name}: {value!r}")
    low, high = bounds["low"], bounds["high"]
    if not low < high:
        raise TaskError(f"{where}: {key}: low ({low}) must be below high ({high}); a fixed value belongs in the recipe")
    log, step = spec.get("log", False), yaml_number(spec.get("step"))
    if not isinstance(log, bool):
        raise TaskError(f"{where}: {key}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise TaskError(f"{where}: {key}: a log range needs low > 0, got low: {low}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, numeric_types) or step <= 0):
        raise TaskError(f"{where}: {key}: step must be a positive number, got {step!r}")
    if step is not None and log:
        raise TaskError(f"{where}: {key}: give either log: true or a step, not both")
    return Dimension(key, kind, owner, action, low=low, high=high, log=log, step=step)


def yaml_number(value: Any) -> Any:
    """``1e-5`` as a number: YAML 1.1 (PyYAML) reads exponents without a dot (``1e-5``) as text."""
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def check_values(dimensions: dict[str, Dimension], arguments: Sequence[Any], where: str) -> None:
    """Each range's bounds and each choice, applied to a copy of the run's options: a value the option refuses
    fails now, in one line, rather than in the middle of trial 7."""
    import copy

    from trainer_tasks.training.arguments import check_training_ranges

    for dimension in dimensions.values():
        instance = next(arg for arg in arguments if isinstance(arg, dimension.owner))
        for value in dimension.edge_values():
            trial_copy = copy.copy(instance)
            setattr(trial_copy, dimension.key, value)
            try:
                validate(trial_copy)
                if hasattr(trial_copy, "learning_rate"):
                    check_training_ranges(trial_copy)
            except (TaskError, ValueError, TypeError) as error:
                raise TaskError(
                    f"{where}: {dimension.key}: the value {value!r} is refused ({one_line(error)})"
                ) from None


def validate(instance: Any) -> None:
    """Re-run the checks of a project dataclass after a field changed (``TrainingArguments`` are checked by
    ``check_training_ranges`` instead: their ``__post_init__`` sets up devices and must run once)."""
    from transformers import TrainingArguments

    if is_dataclass(instance) and not isinstance(instance, TrainingArguments) and hasattr(instance, "__post_init__"):
        instance.__post_init__()


def load_space(search_args: SearchArguments, arguments: Sequence[Any]) -> dict[str, Dimension]:
    """The searched options, from ``--hp_space`` or the built-in space, every entry checked."""
    from trainer_tasks.training.distillation import DistillationArguments
    from trainer_tasks.training.weighted_loss import LossArguments

    if search_args.hp_space is not None:
        where, raw = f"--hp_space {search_args.hp_space}", read_space_file(search_args.hp_space)
    else:
        distillation = next((arg for arg in arguments if isinstance(arg, DistillationArguments)), None)
        loss = next((arg for arg in arguments if isinstance(arg, LossArguments)), None)
        where, raw = "the built-in search space", default_space(distillation, loss)
    actions = option_actions([type(arg) for arg in arguments])
    dimensions = {key: parse_dimension(key, spec, actions, where) for key, spec in raw.items()}
    check_values(dimensions, arguments, where)
    return dimensions


def check_applies(dimensions: dict[str, Dimension], task: Task, loss_args: Any, distillation_args: Any, where: str):
    """Weights are searched only where the run uses them: a distillation weight without ``--teacher`` or a
    class weight in a multi-label task would change nothing, so every trial would be the same run."""
    from trainer_tasks.training.distillation import DistillationArguments

    for key, dimension in dimensions.items():
        if dimension.owner is DistillationArguments and distillation_args.teacher is None:
            raise TaskError(f"{where}: {key} is a distillation setting, used only with --teacher; pass --teacher or "
                            "remove it from the space")  # fmt: skip
        if key in ("pos_weight", "pos_weight_max") and not task.is_multi_label:
            raise TaskError(f"{where}: {key} weighs multi-label tasks; task {task.name!r} is single-label: search "
                            "class_weight instead, or remove it")  # fmt: skip
        if key == "class_weight" and task.is_multi_label:
            raise TaskError(f"{where}: class_weight weighs single-label tasks; task {task.name!r} is multi-label: "
                            "search pos_weight instead, or remove it")  # fmt: skip
    if "pos_weight_max" in dimensions and "pos_weight" not in dimensions and loss_args.pos_weight != ["auto"]:
        raise TaskError(f"{where}: pos_weight_max caps --pos_weight auto only; pass --pos_weight auto or remove it")


# ---- before anything loads ----


def check_single_process(environ: dict[str, str] | None = None) -> None:
    """The trials run in one process: the optuna backend under several would need every process to agree on each
    trial (a broadcast this project does not test), and a silent mismatch would score mixed settings."""
    environ = os.environ if environ is None else environ
    world_size = environ.get("WORLD_SIZE", "1")
    if world_size.strip() not in ("", "1"):
        raise TaskError(
            f"--hp_search runs its trials in one process, but this is a launch of {world_size} processes "
            "(WORLD_SIZE); run `python train.py ... --hp_search optuna` without accelerate launch/torchrun"
        )


def refuse_multi_process_search(argv: Sequence[str] | None) -> None:
    """``train.py`` step before parsing: parsing ``TrainingArguments`` in a multi-process launch already joins
    its process group, so a search asked for on the command line or in the recipe is refused first."""
    if os.environ.get("WORLD_SIZE", "1").strip() in ("", "1"):
        return
    from trainer_tasks.training.parsing import load_recipe, split_recipe

    words = list(sys.argv[1:] if argv is None else argv)
    try:
        recipe_path, flags = split_recipe(words)
        recipe = load_recipe(recipe_path) if recipe_path is not None else {}
    except TaskError:
        return  # parsing says what is wrong with the recipe
    if recipe.get("hp_search") or any(word.split("=", 1)[0] in ("--hp_search", "--hp-search") for word in flags):
        check_single_process()


def check_optuna() -> None:
    """optuna is an optional dependency: name the install command rather than fail inside transformers."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise TaskError(f"--hp_search optuna needs optuna, which is not installed: {INSTALL_HINT}") from None


def check_search(arguments: Sequence[Any], argv: Sequence[str] | None) -> SearchArguments | None:
    """``train.py`` step right after parsing: for a search, refuse what would fail later (several processes,
    no optuna, resuming, a bad space) before any data or model loads, and keep the space and the options as
    given (the base of the best recipe). ``None`` when no search is asked for."""
    search_args = next((arg for arg in arguments if isinstance(arg, SearchArguments)), None)
    if search_args is None or search_args.hp_search is None:
        return None
    check_single_process()
    check_optuna()
    training_args = next(arg for arg in arguments if hasattr(arg, "resume_from_checkpoint"))
    if training_args.resume_from_checkpoint:
        raise TaskError("--resume_from_checkpoint does not apply to --hp_search (trials start afresh); drop it")
    search_args.space = load_space(search_args, arguments)
    search_args.given = given_options(argv, arguments)
    search_args.best_of_trial = keeps_best_evaluation(arguments)
    return search_args


# ---- the trials ----


class TrialModels:
    """``model_init`` for the Trainer: applies the trial's values to the run's options, then loads a fresh model.

    The values are applied here, not through the Trainer's ``hp_space`` return value: the Trainer sets only
    ``TrainingArguments`` fields and casts each to the type of its old value (``int(0.06)`` for a warm-up
    share whose default is 0), and the fast path of the new model must see the trial's distillation settings.
    """

    def __init__(self, dimensions: dict[str, Dimension], load: Callable[[], Any], arguments: Sequence[Any]) -> None:
        self.dimensions = dimensions
        self.load = load
        self.arguments = arguments
        self.trainer: Any = None  # set once built: its loss is rebuilt when a loss option changes
        self.on_change: list[Callable[[Any, set[str]], None]] = []

    def __call__(self, trial: Any = None) -> Any:
        if trial is not None:
            self.apply({key: dimension.suggest(trial) for key, dimension in self.dimensions.items()})
        return self.load()

    def apply(self, values: dict[str, Any]) -> None:
        from trainer_tasks.training.arguments import check_training_ranges

        for key, value in values.items():
            instance = next(arg for arg in self.arguments if isinstance(arg, self.dimensions[key].owner))
            setattr(instance, key, value)
            validate(instance)
            if hasattr(instance, "learning_rate"):
                check_training_ranges(instance)
        for hook in self.on_change:
            hook(self.trainer, set(values))


def rebuild_losses(task: Task, train_split: Any, loss_args: Any) -> Callable[[Any, set[str]], None]:
    """A hook that recomputes the trainer's weighted loss and distillation layer pairs from the trial's values."""
    from trainer_tasks.training.distillation import layer_pairs
    from trainer_tasks.training.weighted_loss import LossArguments, WeightedLoss, compute_loss_weights

    loss_keys = {item.name for item in fields(LossArguments)}

    def hook(trainer: Any, keys: set[str]) -> None:
        if trainer is None:
            return
        if keys & loss_keys:
            weights = compute_loss_weights(task, train_split, loss_args)
            trainer.task_loss = WeightedLoss(weights) if weights is not None else None
        if "cosine_layers" in keys and hasattr(trainer, "pairs"):
            depth = trainer.model.config.num_hidden_layers
            teacher_depth = trainer.teacher.config.num_hidden_layers
            trainer.pairs = layer_pairs(depth, teacher_depth, trainer.distillation.cosine_layers)

    return hook


class TrialObjective:
    """``compute_objective``: the validation ``eval_<primary metric>`` a trial is ranked by, maximised.

    The Trainer calls it at each evaluation and ranks the trial by the last value returned. A run keeps the
    weights of its best evaluation by default (``--keep_best_model``, or ``--load_best_model_at_end``), so
    then the value is the best so far in the trial: the score of the model the best recipe will keep.
    """

    def __init__(self, task: Task, best_of_trial: bool) -> None:
        self.name = f"eval_{task.primary_metric}"
        self.best_of_trial = best_of_trial
        self.best: float | None = None

    def reset(self) -> None:
        """A new trial starts."""
        self.best = None

    def __call__(self, metrics: dict[str, float]) -> float:
        if self.name not in metrics:
            raise TaskError(
                f"the validation metrics have no {self.name} (got {sorted(metrics)}); the search ranks by it"
            )
        value = float(metrics[self.name])
        if not self.best_of_trial:
            return value
        if self.best is None or math.isnan(self.best) or value > self.best:
            self.best = value
        return self.best


def keeps_best_evaluation(arguments: Sequence[Any]) -> bool:
    """Whether a run with these options keeps its best evaluation's weights rather than the last ones."""
    from trainer_tasks.training.selection import SelectionArguments

    selection = next((arg for arg in arguments if isinstance(arg, SelectionArguments)), None)
    training_args = next(arg for arg in arguments if hasattr(arg, "load_best_model_at_end"))
    return bool(training_args.load_best_model_at_end or (selection is not None and selection.keep_best_model))


def prepare_search_args(training_args: Any) -> None:
    """Trials write nothing but their logs: no checkpoints (the objective is each trial's last validation score,
    and ``best_recipe.yaml`` trains the winner afresh), no Hub repo, no best-model reload."""
    from transformers.trainer_utils import SaveStrategy

    training_args.save_strategy = SaveStrategy.NO
    training_args.load_best_model_at_end = False
    training_args.push_to_hub = False


def run_search(
    task: Task,
    output_folder: Any,
    raw: Any,
    splits: Any,
    tokenizer: Any,
    *,
    model_args: Any,
    data_args: Any,
    training_args: Any,
    loss_args: Any,
    distillation_args: Any,
    search_args: SearchArguments,
) -> dict[str, Any]:
    """``train.py``'s search step: the trials on validation, then the table and the best recipe."""
    import optuna
    from transformers.trainer_utils import HPSearchBackend

    from trainer_tasks.core.secrets import check_no_secrets, secret_values
    from trainer_tasks.fast_path.prepare import prepare_for_training
    from trainer_tasks.training.preprocessing import make_collator
    from trainer_tasks.training.student import load_tokenizer_and_model
    from trainer_tasks.training.variants import build_trainer

    dimensions = search_args.space  # checked by check_search before anything loaded
    where = f"--hp_space {search_args.hp_space}" if search_args.hp_space else "the built-in search space"
    check_applies(dimensions, task, loss_args, distillation_args, where)
    prepare_search_args(training_args)
    fast_paths: list[Any] = []

    def load_model() -> Any:
        _, model = load_tokenizer_and_model(model_args, task, distillation_args)
        fast_paths.append(
            prepare_for_training(model, training_args, keep_every_position=distillation_args.reads_every_position)
        )
        return model

    models = TrialModels(dimensions, load_model, (training_args, loss_args, distillation_args))
    models.on_change.append(rebuild_losses(task, raw["train"], loss_args))
    compute_objective = TrialObjective(task, search_args.best_of_trial)
    models.on_change.append(lambda _trainer, _keys: compute_objective.reset())
    objective = compute_objective.name
    seed = training_args.seed if search_args.search_seed is None else search_args.search_seed
    storage = optuna.storages.InMemoryStorage()
    output_folder.make_ready()
    logger.info("hyperparameter search: %d trials of %s, ranked by validation %s", search_args.n_trials,
                sorted(dimensions), objective)  # fmt: skip
    try:
        trainer = build_trainer(
            task, raw["train"], loss_args, distillation_args,
            model_init=models, args=training_args, train_dataset=splits["train"], eval_dataset=splits["validation"],
            processing_class=tokenizer, data_collator=make_collator(tokenizer, data_args),
            compute_metrics=task.compute_metrics,
        )  # fmt: skip
        models.trainer = trainer
        best = trainer.hyperparameter_search(
            hp_space=lambda trial: {},  # the values are applied by model_init (TrialModels)
            compute_objective=compute_objective,
            n_trials=search_args.n_trials,
            direction="maximize",
            backend=HPSearchBackend.OPTUNA,
            sampler=optuna.samplers.TPESampler(seed=seed),
            storage=storage,
            study_name="trainer-tasks",
        )
    finally:
        for fast_path in fast_paths:
            fast_path.undo()
    trials = optuna.load_study(study_name="trainer-tasks", storage=storage).trials
    best_values = {key: dimension.convert(best.hyperparameters[key]) for key, dimension in dimensions.items()}
    summary = write_search_outputs(
        training_args.output_dir, trials, dimensions, objective, search_args.given, best_values
    )
    summary |= {"best_trial": int(best.run_id), "best_value": best.objective, "best_params": best_values}
    check_no_secrets(training_args.output_dir, secret_values(training_args))
    report_best(summary, objective)
    return summary


# ---- outputs ----


def given_options(argv: Sequence[str] | None, arguments: Sequence[Any]) -> dict[str, Any]:
    """The options this run was given, recipe first then flags, with their parsed values: the base of the best
    recipe. The options' current values would also hold what the dataclasses derived (devices, precision)."""
    from trainer_tasks.training.parsing import (
        TrainArgumentParser,
        apply_recipe,
        load_recipe,
        merge_repeated_flags,
        split_recipe,
    )

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = TrainArgumentParser([type(arg) for arg in arguments], prog="train.py")
    recipe_path, flags = split_recipe(argv)
    recipe = load_recipe(recipe_path) if recipe_path is not None else {}
    if recipe_path is not None:
        apply_recipe(parser, recipe, recipe_path)
    flags = merge_repeated_flags(parser, flags)
    namespace, _ = parser.parse_known_args(flags)
    by_option = {option: action for action in parser._actions for option in action.option_strings}
    given = list(recipe)
    for word in flags:
        action = by_option.get(word.split("=", 1)[0]) if word.startswith("--") else None
        if action is not None and action.dest not in given:
            given.append(action.dest)
    return {dest: plain(getattr(namespace, dest)) for dest in given if hasattr(namespace, dest)}


def plain(value: Any) -> Any:
    """A value YAML writes as plain data (enums by value, tuples as lists)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def best_recipe(given: dict[str, Any], best_values: dict[str, Any], output_dir: str) -> dict[str, Any]:
    """The run's options with the best trial's values, training into ``<output_dir>/best``: no search options
    (the recipe trains the winner), no token (recipes are shared; the token comes from the environment)."""
    from trainer_tasks.core.secrets import SECRET_FIELDS

    dropped = {item.name for item in fields(SearchArguments) if item.init} | set(SECRET_FIELDS)
    recipe = {key: value for key, value in given.items() if key not in dropped}
    recipe |= {key: plain(value) for key, value in best_values.items()}
    recipe["output_dir"] = os.path.join(output_dir, BEST_FOLDER)
    return recipe


def trial_rows(trials: Sequence[Any], dimensions: dict[str, Dimension], objective: str) -> list[dict[str, Any]]:
    """One row per trial: number, each parameter, the validation objective (blank when none), state."""
    rows = []
    for trial in trials:
        row: dict[str, Any] = {"trial": trial.number}
        row |= {key: trial.params.get(key) for key in dimensions}
        row[objective] = trial.value
        row["state"] = trial.state.name
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0]) if rows else ["trial"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(format_cell(row[column]) for column in columns) + " |")
    return "\n".join(lines) + "\n"


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_search_outputs(
    output_dir: str,
    trials: Sequence[Any],
    dimensions: dict[str, Dimension],
    objective: str,
    given: dict[str, Any],
    best_values: dict[str, Any],
) -> dict[str, Any]:
    """``trials.csv``, ``trials.md`` and ``best_recipe.yaml`` in ``output_dir``; their paths and rows."""
    rows = trial_rows(trials, dimensions, objective)
    csv_path = os.path.join(output_dir, TRIALS_CSV)
    with open(csv_path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["trial"])
        writer.writeheader()
        writer.writerows(rows)
    table_path = os.path.join(output_dir, TRIALS_TABLE)
    with open(table_path, "w", encoding="utf-8") as handle:
        handle.write(f"# Hyperparameter search: {len(rows)} trials, validation {objective} (higher is better)\n\n")
        handle.write(markdown_table(rows))
    recipe_path = os.path.join(output_dir, BEST_RECIPE)
    recipe = best_recipe(given, best_values, output_dir)
    with open(recipe_path, "w", encoding="utf-8") as handle:
        handle.write(f"# the best trial of the search in {output_dir} (validation {objective}); train it with\n")
        handle.write(f"#   python train.py {recipe_path}\n")
        yaml.safe_dump(recipe, handle, sort_keys=False, allow_unicode=True)
    return {"objective": objective, "trials": rows, "trials_csv": csv_path, "trials_md": table_path,
            "best_recipe": recipe_path}  # fmt: skip


def report_best(summary: dict[str, Any], objective: str) -> None:
    """The last lines of a search: the winner, its values and the command that trains it."""
    sys.stdout.flush()
    logger.info(
        "best trial %d: validation %s = %.4f with %s", summary["best_trial"], objective, summary["best_value"],
        summary["best_params"],
    )  # fmt: skip
    logger.info("trials in %s; train the best with: python train.py %s", summary["trials_md"], summary["best_recipe"])
