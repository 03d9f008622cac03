"""The half-depth student: its weights are the teacher's chosen layers, and it is a normal checkpoint."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, BertConfig, BertForSequenceClassification, pipeline

from tasks import TaskError
from trainer_tasks import testing as builders
from trainer_tasks.commands import main as cli
from trainer_tasks.training.student import build_student, every_other_layer, save_student

NEWS_LABELS = {0: "business", 1: "science/tech", 2: "entertainment", 3: "health"}


@pytest.fixture(scope="module")
def bert4(tmp_path_factory) -> str:
    """A 4-layer base BERT encoder (no head), as a pre-trained checkpoint is."""
    return builders.build_tiny_model(str(tmp_path_factory.mktemp("bert4")), "bert", layers=4)


@pytest.fixture(scope="module")
def classifier4(tmp_path_factory, bert4) -> str:
    """A 4-layer BERT classifier with news labels, standing in for a fine-tuned teacher."""
    folder = str(tmp_path_factory.mktemp("classifier4"))
    base = AutoConfig.from_pretrained(bert4)
    config = BertConfig(
        **{**base.to_dict(), "id2label": NEWS_LABELS, "label2id": {v: k for k, v in NEWS_LABELS.items()}}
    )
    config.problem_type = "single_label_classification"
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    builders.build_tokenizer(folder)
    return folder


def layer_state(model, prefix: str, index: int) -> dict[str, torch.Tensor]:
    start = f"{prefix}.{index}."
    return {k[len(start) :]: v for k, v in model.state_dict().items() if k.startswith(start)}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_every_other_layer():
    assert every_other_layer(6) == [0, 2, 4]
    assert every_other_layer(12) == [0, 2, 4, 6, 8, 10]
    assert every_other_layer(5) == [0, 2, 4]
    assert every_other_layer(1) == [0]


def test_base_bert_student_copies_embeddings_and_layers_0_and_2(bert4):
    student, teacher, kept = build_student(bert4)
    assert kept == [0, 2] and student.config.num_hidden_layers == 2 and len(student.encoder.layer) == 2
    for new, old in enumerate(kept):
        assert_same(layer_state(student, "encoder.layer", new), layer_state(teacher, "encoder.layer", old))
    outside = {k: v for k, v in teacher.state_dict().items() if not k.startswith("encoder.layer.")}
    student_state = student.state_dict()
    for key, value in outside.items():  # embeddings and pooler
        assert torch.equal(student_state[key], value), key
    assert student.config.student_of == {"teacher": bert4, "teacher_layers": [0, 2], "teacher_depth": 4}


def test_keeping_every_layer_reproduces_the_teacher_exactly(classifier4):
    """The copy is faithful: a 'student' that keeps all layers computes the teacher's logits."""
    student, teacher, _ = build_student(classifier4, layers=[0, 1, 2, 3])
    teacher.eval()
    ids = torch.tensor([[2, 10, 20, 30, 3, 0], [2, 11, 12, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        assert torch.equal(
            student(input_ids=ids, attention_mask=mask).logits, teacher(input_ids=ids, attention_mask=mask).logits
        )


def test_fine_tuned_teacher_keeps_head_labels_and_chosen_layers(classifier4, tmp_path):
    out = str(tmp_path / "student")
    kept = save_student(classifier4, out, layers=[1, 3])
    assert kept == [1, 3]
    student = BertForSequenceClassification.from_pretrained(out)
    teacher = BertForSequenceClassification.from_pretrained(classifier4)
    assert student.config.num_hidden_layers == 2 and student.config.id2label == NEWS_LABELS
    for new, old in enumerate(kept):
        assert_same(layer_state(student, "bert.encoder.layer", new), layer_state(teacher, "bert.encoder.layer", old))
    for name in ("classifier.weight", "classifier.bias", "bert.pooler.dense.weight"):
        assert torch.equal(student.state_dict()[name], teacher.state_dict()[name])
    scores = pipeline("text-classification", model=out, top_k=None)("stocks market shares")[0]
    assert {s["label"] for s in scores} == set(NEWS_LABELS.values())


def test_distilbert_student(tmp_path):
    teacher_dir = builders.build_tiny_model(str(tmp_path / "distilbert4"), "distilbert", layers=4)
    student, teacher, kept = build_student(teacher_dir)
    assert kept == [0, 2] and student.config.n_layers == 2 and len(student.transformer.layer) == 2
    for new, old in enumerate(kept):
        assert_same(layer_state(student, "transformer.layer", new), layer_state(teacher, "transformer.layer", old))


def test_cli_student_writes_a_checkpoint_pipeline_loads(bert4, tmp_path, capsys):
    out = str(tmp_path / "student")
    assert cli.main(["student", bert4, out]) == 0
    assert "teacher layers [0, 2] -> 2 layers" in capsys.readouterr().out
    assert AutoModel.from_pretrained(out).config.num_hidden_layers == 2
    classify = pipeline("text-classification", model=out)  # a base encoder: the head is new, but it serves
    assert len(classify("the film star")) == 1


@pytest.mark.parametrize(
    ("layers", "message"),
    [([0, 4], r"out of range: the teacher has layers 0\.\.3"), ([2, 0], "increasing"), ([], "empty")],
)
def test_bad_layers_are_refused(bert4, layers, message):
    with pytest.raises(TaskError, match=message):
        build_student(bert4, layers=layers)


def test_missing_teacher_folder_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["student", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    assert "no such folder" in capsys.readouterr().err
