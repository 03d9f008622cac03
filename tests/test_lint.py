"""The code base stays ruff clean (lint and format), checked where the tests run."""

import shutil
import subprocess

import pytest
from conftest import ROOT


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff(command):
    ruff = shutil.which("ruff") or pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    done = subprocess.run([ruff, *command], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
