"""``TextClassifier``: a saved model (PyTorch or ONNX) that classifies texts fast, in input order.

Faster than a ``pipeline()`` loop because texts are tokenized once, sorted by length and run in batches
padded only to their own longest text (at most ``batch_tokens`` padded tokens each), then put back in
input order; the last layer computes [CLS] only, and bf16 runs where the hardware has it natively
(``precision``). Multi-label models apply the per-label thresholds saved in their config
(``config.thresholds``; 0.5 where none are saved); single-label models take the softmax argmax. Empty
texts are kept and flagged (no scores); texts longer than the model's limit are truncated to it and
flagged, or with ``long_text="chunk"`` split into overlapping windows whose logits are aggregated per
text (mean, or max for multi-label; ``trainer_tasks.training.long_text``). A sentence-pair model (two
``config.input_columns``, saved by ``train.py``) takes each row as ``(text, text_pair)``, tokenized as a
pair as in training. The model is a ``train.py`` output folder, a Hub id, or a folder from
``trainer-tasks export`` (ONNX Runtime instead of PyTorch).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from safetensors import SafetensorError
from tqdm.auto import tqdm
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from tasks import TaskError
from trainer_tasks.core.boundary import first_line
from trainer_tasks.core.saved_model import (
    HARD_MAX_LENGTH,
    cannot_load,
    load_classifier_files,
    model_token_limit,
    thresholds_from_config,
)
from trainer_tasks.fast_path import mixed_precision
from trainer_tasks.fast_path.prepare import prepare_for_inference
from trainer_tasks.inference.defaults import BATCH_SIZE, BATCH_TOKENS, DEFAULT_STRIDE, ONNX_FILE, PRECISIONS
from trainer_tasks.training.long_text import AGGREGATIONS, MODES, aggregate, default_aggregation

logger = logging.getLogger(__name__)


@dataclass
class TextPredictions:
    """Per input row: scores (NaN for empty texts), predicted label names and the two flags."""

    scores: np.ndarray
    labels: list[list[str]]
    empty: np.ndarray
    truncated: np.ndarray


# A model without ``config.input_columns`` (from the Hub, or trained before train.py saved them) reads "text".
DEFAULT_INPUT_COLUMNS = ("text",)
# As training and pipeline() cut a pair: tokens come off the longer of the two texts first.
TRUNCATION = "longest_first"


def input_columns(config: PretrainedConfig) -> tuple[str, ...]:
    """The column(s) the model classifies: one text, or two for a sentence pair (``text``, ``text_pair``).

    train.py saves the user's ``--text_column`` names in ``config.input_columns``, so that predicting
    needs no task options: the file is read by the names the model was trained on.
    """
    saved = getattr(config, "input_columns", None)
    if saved is None:
        return DEFAULT_INPUT_COLUMNS
    if not (
        isinstance(saved, list | tuple)
        and 1 <= len(saved) <= 2
        and all(isinstance(name, str) and name for name in saved)
    ):
        raise TaskError(f"the model's config.json has input_columns {saved!r}; expected one or two column names")
    return tuple(saved)


# What a model folder that exists but cannot be loaded raises: a missing or damaged config, tokenizer or
# weights file (safetensors raises its own error for a file cut short).
LOAD_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, SafetensorError)


def model_max_length(tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig, requested: int | None) -> int:
    """The most tokens the model takes: its tokenizer's and position table's limit, at most 512."""
    limit = min(HARD_MAX_LENGTH, model_token_limit(tokenizer, config) or HARD_MAX_LENGTH)
    if requested is not None:
        if not 2 < requested <= limit:
            raise TaskError(f"--max_length must be between 3 and the model's limit {limit}, got {requested}")
        return requested
    return limit


def resolve_precision(requested: str, device: str) -> tuple[str, str]:
    """fp32 or bf16 for a PyTorch model on ``device``, and why: auto takes bf16 where training would."""
    if requested != "auto":
        return requested, "set by --precision"
    bf16, reason = mixed_precision.resolve_bf16_on_this_machine(None, fp16=False, device=device)
    return ("bf16" if bf16 else "fp32"), reason


def _torch_runner(name: str, config: PretrainedConfig, precision: str) -> tuple[Callable, list[str], str]:
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(name, config=config).eval()
    except LOAD_ERRORS as error:
        raise cannot_load(name, error) from None
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    precision, reason = resolve_precision(precision, device.type)
    logger.info("precision %s (%s)", precision, reason)
    bf16 = precision == "bf16"
    logger.info("fast path: %s", prepare_for_inference(model, bf16))
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
        summary = first_line(error)
        raise TaskError(
            f"{path}: ONNX Runtime cannot load it ({summary}); the file is damaged or needs another ONNX Runtime: "
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
        self.input_columns = input_columns(config)

    @property
    def pairs(self) -> bool:
        """Whether the model classifies sentence pairs (two input columns) rather than single texts."""
        return len(self.input_columns) == 2

    @classmethod
    def load(cls, name_or_path: str, precision: str = "auto", max_length: int | None = None) -> TextClassifier:
        """From a train.py output folder, a Hub id, or an exported ONNX folder (has ``model.onnx``).

        ``precision``: "fp32" (exact), "bf16", or "auto" (bf16 where the hardware runs it natively).
        """
        if precision not in PRECISIONS:
            raise TaskError(f"--precision must be one of {list(PRECISIONS)}, got {precision!r}")
        config, tokenizer = load_classifier_files(name_or_path)
        if os.path.isfile(os.path.join(name_or_path, ONNX_FILE)):
            if precision == "bf16":
                raise TaskError(f"--precision {precision} applies to PyTorch models; {name_or_path} is ONNX (fp32)")
            run, names = _onnx_runner(name_or_path)
            backend = "onnxruntime"
        else:
            run, names, precision = _torch_runner(name_or_path, config, precision)
            backend = f"pytorch {precision}"
        return cls(tokenizer, config, run, names, model_max_length(tokenizer, config, max_length), backend)

    def encode(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None = None
    ) -> tuple[dict[str, list], np.ndarray]:
        """Token ids of every text (or pair), cut to ``max_length``, and which were cut.

        A pair is cut as training and ``pipeline()`` cut it ("longest_first"), so the scores match theirs.
        """
        texts, pairs = list(texts), _pairs_for(texts, text_pairs)
        encoded = self.tokenizer(texts, pairs, truncation=TRUNCATION, max_length=self.max_length)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]], dtype=np.int64)
        truncated = np.zeros(len(texts), dtype=bool)
        at_limit = np.nonzero(lengths >= self.max_length)[0]  # only these can have been cut
        if len(at_limit):
            full = self.tokenizer(
                [texts[i] for i in at_limit],
                None if pairs is None else [pairs[i] for i in at_limit],
                truncation=False,
                verbose=False,
            )["input_ids"]
            truncated[at_limit] = [len(ids) > self.max_length for ids in full]
        keys = [key for key in encoded if key in self.input_names or key == "attention_mask"]
        return {key: encoded[key] for key in keys}, truncated

    def encode_windows(self, texts: Sequence[str], stride: int) -> tuple[dict[str, list], np.ndarray]:
        """Every text as windows of ``max_length`` tokens overlapping by ``stride``, and each window's text."""
        room = self.max_length - self.tokenizer.num_special_tokens_to_add(pair=False)
        if not 0 <= stride < room:
            raise TaskError(
                f"--stride must be between 0 and {room - 1} for {self.max_length}-token windows, got {stride}"
            )
        encoded = self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, stride=stride, return_overflowing_tokens=True
        )
        owners = np.asarray(encoded.pop("overflow_to_sample_mapping"), dtype=np.int64)
        keys = [key for key in encoded if key in self.input_names or key == "attention_mask"]
        return {key: encoded[key] for key in keys}, owners

    def logits(
        self,
        texts: Sequence[str],
        batch_size: int = BATCH_SIZE,
        batch_tokens: int = BATCH_TOKENS,
        progress: bool = False,
        text_pairs: Sequence[str] | None = None,
        long_text: str = "truncate",
        stride: int = DEFAULT_STRIDE,
        aggregation: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw logits in input order, from length-sorted batches; and the truncation flags.

        A pair's length is its two texts' together, so the token budget holds for pairs as for texts.
        ``long_text="chunk"``: single texts past ``max_length`` are classified as overlapping windows whose
        logits are aggregated per text (``aggregation``: mean, max; default mean, max for multi-label); none is
        truncated then. Pairs are always truncated (a window of one text has no place for its partner's).
        """
        if long_text not in MODES:
            raise TaskError(f"--long_text must be one of {list(MODES)}, got {long_text!r}")
        if aggregation is not None and aggregation not in AGGREGATIONS:
            raise TaskError(f"--chunk_aggregation must be one of {list(AGGREGATIONS)}, got {aggregation!r}")
        if long_text == "chunk" and text_pairs is None:
            encoded, owners = self.encode_windows(texts, stride)
            window_logits = self._run_encoded(encoded, batch_size, batch_tokens, progress)
            how = aggregation or default_aggregation(self.config.problem_type)
            logits = aggregate(window_logits, owners, how).astype(np.float32)
            if len(owners) > len(texts):
                logger.info(
                    "long texts: %d of %d texts chunked into %d windows (stride %d, %s of logits)",
                    int((np.bincount(owners) > 1).sum()),
                    len(texts),
                    len(owners),
                    stride,
                    how,
                )
            return logits, np.zeros(len(texts), dtype=bool)
        if long_text == "chunk":
            logger.warning("--long_text chunk applies to single texts: sentence pairs are truncated (longest first)")
        encoded, truncated = self.encode(texts, text_pairs)
        return self._run_encoded(encoded, batch_size, batch_tokens, progress), truncated

    def _run_encoded(self, encoded: dict[str, list], batch_size: int, batch_tokens: int, progress: bool) -> np.ndarray:
        """Logits of every encoded row, in row order, from length-sorted token-budget batches."""
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable")  # longest first: a memory problem shows at once
        logits = np.zeros((len(lengths), len(self.labels)), dtype=np.float32)
        with tqdm(total=len(lengths), unit="texts", disable=None if progress else True, file=sys.stderr) as bar:
            for rows in token_budget_batches(lengths[order], order, batch_size, batch_tokens):
                features = {key: [values[i] for i in rows] for key, values in encoded.items()}
                batch = self.tokenizer.pad(features, return_tensors="np")
                logits[rows] = self.run({key: np.asarray(value) for key, value in batch.items()})
                bar.update(len(rows))
        return logits

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
        text_pairs: Sequence[str] | None = None,
        long_text: str = "truncate",
        stride: int = DEFAULT_STRIDE,
        aggregation: str | None = None,
    ) -> TextPredictions:
        """Scores and labels for every text, or every ``(text, text_pair)`` with ``text_pairs``.

        Empty rows (a pair is empty when both its texts are) get NaN scores and no labels. ``long_text``,
        ``stride``, ``aggregation``: as ``logits`` (default: truncate to ``max_length``).
        """
        if batch_size < 1:
            raise TaskError(f"--batch_size must be a positive number, got {batch_size}")
        if batch_tokens < 1:
            raise TaskError(f"--batch_tokens must be a positive number, got {batch_tokens}")
        pairs = _pairs_for(texts, text_pairs)
        empty = np.array(
            [not text.strip() and (pairs is None or not pairs[row].strip()) for row, text in enumerate(texts)],
            dtype=bool,
        )
        present = np.nonzero(~empty)[0]
        scores = np.full((len(texts), len(self.labels)), np.nan)
        truncated = np.zeros(len(texts), dtype=bool)
        if len(present):
            present_pairs = None if pairs is None else [pairs[i] for i in present]
            logits, cut = self.logits(
                [texts[i] for i in present],
                batch_size,
                batch_tokens,
                progress,
                text_pairs=present_pairs,
                long_text=long_text,
                stride=stride,
                aggregation=aggregation,
            )
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
        return TextPredictions(scores=scores, labels=labels, empty=empty, truncated=truncated)


def _pairs_for(texts: Sequence[str], text_pairs: Sequence[str] | None) -> list[str] | None:
    """``text_pairs`` as a list, one per text: a count that differs would pair texts with the wrong partners."""
    if text_pairs is None:
        return None
    pairs = list(text_pairs)
    if len(pairs) != len(texts):
        raise TaskError(f"{len(texts)} texts but {len(pairs)} text pairs; give one text_pair per text")
    return pairs
