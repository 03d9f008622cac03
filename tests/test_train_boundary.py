"""``train.py`` ends in exit 0, or in exit 2 with exactly one ``error:`` line: never a traceback.

Command lines and recipes are generated from the parser's own options (misspellings, prefixes,
wrong types, out-of-range values, repeats, missing values, stray words): the classes of mistake a
user makes, not a list of examples. The parse-level tests run hundreds of cases in seconds; the
full-run test trains a tiny model on generated options, so that what passes parsing is also
proven not to fail later, deep inside transformers or torch.
"""

from __future__ import annotations

import argparse
import json
import math
import string

import pytest
import yaml
from conftest import train_args
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import train
from trainer_tasks.core.boundary import run_entry_point
from trainer_tasks.training.parsing import TrainArgumentParser, parse_args

PARSER = TrainArgumentParser(train.ARGUMENT_TYPES)
ACTIONS = [action for action in PARSER._actions if action.option_strings and action.dest != "help"]
OPTIONS = [option for action in ACTIONS for option in action.option_strings]
BY_DEST = {action.dest: action for action in ACTIONS if action.nargs != 0}
# Options a user of this project reaches for (the project's own and the Trainer's everyday ones).
EVERYDAY = [
    "learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size", "num_train_epochs", "max_steps",
    "warmup_steps", "weight_decay", "max_grad_norm", "seed", "eval_strategy", "save_strategy", "logging_steps",
    "eval_steps", "save_steps", "save_total_limit", "lr_scheduler_type", "gradient_accumulation_steps",
    "label_smoothing_factor", "adam_beta1", "adam_beta2", "adam_epsilon", "report_to", "bf16", "fp16",
    "dataloader_num_workers", "data_seed", "max_seq_length", "max_text_chars", "max_train_samples",
    "max_eval_samples", "max_predict_samples", "test_size", "validation_size", "split", "split_seed",
    "pad_to_max_length", "pos_weight", "pos_weight_max", "class_weight", "tune_thresholds", "threshold_objective",
    "threshold_min_positives", "alpha_task", "alpha_soft", "alpha_cos", "temperature", "cosine_layers",
    "cls_only_last_layer", "fast_dropout", "reuse_embedding_gradient", "overwrite_output_dir",
    "train_sampling_strategy",
]  # fmt: skip
EVERYDAY = [name for name in EVERYDAY if name in BY_DEST]

NUMBERS = st.one_of(
    st.integers(-3, 300).map(str),
    st.sampled_from(["0", "-1", "1e-3", "5e-5", "0.5", "1.5", "nan", "inf", "-inf", "1e400", "8.5", "3.0"]),
)
WORDS = st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=12)


def values_for(action: argparse.Action) -> st.SearchStrategy[list[str]]:
    """Plausible and implausible values for one option, as the words that follow it."""
    if action.choices:
        one = st.one_of(st.sampled_from([str(getattr(c, "value", c)) for c in action.choices]), WORDS)
    elif action.type in (int, float):
        one = NUMBERS
    elif action.nargs == "?":  # booleans: --flag, --flag true, --flag maybe
        one = st.sampled_from(["true", "false", "yes", "no", "maybe", "1", "0"])
    else:
        one = st.one_of(WORDS, NUMBERS)
    if action.nargs in ("+", "*"):
        return st.lists(one, min_size=0, max_size=3)
    if action.nargs == "?":
        return st.lists(one, max_size=1)
    return st.lists(one, min_size=0, max_size=2)  # 0 or 2: a missing or a stray value


def misspell(option: str, draw) -> str:
    body = option[2:]
    how = draw(st.sampled_from(["drop", "swap", "insert", "prefix", "case"]))
    position = draw(st.integers(0, max(len(body) - 2, 0)))
    if how == "drop":
        body = body[:position] + body[position + 1 :]
    elif how == "swap" and len(body) > 1:
        body = body[:position] + body[position + 1] + body[position] + body[position + 2 :]
    elif how == "insert":
        body = body[:position] + draw(st.sampled_from("aeiosx_")) + body[position:]
    elif how == "prefix":
        body = body[: max(position, 2)]
    else:
        body = body.upper()
    return "--" + body


