"""The built wheel is complete: the card renders from an installed copy, not only from the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT
from test_card import results_for


@pytest.mark.slow
def test_the_card_renders_from_the_built_wheel(tmp_path):
    wheels = tmp_path / "wheels"
    had_build = (ROOT / "build").exists()
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if not had_build:  # setuptools builds in the source tree: leave it as it was
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("trainer_tasks-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "model_cards/text_classification.md" in names and "trainer_tasks/hub/card.py" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(results_for("news", {"test_accuracy": 0.91, "test_loss": 0.3})))
    script = (
        "import trainer_tasks, sys; assert trainer_tasks.__file__.startswith(sys.argv[1]), trainer_tasks.__file__\n"
        "from trainer_tasks.commands.main import main; sys.exit(main(['card', sys.argv[2]]))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script, str(site), str(run)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    card = (run / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "0.9100" in card
