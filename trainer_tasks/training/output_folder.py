"""The output folder of a run: checked before anything loads, locked while the run lasts, never mixed.

A fine-tune writes checkpoints, a model, results and a card into ``--output_dir``. Three ways that
loses work without a word, each refused here:

- two runs writing into one folder at once (their checkpoints and results interleave): the first
  run holds an OS lock on the folder itself (``flock``: released even when the process is killed,
  and no lock file left behind) and a second is refused;
- a folder holding another run's files (another task, labels or base model, or files that no run
  of this project wrote): refused unless ``--overwrite_output_dir``, which clears it; resuming
  from it would load a head of the wrong size;
- a fresh run into a folder of the same run's checkpoints: the old, higher-numbered checkpoints
  would survive beside the new ones and ``--resume_from_checkpoint auto`` would later pick them,
  so it is refused too, naming the two ways on (resume, or overwrite).

``_trainer_tasks_run.json`` records who the folder belongs to. Files starting with ``_`` are left
out of every Hub push (the Trainer's ignore patterns), so it is not published.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from tasks import Task, TaskError
from trainer_tasks.core.files import write_json_atomic
from trainer_tasks.core.output_files import IDENTITY_FILE

logger = logging.getLogger(__name__)

OWN_FILES = (IDENTITY_FILE,)


@dataclass(frozen=True)
class RunIdentity:
    """What must agree for two runs to share a folder: the task, its head and labels, the base model."""

    task: str
    problem_type: str
    labels: tuple[str, ...]
    model_name_or_path: str | None

    @classmethod
    def of(cls, task: Task, model_name_or_path: str) -> RunIdentity:
        return cls(task.name, task.problem_type, tuple(task.labels), model_name_or_path)

    def describe(self) -> str:
        labels = ", ".join(self.labels)
        model = f", model {self.model_name_or_path}" if self.model_name_or_path else ""
        return f"task {self.task} ({self.problem_type}; labels {labels}{model})"

    def differences(self, other: RunIdentity) -> list[str]:
        """What differs (the model is compared only when both know it)."""
        found = [name for name in ("task", "problem_type", "labels") if getattr(self, name) != getattr(other, name)]
        if self.model_name_or_path and other.model_name_or_path and self.model_name_or_path != other.model_name_or_path:
            found.append("model")
        return found


def check_writable(output_dir: str) -> None:
    """Create ``output_dir`` if needed and prove it can be written, before any data or model loads."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise TaskError(f"--output_dir {output_dir}: is a file, not a folder; pass a folder path")
    try:
        os.makedirs(output_dir, exist_ok=True)
        probe = os.path.join(output_dir, f".write-test-{os.getpid()}")
        with open(probe, "w", encoding="utf-8") as handle:
            handle.write("")
        os.unlink(probe)
    except OSError as error:
        raise TaskError(
            f"--output_dir {output_dir}: cannot write there ({error.strerror or error}); pass a folder you can write"
        ) from None


