"""The model card, rendered from results.json without training: metadata the Hub reads, and the body."""

import json
import math
import re

from fake_hub import check_metadata
from huggingface_hub import ModelCard

from tasks import get_task
from trainer_tasks.commands import main as cli
from trainer_tasks.hub.card import collect_card, render_card, write_card
from trainer_tasks.record.run_record import RunRecord

NEWS_TEST = {
    "test_loss": 0.41, "test_accuracy": 0.8672, "test_f1_macro": 0.8551, "test_f1_business": 0.83,
    "test_f1_science/tech": 0.84, "test_f1_entertainment": 0.93, "test_f1_health": 0.82,
    "test_runtime": 14.01, "test_samples_per_second": 356.8, "test_steps_per_second": 1.4, "epoch": 2.0,
}  # fmt: skip
TOXIC_TEST = {
    "test_loss": 0.09, "test_jaccard_samples": 0.9137, "test_hamming_accuracy": 0.981, "test_exact_match": 0.902,
    "test_f1_micro": 0.71, "test_f1_macro": 0.44, "test_f1_toxic": 0.8, "test_f1_severe_toxic": 0.2,
    "test_f1_obscene": 0.79, "test_f1_threat": 0.0, "test_f1_insult": 0.7, "test_f1_identity_hate": 0.15,
    "test_roc_auc_toxic": 0.95, "test_roc_auc_severe_toxic": 0.97, "test_roc_auc_obscene": 0.96,
    "test_roc_auc_threat": float("nan"), "test_roc_auc_insult": 0.95, "test_roc_auc_identity_hate": 0.93,
    "test_roc_auc_macro": 0.952, "test_runtime": 3.2, "test_samples_per_second": 100.0, "epoch": 2.0,
}  # fmt: skip


def results_for(task_name: str, test_metrics: dict, **extra) -> dict:
    """A results.json of a 2-epoch run, in the schema trainer_tasks.record.results.collect_results writes."""
    task = get_task(task_name)
    return {
        "task": task.name,
        "problem_type": task.problem_type,
        "labels": list(task.labels),
        "primary_metric": task.primary_metric,
        "model_name_or_path": "distilbert-base-uncased",
        "data": {
            "split": "story" if task_name == "news" else "random", "data_files": ["/home/me/data/train.csv.gz"],
            "dataset_name": None, "train_size": 7200, "validation_size": 800, "test_size": 2000,
            "max_seq_length": None, "pad_to_max_length": False, "max_text_chars": None,
        },
        "training": {
            "learning_rate": 5e-05, "per_device_train_batch_size": 32, "gradient_accumulation_steps": 1,
            "num_train_epochs": 2.0, "max_steps": -1, "lr_scheduler_type": "linear", "warmup_steps": 0,
            "weight_decay": 0.0, "max_grad_norm": 1.0, "seed": 42, "bf16": False, "fp16": False,
            "train_sampling_strategy": "group_by_length", "global_steps": 226, "train_runtime": 161.2,
            "train_loss": 0.31,
        },
        "world_size": 2,
        "epochs": [
            {"epoch": 1, "train_loss": 0.52, "val_loss": 0.40, "val_metric": 0.85, "train_time": 75.0,
             "val_time": 8.2, "total_time": 83.3},
            {"epoch": 2, "train_loss": float("nan"), "val_loss": 0.37, "val_metric": 0.87, "train_time": 70.1,
             "val_time": 8.0, "total_time": 161.5},
        ],
        "test_metrics": test_metrics,
        "hardware": {"platform": "Linux", "cpu": "x86_64", "cpu_count": 2, "torch": "2.13.0+cpu", "python": "3.11.7"},
        "command": "train.py recipes/x.yaml --hub_token hf_secretXYZ --push_to_hub",
        "hub": {"push_to_hub": True, "model_id": "alice/model", "endpoint": None, "private": None,
                "revision": None, "strategy": "every_save"},
        **extra,
    }  # fmt: skip


def render(task_name: str, results: dict, tmp_path, **overrides) -> ModelCard:
    record = RunRecord.from_dict(results)
    path = write_card(str(tmp_path), collect_card(record, get_task(task_name), str(tmp_path), **overrides))
    return ModelCard.load(path)


def metrics_of(card: ModelCard) -> dict[str, float]:
    return {result.metric_type: result.metric_value for result in card.data.eval_results}


def test_toxic_card_metadata_holds_the_hamming_score_and_every_test_metric(tmp_path):
    card = render("toxic", results_for("toxic", TOXIC_TEST), tmp_path)
    data = card.data
    assert (data.pipeline_tag, data.library_name, data.language) == ("text-classification", "transformers", "en")
    assert data.base_model == "distilbert-base-uncased" and data.model_name == "alice/model"
    assert {"toxic", "multi-label"} <= set(data.tags)
    metrics = metrics_of(card)
    assert data.eval_results[0].metric_type == "jaccard_samples"  # the primary metric leads
    assert metrics["jaccard_samples"] == TOXIC_TEST["test_jaccard_samples"]
    assert data.eval_results[0].metric_name == "Hamming score (example-based Jaccard)"
    # every finite test metric, under its own name (the Trainer's card keeps a whitelist only); NaN has no value
    expected = {
        key.removeprefix("test_"): value
        for key, value in TOXIC_TEST.items()
        if not key.endswith(("runtime", "per_second", "epoch")) and math.isfinite(value)
    }
    assert metrics == expected and "roc_auc_threat" not in metrics
    assert {result.dataset_split for result in data.eval_results} == {"test"}
    assert [w["text"] for w in data.widget] == list(get_task("toxic").widget_examples)
    assert check_metadata(str(card)) == []  # what the (fake) Hub's validation accepts


