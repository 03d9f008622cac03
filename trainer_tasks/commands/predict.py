"""``trainer-tasks predict MODEL INPUT``: classify a file of texts with a saved model, in input order.

No task options: the model's config names the column(s) it reads (``input_columns``, saved by
train.py; "text" for other models), two for a sentence-pair model. ``--text_column`` renames them
for a file whose columns are called otherwise."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tasks import TaskError
from trainer_tasks.inference.defaults import BATCH_SIZE, BATCH_TOKENS, DEFAULT_STRIDE, PRECISIONS, Batching

# The classifier, readers and writers import torch, transformers and pandas: imported in
# `predict_file`, so that `trainer-tasks predict --help` starts in a fraction of a second.

if TYPE_CHECKING:
    from trainer_tasks.inference.classifier import TextClassifier

logger = logging.getLogger(__name__)


def check_text_columns(text_column: Sequence[str]) -> None:
    if not 1 <= len(text_column) <= 2:
        raise TaskError(
            f"--text_column takes one column, or two for a sentence-pair model; got {len(text_column)}: "
            f"{list(text_column)}"
        )


def predict_file(
    model: str,
    input_path: str,
    output: str | None = None,
    text_column: str | Sequence[str] | None = None,
    batching: Batching | None = None,
) -> dict:
    """Read, classify, write; returns a summary (rows, empty, truncated, seconds, backend).

    Everything that needs no model (options, input file, destination) is checked first: a mistake
    there fails in a second, before the model is loaded or any text is classified. ``text_column``:
    the column(s) to read instead of the model's ``input_columns`` (None: the model's own).
    """
    from trainer_tasks.inference.classifier import TextClassifier
    from trainer_tasks.inference.readers import check_input, read_columns
    from trainer_tasks.inference.writers import check_output, prediction_rows, write_predictions

    batching = batching or Batching()
    renamed = [text_column] if isinstance(text_column, str) else text_column
    check_text_columns(("text",) if renamed is None else renamed)
    batching.check()
    check_input(input_path)
    check_output(output, input_path)
    classifier = TextClassifier.load(model, precision=batching.precision, max_length=batching.max_length)
    columns = read_columns(input_path, columns_to_read(classifier, renamed))
    texts, pairs = columns[0], (columns[1] if classifier.pairs else None)
    if classifier.multi_label:
        saved = getattr(classifier.config, "thresholds", None)
        logger.info("thresholds: %s", "saved with the model" if saved else "none saved, 0.5 for every label")
    start = time.perf_counter()
    predictions = classifier.predict(texts, text_pairs=pairs, **batching.classify_options())
    seconds = time.perf_counter() - start
    rows = prediction_rows(texts, predictions, classifier.labels, text_pairs=pairs)
    write_predictions(rows, classifier.labels, output, pairs=classifier.pairs)
    summary = {
        "rows": len(texts),
        "empty": int(predictions.empty.sum()),
        "truncated": int(predictions.truncated.sum()),
        "max_length": classifier.max_length,
        "seconds": seconds,
        "backend": classifier.backend,
    }
    print(
        f"predict: {summary['rows']} rows in {seconds:.1f}s ({summary['rows'] / max(seconds, 1e-9):.0f} texts/s, "
        f"{summary['backend']}); {summary['empty']} empty (kept, no scores); {summary['truncated']} truncated to "
        f"{summary['max_length']} tokens" + (f"; written to {output}" if output else ""),
        file=sys.stderr,
    )
    return summary


def columns_to_read(classifier: TextClassifier, renamed: Sequence[str] | None) -> list[str]:
    """The model's input columns, or the ``--text_column`` names that stand for them in this file.

    The names may change, their number may not: a pair model given one column would classify each
    text with an empty partner, and a single-text model has nowhere to put a second text.
    """
    saved = list(classifier.input_columns)
    if renamed is None:
        return saved
    names = list(renamed)
    if len(names) == len(saved):
        return names
    if classifier.pairs:
        raise TaskError(
            f"the model classifies text pairs (trained on the columns {saved[0]!r}, {saved[1]!r}): "
            f"--text_column takes two names, the file's columns for them (--text_column A B); got {names}"
        )
    raise TaskError(
        f"the model classifies single texts (trained on the column {saved[0]!r}): --text_column takes one name, "
        f"got {names}"
    )


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="train.py output folder, Hub model id, or trainer-tasks export folder (ONNX).")
    parser.add_argument("input", help="CSV/TSV, JSON Lines (.jsonl) or text file (one text per line), or - for stdin.")
    parser.add_argument(
        "--output", default=None, help="Write .csv/.tsv or .jsonl here (default: JSON Lines to stdout)."
    )
    parser.add_argument(
        "--text_column",
        nargs="+",
        default=None,
        metavar="NAME",
        help="Column (CSV) or key (JSON Lines) holding the text, or two for a sentence-pair model "
        "(default: the columns the model was trained on, saved in its config; else text).",
    )
    add_batching_arguments(parser)


def add_batching_arguments(parser: argparse.ArgumentParser) -> None:
    """How texts go through the model: the options ``predict`` and ``evaluate`` share (they share the classifier)."""
    parser.add_argument(
        "--batch_size", type=int, default=BATCH_SIZE, help=f"Most texts per forward pass (default {BATCH_SIZE})."
    )
    parser.add_argument(
        "--batch_tokens",
        type=int,
        default=BATCH_TOKENS,
        help=f"Most padded tokens per forward pass (default {BATCH_TOKENS}); a longer text goes alone.",
    )
    parser.add_argument("--max_length", type=int, default=None, help="Truncate to N tokens (default: model limit).")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="fp32 (exact), bf16 (autocast, fp32 head), or auto (default): bf16 where the CPU or GPU runs it natively.",
    )
    parser.add_argument(
        "--long_text",
        default="truncate",
        choices=("truncate", "chunk"),
        help="Texts past --max_length: truncate (default) or chunk into overlapping windows, scored per text.",
    )
    parser.add_argument(
        "--stride",
        type=int,
        default=DEFAULT_STRIDE,
        help=f"--long_text chunk: tokens windows share ({DEFAULT_STRIDE}).",
    )
    parser.add_argument(
        "--chunk_aggregation",
        default=None,
        choices=("mean", "max"),
        help="--long_text chunk: window logits to text logits (default: mean; max for multi-label).",
    )
    parser.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")


def run_predict(args: argparse.Namespace) -> None:
    import transformers

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers.utils.logging.disable_progress_bar()  # one bar, ours: not one per weight file loaded
    predict_file(args.model, args.input, output=args.output, text_column=args.text_column,
                 batching=Batching.from_args(args))  # fmt: skip
