"""Distillation: each loss term against hand computations, the trainer's sum, the frozen teacher, and a
real 2-process ``accelerate launch`` whose distilled student loads in ``pipeline()``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, train_args
from datasets import Dataset
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    DataCollatorWithPadding,
    pipeline,
)

import train
from tasks import TaskError
from trainer_tasks import testing as builders
from trainer_tasks.training.arguments import TaskTrainingArguments
from trainer_tasks.training.distillation import (
    DistillationArguments,
    DistillationTrainer,
    check_teacher_config,
    hidden_cosine_loss,
    layer_pairs,
    soft_target_loss,
)
from trainer_tasks.training.student import build_student

NEWS = {0: "business", 1: "science/tech", 2: "entertainment", 3: "health"}
TOXIC = dict(enumerate(["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]))


# ---- the loss terms, on hand-made numbers ----


def np_log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def test_soft_target_loss_single_label_is_kl_of_tempered_softmax_times_t_squared():
    student = np.array([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 3.0, -2.0]])
    teacher = np.array([[3.0, 1.0, -2.0, 0.5], [-1.0, 0.0, 4.0, -1.0]])
    t = 2.0
    log_p, log_q = np_log_softmax(teacher / t), np_log_softmax(student / t)
    expected = (np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean() * t**2
    got = soft_target_loss(torch.tensor(student), torch.tensor(teacher), t, multi_label=False)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    same = soft_target_loss(torch.tensor(teacher), torch.tensor(teacher), t, multi_label=False)
    assert same.item() == pytest.approx(0.0, abs=1e-7)


def test_soft_target_loss_multi_label_is_bce_against_tempered_teacher_sigmoid_times_t_squared():
    student = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    teacher = np.array([[2.0, -4.0, -0.5], [1.0, 2.0, -3.0]])
    t = 3.0
    target = 1 / (1 + np.exp(-teacher / t))
    prob = 1 / (1 + np.exp(-student / t))
    expected = -(target * np.log(prob) + (1 - target) * np.log(1 - prob)).mean() * t**2
    got = soft_target_loss(torch.tensor(student), torch.tensor(teacher), t, multi_label=True)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_cosine_loss_ignores_padding_and_averages_layer_pairs():
    rng = np.random.default_rng(0)
    student = [rng.normal(size=(2, 3, 4)) for _ in range(3)]  # embeddings + 2 layers
    teacher = [rng.normal(size=(2, 3, 4)) for _ in range(5)]  # embeddings + 4 layers
    mask = np.array([[1, 1, 0], [1, 0, 0]])

    def np_cos_loss(s, t):
        real = [(s[b, i], t[b, i]) for b in range(2) for i in range(3) if mask[b, i]]
        return np.mean([1 - a @ c / np.linalg.norm(a) / np.linalg.norm(c) for a, c in real])

    to_torch = [torch.tensor(x) for x in student], [torch.tensor(x) for x in teacher]
    last = hidden_cosine_loss(*to_torch, torch.tensor(mask), [(2, 4)])
    assert last.item() == pytest.approx(np_cos_loss(student[2], teacher[4]), rel=1e-6)
    pairs = layer_pairs(2, 4, "all")
    assert pairs == [(0, 0), (1, 2), (2, 4)]
    expected = np.mean([np_cos_loss(student[s], teacher[t]) for s, t in pairs])
    assert hidden_cosine_loss(*to_torch, torch.tensor(mask), pairs).item() == pytest.approx(expected, rel=1e-6)
    # Garbage in padded positions changes nothing.
    student[2][0, 2] = 1e3
    noisy = hidden_cosine_loss([torch.tensor(x) for x in student], to_torch[1], torch.tensor(mask), [(2, 4)])
    assert noisy.item() == pytest.approx(last.item(), rel=1e-9)


def test_layer_pairs_map_student_i_to_teacher_2i():
    assert layer_pairs(3, 6, "last") == [(3, 6)]
    assert layer_pairs(3, 6, "all") == [(0, 0), (1, 2), (2, 4), (3, 6)]
    assert layer_pairs(6, 12, "all")[-1] == (6, 12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha_soft": -1.0}, "alpha_soft must be a finite number >= 0"),
        ({"temperature": 0.0}, "temperature must be a positive number"),
        ({"teacher": "t", "alpha_task": 0.0, "alpha_soft": 0.0, "alpha_cos": 0.0}, "nothing to train on"),
        ({"student_layers": [0, 2]}, "needs --student_from_teacher"),
        ({"cosine_layers": "middle"}, "cosine_layers must be one of"),
    ],
)
def test_bad_distillation_arguments(kwargs, message):
    with pytest.raises(TaskError, match=message):
        DistillationArguments(**kwargs)


def test_teacher_of_another_task_or_without_head_is_refused():
    student = BertConfig(id2label=NEWS, problem_type="single_label_classification")
    toxic = BertConfig(id2label=TOXIC, problem_type="multi_label_classification")
    toxic.architectures = ["BertForSequenceClassification"]
    with pytest.raises(TaskError, match=r"trained for labels \['toxic'.*but the student is trained for \['business'"):
        check_teacher_config(toxic, student, "out/toxic")
    base = BertConfig()
    base.architectures = ["BertModel"]
    with pytest.raises(TaskError, match="not a fine-tuned classifier"):
        check_teacher_config(base, student, "models/base")


# ---- the trainer, on a tiny teacher and student without dropout (so the loss is deterministic) ----


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> str:
    folder = str(tmp_path_factory.mktemp("teacher"))
    tokenizer = builders.build_tokenizer(folder)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        id2label=NEWS, label2id={v: k for k, v in NEWS.items()}, problem_type="single_label_classification",
    )  # fmt: skip
    torch.manual_seed(1)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture()
def batch_and_data(teacher_dir):
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    texts = ["stocks market bank", "film star music album new", "ebola virus", "apple phone app google says"] * 4
    encoded = tokenizer(texts)
    data = Dataset.from_dict({**encoded, "labels": [0, 2, 3, 1] * 4})
    collator = DataCollatorWithPadding(tokenizer)
    return collator([data[i] for i in range(4)]), data, collator


def make_trainer(teacher_dir, tmp_path, data, collator, trainer_class=DistillationTrainer, **settings):
    student, _, _ = build_student(teacher_dir)
    args = TaskTrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", per_device_train_batch_size=4, max_steps=3,
        logging_steps=1, save_strategy="no", eval_strategy="no", learning_rate=1e-2, disable_tqdm=True,
    )  # fmt: skip
    distillation = DistillationArguments(teacher=teacher_dir, **settings)
    return trainer_class(
        model=student, args=args, train_dataset=data, data_collator=collator, distillation_args=distillation
    )


def test_training_loss_is_the_weighted_sum_of_the_three_terms(teacher_dir, tmp_path, batch_and_data):
    batch, data, collator = batch_and_data
    trainer = make_trainer(teacher_dir, tmp_path, data, collator, alpha_task=0.3, alpha_soft=0.6, alpha_cos=0.2)
    student, teacher = trainer.model, trainer.teacher
    student.train()
    loss = trainer.compute_loss(student, dict(batch)).item()

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        s = student(**inputs, output_hidden_states=True)
        t = teacher(**inputs, output_hidden_states=True)
    s_logits, t_logits, labels = (
        s.logits.numpy().astype(np.float64),
        t.logits.numpy().astype(np.float64),
        batch["labels"],
    )
    task = -np_log_softmax(s_logits)[np.arange(4), labels.numpy()].mean()
    log_p, log_q = np_log_softmax(t_logits / 2), np_log_softmax(s_logits / 2)
    soft = (np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean() * 4
    mask = batch["attention_mask"].numpy().astype(bool)
    a, b = s.hidden_states[-1].numpy()[mask], t.hidden_states[-1].numpy()[mask]
    cosine = np.mean(1 - (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1))
    assert loss == pytest.approx(0.3 * task + 0.6 * soft + 0.2 * cosine, rel=1e-5)
    student.eval()  # evaluation reports the plain task loss, without the teacher
    assert trainer.compute_loss(student, dict(batch)).item() == pytest.approx(task, rel=1e-5)


def test_teacher_stays_frozen_while_the_student_learns(teacher_dir, tmp_path, batch_and_data):
    _, data, collator = batch_and_data
    trainer = make_trainer(teacher_dir, tmp_path, data, collator)
    teacher_before = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert not trainer.teacher.training
    assert not any(p.requires_grad for p in trainer.teacher.parameters())
    assert all(torch.equal(v, trainer.teacher.state_dict()[k]) for k, v in teacher_before.items())
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, student_before[k])]
    assert any(".encoder.layer." in k for k in changed) and "classifier.weight" in changed
    logged = [row for row in trainer.state.log_history if "loss" in row]
    assert logged and all({"loss_task", "loss_soft", "loss_cos"} <= row.keys() for row in logged)


def test_distillation_stacks_on_the_task_loss_the_trainer_holds(teacher_dir, tmp_path, batch_and_data):
    """Class weights and distillation compose as a value and a class written in source, no class made at run time."""

    def doubled(logits, labels):  # stands in for a class-weighted task loss
        return 2 * torch.nn.functional.cross_entropy(logits.float(), labels)

    batch, data, collator = batch_and_data
    base = make_trainer(teacher_dir, tmp_path, data, collator)
    distill = DistillationArguments(teacher=teacher_dir, alpha_task=1.0, alpha_soft=0.0, alpha_cos=0.0)
    trainer = DistillationTrainer(
        model=base.model, args=base.args, train_dataset=data, data_collator=collator, task_loss=doubled,
        distillation_args=distill,
    )  # fmt: skip
    assert type(trainer) is DistillationTrainer
    trainer.model.train()
    plain = trainer.model(**batch).loss.item()
    assert trainer.compute_loss(trainer.model, dict(batch)).item() == pytest.approx(2 * plain, rel=1e-5)


def test_cosine_loss_needs_equal_widths(teacher_dir, tmp_path, batch_and_data):
    _, data, collator = batch_and_data
    narrow = BertConfig(
        vocab_size=AutoConfig.from_pretrained(teacher_dir).vocab_size, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, id2label=NEWS, label2id={v: k for k, v in NEWS.items()},
        problem_type="single_label_classification",
    )  # fmt: skip
    args = TaskTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", eval_strategy="no")
    with pytest.raises(TaskError, match=r"teacher's are 32-wide and the student's 16; pass --alpha_cos 0"):
        DistillationTrainer(
            model=BertForSequenceClassification(narrow), args=args, train_dataset=data, data_collator=collator,
            distillation_args=DistillationArguments(teacher=teacher_dir),
        )  # fmt: skip
    trainer = DistillationTrainer(
        model=BertForSequenceClassification(narrow), args=args, train_dataset=data, data_collator=collator,
        distillation_args=DistillationArguments(teacher=teacher_dir, alpha_cos=0.0),
    )  # fmt: skip
    assert trainer.teacher.config.hidden_size == 32


# ---- end to end: a teacher trained here, its student distilled under 2-process accelerate launch ----


@pytest.mark.slow
def test_two_process_distillation_finishes_and_the_student_serves(tmp_path, news_csv):
    base = builders.build_tiny_model(str(tmp_path / "bert4"), "bert", layers=4)
    teacher = str(tmp_path / "teacher")
    limit = ["--max_train_samples", "320", "--num_train_epochs", "2"]
    train.main(["--task", "news", "--data_files", news_csv, *train_args(base, teacher, *limit)])

    out = str(tmp_path / "student")
    flags = train_args(base, out, *limit, "--teacher", teacher)
    flags[flags.index("--model_name_or_path") : flags.index("--model_name_or_path") + 2] = [
        "--student_from_teacher",
        base,
    ]
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"), "--num_processes", "2",
        "--main_process_port", "29617", str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv, *flags,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    results = json.loads(Path(out, "results.json").read_text())
    assert results["world_size"] == 2 and results["model_name_or_path"] == base
    assert results["training"]["global_steps"] == 2 * -(-320 // (16 * 2))
    settings = json.loads(Path(out, "distillation.json").read_text())
    assert settings["teacher"] == teacher and settings["teacher_layers"] == 4 and settings["student_layers_count"] == 2
    state = json.loads(Path(out, "trainer_state.json").read_text())
    assert any("loss_soft" in row and "loss_cos" in row for row in state["log_history"])
    config = AutoConfig.from_pretrained(out)
    assert config.num_hidden_layers == 2 and config.student_of["teacher_layers"] == [0, 2]
    scores = pipeline("text-classification", model=out, top_k=None)("stocks market shares")[0]
    assert {s["label"] for s in scores} == set(NEWS.values())
    assert Path(out, "predictions_test.npz").is_file()
