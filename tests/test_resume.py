"""Interrupted runs: a real ``train.py`` killed with SIGKILL mid-epoch resumes to the same result.

The process boundary is the point, so the runs are subprocesses, killed from outside as a
scheduler or the OOM killer would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import ROOT, train_args
from transformers import TrainerControl, TrainerState

from tasks import TaskError
from trainer_tasks.record.results import RESULTS_FILE
from trainer_tasks.training.checkpoints import checkpoint_problem, checkpoints_in, latest_checkpoint, resolve_checkpoint
from trainer_tasks.training.epoch_table import STATE_KEY, EpochTableCallback

pytestmark = pytest.mark.slow

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
EPOCHS = 2
TIMINGS = ("test_runtime", "test_samples_per_second", "test_steps_per_second")


def steps_per_epoch(processes: int) -> int:
    return -(-576 // (16 * processes))  # 576 training headlines, batch 16 per process


def command(model: str, data: str, out: str, processes: int, *extra: str) -> list[str]:
    # Checkpoint every 10 steps (never on an epoch boundary: 36 or 18 steps per epoch), logging
    # every 5, so the resumed per-epoch table is exact too.
    flags = train_args(model, out, "--save_strategy", "steps", "--save_steps", "10", "--eval_strategy", "epoch",
                       "--num_train_epochs", str(EPOCHS))  # fmt: skip
    script = [str(ROOT / "train.py"), "--task", "news", "--data_files", data, *flags, *extra]
    if processes == 1:
        return [sys.executable, *script]
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
    launcher += ["--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"), "--main_process_port", "29631"]
    return [*launcher, *script]


def run(args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def step_of(checkpoint: str) -> int:
    return json.loads(Path(checkpoint, "trainer_state.json").read_text())["global_step"]


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the launcher and every worker it started (torchrun's workers have their own sessions)."""
    victims = [process.pid] + [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)
    psutil.wait_procs([psutil.Process(pid) for pid in victims[1:] if psutil.pid_exists(pid)], timeout=30)


def kill_after_checkpoint(args: list[str], out: str, min_step: int) -> str:
    """Start a run, SIGKILL it once a complete checkpoint of ``min_step`` or later exists; return the newest."""
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            checkpoint = latest_checkpoint(out)
            if checkpoint and step_of(checkpoint) >= min_step:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be killed"
    finally:
        kill_tree(process)
    assert process.returncode == -signal.SIGKILL
    checkpoint = latest_checkpoint(out)
    assert checkpoint is not None
    return checkpoint


@pytest.mark.parametrize("processes", [1, 2])
def test_killed_run_resumes_with_auto_to_the_uninterrupted_result(tmp_path, tiny_bert, news_csv, processes):
    reference_dir, killed_dir = str(tmp_path / "reference"), str(tmp_path / "killed")
    run(command(tiny_bert, news_csv, reference_dir, processes))
    reference = json.loads(Path(reference_dir, RESULTS_FILE).read_text())

    # Killed in the second epoch: resuming inside the first would also succeed with transformers'
    # stock length-grouped sampler, whose order for later epochs depends on the global RNG state
    # after the earlier epochs' dropout, which a resumed process cannot restore in time.
    per_epoch = steps_per_epoch(processes)
    checkpoint = kill_after_checkpoint(command(tiny_bert, news_csv, killed_dir, processes), killed_dir, per_epoch)
    step = step_of(checkpoint)
    assert per_epoch < step < EPOCHS * per_epoch, "the kill must land mid-way through epoch 2"
    assert not Path(killed_dir, RESULTS_FILE).exists()

    done = run(command(tiny_bert, news_csv, killed_dir, processes, "--resume_from_checkpoint", "auto"))
    assert f"resuming from {checkpoint} (step {step})" in done.stderr
    resumed = json.loads(Path(killed_dir, RESULTS_FILE).read_text())

    # Same seed, same data order, same dropout masks from the restored RNG: the same model.
    assert resumed["training"]["global_steps"] == reference["training"]["global_steps"] == EPOCHS * per_epoch
    for key, value in reference["test_metrics"].items():
        if key not in TIMINGS:
            assert resumed["test_metrics"][key] == pytest.approx(value, rel=1e-6, abs=1e-7), key
    # The per-epoch table survives the kill: every epoch, the same losses as without it.
    assert [row["epoch"] for row in resumed["epochs"]] == list(range(1, EPOCHS + 1))
    for got, want in zip(resumed["epochs"], reference["epochs"], strict=True):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-6)
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-6)


