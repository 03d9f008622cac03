"""Fast dropout: the keep probability, scaling and reproducibility of torch's, exact outside training."""

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from trainer_tasks.fast_path import fast_dropout
from trainer_tasks.fast_path.fast_dropout import FAST_DROPOUT_ATTENTION, apply_dropout, keep_mask, use_fast_dropout


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9])
def test_keep_rate_matches_the_probability(p):
    torch.manual_seed(0)
    n = 4_000_000
    kept = keep_mask((n,), p).double().mean().item()
    expected = 1 - round(p * 65536) / 65536
    assert abs(expected - (1 - p)) < 8e-6
    assert abs(kept - expected) < 5 * (expected * (1 - expected) / n) ** 0.5


def test_masks_are_independent_across_positions():
    torch.manual_seed(1)
    mask = keep_mask((2_000_000,), 0.5).double()
    # the four 16-bit slices of one word must not be correlated with each other
    pairs = mask.view(-1, 4)
    for a, b in [(0, 1), (1, 2), (2, 3), (0, 3)]:
        correlation = torch.corrcoef(torch.stack([pairs[:, a], pairs[:, b]]))[0, 1].item()
        assert abs(correlation) < 0.01


def test_dropout_scales_like_torch_and_is_identity_outside_training():
    torch.manual_seed(2)
    x = torch.ones(1000, 1000)
    y = apply_dropout(x, 0.25)
    assert set(torch.unique(y).tolist()) == set(torch.unique(torch.nn.functional.dropout(x, 0.25)).tolist())
    assert abs(y.mean().item() - 1.0) < 0.01
    assert apply_dropout(x, 0.25, training=False) is x
    assert apply_dropout(x, 0.0) is x
    assert torch.count_nonzero(apply_dropout(x, 1.0)) == 0
    assert apply_dropout(x.bfloat16(), 0.1).dtype == torch.bfloat16


def test_masks_follow_the_seed():
    torch.manual_seed(3)
    first = keep_mask((10_000,), 0.1)
    torch.manual_seed(3)
    again = keep_mask((10_000,), 0.1)
    torch.manual_seed(4)
    other = keep_mask((10_000,), 0.1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_attention_math_path_equals_sdpa_when_nothing_is_dropped():
    """With a keep probability of 1 the eager path must give SDPA's output, padding mask included."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    torch.manual_seed(5)
    module = torch.nn.Module()
    module.is_causal = False
    query, key, value = (torch.randn(3, 4, 7, 8) for _ in range(3))
    allowed = torch.ones(3, 1, 7, 7, dtype=torch.bool)
    allowed[1, :, :, 5:] = False  # padding at the end of the second sequence
    expected, _ = sdpa_attention_forward(module, query, key, value, allowed, scaling=0.3, dropout=0.0)
    module.train()
    # p below 1/131072 rounds to a zero threshold: every element is kept, but the math path runs
    got, weights = fast_dropout.fast_dropout_attention(module, query, key, value, allowed, scaling=0.3, dropout=1e-9)
    assert weights is not None
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.all(weights[1, :, :, 5:] == 0)


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_distilbert"])
def test_model_keeps_its_results_and_files(fixture, request, tmp_path):
    folder = request.getfixturevalue(fixture)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(
        ["a short text", "another, longer text with padding at the end"], padding=True, return_tensors="pt"
    )
    model.eval()
    before = model(**batch).logits
    assert use_fast_dropout(model)
    assert model.config._attn_implementation == FAST_DROPOUT_ATTENTION
    assert all(getattr(m, "_fast_dropout", False) for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert torch.equal(model(**batch).logits, before)  # evaluation: no dropout, SDPA as before

    model.train()
    torch.manual_seed(0)
    loss = model(**batch, labels=torch.tensor([0, 2])).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)

    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert FAST_DROPOUT_ATTENTION not in json.loads((tmp_path / "config.json").read_text()).values()
    classify = pipeline("text-classification", model=str(tmp_path), device="cpu")
    assert classify.model.config._attn_implementation != FAST_DROPOUT_ATTENTION
    assert len(classify(["a short text"])) == 1


def test_not_applied_to_models_off_the_cpu():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.1)).to("meta")
    assert use_fast_dropout(model) is False
    assert not getattr(model[1], "_fast_dropout", False)
