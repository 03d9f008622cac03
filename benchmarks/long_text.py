"""Long texts on real data: ``--long_text chunk`` against ``truncate`` on the toxic comments past the window.

One command, CPU, offline, on ``../shared``:

    python benchmarks/long_text.py --shared ../shared --output outputs/long-text-benchmark

For each window length W (``--windows``, tokens), two models are fine-tuned from all-MiniLM-L6-v2 on
the shared ``thesis_val`` comments with ``train.py`` (the real command line): one with the default
``--long_text truncate``, one with ``--long_text chunk`` (every window of a comment carries its
labels). Both are then scored with ``trainer-tasks evaluate`` on the ``thesis_test`` comments
longer than W tokens, the only ones where the two modes differ: truncated to their first window,
and chunked (windows overlapping by W/4 tokens, the max of the window logits per label); metrics at
the thresholds saved with each model, as ``predict`` applies them (ROC-AUC is threshold-free). The shared
comments were cut to 200 characters when the subset was made, so few exceed 128 tokens; shorter
windows give the comparison enough comments to mean something, and the table says how many.

The comments longer than W are written to a temporary file outside the project (shared data is
never copied into it). A run whose ``results.json`` exists is reused, so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from trainer_tasks.record.results import markdown_table  # noqa: E402

TRAIN_FILE = "data/toxic/thesis_val.csv.gz"
TEST_FILE = "data/toxic/thesis_test.csv.gz"
METRICS = ("jaccard_samples", "f1_micro", "roc_auc_macro")


def token_counts(texts: list[str], tokenizer_path: str) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    return [len(ids) for ids in tokenizer(texts)["input_ids"]]


def train(args: argparse.Namespace, window: int, mode: str, output: Path) -> Path:
    """One real ``train.py`` run (skipped when its results.json exists)."""
    if (output / "results.json").is_file():
        return output
    command = [
        sys.executable, str(ROOT / "train.py"), "--task", "toxic",
        "--model_name_or_path", args.model, "--train_file", str(Path(args.shared) / TRAIN_FILE),
        "--max_seq_length", str(window), "--long_text", mode, "--stride", str(window // 4),
        "--num_train_epochs", str(args.epochs), "--learning_rate", "1e-4", "--per_device_train_batch_size", "32",
        "--save_strategy", "no", "--report_to", "none", "--seed", "42", "--output_dir", str(output),
        "--overwrite_output_dir", "true",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"  trained W={window} {mode} in {time.perf_counter() - started:.0f} s", flush=True)
    return output


def evaluate(model: Path, data: str, window: int, mode: str, output: Path) -> dict:
    command = [
        sys.executable, "-m", "trainer_tasks.commands.main", "evaluate", str(model), data,
        "--max_length", str(window), "--long_text", mode, "--stride", str(window // 4),
        "--precision", "fp32", "--no_progress", "--output", str(output),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads((output / "evaluation.json").read_text())


def metric(report: dict, name: str) -> float:
    """A multi-label metric at the thresholds saved with the model: what ``predict`` applies."""
    value = report["metrics"]["at_saved_thresholds"].get(name)
    return float("nan") if value is None else float(value)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--model", default=None, help="Default: <shared>/models/all-MiniLM-L6-v2.")
    parser.add_argument("--output", default=str(ROOT / "outputs" / "long-text-benchmark"))
    parser.add_argument("--windows", nargs="+", type=int, default=[128, 64, 32])
    parser.add_argument("--epochs", type=float, default=2)
    args = parser.parse_args(argv)
    args.model = args.model or str(Path(args.shared) / "models" / "all-MiniLM-L6-v2")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    test = pd.read_csv(Path(args.shared) / TEST_FILE)
    lengths = token_counts(test["text"].astype(str).tolist(), args.model)
    rows = []
    with tempfile.TemporaryDirectory(prefix="long-text-") as scratch:
        for window in args.windows:
            long_rows = test[[length > window for length in lengths]]
            row = {"window": window, "test_comments": len(test), "longer": len(long_rows)}
            print(f"W={window}: {len(long_rows)} of {len(test)} test comments are longer", flush=True)
            if len(long_rows) == 0:
                rows.append(row)
                continue
            data = os.path.join(scratch, f"longer-than-{window}.csv")
            long_rows.to_csv(data, index=False)
            for trained_as in ("truncate", "chunk"):
                model = train(args, window, trained_as, output / f"w{window}-{trained_as}")
                for scored_as in ("truncate", "chunk"):
                    report = evaluate(model, data, window, scored_as, output / f"w{window}-{trained_as}-{scored_as}")
                    row[trained_as, scored_as] = {name: metric(report, name) for name in METRICS}
            rows.append(row)

    header = ["window (tokens)", "test comments longer", "trained as", "scored as", *METRICS]
    table = [
        [row["window"], f"{row['longer']} of {row['test_comments']}", trained, scored,
         *(f"{row[trained, scored][name]:.4f}" for name in METRICS)]
        for row in rows
        for trained in ("truncate", "chunk")
        for scored in ("truncate", "chunk")
        if (trained, scored) in row
    ]  # fmt: skip
    text = "\n".join(["# Long texts: chunk against truncate (toxic, real comments)", "",
                      f"Command: `python benchmarks/long_text.py {' '.join(argv or sys.argv[1:])}`", "",
                      markdown_table(header, table), ""])  # fmt: skip
    (output / "long_text.md").write_text(text)
    serialisable = [{key if isinstance(key, str) else "/".join(key): value for key, value in row.items()}
                    for row in rows]  # fmt: skip
    (output / "long_text.json").write_text(json.dumps(serialisable, indent=1))
    print(text)
    return rows


if __name__ == "__main__":
    main()
