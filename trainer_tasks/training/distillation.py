"""Task-specific knowledge distillation, DistilBERT's way: ``DistillationArguments`` + ``DistillationTrainer``.

A fine-tuned teacher of the same task and labels supervises the student through three weighted terms
(Sanh et al. 2019, DistilBERT; Hinton et al. 2015 for the temperature):

    loss = alpha_task * task loss on the hard labels (cross-entropy, or BCE for multi-label)
         + alpha_soft * T² * soft-target loss at temperature T
               single-label: KL(softmax(teacher / T) || softmax(student / T))
               multi-label:  BCE(sigmoid(student / T), target = sigmoid(teacher / T)), per label
         + alpha_cos  * (1 - cosine) between student and teacher hidden states, over real tokens only

T² keeps the soft term's gradients on the scale of the hard term's whatever T is (Hinton et al.).
The teacher runs frozen, in eval mode, without gradients, on the student's device; it is not
handed to ``accelerate``, so under ``accelerate launch`` only the student is wrapped in DDP and each
process runs its own copy of the teacher on its own batches. Evaluation reports the plain task loss
and never runs the teacher, so validation and test losses compare with runs trained without one.

The config is its own argument group (not fields of ``TaskTrainingArguments``), paired with the
trainer as trl pairs its configs and trainers; ``variants.build_trainer`` is the one switch ``train.py`` needs.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedModel

from tasks import TaskError
from trainer_tasks.core.boundary import first_line
from trainer_tasks.core.files import write_json_atomic
from trainer_tasks.core.output_files import DISTILLATION_FILE
from trainer_tasks.training.trainer import TaskTrainer

logger = logging.getLogger(__name__)

COSINE_LAYERS = ("last", "all")


@dataclass
class DistillationArguments:
    """How to build the student and how the teacher supervises it.

    Defaults, and why:
        teacher: None: no teacher means an ordinary fine-tune (the plain ``TaskTrainer``).
        student_from_teacher: None: train ``--model_name_or_path`` as it is.
        student_layers: None = every other layer (0, 2, 4, ...): DistilBERT's initialisation.
        alpha_task / alpha_soft: 0.5 / 0.5: Hinton et al.'s even mix of hard and soft targets.
        alpha_cos: 0.5: DistilBERT's cosine term; it pulls the student's last hidden states onto the
            teacher's, which helps most when the student starts from the base (not fine-tuned)
            encoder, as in the benchmark.
        temperature: 2.0: DistilBERT's T; softens the teacher's near one-hot outputs so the ranks of
            the wrong classes carry signal.
        cosine_layers: "last": DistilBERT aligns the last hidden states only; "all" also aligns the
            embeddings and every student layer i with teacher layer i * depth ratio (2i at half depth).
    """

    teacher: str | None = field(
        default=None,
        metadata={
            "help": "Folder of a fine-tuned model of the same task and labels; the student learns from its "
            "outputs (knowledge distillation). Off when not given."
        },
    )
    student_from_teacher: str | None = field(
        default=None,
        metadata={
            "help": "Build the model to train from this BERT-family checkpoint by copying its embeddings and every "
            "other encoder layer (0, 2, 4, ...), as DistilBERT was initialised. Replaces --model_name_or_path."
        },
    )
    student_layers: list[int] | None = field(
        default=None,
        metadata={"help": "With --student_from_teacher: the teacher layers to keep, e.g. 0 2 4 (default every other)."},
    )
    alpha_task: float = field(default=0.5, metadata={"help": "Weight of the task loss on the hard labels."})
    alpha_soft: float = field(
        default=0.5, metadata={"help": "Weight of the soft-target loss against the teacher (scaled by T²)."}
    )
    alpha_cos: float = field(
        default=0.5,
        metadata={"help": "Weight of the cosine loss between student and teacher hidden states (0 turns it off)."},
    )
    temperature: float = field(default=2.0, metadata={"help": "Softmax/sigmoid temperature T of the soft targets."})
    cosine_layers: str = field(
        default="last",
        metadata={
            "help": "Hidden states the cosine loss aligns: last (DistilBERT), or all (student i with teacher "
            "i * depth ratio, embeddings included).",
            "choices": list(COSINE_LAYERS),
        },
    )

    @property
    def reads_every_position(self) -> bool:
        """The hidden-state cosine term compares every position: the [CLS]-only last layer must stay off."""
        return self.teacher is not None and self.alpha_cos > 0

    def __post_init__(self) -> None:
        for name in ("alpha_task", "alpha_soft", "alpha_cos"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise TaskError(f"--{name} must be a finite number >= 0, got {value}")
        if self.teacher is not None and self.alpha_task + self.alpha_soft + self.alpha_cos == 0:
            raise TaskError("--alpha_task, --alpha_soft and --alpha_cos are all 0: nothing to train on")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise TaskError(f"--temperature must be a positive number, got {self.temperature}")
        if self.cosine_layers not in COSINE_LAYERS:
            raise TaskError(f"--cosine_layers must be one of {list(COSINE_LAYERS)}, got {self.cosine_layers!r}")
        if self.student_layers is not None and self.student_from_teacher is None:
            raise TaskError("--student_layers needs --student_from_teacher (the checkpoint to take the layers from)")


# ---- the three loss terms, as plain functions of tensors (tested on hand-made values) ----


def soft_target_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, multi_label: bool
) -> torch.Tensor:
    """The soft-target term, already multiplied by T².

    Single-label: KL(p_teacher || p_student) of the tempered softmaxes, summed over classes and
    averaged over examples. Multi-label: binary cross-entropy of the tempered student sigmoid
    against the tempered teacher sigmoid, averaged over examples and labels (as the task's BCE is).
    """
    t = temperature
    student_scaled = student_logits.float() / t
    teacher_scaled = teacher_logits.float() / t
    if multi_label:
        loss = F.binary_cross_entropy_with_logits(student_scaled, torch.sigmoid(teacher_scaled))
    else:
        loss = F.kl_div(
            F.log_softmax(student_scaled, dim=-1),
            F.log_softmax(teacher_scaled, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
    return loss * (t * t)


def layer_pairs(student_depth: int, teacher_depth: int, mode: str) -> list[tuple[int, int]]:
    """Pairs of ``hidden_states`` indices (0 = embeddings, i = output of layer i) the cosine loss aligns.

    ``last``: the two last hidden states. ``all``: student i with teacher round(i * teacher/student),
    so at half depth student layer i meets teacher layer 2i and the last meets the last.
    """
    if mode == "last":
        return [(student_depth, teacher_depth)]
    return [(i, round(i * teacher_depth / student_depth)) for i in range(student_depth + 1)]


def hidden_cosine_loss(
    student_states: Sequence[torch.Tensor],
    teacher_states: Sequence[torch.Tensor],
    attention_mask: torch.Tensor,
    pairs: Sequence[tuple[int, int]],
) -> torch.Tensor:
    """Mean over ``pairs`` of the mean over real (unpadded) tokens of 1 - cos(student, teacher)."""
    mask = attention_mask.bool()
    terms = []
    for student_index, teacher_index in pairs:
        student = student_states[student_index][mask].float()
        teacher = teacher_states[teacher_index][mask].float()
        terms.append((1.0 - F.cosine_similarity(student, teacher, dim=-1)).mean())
    return torch.stack(terms).mean()


# ---- the teacher ----


def _labels(config) -> list[str]:
    return [config.id2label[i] for i in sorted(config.id2label)]


def check_teacher_config(teacher_config, student_config, path: str) -> None:
    """The teacher must be a fine-tuned classifier of the student's task: same labels, same head type."""
    architectures = getattr(teacher_config, "architectures", None) or []
    if not any(arch.endswith("ForSequenceClassification") for arch in architectures):
        raise TaskError(
            f"--teacher {path}: not a fine-tuned classifier (architectures {architectures}); fine-tune it on this "
            "task first with train.py and pass that output folder"
        )
    if _labels(teacher_config) != _labels(student_config) or teacher_config.problem_type != student_config.problem_type:
        raise TaskError(
            f"--teacher {path} was trained for labels {_labels(teacher_config)} ({teacher_config.problem_type}), "
            f"but the student is trained for {_labels(student_config)} ({student_config.problem_type}); "
            "pass a teacher fine-tuned on this task"
        )
    if teacher_config.vocab_size != student_config.vocab_size:
        raise TaskError(
            f"--teacher {path} has a vocabulary of {teacher_config.vocab_size} tokens, the student "
            f"{student_config.vocab_size}: teacher and student must share one tokenizer"
        )


def load_teacher(path: str, student: PreTrainedModel, settings: DistillationArguments) -> PreTrainedModel:
    """The frozen teacher, in eval mode, after checking it matches the student."""
    if not os.path.isdir(path):
        raise TaskError(f"--teacher {path!r}: no such folder; pass the output folder of a finished train.py run")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise TaskError(f"--teacher {path!r}: no model config in it ({first_line(error)})") from None
    check_teacher_config(config, student.config, path)
    if settings.alpha_cos > 0 and config.hidden_size != student.config.hidden_size:
        raise TaskError(
            f"--alpha_cos {settings.alpha_cos}: the cosine loss compares hidden states, but the teacher's are "
            f"{config.hidden_size}-wide and the student's {student.config.hidden_size}; pass --alpha_cos 0 "
            "(or build the student with --student_from_teacher, which keeps the width)"
        )
    teacher = AutoModelForSequenceClassification.from_pretrained(path)
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher


# ---- the trainer ----


class DistillationTrainer(TaskTrainer):
    """``TaskTrainer`` whose training loss adds the teacher's soft targets and hidden states.

    The task loss comes from ``super().compute_loss``: the model's own, or the ``task_loss`` the
    trainer holds (class weights), so the two combine without another class. Each term's mean
    is logged beside ``loss`` as ``loss_task``, ``loss_soft`` and ``loss_cos`` (process 0's batches).
    """

    def __init__(self, *args, distillation_args: DistillationArguments, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if distillation_args.teacher is None:
            raise TaskError("DistillationTrainer needs --teacher")
        self.distillation = distillation_args
        self.teacher = load_teacher(distillation_args.teacher, self.model, distillation_args)
        self.teacher.to(self.args.device)
        self.multi_label = self.teacher.config.problem_type == "multi_label_classification"
        self.pairs = layer_pairs(
            self.model.config.num_hidden_layers, self.teacher.config.num_hidden_layers, distillation_args.cosine_layers
        )
        accepted = inspect.signature(self.teacher.forward).parameters
        self._teacher_keys = {name for name in accepted if name not in ("labels", "kwargs")}
        self._terms: dict[str, list[float]] = defaultdict(list)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training:  # evaluation: the plain task loss, comparable with any other run
            return super().compute_loss(model, inputs, return_outputs=return_outputs)
        settings = self.distillation
        want_hidden = settings.alpha_cos > 0
        # num_items_in_batch is not passed on: every term here is a per-batch mean.
        task_loss, outputs = super().compute_loss(
            model, {**inputs, "output_hidden_states": want_hidden}, return_outputs=True
        )
        teacher_inputs = {key: value for key, value in inputs.items() if key in self._teacher_keys}
        with torch.no_grad():
            teacher_outputs = self.teacher(**teacher_inputs, output_hidden_states=want_hidden)
        soft = soft_target_loss(outputs.logits, teacher_outputs.logits, settings.temperature, self.multi_label)
        loss = settings.alpha_task * task_loss + settings.alpha_soft * soft
        self._terms["loss_task"].append(task_loss.detach().item())
        self._terms["loss_soft"].append(soft.detach().item())
        if want_hidden:
            mask = inputs.get("attention_mask")
            if mask is None:
                mask = torch.ones(outputs.logits.shape[0], outputs.hidden_states[0].shape[1], device=loss.device)
            cosine = hidden_cosine_loss(outputs.hidden_states, teacher_outputs.hidden_states, mask, self.pairs)
            loss = loss + settings.alpha_cos * cosine
            self._terms["loss_cos"].append(cosine.detach().item())
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._terms:
            logs.update({name: sum(values) / len(values) for name, values in self._terms.items() if values})
            self._terms.clear()
        super().log(logs, start_time)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """The model, plus ``distillation.json``: which teacher and which settings trained it."""
        super().save_model(output_dir, _internal_call)
        if self.args.should_save:
            folder = output_dir or self.args.output_dir
            write_json_atomic(os.path.join(folder, DISTILLATION_FILE), distillation_summary(self))


def distillation_summary(trainer: DistillationTrainer) -> dict:
    return {
        **asdict(trainer.distillation),
        "teacher_layers": trainer.teacher.config.num_hidden_layers,
        "student_layers_count": trainer.model.config.num_hidden_layers,
        "cosine_layer_pairs": trainer.pairs,
        "teacher_parameters": sum(p.numel() for p in trainer.teacher.parameters()),
        "student_parameters": sum(p.numel() for p in trainer.model.parameters()),
    }


def read_distillation(folder: str) -> dict | None:
    path = os.path.join(folder, DISTILLATION_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
