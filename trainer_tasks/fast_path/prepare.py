"""The one place where the fast path touches a model: for training, and for inference.

Every speed-up of this package replaces ``forward`` on instances of the user's model (types,
parameters and saved files are unchanged), and fast dropout registers an attention function in
transformers' global registry. Applied here, by one call each from the pipeline, they can be read
in one function, switched off together (``--fast_path false``) or one by one, and recorded: the
returned switches go into ``results.json`` and the model card. What is registered globally is
undone by ``FastPath.undo`` when the run's training and evaluation are over, so a process that
goes on (a notebook, a test session) is left with transformers as it found it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trainer_tasks.fast_path import cls_only, mixed_precision
from trainer_tasks.fast_path.embedding_gradient import reuse_embedding_gradient
from trainer_tasks.fast_path.fast_dropout import FAST_DROPOUT_ATTENTION, use_fast_dropout

logger = logging.getLogger(__name__)
OFF = "off (--fast_path false)"


@dataclass
class FastPath:
    """What was switched on for one model, and how to undo what reaches beyond it."""

    switches: dict[str, str] = field(default_factory=dict)
    model: nn.Module | None = None
    attention_before: str | None = None

    def undo(self) -> None:
        """Restore the model's own attention and remove the registered function (idempotent)."""
        if self.model is not None and self.attention_before is not None:
            config = getattr(self.model, "config", None)
            if getattr(config, "_attn_implementation", None) == FAST_DROPOUT_ATTENTION:
                self.model.set_attn_implementation(self.attention_before)
        unregister_fast_dropout_attention()
        self.attention_before = None


def unregister_fast_dropout_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    for registry in (AttentionInterface._global_mapping, ALL_MASK_ATTENTION_FUNCTIONS._global_mapping):
        registry.pop(FAST_DROPOUT_ATTENTION, None)


def prepare_for_training(model: nn.Module, args: Any, *, keep_every_position: bool = False) -> FastPath:
    """Apply the training fast path that ``args`` asks for and this device supports; every switch, in words.

    ``keep_every_position``: a loss reads every position of the last layer (distillation's hidden-state
    cosine), so the [CLS]-only last layer stays off. The CPU-only switches follow the training
    device (``args.device``): under DeepSpeed or FSDP the weights are still on the CPU here and move
    to the GPU later.
    """
    enabled = getattr(args, "fast_path", True)
    on_cpu = args.device.type == "cpu"
    path = FastPath(model=model, attention_before=getattr(getattr(model, "config", None), "_attn_implementation", None))
    switches = path.switches

    if not enabled or not args.cls_only_last_layer:
        switches["cls_only_last_layer"] = OFF if not enabled else "off (--cls_only_last_layer false)"
    elif keep_every_position:
        switches["cls_only_last_layer"] = "off (a loss reads every position of the last layer)"
    else:
        applied = cls_only.cls_only_last_layer(model)
        switches["cls_only_last_layer"] = "on" if applied else f"off ({cls_only.why_not(model)})"

    if not (args.bf16 or args.fp16):
        switches["fp32_head"] = "off (no mixed precision)"
    elif not enabled or not args.fp32_head:
        switches["fp32_head"] = OFF if not enabled else "off (--fp32_head false)"
    else:
        switches["fp32_head"] = "on: " + (", ".join(mixed_precision.fp32_head(model)) or "no head found")

    for name, apply in (("fast_dropout", use_fast_dropout), ("reuse_embedding_gradient", reuse_embedding_gradient)):
        if not enabled or not getattr(args, name):
            switches[name] = OFF if not enabled else f"off (--{name} false)"
        elif not on_cpu:
            switches[name] = "off (not training on the CPU)"
        else:
            switches[name] = "on" if apply(model) else "off (not supported by this model)"
    for name, state in switches.items():
        logger.info("fast path: %s %s", name, state)
    return path


def prepare_for_inference(model: nn.Module, bf16: bool) -> dict[str, str]:
    """The inference fast path: [CLS]-only last layer; under bf16 an fp32 head and linear weights cast once."""
    applied = cls_only.cls_only_last_layer(model)
    switches = {"cls_only_last_layer": "on" if applied else f"off ({cls_only.why_not(model)})"}
    if bf16:
        head = mixed_precision.fp32_head(model)  # bf16 logits would tie the scores of texts the model ranks apart
        cast = mixed_precision.cast_linear_weights(model, torch.bfloat16, skip=head)  # once, not per batch
        switches |= {"fp32_head": "on: " + ", ".join(head), "bf16_linear_weights": f"{cast} layers"}
    return switches
