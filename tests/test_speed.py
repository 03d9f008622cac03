"""The fast path: bf16 auto by CPU flags, the exact [CLS]-only last layer, ordered and fast inference."""

import copy

import numpy as np
import pytest
import torch
from conftest import train_args
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertModel, pipeline

import train
from trainer_tasks.fast_path import cls_only, mixed_precision
from trainer_tasks.inference.classifier import TextClassifier
from trainer_tasks.training import preprocessing
from trainer_tasks.training.arguments import DataArguments, ModelArguments, TaskTrainingArguments
from trainer_tasks.training.parsing import parse_args
from trainer_tasks.training.trainer import TaskTrainer

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme avx2 avx512f avx512dq avx512_bf16 clzero avx512vbmi
"""
SAPPHIRE_RAPIDS = "model name\t: Intel Xeon\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile amx_int8\n"
SKYLAKE = "model name\t: Intel Xeon\nflags\t\t: fpu avx2 avx512f avx512dq avx512bw\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics\n"


@pytest.mark.parametrize(
    ("cpuinfo", "expected"), [(ZEN4, True), (SAPPHIRE_RAPIDS, True), (SKYLAKE, False), (GRAVITON, False), ("", False)]
)
def test_bf16_auto_follows_cpu_flags(cpuinfo, expected):
    assert mixed_precision.cpu_has_fast_bf16(cpuinfo) is expected
    bf16, reason = mixed_precision.resolve_bf16(None, fp16=False, device="cpu", cpuinfo=cpuinfo)
    assert bf16 is expected
    assert reason.startswith("auto: ")
    assert ("avx512_bf16" in reason or "amx_bf16" in reason) if expected else "emulated" in reason


def test_explicit_choices_win_over_auto():
    assert mixed_precision.resolve_bf16(False, fp16=False, device="cpu", cpuinfo=ZEN4) == (False, "set by --bf16")
    assert mixed_precision.resolve_bf16(True, fp16=False, device="cpu", cpuinfo=SKYLAKE) == (True, "set by --bf16")
    assert mixed_precision.resolve_bf16(None, fp16=True, device="cpu", cpuinfo=ZEN4)[0] is False
    assert mixed_precision.resolve_bf16(None, fp16=False, device="cuda", cuda_bf16=True)[0] is True
    assert mixed_precision.resolve_bf16(None, fp16=False, device="cuda", cuda_bf16=False)[0] is False
    assert mixed_precision.resolve_bf16(None, fp16=False, device="mps")[0] is False


def test_training_arguments_resolve_bf16_on_this_machine(tmp_path):
    types = (ModelArguments, DataArguments, TaskTrainingArguments)
    _, _, auto = parse_args(types, ["--output_dir", str(tmp_path)])
    if not torch.cuda.is_available():
        assert auto.bf16 is mixed_precision.cpu_has_fast_bf16(mixed_precision.read_cpuinfo())
        assert auto.use_cpu or not auto.bf16
    _, _, off = parse_args(types, ["--output_dir", str(tmp_path), "--bf16", "false"])
    assert off.bf16 is False
    _, _, flag = parse_args(types, ["--output_dir", str(tmp_path), "--bf16", "--use_cpu"])
    assert flag.bf16 is True
    assert auto.cls_only_last_layer is True
    _, _, full = parse_args(types, ["--output_dir", str(tmp_path), "--no_cls_only_last_layer"])
    assert full.cls_only_last_layer is False


def _classifier(folder: str, problem_type: str):
    kind = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3).config.model_type
    no_dropout = (
        {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
        if kind == "bert"
        else {"dropout": 0.0, "attention_dropout": 0.0, "seq_classif_dropout": 0.0}
    )
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=3, problem_type=problem_type, **no_dropout
    )


@pytest.mark.parametrize("model_fixture", ["tiny_bert", "tiny_distilbert"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_cls_only_last_layer_gives_the_same_logits_and_gradients(request, model_fixture, attention):
    folder = request.getfixturevalue(model_fixture)
    stock = _classifier(folder, "multi_label_classification")
    stock.set_attn_implementation(attention)
    fast = copy.deepcopy(stock)
    keys = list(fast.state_dict())
    assert cls_only.cls_only_last_layer(fast) is True
    assert list(fast.state_dict()) == keys  # the saved model does not change
    input_ids = torch.randint(5, 100, (4, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(input_ids)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    labels = torch.tensor([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=torch.float)
    outputs = []
    for model in (stock, fast):
        model.train()
        output = model(input_ids=input_ids, attention_mask=mask, labels=labels)
        output.loss.backward()
        outputs.append(output)
    torch.testing.assert_close(outputs[1].logits, outputs[0].logits, rtol=1e-5, atol=1e-6)
    for (name, reference), (_, parameter) in zip(stock.named_parameters(), fast.named_parameters(), strict=True):
        assert parameter.grad is not None, name  # every weight still learns (DDP needs no unused-parameter search)
        torch.testing.assert_close(parameter.grad, reference.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_cls_only_leaves_other_models_alone(tiny_bert):
    encoder = BertModel.from_pretrained(tiny_bert)  # no classification head: all positions are outputs
    assert cls_only.cls_only_last_layer(encoder) is False
    assert not hasattr(encoder.encoder.layer[-1], "_cls_only")


def test_sequence_lengths_follow_selection_and_order():
    dataset = Dataset.from_dict({"input_ids": [[1] * n for n in range(1, 8)], "labels": list(range(7))})
    assert preprocessing.sequence_lengths(dataset) == [1, 2, 3, 4, 5, 6, 7]
    assert preprocessing.sequence_lengths(dataset.select([6, 2, 0])) == [7, 3, 1]


TEXTS = [
    "stocks",
    "film star music album movie actor singer festival the a new says after report",
    "ebola cancer health",
    "apple google software phone nasa climate app microsoft the new",
    "bank profit",
]


def test_predict_matches_pipeline_in_input_order(tmp_path, tiny_bert):
    """``trainer-tasks predict`` runs the [CLS]-only last layer and length-sorted batches: pipeline()'s scores."""
    model = _classifier(tiny_bert, "single_label_classification")
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path)
    reference = pipeline("text-classification", model=str(tmp_path), top_k=None)(TEXTS)
    expected = np.array([[row_scores[f"LABEL_{i}"] for i in range(3)] for row_scores in
                         ({item["label"]: item["score"] for item in row} for row in reference)])  # fmt: skip
    fp32 = TextClassifier.load(str(tmp_path), precision="fp32")
    np.testing.assert_allclose(fp32.predict(TEXTS, batch_size=2).scores, expected, rtol=1e-4, atol=1e-5)
    bf16 = TextClassifier.load(str(tmp_path), precision="bf16")
    np.testing.assert_allclose(bf16.predict(TEXTS, batch_size=2).scores, expected, atol=0.03)


