"""The fast path is applied in one place, switched off as a whole or one by one, recorded, and undone."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from transformers import AttentionInterface, AutoModelForSequenceClassification

from trainer_tasks.fast_path.fast_dropout import FAST_DROPOUT_ATTENTION
from trainer_tasks.fast_path.prepare import OFF, prepare_for_training
from trainer_tasks.training.arguments import TaskTrainingArguments

SWITCHES = ("cls_only_last_layer", "fast_dropout", "reuse_embedding_gradient", "fp32_head")


@pytest.fixture(scope="module")
def model(tiny_bert):
    return AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=3)


def state(model) -> dict[str, bool]:
    """What a switch leaves on the model instance, read back from the model itself."""
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    return {
        "cls_only_last_layer": bool(getattr(model.bert.encoder.layer[-1], "_cls_only", False)),
        "fast_dropout": all(getattr(m, "_fast_dropout", False) for m in dropouts),
        "reuse_embedding_gradient": bool(getattr(model.get_input_embeddings(), "_reuses_gradient", False)),
    }


@pytest.mark.parametrize("flags", list(itertools.product([True, False], repeat=4)))
def test_each_switch_follows_its_flag_and_the_master_switch(tmp_path, model, flags):
    fast_path, cls_only, dropout, embedding = flags
    args = TaskTrainingArguments(output_dir=str(tmp_path), report_to="none", bf16=False, fast_path=fast_path,
                                 cls_only_last_layer=cls_only, fast_dropout=dropout,
                                 reuse_embedding_gradient=embedding)  # fmt: skip
    copy_ = copy.deepcopy(model)
    path = prepare_for_training(copy_, args)
    try:
        expected = {"cls_only_last_layer": fast_path and cls_only, "fast_dropout": fast_path and dropout,
                    "reuse_embedding_gradient": fast_path and embedding}  # fmt: skip
        assert state(copy_) == expected
        assert set(path.switches) == set(SWITCHES)
        for name, on in expected.items():
            assert path.switches[name].startswith("on") is on
            if not fast_path:
                assert path.switches[name] == OFF
        assert path.switches["fp32_head"] == "off (no mixed precision)"
    finally:
        path.undo()


def test_distillation_keeps_every_position(tmp_path, model):
    args = TaskTrainingArguments(output_dir=str(tmp_path), report_to="none", bf16=False)
    path = prepare_for_training(copy.deepcopy(model), args, keep_every_position=True)
    path.undo()
    assert path.switches["cls_only_last_layer"].startswith("off (a loss reads every position")


def test_the_attention_registered_for_the_run_is_removed_when_it_ends(tmp_path, model):
    args = TaskTrainingArguments(output_dir=str(tmp_path), report_to="none", bf16=False)
    copy_ = copy.deepcopy(model)
    before = copy_.config._attn_implementation
    path = prepare_for_training(copy_, args)
    assert copy_.config._attn_implementation == FAST_DROPOUT_ATTENTION
    assert FAST_DROPOUT_ATTENTION in AttentionInterface._global_mapping
    path.undo()
    assert copy_.config._attn_implementation == before
    assert FAST_DROPOUT_ATTENTION not in AttentionInterface._global_mapping
    path.undo()  # idempotent


def test_a_run_records_its_switches_and_leaves_transformers_as_it_found_it(tmp_path, tiny_bert, news_csv):
    from conftest import train_args

    import train

    results = train.main(["--task", "news", "--data_files", news_csv,
                          *train_args(tiny_bert, str(tmp_path / "o"), "--num_train_epochs", "1")])  # fmt: skip
    assert results["fast_path"]["fast_dropout"] == "on" and results["fast_path"]["cls_only_last_layer"] == "on"
    assert FAST_DROPOUT_ATTENTION not in AttentionInterface._global_mapping
    assert "fast path: fast_dropout" in (tmp_path / "o" / "README.md").read_text()
    off = train.main(["--task", "news", "--data_files", news_csv, "--fast_path", "false",
                      *train_args(tiny_bert, str(tmp_path / "p"), "--num_train_epochs", "1")])  # fmt: skip
    assert set(off["fast_path"].values()) <= {OFF, "off (no mixed precision)"}


@pytest.mark.parametrize("device", ["cuda", "xpu", "mps"])
def test_cpu_only_switches_are_off_on_any_accelerator(model, device):
    """The device decision simulated: TrainingArguments cannot be built for a GPU here, so the fast path is
    given what it reads from them (``device``, the switches, the precision)."""
    from types import SimpleNamespace

    from trainer_tasks.fast_path.mixed_precision import resolve_bf16

    args = SimpleNamespace(device=torch.device(device), bf16=True, fp16=False, fast_path=True,
                           cls_only_last_layer=True, fast_dropout=True, reuse_embedding_gradient=True,
                           fp32_head=True)  # fmt: skip
    copy_ = copy.deepcopy(model)
    path = prepare_for_training(copy_, args)
    try:
        assert path.switches["fast_dropout"] == "off (not training on the CPU)"
        assert path.switches["reuse_embedding_gradient"] == "off (not training on the CPU)"
        assert not state(copy_)["fast_dropout"] and not state(copy_)["reuse_embedding_gradient"]
        # exact on any device: the [CLS]-only last layer and the fp32 head stay on
        assert path.switches["cls_only_last_layer"] == "on" and path.switches["fp32_head"].startswith("on")
    finally:
        path.undo()
    # bf16 auto: on a GPU that has it, never from CPU flags; off on other accelerators
    assert resolve_bf16(None, fp16=False, device=device, cuda_bf16=True, cpuinfo="flags: avx512_bf16")[0] is (
        device == "cuda"
    )
    assert resolve_bf16(None, fp16=False, device="cpu", cpuinfo="flags: avx2 fma")[0] is False
