"""[CLS]-only last layer: a sequence classifier reads position 0 of the last layer and nothing else.

So that layer only needs the keys and values of the other positions. Computing its queries,
output projection and feed-forward for [CLS] alone gives the same logits and gradients with about
``5 / (6 * layers)`` less work (14% on 6 layers). Exact, so it is on by default
(``--cls_only_last_layer``); families whose head reads other positions are left alone.

Per family (checked logit for logit against the unpatched model, padded batches, in
``tests/test_model_families.py``): BERT, RoBERTa (and XLM-R, CamemBERT), ELECTRA and DistilBERT read
position 0 through their own heads; ModernBERT does with ``classifier_pooling="cls"`` (its pre-norm
layer with rotary positions has its own [CLS]-only forward), not with ``"mean"``, which averages
every position. DeBERTa(-v2/v3) is left alone: its disentangled attention adds relative-position
terms computed for every query, which would need a rewrite of its attention, not a patch of a layer.
``why_not`` gives the reason a model stays unpatched, for the log and ``results.json``.
"""

from __future__ import annotations

import logging
import sys
import types

import torch

logger = logging.getLogger(__name__)


# Classifiers whose head reads position 0 of the last hidden states and nothing else.
CLS_HEAD_MODELS = {
    "BertForSequenceClassification": "bert",
    "RobertaForSequenceClassification": "bert",
    "XLMRobertaForSequenceClassification": "bert",
    "CamembertForSequenceClassification": "bert",
    "ElectraForSequenceClassification": "bert",
    "DistilBertForSequenceClassification": "distilbert",
    "ModernBertForSequenceClassification": "modernbert",  # with classifier_pooling "cls" only
}
# Classifiers known to read position 0 whose layers have no [CLS]-only forward here, and why.
NOT_PATCHED = {
    "DebertaV2ForSequenceClassification": "DeBERTa's relative-position attention has no [CLS]-only forward here",
    "DebertaForSequenceClassification": "DeBERTa's relative-position attention has no [CLS]-only forward here",
}


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


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rotate_half) -> torch.Tensor:
    """ModernBERT's ``apply_rotary_pos_emb`` for one tensor: the query and keys here have different lengths."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return ((x.float() * cos) + (rotate_half(x.float()) * sin)).to(x.dtype)


def _modernbert_cls_forward(self, hidden_states, attention_mask=None, position_embeddings=None, **kwargs):
    """ModernBERT's pre-norm layer for position 0: its query (rotated at position 0) over every key.

    The fused ``Wqkv`` is split by rows (query, key, value) so the query is projected for position 0
    alone. The local layers' window is in the mask (SDPA, eager) or ``sliding_window`` (flash).
    """
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    attention = self.attn
    module = sys.modules[type(attention).__module__]
    normed = self.attn_norm(hidden_states)
    batch, length, hidden = normed.shape
    weight, bias = attention.Wqkv.weight, attention.Wqkv.bias
    query = torch.nn.functional.linear(normed[:, :1], weight[:hidden], None if bias is None else bias[:hidden])
    key_value = torch.nn.functional.linear(normed, weight[hidden:], None if bias is None else bias[hidden:])
    key, value = key_value.view(batch, length, 2, -1, attention.head_dim).unbind(dim=-3)
    query = query.view(batch, 1, -1, attention.head_dim).transpose(1, 2)
    key, value = key.transpose(1, 2), value.transpose(1, 2)
    cos, sin = position_embeddings
    query = _rotate(query, cos[:, :1], sin[:, :1], module.rotate_half)
    key = _rotate(key, cos, sin, module.rotate_half)
    if attention_mask is not None and attention_mask.dim() == 4:
        attention_mask = attention_mask[:, :, :1, :]
    interface = ALL_ATTENTION_FUNCTIONS.get_interface(
        attention.config._attn_implementation, module.eager_attention_forward
    )
    output, _ = interface(
        attention,
        query,
        key,
        value,
        attention_mask,
        dropout=attention.attention_dropout if attention.training else 0.0,
        scaling=attention.head_dim**-0.5,
        sliding_window=attention.sliding_window,
        deterministic=attention.deterministic_flash_attn,
        **kwargs,
    )
    output = attention.out_drop(attention.Wo(output.reshape(batch, 1, -1).contiguous()))
    hidden_states = hidden_states[:, :1] + output
    return hidden_states + self.mlp(self.mlp_norm(hidden_states))


FORWARDS = {"bert": _bert_cls_forward, "distilbert": _distilbert_cls_forward, "modernbert": _modernbert_cls_forward}


def _last_layer(model: torch.nn.Module, family: str) -> torch.nn.Module | None:
    base = getattr(model, model.base_model_prefix, None)
    if family == "bert":
        layers = getattr(getattr(base, "encoder", None), "layer", None)
    elif family == "modernbert":
        layers = getattr(base, "layers", None)
    else:
        layers = getattr(getattr(base, "transformer", None), "layer", None)
    return layers[-1] if layers else None


def why_not(model: torch.nn.Module) -> str | None:
    """Why the [CLS]-only last layer would not be exact for ``model`` (or not be applied); None when it is."""
    name = type(model).__name__
    if name in NOT_PATCHED:
        return NOT_PATCHED[name]
    family = CLS_HEAD_MODELS.get(name)
    if family is None:
        return f"{name}: not a classifier known to read the first position only"
    config = getattr(model, "config", None)
    if config is None:
        return f"{name} has no config"
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return f"{name} is configured as a decoder"
    if getattr(config, "output_hidden_states", False):
        return "config.output_hidden_states: every position of the last layer is returned"
    if family == "modernbert" and getattr(config, "classifier_pooling", None) != "cls":
        return f"ModernBERT's classifier_pooling={config.classifier_pooling!r} reads every position"
    if _last_layer(model, family) is None:
        return f"{name}: no encoder layers found"
    return None


def cls_only_last_layer(model: torch.nn.Module) -> bool:
    """Make the last encoder layer compute the [CLS] position only; True when applied.

    Patches that layer's ``forward`` on this instance: parameters, state dict and saved model are
    unchanged, and every model ``why_not`` has a reason for (other pooling, decoders, DeBERTa) is
    left as is. The last hidden state then has one position, which only the classification head reads.
    """
    if why_not(model) is not None:
        return False
    family = CLS_HEAD_MODELS[type(model).__name__]
    layer = _last_layer(model, family)
    if getattr(layer, "_cls_only", False):
        return True
    layer.forward = types.MethodType(FORWARDS[family], layer)
    layer._cls_only = True
    return True


# ----------------------------------------------------------------------------------------------
# fp32 head


# ----------------------------------------------------------------------------------------------
# Lengths
