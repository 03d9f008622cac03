"""Writing predictions: one row per input row, in input order, as CSV/TSV, JSON Lines or on standard output.

The destination is checked before any text is classified, and written atomically. Rows of a
sentence-pair model carry both texts: ``text_pair`` follows ``text``."""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import TextIO

from tasks import TaskError
from trainer_tasks.inference.classifier import TextPredictions
from trainer_tasks.inference.readers import CSV_SEPARATORS, JSONL_SUFFIXES

LABEL_SEPARATOR = "|"


def prediction_rows(
    texts: Sequence[str],
    predictions: TextPredictions,
    label_names: Sequence[str],
    text_pairs: Sequence[str] | None = None,
) -> list[dict]:
    """One JSON-ready record per input row, numbered from 1 in input order.

    With ``text_pairs`` each record shows the pair (``text_pair`` after ``text``): the label belongs
    to the two texts together, so a reader needs both to check it.
    """
    rows = []
    for index, text in enumerate(texts):
        empty = bool(predictions.empty[index])
        scores = (
            None if empty else {name: float(s) for name, s in zip(label_names, predictions.scores[index], strict=True)}
        )
        shown = {"text": text} if text_pairs is None else {"text": text, "text_pair": text_pairs[index]}
        rows.append(
            {
                "row": index + 1,
                **shown,
                "labels": predictions.labels[index],
                "scores": scores,
                "empty": empty,
                "truncated": bool(predictions.truncated[index]),
            }
        )
    return rows


def output_suffix(output: str | None) -> str:
    """The output format from the file name (checked before any work is done)."""
    suffix = os.path.splitext(output.lower())[1] if output else ".jsonl"
    if suffix not in CSV_SEPARATORS and suffix not in JSONL_SUFFIXES:
        raise TaskError(f"--output {output}: use a .csv, .tsv or .jsonl file name")
    return suffix


def check_output(output: str | None, input_path: str = "-") -> str:
    """``--output`` must be a file this process can write, not the input: checked before the model is loaded.

    Its folder is not created: a missing folder is more often a typo than a wish, and a typo would
    scatter predictions where nobody looks. Writability is tried for real (a temporary file in the
    folder), because permission bits do not tell: root, read-only mounts, ``/proc``.
    """
    if output is None:
        return output_suffix(output)
    if os.path.isdir(output):
        raise TaskError(f"--output {output} is a folder; name a file in it, e.g. {os.path.join(output, 'out.jsonl')}")
    suffix = output_suffix(output)
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.exists(folder):
        raise TaskError(
            f"--output {output}: the folder {folder} does not exist; create it first (mkdir -p {folder}) "
            "or write somewhere else"
        )
    if not os.path.isdir(folder):
        raise TaskError(f"--output {output}: {folder} is a file, not a folder; choose another --output")
    if input_path != "-" and os.path.exists(output) and os.path.samefile(output, input_path):
        raise TaskError(f"--output {output} is the input file; writing it would destroy the input: choose another")
    if os.path.exists(output) and not os.access(output, os.W_OK):
        raise TaskError(f"--output {output}: the file is not writable (permission denied); choose another --output")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(output)}.", suffix=".tmp")
    except OSError as error:
        raise TaskError(
            f"--output {output}: cannot write in {folder} ({error.strerror or error}); choose a writable folder"
        ) from None
    os.close(handle)
    os.unlink(probe)
    return suffix


def write_predictions(rows: list[dict], label_names: Sequence[str], output: str | None, pairs: bool = False) -> None:
    """CSV when ``output`` ends in .csv/.tsv, else JSON Lines; standard output when ``output`` is None.

    ``pairs``: the rows hold text pairs, so a CSV has a ``text_pair`` column (in its header even with no rows).

    A file is written beside ``output`` and renamed over it at the end, so a run that is stopped or
    fails mid-way (disk full) leaves the old file or none, never half a predictions file.
    """
    suffix = output_suffix(output)
    if output is None:
        _write_rows(sys.stdout, rows, label_names, suffix, pairs)
        return
    # Named after its target and this process (not mkstemp: its 0600 mode would stay on the predictions).
    folder, name = os.path.split(os.path.abspath(output))
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as stream:
            _write_rows(stream, rows, label_names, suffix, pairs)
        os.replace(temporary, output)
    except OSError as error:
        raise TaskError(
            f"--output {output}: cannot write it ({error.strerror or error}); nothing was written"
        ) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _write_rows(stream: TextIO, rows: list[dict], label_names: Sequence[str], suffix: str, pairs: bool) -> None:
    if suffix in CSV_SEPARATORS:
        writer = csv.writer(stream, delimiter=CSV_SEPARATORS[suffix])
        texts = ["text", "text_pair"] if pairs else ["text"]
        writer.writerow(["row", *texts, "labels", *[f"score_{name}" for name in label_names], "empty", "truncated"])
        for row in rows:
            scores = [row["scores"][name] for name in label_names] if row["scores"] else [""] * len(label_names)
            flags = [int(row["empty"]), int(row["truncated"])]
            shown = [row[column] for column in texts]
            writer.writerow([row["row"], *shown, LABEL_SEPARATOR.join(row["labels"]), *scores, *flags])
    else:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