def test_news_card_metadata_and_accuracy(tmp_path):
    card = render("news", results_for("news", NEWS_TEST), tmp_path)
    assert metrics_of(card)["accuracy"] == NEWS_TEST["test_accuracy"]
    assert card.data.eval_results[0].metric_type == "accuracy"
    assert "multi-label" not in card.data.tags and "news" in card.data.tags
    assert "story split" in card.data.eval_results[0].dataset_name
    assert check_metadata(str(card)) == []


def test_card_body_has_labels_split_tables_usage_limitations_and_reproduction(tmp_path):
    text = render("toxic", results_for("toxic", TOXIC_TEST), tmp_path).text
    for label, meaning in get_task("toxic").label_descriptions.items():
        assert f"| `{label}` | {meaning} |" in text
    assert "Split: **random**" in text and "train 7200, validation 800, test 2000" in text
    assert "| epoch | train loss | val loss | val jaccard_samples |" in text  # the thesis layout of results.py
    assert "| 2 | - | 0.3700 | 0.8700 |" in text  # NaN loss shows as "-"
    assert "| jaccard_samples | 0.9137 |" in text and "| roc_auc_threat | - |" in text
    assert "Hamming score (example-based Jaccard) on the test split: 0.9137" in text
    assert "| total_train_batch_size | 64 |" in text and "2 processes on CPU" in text
    assert "Training wall-clock: 161.2 s (0:02:41)" in text
    assert "Wikipedia talk-page" in text and "identity terms" in text
    assert "accelerate launch --config_file accelerate_configs/cpu.yaml --num_processes 2 train.py" in text
    assert "hf_secretXYZ" not in text and "--hub_token <redacted>" in text
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    compile(code, "usage", "exec")
    assert 'pipeline("text-classification", model="alice/model", top_k=None)' in code


def test_news_usage_code_is_single_label(tmp_path):
    text = render("news", results_for("news", NEWS_TEST), tmp_path).text
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert 'pipeline("text-classification", model="alice/model")' in code and "top_k" not in code
    assert "story cluster" in text


def test_thresholds_and_loss_weights_are_rendered_when_the_run_has_them(tmp_path):
    thresholds = {
        "toxic": 0.42,
        "severe_toxic": 0.2,
        "obscene": 0.35,
        "threat": 0.1,
        "insult": 0.3,
        "identity_hate": 0.15,
    }
    results = results_for("toxic", TOXIC_TEST, thresholds=thresholds, pos_weight=[2.0, 30.5, 4.0, 90.0, 4.5, 20.0])
    text = render("toxic", results, tmp_path).text
    assert "## Decision thresholds" in text and "| `threat` | 0.100 |" in text
    assert "## Class imbalance" in text and "(`pos_weight`)" in text and "| `threat` | 90.000 |" in text
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert f"thresholds = {thresholds!r}" in code
    plain = render("toxic", results_for("toxic", TOXIC_TEST), tmp_path).text
    assert "Decision thresholds" not in plain and "Class imbalance" not in plain


def test_checkpoint_card_says_training_is_in_progress(tmp_path):
    results = results_for("news", {}, in_progress="epoch 1 of 2")
    card = render("news", results, tmp_path)
    assert "Training in progress (epoch 1 of 2)" in card.text and "No test results yet." in card.text
    assert card.data.eval_results is None
    assert check_metadata(str(card)) == []


def test_rendering_is_deterministic_and_reads_results_json(tmp_path):
    results = results_for("toxic", TOXIC_TEST)
    (tmp_path / "results.json").write_text(json.dumps(results))
    first = render("toxic", results, tmp_path)
    assert cli.main(["card", str(tmp_path)]) == 0
    assert (tmp_path / "README.md").read_text() == str(first)


def test_local_base_model_gives_its_licence_and_user_fields_override(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "MODEL_CARD.md").write_text("---\nlicense: apache-2.0\nlanguage: en\n---\n# base\n")
    results = results_for("news", NEWS_TEST, model_name_or_path=str(base))
    card = render("news", results, tmp_path)
    assert card.data.license == "apache-2.0" and card.data.base_model is None
    assert f"`{base}`" in card.text
    card = render("news", results, tmp_path, base_model="sentence-transformers/all-MiniLM-L6-v2", license="mit")
    assert (card.data.base_model, card.data.license) == ("sentence-transformers/all-MiniLM-L6-v2", "mit")


def test_card_command_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["card", str(tmp_path)]) == 2
    assert "has no results.json" in capsys.readouterr().err
    (tmp_path / "results.json").write_text(json.dumps(results_for("news", NEWS_TEST, task="sentiment")))
    assert cli.main(["card", str(tmp_path)]) == 2
    assert "pass --task" in capsys.readouterr().err
    results = results_for("news", NEWS_TEST)
    results["hub"]["model_id"] = None
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert cli.main(["card", str(tmp_path), "--push"]) == 2  # fails before any network call
    assert "pass --hub_model_id" in capsys.readouterr().err


def test_rendered_card_has_no_runs_of_blank_lines(tmp_path):
    record = RunRecord.from_dict(results_for("news", NEWS_TEST))
    text = str(render_card(collect_card(record, get_task("news"), str(tmp_path))))
    assert "\n\n\n" not in text and text.endswith("\n") and not text.endswith("\n\n")
