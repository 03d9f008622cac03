"""The installed ``trainer-tasks`` command."""

import shutil
import subprocess

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    command = shutil.which("trainer-tasks") or pytest.skip("trainer-tasks is not installed (pip install -e .)")
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=120)


def test_tasks_lists_builtin_tasks_with_their_heads():
    done = run("tasks", "--verbose")
    assert done.returncode == 0, done.stderr
    assert "news: Topic of an English news headline" in done.stdout
    toxic_line = "multi_label_classification; labels: toxic, severe_toxic, obscene, threat, insult, identity_hate"
    assert toxic_line in done.stdout


def test_unknown_subcommand_is_a_usage_error():
    done = run("nonsense")
    assert done.returncode == 2 and "invalid choice" in done.stderr
