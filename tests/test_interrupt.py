"""Ctrl-C and SIGTERM end a run with one line: where the last checkpoint is, and the command that resumes."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, train_args

from trainer_tasks.training.checkpoints import latest_checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("signal_number, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_says_how_to_resume_and_that_command_finishes(tmp_path, tiny_bert, news_csv,
                                                                         signal_number, exit_code):  # fmt: skip
    out = tmp_path / "out"
    flags = train_args(tiny_bert, str(out), "--num_train_epochs", "40", "--save_strategy", "steps", "--save_steps", "5")
    command = [sys.executable, str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv,
               "--max_train_samples", "200", *flags]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    run = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while latest_checkpoint(str(out)) is None and run.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before it could be interrupted"
    run.send_signal(signal_number)
    _, err = run.communicate(timeout=120)

    assert run.returncode == exit_code, err[-3000:]
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith(("interrupted (Ctrl-C):", "terminated (SIGTERM):")), err[-2000:]
    checkpoint = latest_checkpoint(str(out))
    assert f"the last complete checkpoint is {checkpoint}" in last
    resume = shlex.split(last.split("resume with: ", 1)[1])
    assert resume[-2:] == ["--resume_from_checkpoint", "auto"]

    # the printed command, as printed (but fewer epochs, so the test ends soon), finishes the run
    resume[resume.index("--num_train_epochs") + 1] = "2"
    done = subprocess.run(resume, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "results.json").is_file()
