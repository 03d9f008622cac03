"""``train.py --hp_search optuna``: real trials on a tiny model, the trials table, a best recipe that trains as is,
and the one-line refusals (bad space, several processes, no optuna)."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import train_args

import train
from tasks import TaskError
from trainer_tasks.training import search

needs_optuna = pytest.mark.skipif(
    importlib.util.find_spec("optuna") is None, reason='optuna is not installed: pip install -e ".[search]"'
)

SPACE = """\
learning_rate: {type: float, low: 1.0e-4, high: 5.0e-3, log: true}
per_device_train_batch_size: {type: categorical, choices: [16, 32]}
num_train_epochs: {type: int, low: 1, high: 2}
"""


def search_flags(tiny_bert: str, news_csv: str, out: str, *extra: str) -> list[str]:
    """A seconds-long search: 120 training rows, 1-2 epochs per trial."""
    flags = train_args(tiny_bert, out, "--num_train_epochs", "1")
    return [
        "--task", "news", "--data_files", news_csv, *flags, "--max_train_samples", "120", "--max_eval_samples", "40",
        "--max_predict_samples", "40", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def searched(tmp_path_factory, tiny_bert, news_csv):
    folder = tmp_path_factory.mktemp("search")
    space = folder / "space.yaml"
    space.write_text(SPACE)
    out = str(folder / "out")
    flags = search_flags(tiny_bert, news_csv, out, "--hp_search", "optuna", "--n_trials", "3", "--hp_space", str(space))
    return out, train.main(flags)


@needs_optuna
def test_search_writes_three_trials_ranked_on_validation(searched):
    out, summary = searched
    assert summary["objective"] == "eval_accuracy"
    with open(Path(out) / "trials.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["trial"] for row in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"trial", "learning_rate", "per_device_train_batch_size", "num_train_epochs",
                            "eval_accuracy", "state"}  # fmt: skip
    assert all(row["state"] == "COMPLETE" and 0 <= float(row["eval_accuracy"]) <= 1 for row in rows)
    best = max(rows, key=lambda row: float(row["eval_accuracy"]))
    assert float(best["eval_accuracy"]) == summary["best_value"]
    table = (Path(out) / "trials.md").read_text()
    assert table.count("| COMPLETE |") == 3 and "| trial | learning_rate |" in table
    # the search trains no final model and never evaluates the test split
    assert not (Path(out) / "results.json").exists() and not (Path(out) / "model.safetensors").exists()


@needs_optuna
def test_trials_are_reproducible_from_the_seed(searched):
    _, summary = searched
    import optuna

    sampler = optuna.samplers.TPESampler(seed=7)  # --seed 7 (train_args), no --search_seed
    study = optuna.create_study(direction="maximize", sampler=sampler)
    trial = study.ask()
    assert trial.suggest_float("learning_rate", 1e-4, 5e-3, log=True) == summary["trials"][0]["learning_rate"]


@needs_optuna
def test_best_recipe_trains_the_best_trial(searched):
    out, summary = searched
    recipe_path = Path(out) / "best_recipe.yaml"
    recipe = yaml.safe_load(recipe_path.read_text())
    assert recipe["output_dir"] == str(Path(out) / "best")
    assert recipe["learning_rate"] == summary["best_params"]["learning_rate"]
    assert not {"hp_search", "n_trials", "hp_space", "search_seed", "hub_token"} & set(recipe)
    assert recipe["task"] == "news" and recipe["max_train_samples"] == 120
    results = train.main([str(recipe_path)])
    assert results["training"]["learning_rate"] == summary["best_params"]["learning_rate"]
    on_disk = json.loads((Path(out) / "best" / "results.json").read_text())
    assert on_disk["training"]["num_train_epochs"] == summary["best_params"]["num_train_epochs"]


def test_best_recipe_leaves_the_token_out():
    given = {"task": "news", "hub_token": "hf_abcdefghijklmnopqrstuvwxyz", "hp_search": "optuna", "n_trials": 3}
    recipe = search.best_recipe(given, {"learning_rate": 1e-4}, "out")
    assert recipe == {"task": "news", "learning_rate": 1e-4, "output_dir": str(Path("out") / "best")}


@needs_optuna
@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("learning_rat: {type: float, low: 1.0e-5, high: 1.0e-3}", r"'learning_rat' is not.*'learning_rate'"),
        ("learning_rate: {type: float, low: 1.0e-3, high: 1.0e-5}", r"learning_rate: low \(0.001\) must be below high"),
        ("learning_rate: {type: float, low: 0, high: 1.0e-3, log: true}", r"learning_rate: a log range needs low > 0"),
        ("learning_rate: {type: gaussian, mean: 1.0e-4}", r"learning_rate: expected \{type: float\|int\|categorical"),
        ("learning_rate: {type: float, low: 1.0e-5, hi: 1.0e-3}", r"learning_rate: unknown setting\(s\) \['hi'\]"),
        ("per_device_train_batch_size: {type: float, low: 8, high: 64}", r"does not take a float range; use type: int"),
        ("per_device_train_batch_size: {type: categorical, choices: []}", r"categorical needs a non-empty list"),
        ("per_device_train_batch_size: {type: categorical, choices: [0, 16]}", r"value 0 is refused.*must be >= 1"),
        ("max_seq_length: {type: int, low: 32, high: 128}", r"max_seq_length \(data options\) cannot change"),
        ("alpha_soft: {type: float, low: -1.0, high: 1.0}", r"alpha_soft: the value -1.0 is refused"),
        ("- learning_rate", r"expected a mapping of option names to distributions"),
    ],
)  # fmt: skip
@needs_optuna
def test_bad_space_is_a_one_line_error(tmp_path, news_csv, space, message):
    path = tmp_path / "space.yaml"
    path.write_text(space + "\n")
    flags = ["--task", "news", "--data_files", news_csv, "--output_dir", str(tmp_path / "out"), "--report_to", "none"]
    with pytest.raises(TaskError, match=message) as caught:
        train.main([*flags, "--hp_search", "optuna", "--hp_space", str(path)])
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    assert not (tmp_path / "out").exists()  # refused before anything loaded or was written


@needs_optuna
def test_distillation_weight_without_teacher_is_refused(tmp_path, tiny_bert, news_csv):
    path = tmp_path / "space.yaml"
    path.write_text("alpha_soft: {type: float, low: 0.1, high: 1.0}\n")
    flags = search_flags(tiny_bert, news_csv, str(tmp_path / "out"), "--hp_search", "optuna", "--hp_space", str(path))
    with pytest.raises(TaskError, match=r"alpha_soft is a distillation setting, used only with --teacher"):
        train.main(flags)


def test_trials_are_ranked_by_the_evaluation_the_run_keeps():
    task = type("NewsLike", (), {"primary_metric": "accuracy"})()
    best = search.TrialObjective(task, best_of_trial=True)
    assert [best({"eval_accuracy": value}) for value in (0.5, 0.7, 0.6)] == [0.5, 0.7, 0.7]
    best.reset()
    assert best({"eval_accuracy": 0.4}) == 0.4  # a new trial starts afresh
    last = search.TrialObjective(task, best_of_trial=False)  # --keep_best_model false: the last weights are kept
    assert [last({"eval_accuracy": value}) for value in (0.5, 0.7, 0.6)] == [0.5, 0.7, 0.6]
    with pytest.raises(TaskError, match="no eval_accuracy"):
        last({"eval_loss": 1.0})


@needs_optuna
def test_exponents_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("learning_rate: {type: float, low: 1e-5, high: 1e-3, log: true}\n")  # YAML 1.1: text
    args = search.SearchArguments(hp_search="optuna", hp_space=str(path))
    from trainer_tasks.training.arguments import TaskTrainingArguments

    training_args = TaskTrainingArguments(output_dir=str(tmp_path / "out"), report_to="none")
    (dimension,) = search.load_space(args, [training_args, args]).values()
    assert (dimension.low, dimension.high, dimension.log) == (1e-5, 1e-3, True)


def test_built_in_space_adds_the_weights_a_run_uses():
    from trainer_tasks.training.distillation import DistillationArguments
    from trainer_tasks.training.weighted_loss import LossArguments

    plain = search.default_space(DistillationArguments(), LossArguments())
    assert set(plain) == {"learning_rate", "num_train_epochs", "per_device_train_batch_size", "warmup_steps",
                          "weight_decay"}  # fmt: skip
    distilled = search.default_space(DistillationArguments(teacher="t"), LossArguments(pos_weight=["auto"]))
    assert {"alpha_soft", "temperature", "pos_weight_max"} <= set(distilled)


def test_multi_process_launch_is_refused(tmp_path, news_csv, monkeypatch):
    with pytest.raises(TaskError, match=r"runs its trials in one process.*2 processes"):
        search.check_single_process({"WORLD_SIZE": "2"})
    search.check_single_process({"WORLD_SIZE": "1"})
    search.check_single_process({})
    monkeypatch.setenv("WORLD_SIZE", "2")
    flags = ["--task", "news", "--data_files", news_csv, "--output_dir", str(tmp_path / "out"), "--report_to", "none"]
    with pytest.raises(TaskError, match=r"runs its trials in one process.*without accelerate launch"):
        train.main([*flags, "--hp_search", "optuna"])
    assert not (tmp_path / "out").exists()


def test_without_optuna_names_the_install_command(tmp_path, news_csv, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    flags = ["--task", "news", "--data_files", news_csv, "--output_dir", str(tmp_path / "out"), "--report_to", "none"]
    with pytest.raises(TaskError, match=r'needs optuna.*pip install -e "\.\[search\]"'):
        train.main([*flags, "--hp_search", "optuna"])


def test_search_options_need_hp_search(tmp_path):
    with pytest.raises(TaskError, match="--hp_space is the space of a search: pass --hp_search optuna"):
        train.main(["--task", "news", "--output_dir", str(tmp_path), "--hp_space", "space.yaml"])
    with pytest.raises(TaskError, match="--n_trials must be at least 1"):
        train.main(["--task", "news", "--output_dir", str(tmp_path), "--hp_search", "optuna", "--n_trials", "0"])
