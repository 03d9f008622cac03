"""Build a half-depth student from a BERT-family checkpoint, as DistilBERT was initialised.

DistilBERT's student is its teacher with every other encoder layer removed: the embeddings, the
kept layers (and any pooler or classification head) are copied weight for weight, so the student
starts from a working network instead of random weights. Here that works for any checkpoint whose
encoder layers sit in one ``nn.ModuleList`` (BERT, RoBERTa, DistilBERT, ELECTRA, ...): the kept
layers are renumbered 0..k-1 in the state dict and loaded strictly into a model of the same class
whose config has ``num_hidden_layers = k``. The result is an ordinary checkpoint: ``save_student``
writes it with the teacher's tokenizer, and ``pipeline()`` or ``train.py`` load it as any other.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tasks import Task, TaskError
from trainer_tasks.core.boundary import first_line
from trainer_tasks.core.saved_model import check_tokenizer
from trainer_tasks.training.arguments import ModelArguments
from trainer_tasks.training.distillation import DistillationArguments
from trainer_tasks.training.modeling import load_model, load_tokenizer

DEFAULT_MODEL = ModelArguments.model_name_or_path
STUDENT_CONFIG_KEY = "student_of"  # saved in the student's config.json: where its weights came from


def every_other_layer(num_layers: int) -> list[int]:
    """Teacher layers 0, 2, 4, ...: half the depth (rounded up), as DistilBERT was initialised."""
    return list(range(0, num_layers, 2))


@dataclass(frozen=True)
class StudentNames:
    """What the user called the teacher and the layers, so messages name what they typed."""

    teacher: str = "--student_from_teacher"
    layers: str = "--student_layers"


TRAIN_NAMES = StudentNames()  # train.py --student_from_teacher DIR --student_layers ...
COMMAND_NAMES = StudentNames(teacher="TEACHER", layers="--layers")  # trainer-tasks student TEACHER OUT --layers ...


def check_teacher_folder(path: str, names: StudentNames = TRAIN_NAMES) -> None:
    if os.path.isfile(path):
        raise TaskError(f"{names.teacher} {path!r} is a file; pass the checkpoint's folder (with config.json)")
    if not os.path.isdir(path):
        raise TaskError(f"{names.teacher} {path!r}: no such folder; pass a saved checkpoint folder")


def load_teacher_for_copy(path: str, names: StudentNames = TRAIN_NAMES) -> PreTrainedModel:
    """The checkpoint with its classification head when it has one, else the bare encoder."""
    check_teacher_folder(path, names)
    try:
        config = AutoConfig.from_pretrained(path)
        has_head = any(arch.endswith("ForSequenceClassification") for arch in (config.architectures or []))
        auto_class = AutoModelForSequenceClassification if has_head else AutoModel
        return auto_class.from_pretrained(path)
    except (OSError, ValueError, SafetensorError) as error:
        summary = first_line(error)
        raise TaskError(f"{names.teacher} {path!r}: cannot load a model from it ({summary})") from None


def encoder_layers_name(model: PreTrainedModel) -> str:
    """Qualified name of the ``nn.ModuleList`` holding the encoder layers (``bert.encoder.layer``, ...)."""
    depth = model.config.num_hidden_layers
    candidates = [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.ModuleList)
        and len(module) == depth
        and name.rsplit(".", 1)[-1] in ("layer", "layers")
    ]
    if len(candidates) != 1:
        raise TaskError(
            f"cannot find the encoder layers of this {type(model).__name__} (found {candidates or 'no'} layer lists "
            f"of length {depth}); a student can be built from BERT-family encoders with one list of layers only"
        )
    return candidates[0]


def check_layers(layers: Sequence[int], depth: int, names: StudentNames = TRAIN_NAMES) -> list[int]:
    layers = list(layers)
    if not layers:
        raise TaskError(f"{names.layers} is empty: name at least one teacher layer to keep")
    bad = [layer for layer in layers if not 0 <= layer < depth]
    if bad:
        raise TaskError(f"{names.layers} {bad} out of range: the teacher has layers 0..{depth - 1}")
    if sorted(set(layers)) != layers:
        raise TaskError(f"{names.layers} must be increasing and distinct, got {layers}")
    return layers


def student_state_dict(teacher: PreTrainedModel, layers: Sequence[int]) -> dict[str, torch.Tensor]:
    """The teacher's weights with only ``layers`` kept, renumbered 0..len(layers)-1."""
    prefix = re.escape(encoder_layers_name(teacher)) + r"\.(\d+)\."
    pattern = re.compile(prefix)
    new_index = {old: new for new, old in enumerate(layers)}
    state = {}
    for key, tensor in teacher.state_dict().items():
        match = pattern.match(key)
        if match is None:
            state[key] = tensor.clone()  # embeddings, pooler, head: copied as they are
            continue
        old = int(match.group(1))
        if old in new_index:
            state[key[: match.start(1)] + str(new_index[old]) + key[match.end(1) :]] = tensor.clone()
    return state


