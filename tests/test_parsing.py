"""Recipes as defaults, flags as overrides, unknown keys rejected."""

import pytest
from transformers import HfArgumentParser

import train
from tasks import TaskError
from trainer_tasks.training.arguments import DataArguments, ModelArguments, TaskTrainingArguments
from trainer_tasks.training.parsing import TrainArgumentParser, parse_args

TYPES = (ModelArguments, DataArguments, TaskTrainingArguments)


def test_thesis_defaults(tmp_path):
    _, data, training = parse_args(TYPES, ["--task", "news", "--output_dir", str(tmp_path)])
    assert data.task == "news"
    assert training.learning_rate == 5e-5 and training.per_device_train_batch_size == 64
    assert training.num_train_epochs == 4 and training.warmup_steps == 0 and training.max_grad_norm == 1.0
    assert str(training.lr_scheduler_type.value) == "linear"
    assert training.eval_strategy.value == "epoch"
    assert training.train_sampling_strategy == "group_by_length"


def test_recipe_supplies_defaults_and_flags_override(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "task: toxic\nlearning_rate: 3e-5\ndata_files: a.csv\nmax_text_chars: 200\n"
        f"output_dir: {tmp_path}\nnum_train_epochs: 2\n"
    )
    model, data, training = parse_args(TYPES, [str(recipe), "--learning_rate", "1e-4"])
    assert data.task == "toxic" and data.data_files == ["a.csv"] and data.max_text_chars == 200
    assert training.learning_rate == 1e-4 and training.num_train_epochs == 2
    assert model.model_name_or_path == "distilbert-base-uncased"


def test_misspelt_recipe_key_is_an_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("task: news\nlearning_rat: 3e-5\n")
    with pytest.raises(TaskError, match=r"unknown key\(s\) \['learning_rat'\]"):
        parse_args(TYPES, ["--config", str(recipe)])


def test_bad_data_option_is_a_task_error(tmp_path):
    with pytest.raises(TaskError, match="test_size"):
        parse_args(TYPES, ["--task", "news", "--test_size", "1.5", "--output_dir", str(tmp_path)])


def test_help_shows_the_recipe_then_the_projects_options_then_the_trainers():
    text = TrainArgumentParser(train.ARGUMENT_TYPES, prog="train.py").format_help()
    assert text.startswith("usage: train.py [RECIPE.yaml] [--option value ...]\n")
    assert "train.py --config RECIPE.yaml [--option value ...]" in text.splitlines()[1]
    headings = [line[:-1] for line in text.splitlines() if line.endswith(" options:") or line == "recipe:"]
    assert headings == [
        "recipe",
        "model options",
        "data options",
        "loss options",
        "threshold options",
        "distillation options",
        "selection options",
        "search options",
        "training options",
        "Trainer options",
    ]

    starts = [text.index(f"\n{heading}:\n") for heading in headings] + [len(text)]
    sections = {heading: text[start:end] for heading, start, end in zip(headings, starts, starts[1:], strict=False)}

    assert "--task TASK" in sections["data options"] and "--pos_weight" in sections["loss options"]
    assert "--fast_dropout" in sections["training options"] and "--learning_rate" not in sections["training options"]
    assert "--learning_rate" in sections["Trainer options"] and "--ddp_timeout" in sections["Trainer options"]


def test_help_groups_change_no_parsing():
    """Every option is still parsed by HfArgumentParser's own action, in the same order: groups are display only."""
    ours, theirs = TrainArgumentParser(train.ARGUMENT_TYPES), HfArgumentParser(train.ARGUMENT_TYPES)
    assert [(a.option_strings, a.dest, a.default, a.nargs, a.choices) for a in ours._actions] == [
        (a.option_strings, a.dest, a.default, a.nargs, a.choices) for a in theirs._actions
    ]
