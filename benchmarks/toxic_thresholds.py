"""Rare toxic labels on real data: per-label F1 at 0.5 versus tuned thresholds, with and without pos_weight,
and the thresholds rule: the kept thresholds against per-label F1 tuning without the rule.

One command, CPU, offline, on ``../shared``:

    nice python benchmarks/toxic_thresholds.py --shared ../shared --output outputs/toxic-thresholds

Two ``train.py`` runs of all-MiniLM-L6-v2 on the real Jigsaw comments (``thesis_val`` and
``thesis_test`` pooled, re-split 80/20 then 10% of train for validation, seed 42), identical but
for the loss: (a) plain BCE, (b) ``--pos_weight auto``. Each run tunes thresholds on its VALIDATION
split as train.py does by default (``--threshold_objective primary``: coordinate ascent on the
Hamming score, a label's cut-off kept only where it helps, the set kept only where the validation
Hamming score is not lower than at 0.5) and reports test metrics at 0.5 and at the kept thresholds,
from the same test predictions. The first table: per-label test F1 and macro/micro-F1 for the four
combinations, with the thresholds and weights. The second: test Hamming score and micro/macro-F1 of
each saved model at 0.5, at per-label F1-optimal validation thresholds with no rule (what train.py did
before the rule), and at the kept thresholds. Then it scores ``--bf16_texts`` test comments with the
plain run's model in fp32 and under bf16 autocast. A run whose ``results.json`` exists is reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks.environment import set_defaults  # noqa: E402

# One intra-op thread by default: on cores shared with other jobs, OpenMP threads spin at barriers
# waiting for a core (BENCHMARK_THREADS=2 to use both cores of an idle machine).
set_defaults(threads="1")

import numpy as np  # noqa: E402

import train  # noqa: E402
from tasks import DataConfig, get_task  # noqa: E402
from tasks.metrics import multi_label_scores, sigmoid  # noqa: E402
from trainer_tasks.inference.classifier import TextClassifier  # noqa: E402
from trainer_tasks.record.results import markdown_table  # noqa: E402
from trainer_tasks.training.thresholds import best_threshold  # noqa: E402

TOXIC_FILES = ("data/toxic/thesis_val.csv.gz", "data/toxic/thesis_test.csv.gz")
MODEL = "models/all-MiniLM-L6-v2"
SEED = 42


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"), help="The shared/ folder (data, models).")
    parser.add_argument("--output", default="outputs/toxic-thresholds", help="Runs and the summary go here.")
    parser.add_argument(
        "--max_train_samples", type=int, default=6000, help="Training comments (of 15,762): ~5 min per run here."
    )
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--bf16_texts", type=int, default=1000, help="Test comments for the bf16 check (0: skip).")
    return parser.parse_args()


def run(folder: Path, flags: list[str]) -> dict:
    """One ``train.py`` run, in this process; reused when its results already exist."""
    results_file = folder / "results.json"
    if not results_file.is_file():
        print(f"training {folder.name}: train.py {' '.join(flags)}", flush=True)
        train.main([*flags, "--output_dir", str(folder)])
    return json.loads(results_file.read_text())


def bf16_check(model: str, texts: list[str]) -> dict:
    """Largest score change and label flips when the same model runs under CPU bf16 autocast."""
    exact = TextClassifier.load(model, precision="fp32").predict(texts)
    fast = TextClassifier.load(model, precision="bf16").predict(texts)
    return {
        "texts": len(texts),
        "max_abs_score_diff": float(np.max(np.abs(exact.scores - fast.scores))),
        "mean_abs_score_diff": float(np.mean(np.abs(exact.scores - fast.scores))),
        "rows_with_other_labels": sum(a != b for a, b in zip(exact.labels, fast.labels, strict=True)),
    }


RULE_METRICS = ("jaccard_samples", "f1_micro", "f1_macro")


def rule_comparison(folder: Path, validation, labels: list[str], results: dict) -> dict[str, dict[str, float]]:
    """Test metrics of one saved model at 0.5, at per-label F1-optimal validation cut-offs (no rule: train.py
    before the rule) and at the thresholds train.py kept. Validation is re-predicted in fp32 from the saved
    model; test comes from the run's own ``predictions_test.npz``."""
    saved = np.load(folder / "predictions_test.npz")
    test_probabilities, test_truth = sigmoid(saved["logits"].astype(np.float64)), saved["labels"].astype(int)
    classifier = TextClassifier.load(str(folder), precision="fp32")
    validation_probabilities = classifier.scores(classifier.logits(validation["text"], batch_size=128)[0])
    validation_truth = np.array(validation["labels"]).astype(int)
    f1_cut_offs = np.array(
        [best_threshold(validation_probabilities[:, k], validation_truth[:, k], "f1")[0] for k in range(len(labels))]
    )
    kept = np.array([results["thresholds"][label] for label in labels])
    outcomes = {}
    for name, cut_offs in (("0.5", np.full(len(labels), 0.5)), ("F1 per label, no rule", f1_cut_offs), ("kept", kept)):
        scores = multi_label_scores(test_truth, test_probabilities >= cut_offs, labels, test_probabilities)
        outcomes[name] = {metric: float(scores[metric]) for metric in RULE_METRICS}
    return outcomes