@st.composite
def command_lines(draw, everyday_only: bool = False) -> list[str]:
    """A list of option groups: real options with generated values, misspelt ones, repeats, stray words."""
    words: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["option", "option", "option", "misspelt", "repeat", "stray"]))
        if everyday_only and kind in ("misspelt", "stray"):
            kind = "option"
        if kind == "stray":
            words.append(draw(WORDS))
            continue
        dest = draw(st.sampled_from(EVERYDAY))
        action = BY_DEST[dest]
        option = action.option_strings[0]
        if kind == "misspelt":
            option = misspell(option, draw)
        group = [option, *draw(values_for(action))]
        words += group * (2 if kind == "repeat" else 1)
    return words


def outcome(capsys, run) -> tuple[int, list[str], str]:
    code = run_entry_point(run)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("error:")], err


def assert_clean_end(code: int, errors: list[str], err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err[-3000:]
    assert code in (0, 2), err[-3000:]
    if code == 2:
        assert len(errors) == 1, err[-3000:]
        assert len(errors[0]) > len("error: ") + 10


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=command_lines())
def test_generated_command_lines_parse_or_fail_in_one_line(tmp_path, capsys, words):
    argv = ["--task", "news", "--output_dir", str(tmp_path / "out"), *words]
    code, errors, err = outcome(capsys, lambda: parse_args(train.ARGUMENT_TYPES, argv))
    assert_clean_end(code, errors, err)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(OPTIONS), data=st.data())
def test_every_misspelt_or_abbreviated_option_is_refused_with_a_suggestion(capsys, option, data):
    wrong = misspell(option, data.draw)
    assume(wrong not in OPTIONS and wrong.startswith("--") and len(wrong) > 3)
    code, errors, err = outcome(capsys, lambda: parse_args(train.ARGUMENT_TYPES, [wrong, "VALUE_never_quoted"]))
    assert code == 2 and len(errors) == 1, err
    assert f"unknown option {wrong}" in errors[0]
    assert "VALUE_never_quoted" not in err  # the word after an unknown option may be a token


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dest=st.sampled_from(EVERYDAY), data=st.data())
def test_recipe_values_are_typed_like_flags(tmp_path, capsys, dest, data):
    """A value refused on the command line is refused in a recipe, and one accepted in both means the same."""
    action = BY_DEST[dest]
    words = data.draw(values_for(action).filter(lambda found: len(found) == 1))
    value = words[0] if words[0] in ("nan", "inf", "-inf") else yaml.safe_load(words[0])
    assume(value is not None)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"task": "news", dest: value}))
    common = ["--output_dir", str(tmp_path / "o")]
    parsed: dict[str, tuple] = {}

    def parse(name: str, argv: list[str]) -> None:
        parsed[name] = parse_args(train.ARGUMENT_TYPES, argv)

    as_flag = run_entry_point(lambda: parse("flag", ["--task", "news", *common, action.option_strings[0], *words]))
    flag_err = capsys.readouterr().err
    if as_flag == 2 and "expected one argument" in flag_err and words[0].startswith("-"):
        # argparse reads a value that starts with "-" as an option; the command line spells it --name=-value
        spelled = f"{action.option_strings[0]}={words[0]}"
        as_flag = run_entry_point(lambda: parse("flag", ["--task", "news", *common, spelled]))
        flag_err = capsys.readouterr().err
    as_recipe = run_entry_point(lambda: parse("recipe", [str(recipe), *common]))
    recipe_err = capsys.readouterr().err
    assert_clean_end(as_recipe, [line for line in recipe_err.splitlines() if line.startswith("error:")], recipe_err)
    if as_flag == 2:
        assert as_recipe == 2, f"{dest}={words[0]} refused as a flag ({flag_err}) but accepted in a recipe"
    elif as_recipe == 0:
        index = next(i for i, kind in enumerate(train.ARGUMENT_TYPES) if dest in kind.__dataclass_fields__)
        from_flag, from_recipe = getattr(parsed["flag"][index], dest), getattr(parsed["recipe"][index], dest)
        assert str(from_flag) == str(from_recipe), (dest, words, from_flag, from_recipe)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--tsak", "news"], "did you mean --task?"),
        (["--hub_tok", "hf_abcdefghijklmnopqrstuvwxyz0123"], "did you mean --hub_token?"),
        (["--task", "news", "--data_files", "a.csv", "recipe.yaml"], "must come first"),
        (["recipe.txt"], "a recipe is a .yaml"),
        (["--task", "news", "--eval_strategy", "epochs"], "invalid choice: 'epochs'"),
        (["--task", "news", "--learning_rate", "-1"], "--learning_rate must be > 0"),
        (["--task", "news", "--per_device_train_batch_size", "0"], "--per_device_train_batch_size must be >= 1"),
        (["--task", "news", "--num_train_epochs", "0"], "zero training steps"),
        (["--task", "news", "--learning_rate", "1e-4", "--learning_rate", "2e-4"], "given more than once"),
        (["--task", "news", "--metric_for_best_model", "acuracy"], "is not a metric of task 'news'"),
        (["--task", "toxic", "--metric_for_best_model", "accuracy"], "is not a metric of task 'toxic'"),
        (["--task", "news", "--optim", "adamw_bnb_8bit"], "pip install"),
        (["--task", "news", "--data_files", "a.csv", "--dataset_name", "x/y"], "pass one source of data"),
        (["--task", "news", "--fp16"], "--fp16 needs a CUDA GPU"),
        (["--task", "news", "--report_to", "tensorbord"], "--report_to 'tensorbord' is not one of"),
    ],
)
def test_ordinary_mistakes_name_the_fix(tmp_path, capsys, argv, expected):
    code, errors, err = outcome(capsys, lambda: train.main([*argv, "--output_dir", str(tmp_path / "o")]))
    assert code == 2 and len(errors) == 1 and expected in errors[0], err
    assert "hf_abcdefghijklmnopqrstuvwxyz0123" not in err