def test_predict_keeps_dataset_order_with_length_grouping(tmp_path, tiny_bert):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = [" ".join(["stocks"] * (1 + i % 9)) for i in range(40)]
    encoded = tokenizer(texts)
    dataset = Dataset.from_dict(
        {**encoded, "labels": [i % 3 for i in range(40)], "length": [len(x) for x in encoded["input_ids"]]}
    )
    args = TaskTrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=4, report_to="none", bf16=False)
    assert args.train_sampling_strategy == "group_by_length"
    trainer = TaskTrainer(model=_classifier(tiny_bert, "single_label_classification"), args=args,
                          processing_class=tokenizer, eval_dataset=dataset)  # fmt: skip
    output = trainer.predict(dataset)
    assert output.label_ids.tolist() == dataset["labels"][:]
    # evaluation may batch by length (metrics do not depend on order), with lengths read from Arrow
    sampler = trainer._get_eval_sampler(dataset.remove_columns("length"))
    assert sorted(sampler) == list(range(40)) and list(sampler) != list(range(40))


def test_train_with_new_defaults_learns(tmp_path, tiny_bert, news_csv):
    flags = train_args(tiny_bert, str(tmp_path), "--num_train_epochs", "4")
    results = train.main(["--task", "news", "--data_files", news_csv, *flags])
    cpu_bf16 = mixed_precision.cpu_has_fast_bf16(mixed_precision.read_cpuinfo())
    expected_bf16 = torch.cuda.is_bf16_supported() if torch.cuda.is_available() else cpu_bf16
    assert results["training"]["bf16"] is expected_bf16
    # 4 balanced classes: chance is 0.25. The tiny model at this learning rate lands on 2, 3 or 4
    # learned classes depending on its random draws (dropout included), with or without the fast path.
    assert results["test_metrics"]["test_accuracy"] > 0.4
    assert results["epochs"][-1]["train_loss"] < 0.8 * results["epochs"][0]["train_loss"]


@pytest.mark.parametrize(("fixture", "heads"), [("tiny_bert", ["bert.pooler", "classifier"]),
                                                ("tiny_distilbert", ["pre_classifier", "classifier"])])  # fmt: skip
def test_head_runs_in_fp32_under_bf16_autocast(fixture, heads, request):
    """bf16 logits keep 8 mantissa bits: scores of different texts tie and rankings (ROC-AUC, thresholds) break."""
    model = AutoModelForSequenceClassification.from_pretrained(request.getfixturevalue(fixture), num_labels=6).eval()
    tokenizer = AutoTokenizer.from_pretrained(request.getfixturevalue(fixture))
    batch = tokenizer([f"text number {i} " * (1 + i % 5) for i in range(40)], padding=True, return_tensors="pt")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = model(**batch).logits
        assert mixed_precision.fp32_head(model) == heads
        fp32_head = model(**batch).logits
    assert bf16.dtype == torch.bfloat16 and fp32_head.dtype == torch.float32
    assert all(getattr(module, "_fp32_head", False) for name, module in model.named_modules() if name in heads)
    assert torch.allclose(fp32_head, bf16.float(), atol=0.05)
    assert len(torch.unique(fp32_head)) > len(torch.unique(bf16))
    with torch.no_grad():  # outside autocast nothing changes
        plain = AutoModelForSequenceClassification.from_pretrained(request.getfixturevalue(fixture), num_labels=6)
        plain.load_state_dict(model.state_dict())
        assert torch.equal(plain.eval()(**batch).logits, model(**batch).logits)


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_distilbert"])
def test_linear_weights_cast_once_give_autocasts_logits(fixture, request):
    """bf16 inference casts the weights once instead of in every batch: bit for bit what autocast computes."""
    folder = request.getfixturevalue(fixture)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=6).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer([f"text number {i} " * (1 + i % 5) for i in range(16)], padding=True, return_tensors="pt")
    head = mixed_precision.fp32_head(model)
    cast = copy.deepcopy(model)
    assert mixed_precision.cast_linear_weights(cast, torch.bfloat16, skip=head) > 0
    linears = {name: module for name, module in cast.named_modules() if isinstance(module, torch.nn.Linear)}
    in_head = [name for name in linears if any(name == h or name.startswith(f"{h}.") for h in head)]
    assert in_head and all(linears[name].weight.dtype == torch.float32 for name in in_head)
    assert all(m.weight.dtype == torch.bfloat16 for name, m in linears.items() if name not in in_head)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(cast(**batch).logits, model(**batch).logits)
