"""The inference options' names and defaults, in a module that imports nothing.

``trainer-tasks predict --help`` and ``export --help`` show these without loading torch or
transformers; ``classifier`` and ``onnx_export`` use (and re-export) the same values.
"""

from __future__ import annotations

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
