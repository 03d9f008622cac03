"""Which dtype runs where: bf16 only where the hardware runs it natively, heads kept in fp32.

- ``resolve_bf16``: bf16 autocast is on by default where matrix units run bf16 much faster than
  fp32 (CPUs with ``avx512_bf16``/``amx_bf16``, GPUs with bf16 support) and off elsewhere, where
  it would be emulated and slower.
- ``fp32_head``: the pooler and classification head run in fp32 under bf16 autocast. In bf16
  their outputs keep 8 bits of mantissa: a model early in training gave only 4 distinct logits for
  a rare toxic label over 1,752 comments, which turned its ROC-AUC (and any threshold tuned on
  those scores) into noise. The head is a few hundred multiply-adds per text: no measurable cost.
- ``cast_linear_weights``: for bf16 inference, the linear weights are cast once instead of by
  autocast in every batch (same results).
"""

from __future__ import annotations

import types
from collections.abc import Sequence

import torch

CPUINFO = "/proc/cpuinfo"


# Instruction sets with native bf16 matrix arithmetic. Without them a CPU converts bf16 to fp32 and
# mixed precision only adds casts: measured slower than fp32.
FAST_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def read_cpuinfo(path: str = CPUINFO) -> str:
    """The CPU description of Linux; empty elsewhere (no claim of fast bf16 is then made)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_flags(cpuinfo: str) -> set[str]:
    """The feature flags listed in a ``/proc/cpuinfo`` text (``flags`` on x86, ``Features`` on ARM)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def cpu_has_fast_bf16(cpuinfo: str) -> bool:
    return any(flag in cpu_flags(cpuinfo) for flag in FAST_BF16_CPU_FLAGS)


def resolve_bf16(
    requested: bool | None, *, fp16: bool, device: str, cuda_bf16: bool = False, cpuinfo: str = ""
) -> tuple[bool, str]:
    """Whether to train in bf16 mixed precision, and why.

    ``requested`` is the user's ``--bf16``: True or False are obeyed; None means auto. ``device`` is
    where training runs ("cpu", "cuda" or another accelerator name). Pure: the caller reads the
    hardware, so the decision can be tested for any machine.
    """
    if requested is not None:
        return requested, "set by --bf16"
    if fp16:
        return False, "--fp16 was given"
    if device == "cpu":
        flags = sorted(cpu_flags(cpuinfo) & set(FAST_BF16_CPU_FLAGS))
        if flags:
            return True, f"auto: the CPU has {', '.join(flags)}"
        return False, f"auto: the CPU has none of {', '.join(FAST_BF16_CPU_FLAGS)}, bf16 would be emulated"
    if device == "cuda":
        return (True, "auto: the GPU supports bf16") if cuda_bf16 else (False, "auto: the GPU has no bf16")
    return False, f"auto: not enabled on {device}"


def resolve_bf16_on_this_machine(requested: bool | None, *, fp16: bool, device: str) -> tuple[bool, str]:
    """``resolve_bf16`` with this machine's hardware read for ``device``: its CPU flags or its GPU's bf16."""
    return resolve_bf16(
        requested,
        fp16=fp16,
        device=device,
        cuda_bf16=device == "cuda" and cuda_supports_bf16(),
        cpuinfo=read_cpuinfo() if device == "cpu" else "",
    )


def training_device(use_cpu: bool) -> str:
    """Where ``TrainingArguments`` will put the model, decided before it is built."""
    if use_cpu:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def precision_warnings(training_args) -> list[str]:
    """A precision the user forced that this hardware only emulates: it trains, far slower, so it is recorded."""
    device = training_device(training_args.use_cpu)
    if training_args.bf16 and device == "cpu" and not cpu_has_fast_bf16(read_cpuinfo()):
        return [
            "--bf16 on a CPU without native bf16 (no avx512_bf16/amx_bf16 flag): bf16 matrix products are emulated "
            "and many times slower than fp32; drop --bf16 (the default picks fp32 here)"
        ]
    return []


def cuda_supports_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _fp32_forward(self, *args, **kwargs):
    device_type = next(self.parameters()).device.type
    args = [arg.float() if torch.is_tensor(arg) and arg.is_floating_point() else arg for arg in args]
    with torch.autocast(device_type, enabled=False):
        return type(self).forward(self, *args, **kwargs)


def fp32_head(model: torch.nn.Module) -> list[str]:
    """Run the pooler and every head module beside the base model in fp32, even under autocast; their names.

    Patches ``forward`` on the instances (parameters and saved files are unchanged). Heads are the
    model's direct children other than its base model (``classifier``, DistilBERT's
    ``pre_classifier``); the pooler is the base model's ``pooler``, where there is one.
    """
    prefix = getattr(model, "base_model_prefix", "")
    base = getattr(model, prefix, None)
    modules = {f"{prefix}.pooler": getattr(base, "pooler", None)}
    modules |= {name: child for name, child in model.named_children() if name != prefix}
    patched = []
    for name, module in modules.items():
        if module is None or next(module.parameters(), None) is None:
            continue
        if not getattr(module, "_fp32_head", False):
            module.forward = types.MethodType(_fp32_forward, module)
            module._fp32_head = True
        patched.append(name)
    return patched


def cast_linear_weights(model: torch.nn.Module, dtype: torch.dtype, skip: Sequence[str] = ()) -> int:
    """Store the weights and biases of every ``nn.Linear`` outside ``skip`` in ``dtype``; how many.

    For inference under autocast to ``dtype``: autocast casts these same tensors before each matmul
    and forgets the casts when its context ends, so a per-batch context recasts every weight for
    every batch. Cast once, the results are identical and the copies are gone. Not for training:
    the optimizer must keep fp32 master weights.
    """
    cast = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not any(name == s or name.startswith(f"{s}.") for s in skip):
            module.to(dtype)
            cast += 1
    return cast
