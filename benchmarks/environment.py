"""Process settings the benchmark scripts start with, before torch or transformers are imported."""

from __future__ import annotations

import os


def set_defaults(threads: str | None = None) -> None:
    """Offline Hub and datasets, quiet tokenizers; with ``threads``, the OpenMP thread count.

    Every value is a default: what the caller's environment sets wins. ``threads`` applies unless
    ``OMP_NUM_THREADS`` is set, and ``BENCHMARK_THREADS`` replaces it (one thread suits a CPU
    shared with other jobs, where OpenMP threads spin at barriers waiting for a core).
    """
    if threads is not None:
        os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("BENCHMARK_THREADS", threads))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