def main() -> None:
    args = parse()
    shared, output = Path(args.shared), Path(args.output)
    files = [str(shared / name) for name in TOXIC_FILES]
    common = [
        "--task", "toxic", "--data_files", *files, "--model_name_or_path", str(shared / MODEL),
        "--max_seq_length", str(args.max_seq_length), "--max_train_samples", str(args.max_train_samples),
        "--num_train_epochs", str(args.epochs), "--learning_rate", str(args.learning_rate),
        "--per_device_train_batch_size", str(args.batch_size), "--per_device_eval_batch_size", "128",
        "--eval_strategy", "no", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--logging_steps", "50", "--seed", str(SEED),
    ]  # fmt: skip
    runs = {
        "plain": run(output / "plain", common),
        "pos_weight": run(output / "pos_weight", [*common, "--pos_weight", "auto"]),
    }
    labels = list(get_task("toxic").labels)
    test = get_task("toxic").build_dataset(DataConfig(data_files=tuple(files), seed=SEED))["test"]
    test_positives = np.array(test["labels"]).sum(axis=0).astype(int)

    rows = []
    for index, label in enumerate(labels):
        row = [label, int(test_positives[index])]
        for name in runs:
            results = runs[name]
            tuning = {item["label"]: item for item in results["threshold_tuning"]}[label]
            row += [
                results["test_metrics"][f"test_f1_{label}"],
                results["test_metrics_tuned"][f"test_f1_{label}"],
                f"{tuning['threshold']:.3f} ({tuning['validation_positives']})",
            ]
        row.append(f"{runs['pos_weight']['pos_weight'][label]:.1f}")
        rows.append(row)
    for key in ("f1_macro", "f1_micro", "jaccard_samples", "roc_auc_macro"):
        row = [f"**{key}**", ""]
        for name in runs:
            results = runs[name]
            row += [results["test_metrics"][f"test_{key}"], results["test_metrics_tuned"][f"test_{key}"], ""]
        rows.append([*row, ""])
    header = [
        "label", "test positives", "plain F1 @0.5", "plain F1 @tuned", "plain threshold (val positives)",
        "pos_weight F1 @0.5", "pos_weight F1 @tuned", "pos_weight threshold (val positives)", "pos_weight",
    ]  # fmt: skip
    table = markdown_table(header, rows)
    plain = runs["plain"]
    sizes = plain["data"]
    print()
    print(
        f"Toxic, real Jigsaw comments ({sizes['train_size']} train, {sizes['validation_size']} validation, "
        f"{sizes['test_size']} test; seed {SEED}), all-MiniLM-L6-v2, {args.epochs:g} epoch, lr {args.learning_rate:g}, "
        f"batch {args.batch_size}, max_seq_length {args.max_seq_length}; thresholds tuned on validation; "
        f"train time plain {plain['training']['train_runtime']:.0f}s, "
        f"pos_weight {runs['pos_weight']['training']['train_runtime']:.0f}s ({runs['pos_weight']['loss_weighting']})"
    )
    print()
    print(table)
    validation = get_task("toxic").build_dataset(DataConfig(data_files=tuple(files), seed=SEED))["validation"]
    rule_rows = []
    for name, results in runs.items():
        outcomes = rule_comparison(output / name, validation, labels, results)
        rule = results["threshold_rule"]
        for how, scores in outcomes.items():
            rule_rows.append([name, how, *(f"{scores[metric]:.4f}" for metric in RULE_METRICS),
                              ("kept" if rule["kept"] else "rejected: all 0.5") if how == "kept" else ""])  # fmt: skip
    rule_table = markdown_table(["run", "thresholds", "test Hamming score", "test micro-F1", "test macro-F1",
                                 "the rule's decision"], rule_rows)  # fmt: skip
    print()
    print(rule_table)
    summary = {"table": table, "rule_table": rule_table, "runs": {name: str(output / name) for name in runs}}
    if args.bf16_texts:
        check = bf16_check(str(output / "plain"), test["text"][: args.bf16_texts])
        summary["bf16"] = check
        print(
            f"\nbf16 autocast vs fp32, plain model, {check['texts']} test comments: max |score diff| "
            f"{check['max_abs_score_diff']:.2e}, mean {check['mean_abs_score_diff']:.2e}, "
            f"{check['rows_with_other_labels']} rows with other labels"
        )
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