@settings(max_examples=60, deadline=None)
@given(files=st.lists(st.from_regex(r"[a-z]{1,6}\.csv", fullmatch=True), min_size=2, max_size=5, unique=True),
       splits=st.lists(st.integers(1, 4), min_size=1, max_size=3))  # fmt: skip
def test_repeated_list_flags_extend_in_order(files, splits):
    """``--data_files a --data_files b c`` keeps every file, in the order given: none is dropped."""
    argv, rest = ["--task", "news"], list(files)
    for size in splits:
        if rest:
            argv += ["--data_files", *rest[:size]]
            rest = rest[size:]
    if rest:
        argv += ["--data_files", *rest]
    data_args = parse_args(train.ARGUMENT_TYPES, argv)[1]
    assert data_args.data_files == files


def test_recipe_value_of_the_wrong_type_is_refused(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("task: news\nper_device_train_batch_size: 8.5\n")
    code, errors, _ = outcome(capsys, lambda: train.main([str(recipe), "--output_dir", str(tmp_path / "o")]))
    assert code == 2 and "per_device_train_batch_size must be a whole number, got 8.5" in errors[0]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=command_lines(everyday_only=True))
def test_generated_runs_train_or_fail_in_one_line(tmp_path_factory, capsys, tiny_bert, news_csv, words):
    """Whole runs on a tiny model: what parsing accepts must not fail later with a traceback."""
    out = tmp_path_factory.mktemp("run")
    dests = {BY_DEST[w[2:]].dest for w in words if w.startswith("--") and w[2:] in BY_DEST}
    base = train_args(tiny_bert, str(out / "o"), "--max_steps", "2", "--num_train_epochs", "1")
    base = [w for i, w in enumerate(base) if not _covered(base, i, dests)]
    argv = ["--task", "news", "--data_files", news_csv, "--max_train_samples", "120", "--max_eval_samples", "40",
            "--max_predict_samples", "40", *base, *words]  # fmt: skip
    code, errors, err = outcome(capsys, lambda: train.main(argv))
    assert_clean_end(code, errors, err)
    if code == 0:
        results = json.loads((out / "o" / "results.json").read_text())
        assert math.isfinite(results["test_metrics"]["test_loss"])


def _covered(base: list[str], index: int, dests: set[str]) -> bool:
    """Whether ``base[index]`` is a default flag (or its value) that the generated words set themselves."""
    flag = base[index] if base[index].startswith("--") else base[index - 1]
    return flag.startswith("--") and flag[2:] in dests
