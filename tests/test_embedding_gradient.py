"""The kept word-embedding gradient buffer: the stock gradient bit for bit, in the buffer, in every case."""

import copy

import pytest
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification

from trainer_tasks.fast_path.embedding_gradient import reuse_embedding_gradient
from trainer_tasks.testing import build_tiny_model


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def tiny_model(request, tmp_path_factory):
    folder = build_tiny_model(str(tmp_path_factory.mktemp(request.param)), kind=request.param)
    return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)


def _batch(seed: int, model: nn.Module) -> dict:
    embedding = model.get_input_embeddings()
    vocab, padding_idx = embedding.num_embeddings, embedding.padding_idx
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(padding_idx + 1, vocab, (6, 9), generator=generator)
    input_ids[:, :3] = input_ids[0, 0]  # the same token many times: its row sums many gradients
    input_ids[2:, -3:] = padding_idx
    attention_mask = (input_ids != padding_idx).long()
    labels = torch.randint(0, 3, (6,), generator=generator)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def test_training_steps_give_the_stock_gradients_and_weights(tiny_model):
    """Three optimizer steps side by side: every gradient and every weight equal, the buffer reused."""
    stock, ours = copy.deepcopy(tiny_model), copy.deepcopy(tiny_model)
    assert reuse_embedding_gradient(ours)
    for model in (stock, ours):
        model.train()
    optimizers = [torch.optim.AdamW(model.parameters(), lr=1e-3) for model in (stock, ours)]
    buffers = set()
    for step in range(3):
        batch = _batch(step, stock)
        for model in (stock, ours):
            torch.manual_seed(step)  # the same dropout masks in both models
            model(**batch).loss.backward()
        stock_grads = dict(stock.named_parameters())
        for name, parameter in ours.named_parameters():
            assert torch.equal(parameter.grad, stock_grads[name].grad), (step, name)
        embedding = ours.get_input_embeddings()
        assert embedding.weight.grad.data_ptr() == embedding._embedding_gradient.data_ptr()
        assert embedding.weight.grad[embedding.padding_idx].abs().sum() == 0  # the padding row
        buffers.add(embedding._embedding_gradient.data_ptr())
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    assert len(buffers) == 1
    stock_weights = stock.state_dict()
    for name, tensor in ours.state_dict().items():
        assert torch.equal(tensor, stock_weights[name]), name


def test_accumulating_micro_batches_adds_like_the_stock_gradient(tiny_model):
    stock, ours = copy.deepcopy(tiny_model), copy.deepcopy(tiny_model)
    reuse_embedding_gradient(ours)
    for model in (stock, ours):
        model.train()
        for step in range(2):
            torch.manual_seed(step)
            model(**_batch(10 + step, stock)).loss.backward()
    assert torch.equal(ours.get_input_embeddings().weight.grad, stock.get_input_embeddings().weight.grad)


def test_bf16_autocast_and_evaluation_are_unchanged(tiny_model):
    stock, ours = copy.deepcopy(tiny_model), copy.deepcopy(tiny_model)
    reuse_embedding_gradient(ours)
    batch = _batch(20, stock)
    for model in (stock, ours):
        model.train()
        torch.manual_seed(0)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(**batch).loss.backward()
    assert torch.equal(ours.get_input_embeddings().weight.grad, stock.get_input_embeddings().weight.grad)
    for model in (stock, ours):
        model.eval()
    with torch.no_grad():
        assert torch.equal(ours(**batch).logits, stock(**batch).logits)


def test_not_applied_where_the_stock_gradient_is_needed():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = nn.Embedding(10, 4)
            self.output = nn.Linear(4, 10, bias=False)
            self.output.weight = self.embeddings.weight

        def get_input_embeddings(self) -> nn.Embedding:
            return self.embeddings

    class Wrapped(nn.Module):
        def __init__(self, embedding: nn.Module) -> None:
            super().__init__()
            self.embedding = embedding

        def get_input_embeddings(self) -> nn.Module:
            return self.embedding

    assert not reuse_embedding_gradient(Tied())
    assert not reuse_embedding_gradient(Wrapped(nn.Embedding(10, 4, scale_grad_by_freq=True)))
    assert not reuse_embedding_gradient(Wrapped(nn.Embedding(10, 4, sparse=True)))
    assert not reuse_embedding_gradient(Wrapped(nn.Embedding(10, 4, max_norm=1.0)))
    assert not reuse_embedding_gradient(nn.Linear(2, 2))  # no input embeddings at all
    assert reuse_embedding_gradient(Wrapped(nn.Embedding(10, 4)))
