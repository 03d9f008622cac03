"""Dropout with cheaper random numbers on CPU: the same Bernoulli masks, from a faster generator.

Why: on CPU, ``torch.nn.Dropout`` draws one Mersenne-Twister number per element. Profiling a
MiniLM training step on news headlines (batch 64, bf16, 2 cores) put ``aten::bernoulli_`` at about
a third of the forward pass, more than the forward matmuls of the feed-forward layers. Here every
64-bit random word gives four 16-bit uniforms, and an element is kept when its uniform is at or
above ``round(p * 65536)``: keep probability ``1 - round(p * 65536) / 65536`` (0.900006 for
p = 0.1, off by less than 8e-6 for any p), the same scaling by ``1 / (1 - p)`` as torch.

The words come from numpy's SFC64 (Chris Doty-Humphrey's Small Fast Chaotic generator, by the
author of the PractRand test suite; per numpy's documentation, streams from distinct seeds do not
overlap for at least 2^64 draws), seeded for each mask by one draw from torch's global generator
through numpy's SeedSequence. It makes the words in about half the time of torch's Mersenne
Twister (0.21 against 0.43 ms for one layer's 110k words; ~5 ms of a ~250 ms news step). Runs stay
reproducible from ``--seed``, and a resumed run restores torch's generator from the checkpoint like
any other dropout. The masks differ from ``torch.nn.Dropout``'s for the same seed: a run with this
dropout is as random as one without, not bitwise equal to it (``--fast_dropout false`` gives
torch's own).

Attention-probability dropout happens inside the attention function, not in a module; BERT-like
models pick that function by name, so ``FAST_DROPOUT_ATTENTION`` is registered with transformers'
``AttentionInterface`` (and the SDPA mask builder): eager attention with this dropout while
training, PyTorch SDPA otherwise. The name lives in the loaded model only: ``config.json`` does not
record it, so a saved model reloads with the default attention anywhere.

GPUs draw dropout masks with a fast counter-based generator already; nothing here is applied there.
"""

from __future__ import annotations

import logging
import types

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

FAST_DROPOUT_ATTENTION = "trainer_tasks_fast_dropout"
_LEVELS = 1 << 16
_OFFSET = 1 << 15  # int16 views of the words run from -32768 to 32767


def random_words(count: int) -> torch.Tensor:
    """``count`` uniform 64-bit words (as int64) from SFC64, seeded by one draw from torch's global generator."""
    seed = int(torch.randint(0, torch.iinfo(torch.int64).max, (1,), dtype=torch.int64).item())
    return torch.from_numpy(np.random.SFC64(seed).random_raw(count).view(np.int64))


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | None = None) -> torch.Tensor:
    """A boolean mask of ``shape`` whose elements are True with probability ``1 - p`` (to 1/65536)."""
    numel = 1
    for size in shape:
        numel *= size
    count = (numel + 3) // 4
    if device is None or torch.device(device).type == "cpu":
        words = random_words(count)
    else:  # an accelerator's own generator, on the device: no host-to-device copy
        words = torch.randint(
            torch.iinfo(torch.int64).min, torch.iinfo(torch.int64).max, (count,), dtype=torch.int64, device=device
        )
    threshold = round(p * _LEVELS) - _OFFSET
    return (words.view(torch.int16)[:numel] >= threshold).view(shape)


def apply_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``torch.nn.functional.dropout`` with the cheaper mask; identity outside training or at p = 0."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    return x * keep_mask(x.shape, p, x.device).to(x.dtype) * (1.0 / (1.0 - p))


def _module_forward(self: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
    return apply_dropout(x, self.p, self.training)


def fast_dropout_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Encoder attention: PyTorch SDPA without dropout, the eager computation with the cheap mask with it.

    With dropout, SDPA on CPU falls back to its unfused math path anyway; measured slower than the
    eager matmul-softmax-matmul for the short inputs of these tasks. ``attention_mask`` is what the
    SDPA mask builder makes: None, or boolean with True where attending is allowed.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if dropout == 0.0 or not module.training or getattr(module, "is_causal", False) or kwargs.get("is_causal"):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1)
    weights = apply_dropout(weights, dropout)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(FAST_DROPOUT_ATTENTION, fast_dropout_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(FAST_DROPOUT_ATTENTION, sdpa_mask)


def use_fast_dropout(model: nn.Module) -> bool:
    """Give every ``nn.Dropout`` of ``model`` the cheaper mask, and its attention too where it can; True if applied.

    Patches ``forward`` on the instances (types, parameters and saved files are unchanged). Only for
    models on the CPU. Attention switches when the model runs SDPA or eager attention and accepts
    another implementation; models with their own attention keep it (their dropout modules still switch).
    """
    parameter = next(model.parameters(), None)
    if parameter is None or parameter.device.type != "cpu":
        return False
    for module in model.modules():
        if isinstance(module, nn.Dropout) and not getattr(module, "_fast_dropout", False):
            module.forward = types.MethodType(_module_forward, module)
            module._fast_dropout = True
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) in ("sdpa", "eager") and hasattr(model, "set_attn_implementation"):
        _register_attention()
        try:
            model.set_attn_implementation(FAST_DROPOUT_ATTENTION)
        except (ValueError, ImportError) as error:  # the model class does not take custom attention
            logger.info("fast dropout: attention kept as %s (%s)", config._attn_implementation, error)
    return True
