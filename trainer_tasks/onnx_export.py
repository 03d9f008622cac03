"""``trainer-tasks export MODEL OUTPUT_DIR``: an ONNX copy of a classifier, checked against PyTorch.

Uses ``torch.onnx.export`` (the torch.export-based exporter) and ONNX Runtime rather than
``optimum``: ``optimum-onnx`` 0.1.0, the newest on PyPI, requires ``transformers<4.58`` and would
downgrade this project's transformers 5. The output folder holds ``model.onnx`` (one file, batch
and sequence length dynamic), the model's ``config.json`` (``id2label``, ``problem_type`` and the
tuned ``thresholds`` unchanged), the tokenizer, and ``onnx_export.json`` recording the parity check:
the export is refused unless ONNX Runtime's scores match PyTorch's within ``tolerance`` (1e-4) on
texts of different lengths, batched with padding. ``trainer-tasks predict`` reads the folder.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import time
import warnings

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from tasks import TaskError
from trainer_tasks.files import write_json_atomic
from trainer_tasks.predict import ONNX_FILE, TextClassifier, _cannot_load, model_max_length

EXPORT_RECORD = "onnx_export.json"
DEFAULT_OPSET = 18
DEFAULT_TOLERANCE = 1e-4
# Lengths from one token to past any model limit, so the check crosses padding and truncation.
PARITY_TEXTS = (
    "ok",
    "Stocks fall as the central bank signals higher interest rates",
    "Thanks for fixing the citation, the article reads much better now.",
    "You are an idiot and nobody wants you here.",
    " ".join(["a long comment that keeps going"] * 150),
    "",
    "I will find you",
)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise TaskError(f"ONNX export needs {error.name}: pip install 'trainer-tasks[onnx]'") from None


def export_onnx(
    model_name_or_path: str,
    output_dir: str,
    opset: int = DEFAULT_OPSET,
    tolerance: float = DEFAULT_TOLERANCE,
    check_texts: tuple[str, ...] = PARITY_TEXTS,
) -> dict:
    """Export, copy config and tokenizer, check parity; returns what ``onnx_export.json`` records."""
    _require_onnx()
    if os.path.isfile(os.path.join(model_name_or_path, ONNX_FILE)):
        raise TaskError(f"{model_name_or_path} is already an ONNX export; pass the PyTorch model folder")
    try:
        config = AutoConfig.from_pretrained(model_name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        model = AutoModelForSequenceClassification.from_pretrained(model_name_or_path).eval()
    except (OSError, ValueError) as error:
        raise _cannot_load(model_name_or_path, error) from None
    accepted = inspect.signature(model.forward).parameters
    names = [name for name in tokenizer.model_input_names if name in accepted]
    max_length = model_max_length(tokenizer, config, None)
    # Two examples of different lengths: a batch of one would let the exporter fix the batch size.
    sample = tokenizer(["an example", "a somewhat longer example text"], padding=True, return_tensors="pt")
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=max_length)

    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, ONNX_FILE)
    start = time.perf_counter()
    with warnings.catch_warnings():  # the exporter's notes on how it names dynamic axes: noise to users
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*treespec, LeafSpec", category=FutureWarning)
        _export(model, path, sample, names, batch, sequence, opset)
    seconds = time.perf_counter() - start
    config.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    card = os.path.join(model_name_or_path, "README.md")
    if os.path.isfile(card):
        shutil.copy(card, os.path.join(output_dir, "README.md"))

    difference = max_score_difference(model_name_or_path, output_dir, check_texts)
    record = {
        "source": model_name_or_path,
        "opset": opset,
        "inputs": names,
        "max_length": max_length,
        "export_seconds": round(seconds, 2),
        "parity_texts": len(check_texts),
        "max_abs_score_difference": difference,
        "tolerance": tolerance,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    if not difference <= tolerance:
        os.remove(path)
        raise TaskError(
            f"ONNX export of {model_name_or_path}: scores differ from PyTorch by {difference:.2e} > {tolerance:g}; "
            f"{ONNX_FILE} removed (try another --opset)"
        )
    write_json_atomic(os.path.join(output_dir, EXPORT_RECORD), record)
    return record


def _export(model, path: str, sample, names: list[str], batch, sequence, opset: int) -> None:
    torch.onnx.export(
        model,
        (),
        path,
        kwargs={name: sample[name] for name in names},
        input_names=names,
        output_names=["logits"],
        dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
        opset_version=opset,
        dynamo=True,
        external_data=False,  # one file: small classifiers are far below ONNX's 2 GB limit
        verbose=False,
    )


def max_score_difference(pytorch_model: str, onnx_folder: str, texts: tuple[str, ...]) -> float:
    """Largest absolute difference between the two models' scores, batched as ``predict`` batches."""
    reference = TextClassifier.load(pytorch_model, precision="fp32").predict(list(texts), batch_size=4)
    exported = TextClassifier.load(onnx_folder).predict(list(texts), batch_size=4)
    present = ~reference.empty
    return float(np.max(np.abs(reference.scores[present] - exported.scores[present])))


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


def run_export(args: argparse.Namespace) -> None:
    transformers.utils.logging.disable_progress_bar()
    record = export_onnx(args.model, args.output_dir, opset=args.opset, tolerance=args.tolerance)
    print(
        f"exported {args.model} to {os.path.join(args.output_dir, ONNX_FILE)} in {record['export_seconds']}s; "
        f"max score difference vs PyTorch {record['max_abs_score_difference']:.1e} (tolerance {args.tolerance:g})"
    )
