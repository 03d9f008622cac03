"""Where a training step's time goes: torch's profiler over the measured steps of one run, by operator.

The throughput table says how fast ours is and what share of the matmul peak it reaches; this says
what the rest of the time is spent on (what is left to win), grouped so that a change to one kind of
work (attention, normalisation, the optimizer) can be weighed before it is written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import torch
from transformers import TrainerCallback

# The first category whose words occur in an operator's name takes its time; the order matters
# ("addmm" is a matrix product before "add" is elementwise).
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("matrix products", ("::mm", "addmm", "bmm", "baddbmm", "matmul", "mkldnn", "linear")),
    ("softmax (attention)", ("softmax",)),
    ("layer norm", ("layer_norm",)),
    ("GELU", ("gelu",)),
    ("dropout", ("dropout", "bernoulli", "rand", "philox", "fast_dropout")),
    ("embedding", ("embedding", "index_add", "index_select", "scatter")),
    ("optimizer", ("adam", "_foreach", "optimizer")),
    ("loss", ("cross_entropy", "nll_loss", "log_softmax", "binary_cross_entropy")),
    ("copies and casts", ("copy_", "::to", "_to_copy", "contiguous", "clone", "cat", "empty", "zero", "fill")),
    ("elementwise", ("add", "mul", "div", "sub", "where", "masked", "sum", "mean", "sqrt", "pow", "tanh", "neg")),
]


def category(name: str) -> str:
    lowered = name.lower()
    return next((label for label, words in CATEGORIES if any(word in lowered for word in words)), "other")


@dataclass
class StepProfiler(TrainerCallback):
    """Profiles optimizer steps ``skip + 1`` to ``skip + steps`` (the measured ones: warm-up excluded)."""

    skip: int
    steps: int
    profiler: torch.profiler.profile | None = None
    step: int = 0
    operators: list = field(default_factory=list)

    def on_step_begin(self, args, state, control, **kwargs):
        if self.step == self.skip:
            self.profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self.profiler.__enter__()

    def on_step_end(self, args, state, control, **kwargs):
        self.step += 1
        if self.profiler is not None and self.step == self.skip + self.steps:
            self.profiler.__exit__(None, None, None)
            self.operators = list(self.profiler.key_averages())
            self.profiler = None


def summarize(operators: list, steps: int, step_seconds: float, top: int = 12) -> dict:
    """Self time per operator and per category, in ms per step and as a share of the measured step time.

    Self time counts each operator once (its children excluded), so the shares add up; what the
    profiler does not see (Python between operators, the data collator) is reported as unaccounted.
    """
    self_ms = {op.key: op.self_cpu_time_total / 1000 / steps for op in operators if op.key.startswith("aten::")}
    step_ms = 1000 * step_seconds
    by_category: dict[str, float] = defaultdict(float)
    for name, milliseconds in self_ms.items():
        by_category[category(name)] += milliseconds
    accounted = sum(by_category.values())
    unaccounted = max(step_ms - accounted, 0.0)
    top_operators = sorted(self_ms.items(), key=lambda item: item[1], reverse=True)[:top]
    return {
        "step_ms": step_ms,
        "categories": sorted(
            [{"category": name, "ms_per_step": ms, "share": ms / step_ms} for name, ms in by_category.items()]
            + [{"category": "unaccounted (Python, data)", "ms_per_step": unaccounted, "share": unaccounted / step_ms}],
            key=lambda row: row["ms_per_step"],
            reverse=True,
        ),
        "operators": [
            {"operator": name, "category": category(name), "ms_per_step": ms, "share": ms / step_ms}
            for name, ms in top_operators
        ],
    }
