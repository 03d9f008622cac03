"""Recipes as defaults, flags as overrides, unknown keys rejected."""

import pytest

from tasks import TaskError
from trainer_tasks.training.arguments import DataArguments, ModelArguments, TaskTrainingArguments
from trainer_tasks.training.parsing import parse_args

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
