"""The throughput benchmark's smoke run: every configuration trains, predicts and is reported.

Only the smoke mode runs here (seconds, tiny model built in-process); its numbers mean nothing,
and nothing about speed is asserted. The real benchmark is run by hand (see its docstring).
"""

import json

import torch

from benchmarks import throughput
from tasks import get_task
from trainer_tasks.inference import classifier


def test_smoke_run_measures_every_configuration_and_writes_results(tmp_path):
    threads = torch.get_num_threads()
    results = throughput.main(["--smoke", "--output", str(tmp_path)])
    assert torch.get_num_threads() == threads  # the smoke's single thread does not leak into other tests

    trained = {(row["task"], row["key"]) for row in results["train"]}
    expected_news = set(throughput.DEFAULT_CONFIGS["news"]) - throughput.SMOKE_SKIPS
    assert {key for task, key in trained if task == "news"} == expected_news
    assert {key for task, key in trained if task == "toxic"} == set(throughput.DEFAULT_CONFIGS["toxic"])
    for row in results["train"]:
        assert row["samples_per_s"] > 0 and row["tokens_per_s"] > 0 and row["flops_per_s"] > 0
        assert 0 <= row["padding_share"] < 1 and row["loss_measured_steps"] > 0
    by_key = {(row["task"], row["key"]): row for row in results["train"]}
    # what each configuration claims to do, it did
    assert by_key["news", "seed"]["dtype"] == "fp32" and by_key["news", "plain-best"]["dtype"] == "bf16"
    assert by_key["news", "ours-fp32"]["dtype"] == "fp32"
    assert by_key["news", "ours-random"]["train_sampling_strategy"] == "random"
    assert by_key["news", "ours-adamw"]["optim"] == "adamw_torch"
    assert by_key["news", "ours"]["optim"] == "adamw_torch_fused"
    assert by_key["news", "ours"]["fast_dropout"] and not by_key["news", "ours-torchdrop"]["fast_dropout"]
    assert by_key["news", "rc128"]["padding_share"] > by_key["news", "seed"]["padding_share"]
    assert by_key["news", "ours"]["padding_share"] < by_key["news", "ours-random"]["padding_share"]
    # same weights, same seed, same batches: seed style and dynamic padding reach the same loss, up to
    # dropout (its masks are drawn over the padded shape, so the two runs drop different units)
    assert (
        abs(by_key["news", "seed"]["loss_measured_steps"] - by_key["news", "plain-dyn"]["loss_measured_steps"]) < 0.02
    )

    inference = {(row["task"], row["key"]): row for row in results["inference"]}
    assert {key for _, key in inference} == {key for key, _ in throughput.INFER_CONFIGS}
    auto = classifier.resolve_precision("auto", "cpu")[0]  # what predict's default picks on this machine
    for task in ("news", "toxic"):
        assert inference[task, "ours-fp32"]["agreement_with_pipeline"] == 1.0  # fp32, same model: same labels
        assert inference[task, "ours-fp32"]["dtype"] == "fp32" and inference[task, "ours"]["dtype"] == auto
        assert inference[task, "ours-64-texts"]["texts_per_s"] > 0
        metric = get_task(task).primary_metric
        assert all(0 <= inference[task, key]["metrics"][metric] <= 1 for key, _ in throughput.INFER_CONFIGS)
    assert {(row["task"], row["key"]) for row in results["quality"]} == {
        (task, key) for task in ("news", "toxic") for key in throughput.QUALITY_CONFIGS[task]
    }
    from benchmarks import hardware

    # peaks of the dtypes this device runs natively only (bf16 emulated on an AVX2 CPU would take minutes)
    assert set(results["peaks"]) == set(hardware.peak_dtypes()) and all(max(v) > 0 for v in results["peaks"].values())

    on_disk = json.loads((tmp_path / "throughput.json").read_text())
    assert on_disk["train"][0]["key"] == results["train"][0]["key"]
    table = (tmp_path / "throughput.md").read_text()
    assert "| task | configuration | dtype | samples/s |" in table and "x seed style" in table
    assert "seed style: pad to longest, fp32 | fp32 |" in table and "## Inference" in table
    # the best Trainer is the fastest plain-Trainer row measured, whatever --configs held; and its fp32 one
    for task in ("news", "toxic"):
        rows = [row for row in results["train"] if row["task"] == task]
        best = throughput.best_plain_trainer(rows)
        plain = [row["samples_per_s"] for row in rows if row["config"]["trainer"] == "plain"]
        assert best["samples_per_s"] == max(plain) and best["config"]["trainer"] == "plain"
        assert throughput.best_plain_trainer(rows, dtype="fp32")["dtype"] == "fp32"
    assert "x best fp32 Trainer" in table and "| nan |" not in table
    # the profile of ours' measured steps: shares of the step that add up, matrix products among them
    for profile in results["profile"]:
        shares = {row["category"]: row["share"] for row in profile["categories"]}
        assert shares["matrix products"] > 0 and abs(sum(shares.values()) - 1) < 0.35, shares
        assert profile["operators"] and all(row["operator"].startswith("aten::") for row in profile["operators"])
    assert "## Where ours' step time goes" in table


def test_peak_measurement_is_bounded_and_bf16_only_where_native(monkeypatch):
    import time

    from benchmarks import hardware

    start = time.perf_counter()
    # a dtype "too slow" for the budget: the matrix shrinks to the floor instead of running for minutes
    assert hardware.matmul_peak("fp32", size=2048, max_seconds=1e-9) > 0
    assert time.perf_counter() - start < 5
    monkeypatch.setattr(hardware, "native_bf16", lambda: False)
    assert "bf16" not in hardware.peak_dtypes()
    configs = throughput.native_configs(list(throughput.CONFIGS))
    assert configs and not any(config.bf16 for config in configs)
    monkeypatch.setattr(hardware, "native_bf16", lambda: True)
    assert "bf16" in hardware.peak_dtypes()
    assert throughput.native_configs(list(throughput.CONFIGS)) == list(throughput.CONFIGS)
