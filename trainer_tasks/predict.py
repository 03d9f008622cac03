"""``trainer-tasks predict MODEL INPUT``: classify a file of texts with a saved model, in input order.

Faster than a ``pipeline()`` loop because texts are tokenized once, sorted by length and run in
batches padded only to their own longest text (at most ``--batch_tokens`` padded tokens each), then
put back in input order; the last layer computes [CLS] only, and bf16 runs where the hardware has
it natively (``--precision``). Multi-label models
apply the per-label thresholds saved in their config (``config.thresholds``, from
``thresholds.py``; 0.5 where none are saved); single-label models take the softmax argmax.

Input: CSV/TSV (a ``--text_column``), JSON Lines (an object per line with that key, or a bare
string) or plain text (one text per line), plain or gzipped. Every input row gives exactly one
output row: empty texts are kept and flagged (no scores), and texts longer than the model's limit
are truncated to it and flagged, with a count in the log. MODEL is a ``train.py`` output folder, a
Hub id, or a folder from ``trainer-tasks export`` (ONNX Runtime instead of PyTorch).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import inspect
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import pandas as pd
import transformers
from safetensors import SafetensorError
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase

from tasks import TaskError
from tasks.data import ZIP_MAGIC, is_gzip, open_text, readable
from trainer_tasks import speed
from trainer_tasks.preprocessing import HARD_MAX_LENGTH
from trainer_tasks.thresholds import thresholds_from_config

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
# "fp32" is exact. "bf16" runs PyTorch under bf16 autocast with the head in fp32: 1.55x (toxic) to
# 1.74x (news) faster on the 2-core AVX512-BF16 reference CPU (benchmarks/reference/), scores within about 1e-3 and the
# same task metrics. "auto", the default, is bf16 where training's auto mode would pick bf16 (a CPU
# with avx512_bf16/amx_bf16, a GPU with bf16) and fp32 elsewhere, where bf16 would be emulated.
PRECISIONS = ("auto", "fp32", "bf16")
BATCH_SIZE = 128
BATCH_TOKENS = 2048
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SEPARATORS = {".csv": ",", ".tsv": "\t"}
LABEL_SEPARATOR = "|"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Predictions:
    """Per input row: scores (NaN for empty texts), predicted label names and the two flags."""

    scores: np.ndarray
    labels: list[list[str]]
    empty: np.ndarray
    truncated: np.ndarray


def _cannot_load(name: str, error: Exception) -> TaskError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if os.path.isfile(name):
        return TaskError(f"cannot load model {name!r}: it is a file; pass the model's folder (with config.json)")
    if os.path.exists(name):
        return TaskError(f"cannot load model from local folder {name!r}: {first_line}")
    return TaskError(
        f"cannot load model {name!r}: it is not a local folder and the Hub could not serve it ({first_line}). "
        "Offline? Pass a local folder: a train.py --output_dir or a trainer-tasks export folder"
    )


# What a model folder that exists but cannot be loaded raises: a missing or damaged config, tokenizer or
# weights file (safetensors raises its own error for a file cut short).
LOAD_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, SafetensorError)


def check_classifier(name: str, config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase) -> None:
    """Refuse what loads but cannot classify: a base encoder (its head would be random) or a missing tokenizer.

    Without tokenizer files transformers builds a tokenizer from config.json alone whose vocabulary is its
    special tokens: every text becomes [UNK], and the predictions look fine and mean nothing.
    """
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(arch.endswith("ForSequenceClassification") for arch in architectures):
        raise TaskError(
            f"{name} holds a {architectures[0]} without a classification head, so its scores would be random; "
            "pass a fine-tuned classifier (a train.py --output_dir)"
        )
    check_tokenizer(name, tokenizer)


def check_tokenizer(name: str, tokenizer: PreTrainedTokenizerBase) -> None:
    """A tokenizer whose vocabulary is only its special tokens was built from config.json, without tokenizer files."""
    if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
        raise TaskError(
            f"{name} has no tokenizer (its vocabulary is only the special tokens); save the tokenizer it was "
            "trained with into the folder (tokenizer.save_pretrained) or pass the train.py output folder"
        )


def model_max_length(tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig, requested: int | None) -> int:
    """The most tokens the model takes: its tokenizer's and position table's limit, at most 512."""
    limits = [HARD_MAX_LENGTH]
    if tokenizer.model_max_length < 100_000:  # "no limit" is stored as a huge integer
        limits.append(tokenizer.model_max_length)
    if getattr(config, "max_position_embeddings", None):
        limits.append(config.max_position_embeddings)
    limit = min(limits)
    if requested is not None:
        if not 2 < requested <= limit:
            raise TaskError(f"--max_length must be between 3 and the model's limit {limit}, got {requested}")
        return requested
    return limit


def resolve_precision(requested: str, device: str) -> tuple[str, str]:
    """fp32 or bf16 for a PyTorch model on ``device``, and why: auto takes bf16 where training would."""
    if requested != "auto":
        return requested, "set by --precision"
    bf16, reason = speed.resolve_bf16_on_this_machine(None, fp16=False, device=device)
    return ("bf16" if bf16 else "fp32"), reason


def _torch_runner(name: str, config: PretrainedConfig, precision: str) -> tuple[Callable, list[str], str]:
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(name, config=config).eval()
    except LOAD_ERRORS as error:
        raise _cannot_load(name, error) from None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    precision, reason = resolve_precision(precision, device.type)
    logger.info("precision %s (%s)", precision, reason)
    speed.cls_only_last_layer(model)  # exact: the head reads [CLS] only; 14% less work on 6 layers
    bf16 = precision == "bf16"
    if bf16:
        head = speed.fp32_head(model)  # bf16 logits would tie the scores of texts the model ranks apart
        speed.cast_linear_weights(model, torch.bfloat16, skip=head)  # autocast's casts, done once, not per batch
    accepted = inspect.signature(model.forward).parameters

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            inputs = {key: torch.from_numpy(value).to(device) for key, value in batch.items() if key in accepted}
            return model(**inputs).logits.float().cpu().numpy()

    return run, list(accepted), precision


def _onnx_runner(folder: str) -> tuple[Callable, list[str]]:
    try:
        import onnxruntime
    except ImportError:
        raise TaskError(
            f"{folder} holds an ONNX model; install ONNX Runtime: pip install 'trainer-tasks[onnx]'"
        ) from None
    import torch

    options = onnxruntime.SessionOptions()
    # As many threads as PyTorch uses (OMP_NUM_THREADS, torch.set_num_threads): ONNX Runtime's own
    # default spins on every core, 30% slower than one thread on cores shared with other jobs.
    options.intra_op_num_threads = torch.get_num_threads()
    path = os.path.join(folder, ONNX_FILE)
    try:
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except (OSError, *_onnxruntime_errors()) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TaskError(
            f"{path}: ONNX Runtime cannot load it ({first_line}); the file is damaged or needs another ONNX Runtime: "
            "export the model again with trainer-tasks export"
        ) from None
    names = [node.name for node in session.get_inputs()]

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(["logits"], {key: batch[key].astype(np.int64) for key in names})[0]

    return run, names


def _onnxruntime_errors() -> tuple[type[Exception], ...]:
    """ONNX Runtime's load errors (its own classes, not ``OSError``): a damaged or unsupported ``model.onnx``."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NotImplemented")
    return tuple(getattr(state, name) for name in (*names, "RuntimeException") if hasattr(state, name))


