"""The output folder: checked before anything loads, locked for the run, never mixed with another run's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, train_args
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import train
from tasks import TaskError, get_task
from trainer_tasks.core.boundary import run_entry_point
from trainer_tasks.training.output_folder import (
    IDENTITY_FILE,
    RunIdentity,
    acquire_lock,
    check_output_dir,
    check_writable,
    make_ready,
)

NEWS = RunIdentity.of(get_task("news"), "model-a")


def errors_of(capsys, argv: list[str]) -> tuple[int, list[str], str]:
    code = run_entry_point(lambda: train.main(argv))
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("error:")], err


def test_an_output_dir_that_is_a_file_or_cannot_be_made_is_refused(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(TaskError, match="is a file, not a folder"):
        check_writable(str(a_file))
    with pytest.raises(TaskError, match="cannot write there"):
        check_writable(str(a_file / "below"))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    task=st.sampled_from(["news", "toxic"]),
    labels_differ=st.booleans(),
    model_differs=st.booleans(),
    foreign=st.booleans(),
    empty=st.booleans(),
    overwrite=st.booleans(),
    resuming=st.booleans(),
)
def test_a_folder_is_used_only_when_it_is_this_runs(tmp_path_factory, task, labels_differ, model_differs, foreign,
                                                    empty, overwrite, resuming):  # fmt: skip
    """Every combination of what a folder holds and what the user asked: refused, or cleared, or kept, by rule."""
    folder = tmp_path_factory.mktemp("out")
    earlier = RunIdentity.of(get_task(task), "model-b" if model_differs else "model-a")
    if labels_differ:
        earlier = RunIdentity(earlier.task, earlier.problem_type, earlier.labels[::-1], earlier.model_name_or_path)
    if not empty:
        if foreign:
            (folder / "my_notes.txt").write_text("the user's own file")
        else:
            make_ready(str(folder), earlier, overwrite=False)
            (folder / "checkpoint-4").mkdir()
    is_other = task != "news" or labels_differ or model_differs
    try:
        check_output_dir(str(folder), NEWS, overwrite=overwrite, resuming=resuming)
        refused = None
    except TaskError as error:
        refused = str(error)
    if empty or overwrite:
        assert refused is None
    elif foreign:
        assert refused is not None and "not written by a trainer-tasks run" in refused
    elif is_other:
        assert refused is not None and "another run's files" in refused and "--overwrite_output_dir" in refused
    else:
        assert (refused is None) == resuming
    if refused is not None:  # a refusal leaves everything as it was
        assert (folder / "my_notes.txt").exists() or (folder / "checkpoint-4").exists()
    if refused is None and overwrite:
        make_ready(str(folder), NEWS, overwrite=True)
        assert sorted(os.listdir(folder)) == [IDENTITY_FILE]


def test_a_folder_locked_by_another_run_is_refused(tmp_path, capsys, tiny_bert, news_csv):
    out = tmp_path / "out"
    out.mkdir()
    lock = acquire_lock(str(out))
    try:
        argv = ["--task", "news", "--data_files", news_csv, *train_args(tiny_bert, str(out))]
        code, errors, err = errors_of(capsys, argv)
    finally:
        lock.release()
    assert code == 2 and "another run is writing to this folder now" in errors[0], err
    assert os.listdir(out) == []


@pytest.mark.slow
def test_two_runs_started_together_into_one_folder_one_is_refused(tmp_path, tiny_bert, news_csv):
    """Real processes: the second launch fails at once while the first one trains on, unharmed."""
    out = tmp_path / "out"
    flags = train_args(tiny_bert, str(out), "--num_train_epochs", "500", "--disable_tqdm", "true")
    command = [sys.executable, str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv, *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / IDENTITY_FILE).exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    still_training = first.poll() is None
    first.terminate()  # SIGTERM: ends with its one line, as a preempted job would
    _, first_err = first.communicate(timeout=120)
    assert still_training, first_err[-2000:]
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert "another run is writing to this folder now" in second.stderr
    assert first.returncode == 143 and "Traceback" not in first_err, first_err[-2000:]
    assert json.loads((out / IDENTITY_FILE).read_text())["task"] == "news"


def test_another_tasks_folder_is_refused_then_cleared_with_overwrite(tmp_path, capsys, tiny_bert, news_csv, toxic_csv):
    out = str(tmp_path / "out")
    quick = ("--num_train_epochs", "1", "--save_strategy", "epoch")
    assert train.main(["--task", "toxic", "--data_files", toxic_csv, *train_args(tiny_bert, out, *quick)])
    before = sorted(os.listdir(out))
    news = ["--task", "news", "--data_files", news_csv, *train_args(tiny_bert, out, *quick)]
    code, errors, err = errors_of(capsys, news)
    assert code == 2 and "holds another run's files (task toxic" in errors[0], err
    assert sorted(os.listdir(out)) == before  # refused: nothing touched
    code, errors, err = errors_of(capsys, [*news, "--resume_from_checkpoint", "auto"])
    assert code == 2 and "another run's files" in errors[0], err  # resuming it would load a 6-label head
    results = train.main([*news, "--overwrite_output_dir"])
    assert results["task"] == "news"
    checkpoints = [name for name in os.listdir(out) if name.startswith("checkpoint-")]
    configs = [json.loads((tmp_path / "out" / name / "config.json").read_text()) for name in checkpoints]
    assert configs and all(config["problem_type"] == "single_label_classification" for config in configs)


def test_a_fresh_run_into_its_own_earlier_run_is_refused_and_resume_continues(tmp_path, capsys, tiny_bert, news_csv):
    out = str(tmp_path / "out")
    argv = ["--task", "news", "--data_files", news_csv, *train_args(tiny_bert, out, "--num_train_epochs", "1",
                                                                    "--save_strategy", "epoch")]  # fmt: skip
    train.main(argv)
    code, errors, err = errors_of(capsys, argv)
    assert code == 2 and "--resume_from_checkpoint auto to continue it" in errors[0], err
    assert train.main([*argv, "--resume_from_checkpoint", "auto"])["task"] == "news"


def test_resume_from_a_checkpoint_of_other_labels_is_refused(tmp_path, capsys, tiny_bert, news_csv, toxic_csv):
    other = str(tmp_path / "toxic")
    train.main(["--task", "toxic", "--data_files", toxic_csv,
                *train_args(tiny_bert, other, "--num_train_epochs", "1", "--save_strategy", "epoch")])  # fmt: skip
    checkpoint = next(os.path.join(other, name) for name in os.listdir(other) if name.startswith("checkpoint-"))
    argv = ["--task", "news", "--data_files", news_csv, "--resume_from_checkpoint", checkpoint,
            *train_args(tiny_bert, str(tmp_path / "news"))]  # fmt: skip
    code, errors, err = errors_of(capsys, argv)
    assert code == 2 and "the checkpoint is of another run" in errors[0] and "labels" in errors[0], err


def test_overwrite_deletes_nothing_when_the_run_is_refused_later(tmp_path, capsys, tiny_bert, news_csv):
    """--overwrite_output_dir clears the folder only once every check passed: a bad option loses no earlier run."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("an earlier result")
    argv = ["--task", "news", "--data_files", news_csv, "--max_seq_length", "1", "--overwrite_output_dir",
            *train_args(tiny_bert, str(out))]  # fmt: skip
    code, errors, err = errors_of(capsys, argv)
    assert code == 2 and "--max_seq_length 1 leaves no room for text" in errors[0], err
    assert (out / "precious.txt").read_text() == "an earlier result"
