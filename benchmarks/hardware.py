"""What the benchmark runs on, the matmul peak it measures there, and the FLOPs a model needs.

The peak is measured, not looked up: a large matmul in each dtype, best of several, in the same
process and run as the training it is compared with, so the share of peak is honest for this
machine (a shared or throttled machine lowers both). FLOPs are counted from the real, unpadded
tokens, so padding never counts as useful work.
"""

from __future__ import annotations

import os
import platform
import time

import torch

from trainer_tasks.fast_path import mixed_precision

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or platform.machine()


def describe() -> dict:
    """Hardware and software of this run, as recorded beside every result."""
    cpuinfo = mixed_precision.read_cpuinfo()
    flags = mixed_precision.cpu_flags(cpuinfo)
    info = {
        "device": device().type,
        "cpu": cpu_model(cpuinfo),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile"}),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_bf16"] = torch.cuda.is_bf16_supported()
    return info


def native_bf16() -> bool:
    """Whether this device runs bf16 matrix products natively: a GPU that supports bf16, or a CPU with
    avx512_bf16/amx_bf16. Elsewhere bf16 is emulated (about 1000x slower than fp32 on an AVX2-only CPU),
    so a bf16 peak or a bf16 row would measure the emulation, not the hardware."""
    from trainer_tasks.fast_path.mixed_precision import cpu_has_fast_bf16, cuda_supports_bf16, read_cpuinfo

    if torch.cuda.is_available():
        return cuda_supports_bf16()
    return cpu_has_fast_bf16(read_cpuinfo())


def peak_dtypes() -> list[str]:
    """The dtypes the device runs natively, whose matmul peak is measured: fp32; bf16 where native; fp16 on a GPU."""
    dtypes = ["fp32", *(["bf16"] if native_bf16() else [])]
    return [*dtypes, "fp16"] if torch.cuda.is_available() else dtypes


# One peak measurement (warm-up and repeats) takes at most about this long: the matrix shrinks until it fits.
PEAK_SECONDS = 10.0
MIN_PEAK_SIZE = 256


def matmul_peak(dtype: str, size: int = 2048, repeats: int = 5, max_seconds: float = PEAK_SECONDS) -> float:
    """Best achieved FLOP/s of a ``size`` x ``size`` matmul in ``dtype`` on this device, in bounded time.

    A first product times the dtype; where ``repeats + 2`` of them would take longer than
    ``max_seconds`` (a slow or emulated dtype), the size halves until they fit, down to 256.
    """
    dev = device()
    generator = torch.Generator(device="cpu").manual_seed(0)
    while True:
        a = torch.randn(size, size, generator=generator).to(dev, DTYPES[dtype])
        b = torch.randn(size, size, generator=generator).to(dev, DTYPES[dtype])
        start = time.perf_counter()
        a @ b
        synchronize()
        first = time.perf_counter() - start
        if first * (repeats + 2) <= max_seconds or size <= MIN_PEAK_SIZE:
            break
        size //= 2
    a @ b
    synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def linear_parameters(model: torch.nn.Module) -> int:
    """Weights that take part in matmuls (all ``nn.Linear``): embeddings are lookups, not FLOPs."""
    return sum(module.weight.numel() for module in model.modules() if isinstance(module, torch.nn.Linear))


def layers_and_width(config) -> tuple[int, int]:
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", 0)
    width = getattr(config, "hidden_size", None) or getattr(config, "dim", 0)
    return int(layers), int(width)


def model_flops(model: torch.nn.Module, tokens: int, squared_lengths: int, training: bool) -> float:
    """FLOPs of the stock model on real tokens: 2 per weight per token forward, 3x that for training,
    plus attention scores and mixing (4 * length^2 * width per layer per sequence, forward).

    The [CLS]-only last layer does less than this; every configuration is credited with the same
    useful work, so FLOP/s compare like samples/s do.
    """
    layers, width = layers_and_width(model.config)
    forward = 2 * linear_parameters(model) * tokens + 4 * layers * width * squared_lengths
    return 3 * forward if training else forward
