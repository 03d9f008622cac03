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

import inspect
import logging
import math
import os
import shutil
import time
import warnings

import numpy as np
import torch
import transformers
from transformers import AutoModelForSequenceClassification

from tasks import TaskError
from trainer_tasks.core.files import write_json_atomic
from trainer_tasks.core.output_files import EXPORT_RECORD
from trainer_tasks.core.saved_model import cannot_load, load_classifier_files
from trainer_tasks.inference.classifier import (
    LOAD_ERRORS,
    ONNX_FILE,
    TextClassifier,
    input_columns,
    model_max_length,
)
from trainer_tasks.inference.defaults import DEFAULT_OPSET, DEFAULT_TOLERANCE

MIN_OPSET = 1  # ONNX numbers opsets from 1; those too old for the model's operators are caught after export
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


def check_export_options(opset: int, tolerance: float) -> None:
    """Values the exporter would take and then ignore or crash on, refused before any work.

    Below the opsets the model's operators exist in, torch's exporter logs a failed conversion and
    silently writes its own opset instead; that case is caught after the export (``exported_opset``).
    """
    newest = _newest_opset()
    if not MIN_OPSET <= opset <= newest:
        raise TaskError(f"--opset must be between {MIN_OPSET} and {newest} (this onnx package's newest), got {opset}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise TaskError(f"--tolerance must be a number >= 0 (the largest score difference allowed), got {tolerance}")


def _newest_opset() -> int:
    try:
        import onnx
    except ImportError:
        return DEFAULT_OPSET  # _require_onnx says what to install
    return int(onnx.defs.onnx_opset_version())


def check_export_folder(model_name_or_path: str, output_dir: str, overwrite: bool) -> None:
    """Refuse to mix an export into a folder that holds other files, unless ``--overwrite`` says to replace them.

    Never clears a folder that holds the model being exported (``export MODEL MODEL --overwrite``).
    """
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise TaskError(f"{output_dir} is a file; OUTPUT_DIR is the folder the export is written to")
    existing = os.path.abspath(output_dir)
    while not os.path.exists(existing):  # the nearest folder that exists: the one the export is created in
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise TaskError(f"{output_dir}: {existing} is a file, so the export folder cannot be created under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TaskError(f"{output_dir}: no permission to write in {existing}; choose another output folder")
    contents = sorted(os.listdir(output_dir)) if os.path.isdir(output_dir) else []
    if not contents:
        return
    if not overwrite:
        shown = ", ".join(contents[:5]) + (f" and {len(contents) - 5} more" if len(contents) > 5 else "")
        raise TaskError(
            f"{output_dir} is not empty (it holds {shown}); pass --overwrite to delete them and export there, "
            "or choose an empty or new folder"
        )
    model = os.path.realpath(model_name_or_path)
    folder = os.path.realpath(output_dir)
    if os.path.exists(model) and (model == folder or model.startswith(folder.rstrip(os.sep) + os.sep)):
        raise TaskError(
            f"{output_dir} holds the model being exported ({model_name_or_path}); --overwrite would delete it: "
            "choose another output folder"
        )


def clear_folder(folder: str) -> None:
    """Delete what is inside ``folder`` (kept itself, with its permissions), for ``--overwrite``."""
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def export_onnx(
    model_name_or_path: str,
    output_dir: str,
    opset: int = DEFAULT_OPSET,
    tolerance: float = DEFAULT_TOLERANCE,
    check_texts: tuple[str, ...] = PARITY_TEXTS,
    overwrite: bool = False,
) -> dict:
    """Export, copy config and tokenizer, check parity; returns what ``onnx_export.json`` records.

    Options and the output folder are checked first; with ``overwrite`` the folder is emptied only
    once the model has loaded, so a wrong MODEL does not cost the previous export.
    """
    check_export_options(opset, tolerance)
    check_export_folder(model_name_or_path, output_dir, overwrite)
    _require_onnx()
    if os.path.isfile(os.path.join(model_name_or_path, ONNX_FILE)):
        raise TaskError(f"{model_name_or_path} is already an ONNX export; pass the PyTorch model folder")
    config, tokenizer = load_classifier_files(model_name_or_path)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(model_name_or_path).eval()
    except LOAD_ERRORS as error:
        raise cannot_load(model_name_or_path, error) from None
    accepted = inspect.signature(model.forward).parameters
    names = [name for name in tokenizer.model_input_names if name in accepted]
    max_length = model_max_length(tokenizer, config, None)
    # Two examples of different lengths: a batch of one would let the exporter fix the batch size. A pair
    # model's examples are pairs, so the traced inputs (token_type_ids among them) are as predict gives them.
    examples = ["an example", "a somewhat longer example text"]
    partners = ["its partner", "another"] if len(input_columns(config)) == 2 else None
    sample = tokenizer(examples, partners, padding=True, return_tensors="pt")
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=max_length)

    try:
        if overwrite and os.path.isdir(output_dir):
            clear_folder(output_dir)
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise TaskError(
            f"{output_dir}: cannot prepare the folder ({error.strerror or error}); choose a folder you can write to"
        ) from None
    path = os.path.join(output_dir, ONNX_FILE)
    start = time.perf_counter()
    with warnings.catch_warnings():  # the exporter's notes on how it names dynamic axes: noise to users
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*treespec, LeafSpec", category=FutureWarning)
        _export(model, path, sample, names, batch, sequence, opset)
    seconds = time.perf_counter() - start
    written = exported_opset(path)
    if written != opset:
        os.remove(path)
        raise TaskError(
            f"the exporter could not convert {model_name_or_path} to opset {opset} (it wrote opset {written}: the "
            f"model uses operators that need a newer one); {ONNX_FILE} removed: try --opset {DEFAULT_OPSET}"
        )
    config.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    card = os.path.join(model_name_or_path, "README.md")
    if os.path.isfile(card):
        shutil.copy(card, os.path.join(output_dir, "README.md"))

    try:
        difference = max_score_difference(model_name_or_path, output_dir, check_texts)
    except TaskError as error:  # ONNX Runtime cannot run what was written (e.g. an opset newer than it knows)
        os.remove(path)
        hint = f"; try --opset {DEFAULT_OPSET}" if opset != DEFAULT_OPSET else ""
        raise TaskError(f"{error} ({ONNX_FILE} removed{hint})") from None
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
    # A failed conversion to an older opset is logged by onnxscript as a warning with a whole traceback,
    # and the export goes on at the exporter's own opset; ``exported_opset`` reports it in one line instead.
    converter_log = logging.getLogger("onnxscript.version_converter")
    level = converter_log.level
    converter_log.setLevel(logging.CRITICAL)
    try:
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
    finally:
        converter_log.setLevel(level)


def exported_opset(path: str) -> int:
    """The default-domain opset ``model.onnx`` really uses (the exporter may fall back to its own)."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    return next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), -1)


def max_score_difference(pytorch_model: str, onnx_folder: str, texts: tuple[str, ...]) -> float:
    """Largest absolute difference between the two models' scores, batched as ``predict`` batches.

    A sentence-pair model is checked on pairs (each text with the list's reverse), so the second
    segment, its separator and truncation of the longer text are compared too.
    """
    original = TextClassifier.load(pytorch_model, precision="fp32")
    pairs = list(reversed(texts)) if original.pairs else None
    reference = original.predict(list(texts), batch_size=4, text_pairs=pairs)
    exported = TextClassifier.load(onnx_folder).predict(list(texts), batch_size=4, text_pairs=pairs)
    present = ~reference.empty
    return float(np.max(np.abs(reference.scores[present] - exported.scores[present])))
