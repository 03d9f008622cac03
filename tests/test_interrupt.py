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

from trainer_tasks.core.boundary import Interrupted, run_entry_point
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


@pytest.mark.parametrize("signal_number, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_whose_exception_a_finaliser_swallowed_still_ends_the_command(capsys, monkeypatch, signal_number,
                                                                            exit_code):  # fmt: skip
    """Python prints and drops an exception raised inside ``__del__``: the stop is raised again, never lost."""
    steps_after_the_stop: list[int] = []
    dropped: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: dropped.append(unraisable.exc_value))

    class StoppedWhileFinalised:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal_number)
            time.sleep(0.05)  # the handler runs here, inside __del__, and its exception is dropped

    def work() -> None:
        StoppedWhileFinalised()
        steps_after_the_stop.append(1)  # the swallowed stop let the work go on ...

    def handlers() -> list[object]:
        return [signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)]

    before = handlers()
    assert run_entry_point(work) == exit_code  # ... but the command still ends as stopped
    assert steps_after_the_stop == [1]
    assert [type(error) for error in dropped] == [KeyboardInterrupt if signal_number == signal.SIGINT else Interrupted]
    err = capsys.readouterr().err  # (the situation really arose above: Python dropped the handler's exception)
    assert err.strip().splitlines()[-1].startswith(("interrupted (Ctrl-C):", "terminated (SIGTERM):"))
    assert handlers() == before  # the command's handlers are removed when it ends


def test_training_stops_at_the_next_step_after_a_swallowed_stop():
    """The callback every TaskTrainer holds raises the recorded stop at the next step's end."""
    from trainer_tasks.core import boundary
    from trainer_tasks.training.trainer import StopWhenInterrupted

    callback = StopWhenInterrupted()
    callback.on_step_end(None, None, None)  # nothing received: nothing happens
    boundary._received = signal.SIGTERM
    try:
        with pytest.raises(Interrupted):
            callback.on_step_end(None, None, None)
    finally:
        boundary._received = None
