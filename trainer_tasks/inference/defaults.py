"""The inference options' names and defaults, and ``Batching`` (their values for one command), in a module that
imports no library (only ``TaskError`` and file names).

``trainer-tasks predict --help`` and ``export --help`` show these without loading torch or
transformers; ``classifier`` and ``onnx_export`` use (and re-export) the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks import TaskError
from trainer_tasks.core.output_files import ONNX_FILE  # noqa: F401 (re-exported)

# "fp32" is exact. "bf16" runs PyTorch under bf16 autocast with the head in fp32: 1.55x (toxic) to
# 1.74x (news) faster on the 2-core AVX512-BF16 reference CPU (benchmarks/reference/), scores within about 1e-3 and the
# same task metrics. "auto", the default, is bf16 where training's auto mode would pick bf16 (a CPU
# with avx512_bf16/amx_bf16, a GPU with bf16) and fp32 elsewhere, where bf16 would be emulated.
PRECISIONS = ("auto", "fp32", "bf16")
BATCH_SIZE = 128
BATCH_TOKENS = 2048
DEFAULT_OPSET = 18
DEFAULT_TOLERANCE = 1e-4
DEFAULT_STRIDE = 64  # --long_text chunk: tokens shared by consecutive windows, as train.py's --stride default


@dataclass(frozen=True)
class Batching:
    """How texts go through the classifier: the options ``predict`` and ``evaluate`` share, passed as one value
    from the command line (``from_args``) to ``TextClassifier`` (``classify_options``)."""

    batch_size: int = BATCH_SIZE
    batch_tokens: int = BATCH_TOKENS
    max_length: int | None = None
    precision: str = "auto"
    progress: bool = True
    long_text: str = "truncate"
    stride: int = DEFAULT_STRIDE
    aggregation: str | None = None

    @classmethod
    def from_args(cls, args: Any) -> Batching:
        """From the options ``add_batching_arguments`` declares."""
        return cls(
            batch_size=args.batch_size,
            batch_tokens=args.batch_tokens,
            max_length=args.max_length,
            precision=args.precision,
            progress=not args.no_progress,
            long_text=args.long_text,
            stride=args.stride,
            aggregation=args.chunk_aggregation,
        )

    def check(self) -> None:
        """What needs no model, checked before it is loaded (``--max_length``'s upper bound and ``--stride``'s
        need it: ``TextClassifier`` checks those)."""
        if self.batch_size < 1:
            raise TaskError(f"--batch_size must be a positive number, got {self.batch_size}")
        if self.batch_tokens < 1:
            raise TaskError(f"--batch_tokens must be a positive number, got {self.batch_tokens}")
        if self.max_length is not None and self.max_length < 3:
            raise TaskError(f"--max_length must be at least 3 ([CLS], a token, [SEP]), got {self.max_length}")
        if self.precision not in PRECISIONS:
            raise TaskError(f"--precision must be one of {list(PRECISIONS)}, got {self.precision!r}")

    def classify_options(self) -> dict[str, Any]:
        """The keywords of ``TextClassifier.predict`` / ``logits`` (the model is loaded with the other two)."""
        return {
            "batch_size": self.batch_size,
            "batch_tokens": self.batch_tokens,
            "progress": self.progress,
            "long_text": self.long_text,
            "stride": self.stride,
            "aggregation": self.aggregation,
        }