def test_auto_skips_a_checkpoint_cut_short_while_saving(tmp_path):
    good, torn, empty = (tmp_path / f"checkpoint-{step}" for step in (10, 20, 30))
    for folder in (good, torn, empty):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")
    (good / "trainer_state.json").write_text(json.dumps({"global_step": 10}))
    (torn / "trainer_state.json").write_text('{"global_step": 20, "log_hist')  # killed mid-write
    assert checkpoints_in(str(tmp_path)) == [str(empty), str(torn), str(good)]
    assert "no trainer_state.json" in checkpoint_problem(str(empty))
    assert "cut short" in checkpoint_problem(str(torn))
    assert latest_checkpoint(str(tmp_path)) == str(good)


class Args:
    """The two fields ``resolve_checkpoint`` reads, as on ``TrainingArguments``."""

    def __init__(self, resume: str | None, output_dir: str) -> None:
        self.resume_from_checkpoint, self.output_dir = resume, output_dir


def test_auto_without_checkpoints_starts_fresh_and_says_so(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="trainer_tasks.training.checkpoints"):
        assert resolve_checkpoint(Args("auto", str(tmp_path / "new-run"))) is None
    assert "no complete checkpoint" in caplog.text and "starting fresh" in caplog.text


def test_explicit_checkpoint_that_is_incomplete_is_an_error(tmp_path):
    (tmp_path / "checkpoint-5").mkdir()
    with pytest.raises(
        TaskError, match=r"checkpoint-5: cannot resume, no trainer_state\.json.*--resume_from_checkpoint auto"
    ):
        resolve_checkpoint(Args(str(tmp_path / "checkpoint-5"), str(tmp_path)))
    with pytest.raises(TaskError, match="no such folder"):
        resolve_checkpoint(Args(str(tmp_path / "checkpoint-9"), str(tmp_path)))


def test_a_fresh_run_resolves_no_checkpoint(tmp_path):
    """A folder holding checkpoints is refused earlier (``training.output_folder``), never silently mixed."""
    (tmp_path / "checkpoint-10").mkdir()
    assert resolve_checkpoint(Args(None, str(tmp_path))) is None


WRITER = """
import sys
sys.path.insert(0, {root!r})
from trainer_tasks.core.files import write_json_atomic, write_text_atomic  # what write_results writes with
results = {{"test_metrics": {{"test_accuracy": 0.5}}, "padding": ["x" * 100] * 50000}}
print("writing", flush=True)
i = 0
while True:
    results["test_metrics"]["test_accuracy"] = i
    write_json_atomic({out!r} + "/results.json", results)
    write_text_atomic({out!r} + "/results.md", "| metric |\\n" * 20000)
    i += 1
"""


def test_kill_during_result_writes_never_leaves_a_partial_file(tmp_path):
    """SIGKILL a process that keeps rewriting a 5 MB results.json, at a different moment each time:
    the file is always the last complete version, never a truncated one."""
    out = Path(tmp_path / "out")
    script = WRITER.format(root=str(ROOT), out=str(out))
    for attempt in range(10):
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=ENV, text=True)
        assert process.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 60
        while not (out / RESULTS_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.013 * attempt)  # then kill at a different point of a later rewrite each time
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
        payload = json.loads((out / RESULTS_FILE).read_text())  # a partial file would not parse
        assert len(payload["padding"]) == 50000
        if (out / "results.md").exists():
            assert (out / "results.md").read_text().count("| metric |") == 20000
    # a kill mid-write can leave a temporary behind, named for what it was, never the file itself
    assert all(name.startswith((".results.json.", ".results.md.")) for name in os.listdir(out) if name.endswith(".tmp"))


def test_epoch_table_restores_a_mid_epoch_state_and_closes_an_epoch_cut_at_its_last_step():
    row = {"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "val_metric": 0.5, "train_time": 2.0, "val_time": 0.1}
    saved = {"rows": [{**row, "total_time": 2.1}], "losses": [[0.8, 4], [0.6, 4]], "epoch_elapsed": 1.5}
    mid = TrainerState(global_step=44, epoch=1.22)
    mid.stateful_callbacks = {STATE_KEY: {**saved, "run_elapsed": 3.6}}
    table = EpochTableCallback("accuracy")
    table.on_train_begin(None, mid, TrainerControl())
    table.on_epoch_begin(None, mid, TrainerControl())  # the resumed epoch keeps the losses it logged
    assert [r.epoch for r in table.rows] == [1] and table._losses == [(0.8, 4), (0.6, 4)]

    # saved on the last step of epoch 2, before the epoch ended: the Trainer goes on with epoch 3
    boundary = TrainerState(global_step=72, epoch=2.0)
    boundary.stateful_callbacks = {STATE_KEY: {**saved, "run_elapsed": 5.0}}
    table = EpochTableCallback("accuracy")
    table.on_train_begin(None, boundary, TrainerControl())
    assert [r.epoch for r in table.rows] == [1, 2]
    assert table.rows[1].train_loss == pytest.approx(0.7) and table.rows[1].val_loss is None
    assert table._losses == [] and not table._resumed_mid_epoch
