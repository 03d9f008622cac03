"""The fast path: bf16 where the hardware runs it fast, less wasted work, fast length lookups.

Every switch here is exact or was shown as accurate on real data (``benchmarks/throughput.py``):

- ``resolve_bf16``: bf16 autocast is on by default where matrix units run bf16 much faster than
  fp32 (CPUs with ``avx512_bf16``/``amx_bf16``, GPUs with bf16 support) and off elsewhere, where
  it would be emulated and slower.
- ``cls_only_last_layer``: a sequence classifier reads the first ([CLS]) position of the last
  layer and nothing else, so that layer only needs the keys and values of the other positions.
  Computing its queries, output projection and feed-forward for [CLS] alone gives the same logits
  and gradients with about ``5 / (6 * layers)`` less work (14% on 6 layers).
- ``fp32_head``: the pooler and classification head run in fp32 under bf16 autocast. In bf16
  their outputs keep 8 bits of mantissa: a model early in training gave only 4 distinct logits for
  a rare toxic label over 1,752 comments, which turned its ROC-AUC (and any threshold tuned on
  those scores) into noise (macro ROC-AUC 0.71 evaluated in bf16, 0.88 with an fp32 head, same
  weights). The head is a few hundred multiply-adds per text: no measurable cost.
- ``cast_linear_weights``: for bf16 inference, the linear weights are cast once instead of by
  autocast in every batch (same results).
- ``sequence_lengths``: the lengths of tokenized inputs read from Arrow in one call, for length
  grouping without a Python loop over every example.
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Sequence

import torch

logger = logging.getLogger(__name__)

CPUINFO = "/proc/cpuinfo"
# Instruction sets with native bf16 matrix arithmetic. Without them a CPU converts bf16 to fp32 and
# mixed precision only adds casts: measured slower than fp32.
FAST_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")

# Classifiers whose head reads position 0 of the last hidden states and nothing else.
CLS_HEAD_MODELS = {
    "BertForSequenceClassification": "bert",
    "RobertaForSequenceClassification": "bert",
    "XLMRobertaForSequenceClassification": "bert",
    "CamembertForSequenceClassification": "bert",
    "ElectraForSequenceClassification": "bert",
    "DistilBertForSequenceClassification": "distilbert",
}


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


# ----------------------------------------------------------------------------------------------
# [CLS]-only last layer


def _eager_attention(attention_module: torch.nn.Module):
    return sys.modules[type(attention_module).__module__].eager_attention_forward


def _attend_cls(attention, query_linear, key_linear, value_linear, hidden_states, attention_mask):
    """Multi-head attention of the first position over all positions: (batch, 1, hidden)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    batch, length, _ = hidden_states.shape
    head_size = attention.attention_head_size
    query = query_linear(hidden_states[:, :1]).view(batch, 1, -1, head_size).transpose(1, 2)
    key = key_linear(hidden_states).view(batch, length, -1, head_size).transpose(1, 2)
    value = value_linear(hidden_states).view(batch, length, -1, head_size).transpose(1, 2)
    if attention_mask is not None and attention_mask.dim() == 4:
        attention_mask = attention_mask[:, :, :1, :]
    interface = ALL_ATTENTION_FUNCTIONS.get_interface(
        attention.config._attn_implementation, _eager_attention(attention)
    )
    output, _ = interface(
        attention,
        query,
        key,
        value,
        attention_mask,
        dropout=attention.dropout.p if attention.training else 0.0,
        scaling=attention.scaling,
    )
    return output.reshape(batch, 1, -1).contiguous()


def _bert_cls_forward(self, hidden_states, attention_mask=None, *args, **kwargs):
    attention = self.attention.self
    context = _attend_cls(attention, attention.query, attention.key, attention.value, hidden_states, attention_mask)
    attention_output = self.attention.output(context, hidden_states[:, :1])
    return self.feed_forward_chunk(attention_output)


def _distilbert_cls_forward(self, hidden_states, attention_mask=None, **kwargs):
    attention = self.attention
    context = _attend_cls(attention, attention.q_lin, attention.k_lin, attention.v_lin, hidden_states, attention_mask)
    attention_output = self.sa_layer_norm(attention.out_lin(context) + hidden_states[:, :1])
    return self.output_layer_norm(self.ffn(attention_output) + attention_output)


def _last_layer(model: torch.nn.Module, family: str) -> torch.nn.Module | None:
    base = getattr(model, model.base_model_prefix, None)
    if family == "bert":
        layers = getattr(getattr(base, "encoder", None), "layer", None)
    else:
        layers = getattr(getattr(base, "transformer", None), "layer", None)
    return layers[-1] if layers else None


def cls_only_last_layer(model: torch.nn.Module) -> bool:
    """Make the last encoder layer compute the [CLS] position only; True when applied.

    Patches that layer's ``forward`` on this instance: parameters, state dict and saved model are
    unchanged, and every model not in ``CLS_HEAD_MODELS`` (other pooling, decoders) is left as is.
    The last hidden state then has one position, which only the classification head reads.
    """
    family = CLS_HEAD_MODELS.get(type(model).__name__)
    config = getattr(model, "config", None)
    if family is None or config is None or getattr(config, "is_decoder", False):
        return False
    if getattr(config, "add_cross_attention", False) or getattr(config, "output_hidden_states", False):
        return False
    layer = _last_layer(model, family)
    if layer is None:
        return False
    if getattr(layer, "_cls_only", False):
        return True
    forward = _bert_cls_forward if family == "bert" else _distilbert_cls_forward
    layer.forward = types.MethodType(forward, layer)
    layer._cls_only = True
    return True


# ----------------------------------------------------------------------------------------------
# fp32 head


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


# ----------------------------------------------------------------------------------------------
# Lengths


def sequence_lengths(dataset, column: str = "input_ids") -> list[int]:
    """Token counts of a tokenized ``datasets.Dataset``, read from Arrow in one vectorised call."""
    import pyarrow.compute as pc

    table = dataset.with_format("arrow")[:]
    return pc.list_value_length(table.column(column)).to_numpy(zero_copy_only=False).tolist()
