"""Resume an interrupted run: ``--resume_from_checkpoint PATH``, or ``auto`` for the newest complete one.

A run killed while saving leaves a checkpoint folder with some files missing or cut short. The
Trainer writes ``trainer_state.json`` last, after the weights, optimizer, scheduler and RNG
states, so a folder whose state file parses is complete; ``auto`` skips (and logs) any other.
``transformers.trainer_utils.get_last_checkpoint`` only compares folder names and would pick the
damaged one.

``auto`` with no checkpoint yet starts a fresh run (and says so in the log) instead of failing:
the point of ``auto`` is one command line for the first launch and every relaunch after a
preemption (SLURM ``--requeue``, a restarted pod), and an error would make every job script
special-case the first launch. An explicit path that is missing or incomplete is an error.
"""

from __future__ import annotations

import json
import logging
import os
import re

from transformers import TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from tasks import TaskError
from trainer_tasks.core.output_files import STATE_FILE
from trainer_tasks.core.safe_weights import PICKLE_FILES, SAFE_FILES

logger = logging.getLogger(__name__)

AUTO = "auto"
WEIGHT_FILES = SAFE_FILES + PICKLE_FILES
CHECKPOINT_NAME = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def checkpoint_problem(folder: str) -> str | None:
    """Why ``folder`` cannot be resumed from, or None when it is a complete checkpoint."""
    if not os.path.isdir(folder):
        return "no such folder"
    state_path = os.path.join(folder, STATE_FILE)
    if not os.path.isfile(state_path):
        return f"no {STATE_FILE} (the run stopped while saving it)"
    try:
        with open(state_path, encoding="utf-8") as handle:
            state = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"{STATE_FILE} is cut short or damaged"
    if not isinstance(state, dict) or "global_step" not in state:
        return f"{STATE_FILE} has no global_step"
    if not any(os.path.isfile(os.path.join(folder, name)) for name in WEIGHT_FILES):
        return "no model weights"
    return None


def checkpoints_in(output_dir: str) -> list[str]:
    """``checkpoint-N`` folders of ``output_dir``, newest (highest step) first."""
    if not os.path.isdir(output_dir):
        return []
    found = [
        (int(match.group(1)), os.path.join(output_dir, name))
        for name in os.listdir(output_dir)
        if (match := CHECKPOINT_NAME.match(name)) and os.path.isdir(os.path.join(output_dir, name))
    ]
    return [path for _, path in sorted(found, reverse=True)]


def latest_checkpoint(output_dir: str) -> str | None:
    """The newest complete checkpoint in ``output_dir``, logging each incomplete one it skips."""
    for folder in checkpoints_in(output_dir):
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder
        logger.warning("skipping incomplete checkpoint %s: %s", folder, problem)
    return None


def resolve_checkpoint(training_args: TrainingArguments) -> str | None:
    """The checkpoint folder to resume from (``--resume_from_checkpoint``), or None for a fresh run."""
    requested = training_args.resume_from_checkpoint
    output_dir = training_args.output_dir
    if requested is None or requested == "":
        return None  # a folder holding an earlier run was refused (or cleared) by trainer_tasks.training.output_folder
    if requested.lower() == AUTO:
        folder = latest_checkpoint(output_dir)
        if folder is None:
            logger.warning("--resume_from_checkpoint auto: no complete checkpoint in %s, starting fresh", output_dir)
            return None
    else:
        folder = requested
        problem = checkpoint_problem(folder)
        if problem is not None:
            raise TaskError(
                f"--resume_from_checkpoint {folder}: cannot resume, {problem}; pass a complete checkpoint-N "
                f"folder, or --resume_from_checkpoint {AUTO} for the newest complete one in --output_dir"
            )
    with open(os.path.join(folder, STATE_FILE), encoding="utf-8") as handle:
        step = json.load(handle)["global_step"]
    logger.warning("resuming from %s (step %d)", folder, step)
    return folder


def interruption_advice(output_dir: str, argv: list[str]) -> str:
    """What an interrupted run says last: the newest complete checkpoint and the command that resumes from it."""
    from trainer_tasks.core.secrets import redacted_command

    folder = latest_checkpoint(output_dir)
    if folder is None:
        return (
            f"no complete checkpoint in {output_dir} yet (save more often with --save_strategy steps --save_steps N); "
            "run the same command again to start over (with --overwrite_output_dir if it says the folder is in use)"
        )
    words = list(argv)
    if "--resume_from_checkpoint" not in words and not any(w.startswith("--resume_from_checkpoint=") for w in words):
        words += ["--resume_from_checkpoint", AUTO]
    command = redacted_command(["accelerate", "launch", *words] if "LOCAL_RANK" in os.environ else ["python", *words])
    return f"the last complete checkpoint is {folder}; resume with: {command}"
