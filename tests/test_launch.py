"""Real ``accelerate launch`` runs: 2-process DDP over gloo on CPU, and a single process.

The process boundary is the point here, so these launch ``train.py`` as users do.
"""

import json
import os
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, train_args
from transformers import pipeline

pytestmark = pytest.mark.slow


def launch(num_processes: int, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"),
        "--num_processes", str(num_processes), "--main_process_port", str(29600 + num_processes),
        str(ROOT / "train.py"), *args,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.parametrize("num_processes", [2, 1])
def test_news_under_accelerate_launch(tmp_path, tiny_bert, news_csv, num_processes):
    out = str(tmp_path / "out")
    launch(num_processes, "--task", "news", "--data_files", news_csv, *train_args(tiny_bert, out))
    results = json.loads(Path(os.path.join(out, "results.json")).read_text())
    assert results["world_size"] == num_processes
    assert results["test_metrics"]["test_accuracy"] > 0.4
    # 4 classes start near ln 4 = 1.39 and only go down: a loss scaled by the process count would start at 2.77
    assert results["epochs"][0]["train_loss"] < 1.45
    # Each process sees half the data: steps per epoch halve under DDP with the same per-device batch.
    assert results["training"]["global_steps"] == 6 * -(-576 // (16 * num_processes))
    classify = pipeline("text-classification", model=out, top_k=None)
    assert len(classify("stocks market shares")[0]) == 4


def test_toxic_under_two_process_ddp(tmp_path, tiny_distilbert, toxic_csv):
    out = str(tmp_path / "out")
    launch(2, "--task", "toxic", "--data_files", toxic_csv, *train_args(tiny_distilbert, out))
    results = json.loads(Path(os.path.join(out, "results.json")).read_text())
    assert results["world_size"] == 2 and "test_jaccard_samples" in results["test_metrics"]
    assert results["data"]["test_size"] == 120
    scores = pipeline("text-classification", model=out, top_k=None)("idiot kill")[0]
    assert len(scores) == 6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# "2026-01-01 12:00:00,000 INFO trainer_tasks.training.modeling: message", as train.py's configure_logging writes it
PROJECT_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+ (train|tasks|trainer_tasks)(\.[\w.]+)?: ")


def test_two_process_run_says_each_thing_once_and_ends_with_where_the_outputs_are(tmp_path, tiny_bert, news_csv):
    """What a person watching a 2-process launch reads: every message once (rank 1 adds nothing of its own), no
    warning the run itself causes, the model-load report as one line, and last the line naming the output folder."""
    out = str(tmp_path / "out")
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"),
        "--num_processes", "2", "--main_process_port", str(free_port()),
        str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv,
        *train_args(tiny_bert, out, "--num_train_epochs", "2", "--disable_tqdm", "false"),
        "--max_train_samples", "200", "--max_eval_samples", "50", "--max_predict_samples", "60",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # one stream, as a terminal shows it: the order of stdout (results table) and stderr (log) is what is checked
    done = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT, timeout=600
    )
    output = done.stdout
    assert done.returncode == 0, output[-3000:]
    assert json.loads(Path(out, "results.json").read_text())["world_size"] == 2  # both processes trained

    lines = [line.strip() for line in output.replace("\r", "\n").splitlines() if line.strip()]
    project = [PROJECT_LOG_LINE.sub("", line) for line in lines if PROJECT_LOG_LINE.match(line)]
    repeated = [message for message, count in Counter(project).items() if count > 1]
    assert project and not repeated, repeated
    limits = [line for line in lines if "(--max_*_samples)" in line]
    assert len(limits) == 3, limits  # train, validation and test, each once
    assert sum("Tokenizing: 100%" in line for line in lines) == 3  # datasets' bars: once per split, not per process
    assert sum("Loading weights: 100%" in line for line in lines) == 1
    assert "find_unused_parameters" not in output  # PyTorch's DDP warning: every parameter is used
    assert "LOAD REPORT" not in output and "MISSING" not in output  # transformers' table of new weights...
    heads = [line for line in lines if "new classification head" in line]
    assert len(heads) == 1 and "classifier.weight" in heads[0], heads  # ... is one line
    assert lines[-1].endswith(f"saved to {out}"), lines[-3:]
    assert "results.json" in lines[-1] and "model card" in lines[-1]


def test_fsdp_on_two_cpu_processes_saves_a_full_model_pipeline_loads(tmp_path, tiny_bert, news_csv):
    """FSDP2 with the fast path, 2 processes over gloo (accelerate_configs/fsdp_cpu.yaml): the sharded run
    trains, saves a full state dict, and that folder is a complete model (no missing or unexpected weights)
    whose pipeline() scores equal the project's own classifier's on it."""
    from transformers import AutoModelForSequenceClassification

    from trainer_tasks.inference.classifier import TextClassifier

    out = str(tmp_path / "out")
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "accelerate_configs" / "fsdp_cpu.yaml"), "--main_process_port", "29613",
        str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv, *train_args(tiny_bert, out),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(Path(out, "results.json").read_text())
    assert results["world_size"] == 2 and results["fast_path"]["cls_only_last_layer"] == "on"
    assert results["kept_model"]["how"] == "last (FSDP)"
    assert results["epochs"][-1]["train_loss"] < results["epochs"][0]["train_loss"]
    _, info = AutoModelForSequenceClassification.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    texts = ["stocks market shares fall", "new phone chip software", "film music star"]
    scores = pipeline("text-classification", model=out, top_k=None)(texts)
    ours = TextClassifier.load(out, precision="fp32").predict(texts, progress=False).scores
    for row, expected in zip(scores, ours, strict=True):
        by_label = {item["label"]: item["score"] for item in row}
        assert [by_label[label] for label in results["labels"]] == pytest.approx(list(expected), abs=1e-5)
