"""The front door starts fast because nothing heavy is imported to answer it; how fast is ``benchmarks/startup.py``'s
job (a benchmark, not a test: timings depend on the machine).

- ``trainer-tasks --help``, ``trainer-tasks CMD --help`` and ``trainer-tasks tasks`` import no torch, transformers,
  datasets or scikit-learn: commands are imported when used, their heavy imports where they run.
- ``train.py --help`` is the real parser's text, kept by ``help_cache`` and reused without importing torch only
  while every file it was made from is unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import train
from trainer_tasks.commands.main import COMMANDS
from trainer_tasks.training import help_cache
from trainer_tasks.training.parsing import parse_args

HEAVY = ("torch", "transformers", "datasets", "sklearn", "onnx", "onnxruntime", "matplotlib")


def imported_after(code: str) -> set[str]:
    """The heavy top-level modules a fresh interpreter has imported after running ``code``."""
    probe = f"""
import contextlib, json, sys
with contextlib.suppress(SystemExit), contextlib.redirect_stdout(None):
{chr(10).join("    " + line for line in code.strip().splitlines())}
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}} & set({list(HEAVY)!r}))))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["tasks"], ["tasks", "--verbose"]] + [[c, "--help"] for c in COMMANDS])
def test_trainer_tasks_answers_help_and_tasks_without_heavy_imports(argv):
    assert imported_after(f"from trainer_tasks.commands.main import main\nmain({argv!r})") == set()


def test_every_command_parser_is_built_without_heavy_imports():
    """All of ``trainer-tasks``' parsers, options included: no ``add_*_arguments`` needs torch or pandas."""
    code = "from trainer_tasks.commands import main as cli\ncli.command_parsers(cli.build_parser())"
    assert imported_after(code) == set()


def test_importing_a_task_module_or_the_registry_imports_no_training_library():
    code = (
        "import tasks, tasks.base, tasks.metrics, tasks.data\nfrom tasks import TaskError, get_task\nget_task('news')"
    )
    assert imported_after(code) == set()


def test_help_in_process_keeps_nothing(tmp_path, monkeypatch, capsys):
    """Only a bare ``python train.py --help`` keeps its text; a parser used from code (tests, a notebook) never."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(SystemExit):
        parse_args(train.ARGUMENT_TYPES, ["--help"])
    assert capsys.readouterr().out.startswith("usage: train.py [RECIPE.yaml]")
    assert not any(tmp_path.iterdir())


def run_help(cache: Path, *flags: str, off: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "100"}
    if off:
        env[help_cache.OFF_SWITCH] = "0"
    command = [sys.executable, "-X", "importtime", str(ROOT / "train.py"), *flags]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def imported_torch(done: subprocess.CompletedProcess) -> bool:
    return any(line.rstrip().endswith("| torch") for line in done.stderr.splitlines())  # -X importtime's list


@pytest.mark.slow
def test_train_help_is_the_real_parsers_text_kept_until_a_source_changes(tmp_path):
    real = run_help(tmp_path, "--help", off=True)
    assert imported_torch(real) and not any(tmp_path.iterdir())  # switched off: real parser, nothing kept

    first = run_help(tmp_path, "--help")  # real parser; its text is kept
    assert first.stdout == real.stdout and imported_torch(first)
    (kept,) = (tmp_path / "trainer-tasks").glob("train-help-*.json")

    second = run_help(tmp_path, "-h")  # the kept text, without torch
    assert second.stdout == real.stdout and not imported_torch(second)

    record = json.loads(kept.read_text())
    parsing = next(i for i, (path, _) in enumerate(record["files"]) if path.endswith("training/parsing.py"))
    record["files"][parsing][1][0] += 1  # as if parsing.py had been edited since
    kept.write_text(json.dumps(record))
    third = run_help(tmp_path, "--help")
    assert third.stdout == real.stdout and imported_torch(third)  # not trusted: the real parser answered again

    wider = run_help(tmp_path, "--help", "--seed", "3")  # anything but a bare --help: the real parser
    assert imported_torch(wider) and wider.stdout == real.stdout
