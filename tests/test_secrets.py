"""The Hub token never reaches logs, ``training_args.bin``, results or any other file a run writes."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, train_args

from tasks import TaskError
from trainer_tasks.core.secrets import (
    REDACTED,
    check_no_secrets,
    files_containing,
    install_log_redaction,
    redacted_command,
    secret_values,
)
from trainer_tasks.training.arguments import TaskTrainingArguments

FLAG_TOKEN = "hf_PLANTEDsecret123"
ENV_TOKEN = "hf_PLANTEDenvSecret456"


@pytest.mark.slow
def test_planted_tokens_appear_in_no_log_and_no_output_file(tmp_path, tiny_bert, news_csv):
    """A real run given the token both ways, with checkpoints, info logging and the full output folder."""
    out = tmp_path / "out"
    flags = train_args(tiny_bert, str(out), "--num_train_epochs", "2", "--save_strategy", "steps", "--save_steps", "20")
    command = [
        sys.executable, str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv, *flags,
        "--hub_token", FLAG_TOKEN, "--log_level", "info", "--max_train_samples", "320",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "HF_TOKEN": ENV_TOKEN}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    written = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert "training_args.bin" in written and "results.json" in written and "results.md" in written
    assert any(name.startswith("checkpoint-") and name.endswith("training_args.bin") for name in written)
    assert files_containing(str(out), [FLAG_TOKEN, ENV_TOKEN]) == []  # every file, binary ones included
    for stream in (done.stdout, done.stderr):
        assert FLAG_TOKEN not in stream and ENV_TOKEN not in stream
    assert "Running training" in done.stderr  # the info logs were there to be searched

    results = json.loads((out / "results.json").read_text())
    assert f"--hub_token {REDACTED}" in results["command"]
    saved_args = torch.load(out / "training_args.bin", weights_only=False)
    assert saved_args.hub_token is None and saved_args.output_dir == str(out)


def test_pickled_arguments_drop_the_token_but_the_live_ones_keep_it(tmp_path):
    args = TaskTrainingArguments(output_dir=str(tmp_path), hub_token=FLAG_TOKEN, report_to="none")
    torch.save(args, tmp_path / "training_args.bin")
    assert FLAG_TOKEN.encode() not in (tmp_path / "training_args.bin").read_bytes()
    assert args.hub_token == FLAG_TOKEN  # pushing still has it
    assert torch.load(tmp_path / "training_args.bin", weights_only=False).hub_token is None
    assert FLAG_TOKEN not in str(args) and FLAG_TOKEN not in args.to_json_string()


def test_log_records_are_redacted_on_every_handler(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    library = logging.getLogger("some_library")
    library.addHandler(handler)
    library.propagate = False  # as transformers' own logger: only a handler filter reaches it
    library.setLevel(logging.INFO)  # independent of the root level that earlier in-process runs set
    try:
        redacting = install_log_redaction(secret_values())
        assert redacting is not None
        library.warning("calling the Hub with token %s", ENV_TOKEN)
        try:
            raise RuntimeError(f"401 for token {ENV_TOKEN}")
        except RuntimeError:
            library.exception("push failed")
    finally:
        library.removeHandler(handler)
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for logger in loggers:
            for existing in getattr(logger, "handlers", []):
                existing.removeFilter(redacting)
    text = stream.getvalue()
    assert "calling the Hub with token <redacted>" in text and "push failed" in text
    assert ENV_TOKEN not in text


def test_command_line_hides_the_flag_value_in_both_spellings():
    argv = ["train.py", "--hub_token", FLAG_TOKEN, f"--hub_token={FLAG_TOKEN}", "--output_dir", "x"]
    assert redacted_command(argv) == f"train.py --hub_token {REDACTED} --hub_token={REDACTED} --output_dir x"
    assert redacted_command(["train.py", f"--note={ENV_TOKEN}"], [ENV_TOKEN]) == f"train.py --note={REDACTED}"


def test_folder_check_finds_a_token_in_any_file_before_publishing(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "config.json").write_text("{}")
    torch.save({"token": FLAG_TOKEN}, tmp_path / "sub" / "state.bin")  # binary, pickled
    assert files_containing(str(tmp_path), [FLAG_TOKEN]) == [str(tmp_path / "sub" / "state.bin")]
    with pytest.raises(TaskError, match=r"1 file\(s\) under .* contain the Hub token: .*state\.bin.*revoke"):
        check_no_secrets(str(tmp_path), [FLAG_TOKEN])
    check_no_secrets(str(tmp_path), [ENV_TOKEN])  # another token: nothing to refuse


# A token shaped like a real one (hf_ + 34 characters), different for every way it arrives.
WAYS = {
    "environment": "hf_PlantedThroughTheEnvironment0000000",
    "flag": "hf_PlantedThroughTheHubTokenFlag000000",
    "dash_flag": "hf_PlantedThroughTheDashedFlag00000000",
    "equals_flag": "hf_PlantedThroughTheFlagWithEquals0000",
    "recipe": "hf_PlantedThroughARecipeKey00000000000",
    "login_file": "hf_PlantedThroughTheHfAuthLoginFile000",
}


@pytest.mark.slow
@pytest.mark.parametrize("way", sorted(WAYS))
def test_a_token_from_any_source_is_in_no_file_and_no_output(tmp_path, tiny_bert, news_csv, way):
    """Each way a token can reach a run; every file written (checkpoints included) and both streams are searched."""
    token, out, home = WAYS[way], tmp_path / "out", tmp_path / "hf_home"
    home.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "HF_HOME": str(home)}
    env.pop("HF_TOKEN", None)
    flags = train_args(tiny_bert, str(out), "--num_train_epochs", "1", "--save_strategy", "steps", "--save_steps", "5")
    command = [sys.executable, str(ROOT / "train.py")]
    recipe = {"task": "news", "data_files": [news_csv], "max_train_samples": 160, "log_level": "info"}
    if way == "environment":
        env["HF_TOKEN"] = token
    elif way == "flag":
        flags += ["--hub_token", token]
    elif way == "dash_flag":
        flags += ["--hub-token", token]
    elif way == "equals_flag":
        flags += [f"--hub_token={token}"]
    elif way == "recipe":
        recipe["hub_token"] = token
    else:
        (home / "token").write_text(token)
    (tmp_path / "recipe.json").write_text(json.dumps(recipe))
    argv = [*command, str(tmp_path / "recipe.json"), *flags]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    written = [path for path in out.rglob("*") if path.is_file()]
    assert any("checkpoint-" in str(path) for path in written) and (out / "results.json").is_file()
    assert files_containing(str(out), [token]) == []
    assert token not in done.stdout and token not in done.stderr
    assert "Running training" in done.stderr  # info logs were on, and searched


@pytest.mark.parametrize("flag", ["--hub_tok", "--hub_to", "--hub_tokn", "--hubtoken"])
def test_a_misspelt_token_flag_is_refused_without_quoting_the_token(tmp_path, flag):
    token = WAYS["flag"]
    out = str(tmp_path / "o")
    command = [sys.executable, str(ROOT / "train.py"), "--task", "news", "--output_dir", out, flag, token]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        f"error: unknown option {flag} (did you mean --hub_token?); run `train.py --help` for the options"
    ]
    assert token not in done.stderr + done.stdout
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_anything_shaped_like_a_hub_token_is_redacted_even_when_unknown():
    from trainer_tasks.core.secrets import redact

    text = "retrying with hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567 now"
    assert redact(text, []) == f"retrying with {REDACTED} now"
    assert redact("hf_short and hf_ alone", []) == "hf_short and hf_ alone"
