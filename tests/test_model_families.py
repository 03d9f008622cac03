"""The encoder families users pick today, each end to end on a tiny model built here.

BERT, DistilBERT, RoBERTa, DeBERTa-v3 (model type deberta-v2), ModernBERT (mean pooling, as released,
and first-token pooling) and ELECTRA each train through ``train.main``, save, reload in
``pipeline()``, ``predict`` and ``export``. Each family differs where the fast path and the exporter
look (head, pooling, positions, attention), so the fast path is checked per family too: what it
switches on must leave the model's logits and gradients as they were, and what it cannot do exactly
must be off with its reason, in the log and in ``results.json``.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import train_args
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

import train
from trainer_tasks import testing as builders
from trainer_tasks.commands import main as cli
from trainer_tasks.commands.predict import predict_file
from trainer_tasks.fast_path.prepare import prepare_for_training
from trainer_tasks.inference.defaults import Batching
from trainer_tasks.training.arguments import TaskTrainingArguments

pytest.importorskip("onnxruntime", reason="the export step needs pip install -e '.[dev]' (or [onnx])")


@dataclass(frozen=True)
class Family:
    task: str  # single- and multi-label heads are both covered across the families
    cls_only: str  # "on", or a fragment of the reason it is off
    heads: tuple[str, ...]  # what fp32_head keeps in fp32 under bf16


FAMILIES = {
    "bert": Family("news", "on", ("bert.pooler", "classifier")),
    "distilbert": Family("toxic", "on", ("pre_classifier", "classifier")),
    "roberta": Family("news", "on", ("classifier",)),
    "deberta-v2": Family("toxic", "relative-position attention", ("pooler", "classifier")),
    "modernbert": Family("news", "classifier_pooling='mean' reads every position", ("head", "classifier")),
    "modernbert-cls": Family("toxic", "on", ("head", "classifier")),
    "electra": Family("news", "on", ("classifier",)),
}
TEXTS = [
    "stocks market profit shares earnings investors fed bank after the report on the first week of may",
    "film",
    "thanks for the citation please help edit the article",
    "",
    "you are an idiot and a moron",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, str]:
    """~200 rows per task: a few seconds of training per family."""
    root = tmp_path_factory.mktemp("family-data")
    return {
        "news": builders.write_news(str(root / "news.csv"), n=200),
        "toxic": builders.write_toxic(str(root / "toxic.csv"), n=200),
    }


@pytest.fixture(scope="module", params=list(FAMILIES))
def base(request, tmp_path_factory) -> tuple[str, str]:
    kind = request.param
    return kind, builders.build_tiny_model(str(tmp_path_factory.mktemp(kind)), kind)


def _check_switches(switches: dict[str, str], family: Family, bf16: bool) -> None:
    """The fast path recorded for a run on the CPU: on where exact for the family, else off with the reason."""
    if family.cls_only == "on":
        assert switches["cls_only_last_layer"] == "on"
    else:
        assert (
            switches["cls_only_last_layer"].startswith("off (") and family.cls_only in switches["cls_only_last_layer"]
        )
    assert switches["fast_dropout"] == switches["reuse_embedding_gradient"] == "on"
    assert switches["fp32_head"] == ("on: " + ", ".join(family.heads) if bf16 else "off (no mixed precision)")


def _scores(logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)


def test_fast_path_leaves_logits_and_gradients_as_they_were(base, tmp_path, caplog):
    """Everything the fast path switches on for this family, against the untouched model: fp32, eval, padding.

    Eval mode (no dropout) so both compute the same function; the texts are of different lengths
    (padding in the batch) and longer than ModernBERT's local window. Not bitwise: the [CLS]-only
    layer multiplies matrices of other shapes, so the sums are rounded in another order.
    """
    kind, folder = base
    family = FAMILIES[kind]
    torch.manual_seed(0)
    plain = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3).eval()
    fast = copy.deepcopy(plain)
    args = TaskTrainingArguments(output_dir=str(tmp_path), report_to="none", bf16=False)
    with caplog.at_level(logging.INFO, logger="trainer_tasks.fast_path.prepare"):
        path = prepare_for_training(fast, args)
    try:
        assert f"fast path: cls_only_last_layer {path.switches['cls_only_last_layer']}" in caplog.text
        fast.eval()
        _check_switches(path.switches, family, bf16=False)
        batch = AutoTokenizer.from_pretrained(folder)(TEXTS, padding=True, return_tensors="pt")
        assert (batch["attention_mask"] == 0).any()
        labels = torch.tensor([0, 1, 2, 0, 1])
        outputs = [model(**batch, labels=labels) for model in (plain, fast)]
        torch.testing.assert_close(outputs[1].logits, outputs[0].logits, rtol=1e-5, atol=1e-6)
        for output in outputs:
            output.loss.backward()
        fast_grads = dict(fast.named_parameters())
        for name, parameter in plain.named_parameters():
            if parameter.grad is not None:  # unused weights (RoBERTa's pooler) have none either way
                torch.testing.assert_close(fast_grads[name].grad, parameter.grad, rtol=1e-4, atol=1e-6, msg=name)
    finally:
        path.undo()


@pytest.mark.slow  # ~8-15 s per family (training and the ONNX export), over a minute for the seven
def test_family_trains_reloads_predicts_and_exports(base, data, tmp_path, monkeypatch):
    """Train, then the saved folder in pipeline(), predict and export, against the trained model itself.

    Tiny models need not learn in two epochs, so no accuracy is asserted: what is checked is that
    each step works for the family and that the fast path recorded is the one exact for it.
    """
    kind, folder = base
    family = FAMILIES[kind]
    trainers = []  # the run's Trainer, kept to compare the trained model with what is reloaded
    build_trainer = train.build_trainer
    monkeypatch.setattr(train, "build_trainer", lambda *a, **k: trainers.append(build_trainer(*a, **k)) or trainers[-1])
    out = str(tmp_path / "run")
    flags = train_args(folder, out, "--num_train_epochs", "2")
    results = train.main(["--task", family.task, "--data_files", data[family.task], *flags])

    on_disk = json.loads(Path(out, "results.json").read_text())
    fast_path = on_disk["fast_path"]
    assert fast_path == results["fast_path"]
    if family.cls_only == "on":
        assert fast_path["cls_only_last_layer"] == "on"
    else:
        assert (
            fast_path["cls_only_last_layer"].startswith("off (") and family.cls_only in fast_path["cls_only_last_layer"]
        )
    assert fast_path["fast_dropout"] == fast_path["reuse_embedding_gradient"] == "on"
    if on_disk["training"]["bf16"]:
        assert fast_path["fp32_head"] == "on: " + ", ".join(family.heads)
    else:
        assert fast_path["fp32_head"] == "off (no mixed precision)"

    # pipeline() on the saved folder scores as the trained model (fast path and all) does in fp32: without
    # the bf16 autocast wrapper that accelerate puts on the model's forward for training
    trainer = trainers[-1]
    trained = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False).float().eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    multi_label = trained.config.problem_type == "multi_label_classification"
    with torch.no_grad():
        batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
        expected = _scores(trained(**batch).logits, multi_label)
    rows = pipeline("text-classification", model=out, top_k=None)(TEXTS)
    labels = [trained.config.id2label[i] for i in range(trained.config.num_labels)]
    reloaded = torch.tensor([[{s["label"]: s["score"] for s in row}[label] for label in labels] for row in rows])
    torch.testing.assert_close(reloaded, expected, rtol=1e-5, atol=1e-5)

    inputs = tmp_path / "in.txt"
    inputs.write_text("\n".join(TEXTS) + "\n")
    predicted = tmp_path / "pred.jsonl"
    summary = predict_file(out, str(inputs), str(predicted), batching=Batching(precision="fp32", progress=False))
    lines = predicted.read_text().splitlines()
    assert summary["rows"] == len(lines) == len(TEXTS)
    assert [json.loads(line)["text"] for line in lines] == TEXTS

    # every family exports (torch.export-based exporter, torch 2.13), within 1e-4 of PyTorch on padded batches
    onnx = tmp_path / "onnx"
    assert cli.main(["export", out, str(onnx)]) == 0
    assert json.loads((onnx / "onnx_export.json").read_text())["max_abs_score_difference"] <= 1e-4