def token_budget_batches(
    sorted_lengths: np.ndarray, rows: np.ndarray, batch_size: int, batch_tokens: int
) -> Iterator[np.ndarray]:
    """Consecutive slices of ``rows`` (sorted longest first) with at most ``batch_size`` texts and
    ``batch_tokens`` padded tokens each; a text longer than the budget goes alone.

    Why a token budget: a fixed number of texts makes batches of long comments far larger than
    batches of headlines, and past about 2k tokens the activations fall out of the CPU caches. On the
    2-core reference CPU, 64 texts per batch ran at 0.88x (news) and 0.92x (toxic) the speed of
    the defaults, 128 texts and 2,048 tokens (benchmarks/reference/).
    """
    start = 0
    while start < len(rows):
        longest = max(int(sorted_lengths[start]), 1)  # the first row of a batch is its longest
        count = min(batch_size, max(1, batch_tokens // longest), len(rows) - start)
        yield rows[start : start + count]
        start += count


class TextClassifier:
    """A saved text classifier with its tokenizer, labels and thresholds, behind one ``predict``."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        config: PretrainedConfig,
        run: Callable[[dict[str, np.ndarray]], np.ndarray],
        input_names: Sequence[str],
        max_length: int,
        backend: str,
    ) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.run = run
        self.input_names = set(input_names)
        self.max_length = max_length
        self.backend = backend
        if config.num_labels < 2 or config.problem_type == "regression":
            raise TaskError(f"the model has a regression head (num_labels={config.num_labels}), not a classifier")
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.multi_label = config.problem_type == "multi_label_classification"
        self.thresholds = thresholds_from_config(config, self.labels) if self.multi_label else None

    @classmethod
    def load(cls, name_or_path: str, precision: str = "auto", max_length: int | None = None) -> TextClassifier:
        """From a train.py output folder, a Hub id, or an exported ONNX folder (has ``model.onnx``).

        ``precision``: "fp32" (exact), "bf16", or "auto" (bf16 where the hardware runs it natively).
        """
        if precision not in PRECISIONS:
            raise TaskError(f"--precision must be one of {list(PRECISIONS)}, got {precision!r}")
        try:
            config = AutoConfig.from_pretrained(name_or_path)
            tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        except LOAD_ERRORS as error:
            raise _cannot_load(name_or_path, error) from None
        check_classifier(name_or_path, config, tokenizer)
        if os.path.isfile(os.path.join(name_or_path, ONNX_FILE)):
            if precision == "bf16":
                raise TaskError(f"--precision {precision} applies to PyTorch models; {name_or_path} is ONNX (fp32)")
            run, names = _onnx_runner(name_or_path)
            backend = "onnxruntime"
        else:
            run, names, precision = _torch_runner(name_or_path, config, precision)
            backend = f"pytorch {precision}"
        return cls(tokenizer, config, run, names, model_max_length(tokenizer, config, max_length), backend)

    def encode(self, texts: Sequence[str]) -> tuple[dict[str, list], np.ndarray]:
        """Token ids of every text, cut to ``max_length``, and which texts were cut."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]], dtype=np.int64)
        truncated = np.zeros(len(texts), dtype=bool)
        at_limit = np.nonzero(lengths >= self.max_length)[0]  # only these can have been cut
        if len(at_limit):
            full = self.tokenizer([texts[i] for i in at_limit], truncation=False, verbose=False)["input_ids"]
            truncated[at_limit] = [len(ids) > self.max_length for ids in full]
        keys = [key for key in encoded if key in self.input_names or key == "attention_mask"]
        return {key: encoded[key] for key in keys}, truncated

    def logits(
        self,
        texts: Sequence[str],
        batch_size: int = BATCH_SIZE,
        batch_tokens: int = BATCH_TOKENS,
        progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits in input order, from length-sorted batches; and the truncation flags."""
        encoded, truncated = self.encode(texts)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable")  # longest first: a memory problem shows at once
        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        with tqdm(total=len(texts), unit="texts", disable=None if progress else True, file=sys.stderr) as bar:
            for rows in token_budget_batches(lengths[order], order, batch_size, batch_tokens):
                features = {key: [values[i] for i in rows] for key, values in encoded.items()}
                batch = self.tokenizer.pad(features, return_tensors="np")
                logits[rows] = self.run({key: np.asarray(value) for key, value in batch.items()})
                bar.update(len(rows))
        return logits, truncated

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """Independent sigmoids (multi-label) or a softmax (single-label)."""
        logits = logits.astype(np.float64)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def predict(
        self,
        texts: Sequence[str],
        batch_size: int = BATCH_SIZE,
        batch_tokens: int = BATCH_TOKENS,
        progress: bool = False,
    ) -> Predictions:
        """Scores and labels for every text; empty texts get NaN scores and no labels."""
        if batch_size < 1:
            raise TaskError(f"--batch_size must be a positive number, got {batch_size}")
        if batch_tokens < 1:
            raise TaskError(f"--batch_tokens must be a positive number, got {batch_tokens}")
        empty = np.array([not text.strip() for text in texts], dtype=bool)
        present = np.nonzero(~empty)[0]
        scores = np.full((len(texts), len(self.labels)), np.nan)
        truncated = np.zeros(len(texts), dtype=bool)
        if len(present):
            logits, cut = self.logits([texts[i] for i in present], batch_size, batch_tokens, progress)
            scores[present] = self.scores(logits)
            truncated[present] = cut
        labels: list[list[str]] = []
        for row, row_scores in enumerate(scores):
            if empty[row]:
                labels.append([])
            elif self.multi_label:
                labels.append(
                    [name for name, s, t in zip(self.labels, row_scores, self.thresholds, strict=True) if s >= t]
                )
            else:
                labels.append([self.labels[int(np.argmax(row_scores))]])
        return Predictions(scores=scores, labels=labels, empty=empty, truncated=truncated)


def _format_name(path: str) -> str:
    name = path.lower()
    return name[: -len(".gz")] if name.endswith(".gz") else name


def check_input(path: str) -> None:
    """The input must be a readable data file: checked before the model is loaded, so a typo fails at once.

    A ``.gz`` name whose bytes are not gzip (a file cut to a byte or two, or never compressed) would
    otherwise be read as plain text and classified as garbage rows.
    """
    if path == "-":
        return
    if not os.path.exists(path):
        raise TaskError(f"{path}: no such file; pass a CSV, JSON Lines or text file")
    if os.path.isdir(path):
        raise TaskError(f"{path}: is a folder; pass the CSV, JSON Lines or text file itself, or - for stdin")
    if not os.path.isfile(path):
        return  # a pipe (<(zcat ...)) or device: its first bytes can be read only once, by the reader
    with readable(path), open(path, "rb") as raw:
        magic = raw.read(4)
    if magic == ZIP_MAGIC:
        raise TaskError(f"{path}: is a zip archive (an .xlsx workbook?); export the sheet as CSV (UTF-8) and pass that")
    if path.lower().endswith(".gz") and magic[:2] != GZIP_MAGIC:
        what = "is empty" if not magic else "does not start as gzip data does"
        raise TaskError(f"{path}: named .gz but {what} (cut short or not compressed); compress or fetch it again")


def read_texts(path: str, text_column: str = "text") -> list[str]:
    """One text per input row, in order; blank rows become ``""`` (kept, so the output lines up)."""
    if path == "-":
        return _read_stdin()
    check_input(path)
    name = _format_name(path)
    suffix = os.path.splitext(name)[1]
    with readable(path):  # not UTF-8, damaged gzip, permission denied: one line naming the file
        if suffix in CSV_SEPARATORS:
            return _read_csv(path, CSV_SEPARATORS[suffix], text_column)
        if suffix in JSONL_SUFFIXES:
            return _read_jsonl(path, text_column)
        with open_text(path) as handle:
            lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another one
    return [line.removesuffix("\r") for line in lines]


def _read_stdin() -> list[str]:
    try:
        return [line.rstrip("\r\n") for line in sys.stdin]
    except UnicodeDecodeError as error:
        raise TaskError(
            f"standard input: byte 0x{error.object[error.start : error.start + 1].hex()} is not UTF-8 text; "
            "convert it first (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def _read_csv(path: str, separator: str, text_column: str) -> list[str]:
    try:
        frame = pd.read_csv(
            path,
            sep=separator,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            compression="gzip" if is_gzip(path) else None,
        )
    except pd.errors.EmptyDataError:
        raise TaskError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as error:
        raise TaskError(
            f"{path}: cannot parse as {'tab' if separator == chr(9) else 'comma'}-separated: {error}"
        ) from None
    if text_column not in frame.columns:
        raise TaskError(f"{path}: no column {text_column!r}; found {list(frame.columns)}; pass --text_column NAME")
    return frame[text_column].fillna("").astype(str).tolist()


def _read_jsonl(path: str, text_column: str) -> list[str]:
    texts = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                texts.append("")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise TaskError(
                    f"{path} line {number}: not valid JSON ({error.msg}); expected JSON Lines, one object per line"
                ) from None
            if isinstance(record, str):
                texts.append(record)
                continue
            if not isinstance(record, dict) or text_column not in record:
                found = list(record) if isinstance(record, dict) else type(record).__name__
                raise TaskError(f"{path} line {number}: no {text_column!r} key (found {found}); pass --text_column")
            value = record[text_column]
            if value is not None and not isinstance(value, str):
                raise TaskError(f"{path} line {number}: {text_column!r} must be a string, got {type(value).__name__}")
            texts.append(value or "")
    return texts


def prediction_rows(texts: Sequence[str], predictions: Predictions, label_names: Sequence[str]) -> list[dict]:
    """One JSON-ready record per input row, numbered from 1 in input order."""
    rows = []
    for index, text in enumerate(texts):
        empty = bool(predictions.empty[index])
        scores = (
            None if empty else {name: float(s) for name, s in zip(label_names, predictions.scores[index], strict=True)}
        )
        rows.append(
            {
                "row": index + 1,
                "text": text,
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


def write_predictions(rows: list[dict], label_names: Sequence[str], output: str | None) -> None:
    """CSV when ``output`` ends in .csv/.tsv, else JSON Lines; standard output when ``output`` is None.

    A file is written beside ``output`` and renamed over it at the end, so a run that is stopped or
    fails mid-way (disk full) leaves the old file or none, never half a predictions file.
    """
    suffix = output_suffix(output)
    if output is None:
        _write_rows(sys.stdout, rows, label_names, suffix)
        return
    # Named after its target and this process (not mkstemp: its 0600 mode would stay on the predictions).
    folder, name = os.path.split(os.path.abspath(output))
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as stream:
            _write_rows(stream, rows, label_names, suffix)
        os.replace(temporary, output)
    except OSError as error:
        raise TaskError(
            f"--output {output}: cannot write it ({error.strerror or error}); nothing was written"
        ) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _write_rows(stream: TextIO, rows: list[dict], label_names: Sequence[str], suffix: str) -> None:
    if suffix in CSV_SEPARATORS:
        writer = csv.writer(stream, delimiter=CSV_SEPARATORS[suffix])
        writer.writerow(["row", "text", "labels", *[f"score_{name}" for name in label_names], "empty", "truncated"])
        for row in rows:
            scores = [row["scores"][name] for name in label_names] if row["scores"] else [""] * len(label_names)
            flags = [int(row["empty"]), int(row["truncated"])]
            writer.writerow([row["row"], row["text"], LABEL_SEPARATOR.join(row["labels"]), *scores, *flags])
    else:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")


def check_options(batch_size: int, batch_tokens: int, max_length: int | None, precision: str) -> None:
    """The numbers that need no model, checked before it is loaded (``--max_length``'s upper bound needs it)."""
    if batch_size < 1:
        raise TaskError(f"--batch_size must be a positive number, got {batch_size}")
    if batch_tokens < 1:
        raise TaskError(f"--batch_tokens must be a positive number, got {batch_tokens}")
    if max_length is not None and max_length < 3:
        raise TaskError(f"--max_length must be at least 3 ([CLS], a token, [SEP]), got {max_length}")
    if precision not in PRECISIONS:
        raise TaskError(f"--precision must be one of {list(PRECISIONS)}, got {precision!r}")


def predict_file(
    model: str,
    input_path: str,
    output: str | None = None,
    batch_size: int = BATCH_SIZE,
    batch_tokens: int = BATCH_TOKENS,
    text_column: str = "text",
    max_length: int | None = None,
    precision: str = "auto",
    progress: bool = True,
) -> dict:
    """Read, classify, write; returns a summary (rows, empty, truncated, seconds, backend).

    Everything that needs no model (options, input file, destination) is checked first: a mistake
    there fails in a second, before the model is loaded or any text is classified.
    """
    check_options(batch_size, batch_tokens, max_length, precision)
    check_input(input_path)
    check_output(output, input_path)
    classifier = TextClassifier.load(model, precision=precision, max_length=max_length)
    texts = read_texts(input_path, text_column)
    if classifier.multi_label:
        saved = getattr(classifier.config, "thresholds", None)
        logger.info("thresholds: %s", "saved with the model" if saved else "none saved, 0.5 for every label")
    start = time.perf_counter()
    predictions = classifier.predict(texts, batch_size=batch_size, batch_tokens=batch_tokens, progress=progress)
    seconds = time.perf_counter() - start
    write_predictions(prediction_rows(texts, predictions, classifier.labels), classifier.labels, output)
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


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="train.py output folder, Hub model id, or trainer-tasks export folder (ONNX).")
    parser.add_argument("input", help="CSV/TSV, JSON Lines (.jsonl) or text file (one text per line), or - for stdin.")
    parser.add_argument(
        "--output", default=None, help="Write .csv/.tsv or .jsonl here (default: JSON Lines to stdout)."
    )
    parser.add_argument(
        "--batch_size", type=int, default=BATCH_SIZE, help=f"Most texts per forward pass (default {BATCH_SIZE})."
    )
    parser.add_argument(
        "--batch_tokens",
        type=int,
        default=BATCH_TOKENS,
        help=f"Most padded tokens per forward pass (default {BATCH_TOKENS}); a longer text goes alone.",
    )
    parser.add_argument("--text_column", default="text", help="Column (CSV) or key (JSON Lines) holding the text.")
    parser.add_argument("--max_length", type=int, default=None, help="Truncate to N tokens (default: model limit).")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="fp32 (exact), bf16 (autocast, fp32 head), or auto (default): bf16 where the CPU or GPU runs it natively.",
    )
    parser.add_argument("--no_progress", action="store_true", help="Hide the progress bar.")


def run_predict(args: argparse.Namespace) -> None:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers.utils.logging.disable_progress_bar()  # one bar, ours: not one per weight file loaded
    predict_file(
        args.model,
        args.input,
        output=args.output,
        batch_size=args.batch_size,
        batch_tokens=args.batch_tokens,
        text_column=args.text_column,
        max_length=args.max_length,
        precision=args.precision,
        progress=not args.no_progress,
    )
