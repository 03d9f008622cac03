"""``trainer-tasks export MODEL OUT``: an ONNX folder for ``predict`` and ONNX Runtime, checked against PyTorch."""

from __future__ import annotations

import argparse
import os

from trainer_tasks.inference.defaults import DEFAULT_OPSET, DEFAULT_TOLERANCE, ONNX_FILE


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="train.py output folder or Hub model id (PyTorch).")
    parser.add_argument("output_dir", help="Folder to write model.onnx, config.json and the tokenizer to.")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET}).")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="Refuse the export if any score differs from PyTorch by more (default 1e-4).",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Delete what OUTPUT_DIR holds before exporting (without it, a non-empty OUTPUT_DIR is refused).",
    )


def run_export(args: argparse.Namespace) -> None:
    import transformers

    from trainer_tasks.inference.onnx_export import export_onnx  # torch, transformers, onnx: only when exporting

    transformers.utils.logging.disable_progress_bar()
    record = export_onnx(
        args.model, args.output_dir, opset=args.opset, tolerance=args.tolerance, overwrite=args.overwrite
    )
    print(
        f"exported {args.model} to {os.path.join(args.output_dir, ONNX_FILE)} in {record['export_seconds']}s; "
        f"max score difference vs PyTorch {record['max_abs_score_difference']:.1e} (tolerance {args.tolerance:g})"
    )