class FolderLock:
    """An exclusive ``flock`` on the folder itself, held until ``release`` or the process ends."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor: int | None = descriptor

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing the descriptor releases the lock
            self.descriptor = None


def acquire_lock(output_dir: str) -> FolderLock | None:
    """Lock ``output_dir`` for this run; a second run into the folder is refused (POSIX; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # Windows: folders cannot be opened for locking
        return None
    descriptor = os.open(output_dir, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise TaskError(
            f"--output_dir {output_dir}: another run is writing to this folder now (it holds the folder's lock); "
            "wait for it to finish, or pass another --output_dir"
        ) from None
    return FolderLock(descriptor)


def identity_in_folder(folder: str) -> RunIdentity | None:
    """Who wrote ``folder``: its identity file, else a saved model's ``config.json`` (runs of older versions)."""
    path = os.path.join(folder, IDENTITY_FILE)
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as handle:
                saved = json.load(handle)
            labels = tuple(saved["labels"])
            return RunIdentity(saved["task"], saved["problem_type"], labels, saved.get("model_name_or_path"))
        except (OSError, ValueError, KeyError, TypeError):
            raise TaskError(f"{path}: damaged; delete it, or pass --overwrite_output_dir to clear the folder") from None
    return identity_in_config(folder)


def identity_in_config(folder: str) -> RunIdentity | None:
    """The head a saved model or checkpoint folder has, read from its ``config.json`` (task unknown: '?')."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
        id2label = config.get("id2label") or {}
        labels = tuple(id2label[key] for key in sorted(id2label, key=int))
        return RunIdentity(str(config.get("finetuning_task") or "?"), str(config.get("problem_type")), labels, None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def same_head(expected: RunIdentity, found: RunIdentity) -> list[str]:
    """Differences that matter for loading weights: problem type and labels (and task/model when both are known).

    A task whose labels come from the data (``--task text``) knows its head only once it has read
    the data: until then (no labels yet) only the task and model are compared.
    """
    unknown = {"task"} if found.task == "?" else set()
    if not expected.labels:
        unknown |= {"problem_type", "labels"}
    return [name for name in expected.differences(found) if name not in unknown]


def contents(output_dir: str) -> list[str]:
    return sorted(name for name in os.listdir(output_dir) if name not in OWN_FILES)


def check_output_dir(output_dir: str, identity: RunIdentity, *, overwrite: bool, resuming: bool) -> None:
    """Refuse a folder that is not this run's to write (read only: nothing is cleared yet)."""
    present = contents(output_dir)
    if not present or overwrite:
        return
    found = identity_in_folder(output_dir) or _identity_of_checkpoints(output_dir)
    shown = ", ".join(present[:5]) + (f" (+{len(present) - 5} more)" if len(present) > 5 else "")
    if found is None:
        raise TaskError(
            f"--output_dir {output_dir}: not empty ({shown}) and not written by a trainer-tasks run; pass an "
            "empty or new folder, or --overwrite_output_dir to delete what is there"
        )
    differs = same_head(identity, found)
    if differs:
        raise TaskError(
            f"--output_dir {output_dir}: holds another run's files ({found.describe()}; this run: "
            f"{identity.describe()}; differs in {', '.join(differs)}); pass another --output_dir, or "
            "--overwrite_output_dir to delete them"
        )
    if not resuming:
        raise TaskError(
            f"--output_dir {output_dir}: holds an earlier run of this task ({shown}); pass "
            "--resume_from_checkpoint auto to continue it, or --overwrite_output_dir to delete it and start over"
        )


def make_ready(output_dir: str, identity: RunIdentity, *, overwrite: bool) -> None:
    """Clear the folder when asked (``--overwrite_output_dir``), then record whose it is."""
    present = contents(output_dir)
    if present and overwrite:
        for name in present:
            path = os.path.join(output_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        logger.warning("--overwrite_output_dir: deleted %d entries of an earlier run from %s", len(present), output_dir)
    write_json_atomic(os.path.join(output_dir, IDENTITY_FILE), asdict(identity) | {"labels": list(identity.labels)})


def _identity_of_checkpoints(output_dir: str) -> RunIdentity | None:
    from trainer_tasks.training.checkpoints import checkpoints_in

    for folder in checkpoints_in(output_dir):
        found = identity_in_config(folder)
        if found is not None:
            return found
    return None


def check_checkpoint_fits(checkpoint: str, identity: RunIdentity) -> None:
    """Refuse to resume from a checkpoint whose head is not this run's (it would fail on a size mismatch)."""
    found = identity_in_config(checkpoint)
    if found is None:
        return
    differs = same_head(identity, found)
    if differs:
        raise TaskError(
            f"--resume_from_checkpoint {checkpoint}: the checkpoint is of another run ({found.describe()}; this run: "
            f"{identity.describe()}; differs in {', '.join(differs)}); resume with the same task and labels, or "
            "start a fresh run in another --output_dir"
        )


class OutputFolderClaim:
    """A locked, checked output folder; ``make_ready`` clears it (if asked) once everything else has been checked."""

    def __init__(self, training_args: Any, identity: RunIdentity) -> None:
        self.training_args = training_args
        self.identity = identity

    def confirm(self, identity: RunIdentity) -> None:
        """``train.py`` step for a task whose labels come from the data: check the folder again with them."""
        self.identity = identity
        args = self.training_args
        with args.main_process_first(desc="checking the output folder"):
            if args.process_index == 0:
                check_output_dir(
                    args.output_dir,
                    identity,
                    overwrite=args.overwrite_output_dir,
                    resuming=bool(args.resume_from_checkpoint),
                )

    def make_ready(self) -> None:
        """``train.py`` step, right before training: an earlier run is deleted only when this one can start."""
        args = self.training_args
        with args.main_process_first(desc="preparing the output folder"):
            if args.process_index == 0:
                make_ready(args.output_dir, self.identity, overwrite=args.overwrite_output_dir)


@contextlib.contextmanager
def claim_output_dir(training_args: Any, identity: RunIdentity) -> Iterator[OutputFolderClaim]:
    """``train.py`` step: check and lock ``--output_dir`` before any data or model loads; the lock is held inside.

    Only the main process locks and checks; the others wait for it (``main_process_first``), so no
    process starts loading data for a folder that turns out not to be usable.
    """
    output_dir = training_args.output_dir
    check_writable(output_dir)
    is_main = training_args.process_index == 0
    lock = acquire_lock(output_dir) if is_main else None
    try:
        with training_args.main_process_first(desc="checking the output folder"):
            if is_main:
                check_output_dir(
                    output_dir,
                    identity,
                    overwrite=training_args.overwrite_output_dir,
                    resuming=bool(training_args.resume_from_checkpoint),
                )
        yield OutputFolderClaim(training_args, identity)
    finally:
        if lock is not None:
            lock.release()