def build_student(
    teacher_path: str, layers: Sequence[int] | None = None, names: StudentNames = TRAIN_NAMES
) -> tuple[PreTrainedModel, PreTrainedModel, list[int]]:
    """``(student, teacher, kept layers)``: a copy of the teacher keeping only ``layers`` (default every other)."""
    teacher = load_teacher_for_copy(teacher_path, names)
    depth = teacher.config.num_hidden_layers
    kept = check_layers(layers if layers is not None else every_other_layer(depth), depth, names)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(kept)  # DistilBERT's config maps this name to n_layers
    setattr(config, STUDENT_CONFIG_KEY, {"teacher": teacher_path, "teacher_layers": kept, "teacher_depth": depth})
    student = type(teacher)(config)
    # strict: every student weight must come from the teacher; a missing one would stay random silently.
    student.load_state_dict(student_state_dict(teacher, kept), strict=True)
    student.eval()
    return student, teacher, kept


def check_student_folder(teacher_path: str, output_dir: str) -> None:
    """OUTPUT_DIR must be a folder that can be written and is not the teacher's (saving would replace its weights)."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise TaskError(f"{output_dir} is a file; OUTPUT_DIR is the folder the student checkpoint is written to")
    teacher, output = os.path.abspath(teacher_path), os.path.abspath(output_dir)
    if teacher == output or (os.path.exists(output_dir) and os.path.samefile(teacher_path, output_dir)):
        raise TaskError(
            f"{output_dir} is the teacher's folder: saving the student there would replace the teacher's weights; "
            "choose another output folder"
        )
    existing = output
    while not os.path.exists(existing):  # the nearest folder that exists: the one the student is created in
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise TaskError(f"{output_dir}: {existing} is a file, so the student folder cannot be created under it")


def save_student(
    teacher_path: str, output_dir: str, layers: Sequence[int] | None = None, names: StudentNames = TRAIN_NAMES
) -> list[int]:
    """Build the student and save it, with the teacher's tokenizer, as a normal checkpoint folder.

    The tokenizer is loaded first, so a teacher folder without one fails before anything is written.
    """
    check_teacher_folder(teacher_path, names)
    check_student_folder(teacher_path, output_dir)
    try:
        tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(teacher_path)
    except (OSError, ValueError) as error:
        raise TaskError(f"{names.teacher} {teacher_path!r}: no tokenizer in the folder ({error})") from None
    check_tokenizer(teacher_path, tokenizer)
    student, _, kept = build_student(teacher_path, layers, names)
    try:
        student.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
    except OSError as error:
        raise TaskError(f"{output_dir}: cannot write the student ({error.strerror or error})") from None
    return kept


def load_tokenizer_and_model(
    model_args: ModelArguments, task: Task, distillation_args: DistillationArguments
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """``train.py``'s model step: the usual checkpoint, or a student built from ``--student_from_teacher``.

    The student is written to a temporary folder and loaded by ``load_model`` like any checkpoint,
    so label checks and head initialisation are the same code path. ``model_name_or_path`` is set to
    the teacher's folder, so ``results.json`` names where the student's weights came from (the saved
    config's ``student_of`` says which layers).
    """
    source = distillation_args.student_from_teacher
    if source is None:
        return load_tokenizer(model_args), load_model(model_args, task)
    if model_args.model_name_or_path not in (DEFAULT_MODEL, source):
        raise TaskError(
            f"--student_from_teacher {source} and --model_name_or_path {model_args.model_name_or_path} both name "
            "the model to train; pass only --student_from_teacher"
        )
    model_args.model_name_or_path = source
    tokenizer = load_tokenizer(model_args)
    student, _, _ = build_student(source, distillation_args.student_layers)
    with tempfile.TemporaryDirectory(prefix="student-") as folder:
        write_checkpoint(student, folder)
        model = load_model(replace(model_args, model_name_or_path=folder), task)
    return tokenizer, model


def write_checkpoint(model: PreTrainedModel, folder: str) -> None:
    """Config and safetensors weights, written by this process whatever its rank.

    ``save_pretrained`` writes nothing on ranks other than 0 once torch.distributed is initialised,
    but under ``accelerate launch`` every process builds its own student in its own folder.
    """
    model.config.save_pretrained(folder)
    state = {key: tensor.detach().contiguous().clone() for key, tensor in model.state_dict().items()}
    save_file(state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
