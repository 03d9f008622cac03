"""``trainer-tasks student TEACHER OUT``: a half-depth student checkpoint copied from a BERT-family model."""

from __future__ import annotations

import argparse


def add_student_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("teacher", help="Checkpoint folder of a BERT-family model (fine-tuned or base).")
    parser.add_argument("output_dir", help="Folder to write the student checkpoint and tokenizer to.")
    parser.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=None,
        help="Teacher layers to keep, in order (default: every other one, 0 2 4 ...).",
    )


def run_student(args: argparse.Namespace) -> None:
    """``trainer-tasks student TEACHER OUT``: write a half-depth copy of TEACHER to OUT."""
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    from trainer_tasks.training.student import COMMAND_NAMES, save_student  # torch, transformers

    hf_logging.disable_progress_bar()  # a bar per weight file loaded would bury the one line that matters
    kept = save_student(args.teacher, args.output_dir, args.layers, COMMAND_NAMES)
    config = AutoConfig.from_pretrained(args.output_dir)
    print(f"student of {args.teacher}: teacher layers {kept} -> {config.num_hidden_layers} layers in {args.output_dir}")
