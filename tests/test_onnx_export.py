"""ONNX export: the folder keeps labels, head type and thresholds, and scores match PyTorch within 1e-4."""

import json
from pathlib import Path

import numpy as np
import pytest
from classifiers import save_classifier

from tasks import TaskError
from tasks.toxic import LABELS as TOXIC_LABELS
from trainer_tasks.commands import main as cli
from trainer_tasks.inference.classifier import TextClassifier
from trainer_tasks.inference.onnx_export import export_onnx

onnxruntime = pytest.importorskip("onnxruntime", reason="ONNX export tests need pip install -e '.[dev]' (or [onnx])")

NEWS_LABELS = ("business", "science/tech", "entertainment", "health")
THRESHOLDS = {"toxic": 0.52, "severe_toxic": 0.31, "obscene": 0.47, "threat": 0.05, "insult": 0.5, "identity_hate": 0.9}
TEXTS = [
    "x",
    "you are an idiot and a moron",
    "",
    "thanks for the citation, the article reads better",
    " ".join(["kill hurt stupid"] * 200),
    "stocks market profit shares earnings investors",
    "film",
]


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_bert, tiny_distilbert):
    """A multi-label BERT (token_type_ids input) with thresholds, and a single-label DistilBERT."""
    root = tmp_path_factory.mktemp("onnx")
    toxic = save_classifier(tiny_bert, str(root / "toxic"), TOXIC_LABELS, True, THRESHOLDS)
    news = save_classifier(tiny_distilbert, str(root / "news"), NEWS_LABELS, False)
    return {
        name: (source, str(root / f"{name}-onnx"), export_onnx(source, str(root / f"{name}-onnx")))
        for name, source in (("toxic", toxic), ("news", news))
    }


@pytest.mark.parametrize("name", ["toxic", "news"])
def test_exported_folder_keeps_labels_problem_type_and_thresholds(exports, name):
    source, folder, record = exports[name]
    original = json.loads(Path(source, "config.json").read_text())
    exported = json.loads(Path(folder, "config.json").read_text())
    for key in ("id2label", "label2id", "problem_type"):
        assert exported[key] == original[key]
    assert exported.get("thresholds") == original.get("thresholds")
    assert (Path(folder) / "model.onnx").is_file() and (Path(folder) / "tokenizer.json").is_file()
    assert json.loads(Path(folder, "onnx_export.json").read_text()) == record
    assert record["max_abs_score_difference"] <= 1e-4


@pytest.mark.parametrize("name", ["toxic", "news"])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_onnx_scores_match_pytorch_within_1e_4(exports, name, batch_size):
    source, folder, _ = exports[name]
    reference = TextClassifier.load(source, precision="fp32").predict(TEXTS, batch_size=batch_size)
    onnx = TextClassifier.load(folder)
    assert onnx.backend == "onnxruntime" and onnx.labels == TextClassifier.load(source).labels
    result = onnx.predict(TEXTS, batch_size=batch_size)
    present = ~reference.empty
    assert np.max(np.abs(result.scores[present] - reference.scores[present])) <= 1e-4
    assert result.labels == reference.labels
    assert result.truncated.tolist() == reference.truncated.tolist() == [text.startswith("kill") for text in TEXTS]


@pytest.mark.parametrize("name", ["toxic", "news"])
def test_onnx_graph_takes_the_tokenizer_inputs_with_dynamic_shapes(exports, name):
    source, folder, record = exports[name]
    session = onnxruntime.InferenceSession(str(Path(folder) / "model.onnx"))
    inputs = {node.name: node.shape for node in session.get_inputs()}
    assert list(inputs) == record["inputs"] == TextClassifier.load(source).tokenizer.model_input_names
    assert all(isinstance(dim, str) for shape in inputs.values() for dim in shape)  # batch and length free
    assert [node.name for node in session.get_outputs()] == ["logits"]


def test_predict_command_runs_on_the_onnx_folder_with_saved_thresholds(exports, tmp_path):
    source, folder, _ = exports["toxic"]
    texts = tmp_path / "in.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    outputs = {}
    for kind, model in (("pytorch", source), ("onnx", folder)):
        outputs[kind] = tmp_path / f"{kind}.jsonl"
        command = ["predict", model, str(texts), "--output", str(outputs[kind]), "--no_progress", "--precision", "fp32"]
        assert cli.main(command) == 0
    rows = {kind: [json.loads(line) for line in path.read_text().splitlines()] for kind, path in outputs.items()}
    assert [row["labels"] for row in rows["onnx"]] == [row["labels"] for row in rows["pytorch"]]
    assert any("threat" in row["labels"] for row in rows["onnx"])  # threshold 0.05: on for every text
    assert all("identity_hate" not in row["labels"] for row in rows["onnx"])  # threshold 0.9


def test_an_onnx_folder_is_not_exported_again(exports, tmp_path):
    with pytest.raises(TaskError, match="already an ONNX export"):
        export_onnx(exports["news"][1], str(tmp_path / "again"))
