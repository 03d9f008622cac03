"""Prediction throughput on real headlines: ``trainer-tasks predict`` versus a plain ``pipeline()`` call.

One command, CPU, offline, on ``../shared``:

    nice python benchmarks/predict_throughput.py --shared ../shared

The same model for every row: all-MiniLM-L6-v2 with a seeded 4-class news head (throughput does
not depend on the head being trained). The texts: ``--n`` headlines drawn with a fixed seed from
the full UCI file. Rows, each one pass over all texts, timed from strings in to scores out:

1. ``pipeline("text-classification", top_k=None)(texts)``: the plain call, default batch size (1);
2. the same pipeline with ``batch_size=--batch_size`` (batches in input order, padded to their
   longest text): separates batching from length sorting;
3. ``TextClassifier.predict`` (what ``trainer-tasks predict`` runs): tokenize once, sort by length,
   batch, restore the order; fp32;
4. the same under CPU bf16 autocast (``--precision bf16``), with its score error;
5. the same model exported to ONNX (``trainer-tasks export``) under ONNX Runtime.

Every row's scores are compared with row 1's (max absolute difference). The cores are shared with
other jobs on this machine, so the load average is printed with the table; one run, as the issue asks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks.environment import set_defaults  # noqa: E402

# One intra-op thread by default, for every row alike: on cores shared with other jobs, OpenMP
# threads spin at barriers waiting for a core (BENCHMARK_THREADS=2 to use both cores).
set_defaults(threads="1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from transformers import pipeline  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from tasks import get_task  # noqa: E402
from trainer_tasks.inference.classifier import TextClassifier  # noqa: E402
from trainer_tasks.record.results import markdown_table  # noqa: E402
from trainer_tasks.training.arguments import ModelArguments  # noqa: E402
from trainer_tasks.training.modeling import load_model, load_tokenizer  # noqa: E402

NEWS_FILE = "data/news/uci-news-aggregator.csv.gz"
MODEL = "models/all-MiniLM-L6-v2"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"), help="The shared/ folder (data, models).")
    parser.add_argument("--n", type=int, default=10_000, help="Headlines to classify.")
    parser.add_argument("--batch_size", type=int, default=64, help="Batch size of predict and the batched pipeline.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the headline sample and the head.")
    parser.add_argument("--skip_onnx", action="store_true", help="Leave out the ONNX row (no export).")
    parser.add_argument("--output", default=None, help="Also write the rows as JSON here.")
    return parser.parse_args()


def headlines(shared: Path, n: int, seed: int) -> list[str]:
    frame = pd.read_csv(shared / NEWS_FILE, usecols=["TITLE"], dtype=str, keep_default_na=False)
    return frame["TITLE"].sample(n=n, random_state=seed).tolist()


def save_model(shared: Path, folder: str, seed: int) -> None:
    """MiniLM with a fresh, seeded news head, saved as train.py saves it."""
    torch.manual_seed(seed)
    args = ModelArguments(model_name_or_path=str(shared / MODEL))
    load_model(args, get_task("news")).save_pretrained(folder)
    load_tokenizer(args).save_pretrained(folder)


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def pipeline_scores(outputs: list[list[dict]], labels: list[str]) -> np.ndarray:
    return np.array([[{d["label"]: d["score"] for d in row}[label] for label in labels] for row in outputs])


def main() -> None:
    args = parse()
    hf_logging.disable_progress_bar()
    shared = Path(args.shared)
    texts = headlines(shared, args.n, args.seed)
    lengths = [len(text) for text in texts]
    work = tempfile.mkdtemp(prefix="predict-throughput-")
    model_dir = os.path.join(work, "minilm-news")
    save_model(shared, model_dir, args.seed)
    labels = TextClassifier.load(model_dir).labels
    rows = []

    def add(name: str, batch: int, seconds: float, scores: np.ndarray, reference: np.ndarray | None) -> None:
        difference = float(np.max(np.abs(scores - reference))) if reference is not None else 0.0
        rows.append({"method": name, "batch": batch, "seconds": seconds, "texts_per_s": len(texts) / seconds,
                     "max_abs_score_diff": difference})  # fmt: skip
        print(f"{name}: {seconds:.1f}s ({len(texts) / seconds:.0f} texts/s), max |diff| {difference:.1e}", flush=True)

    classify = pipeline("text-classification", model=model_dir, top_k=None)
    outputs, seconds = timed(lambda: classify(texts))
    reference = pipeline_scores(outputs, labels)
    add("pipeline(texts), default batch size", 1, seconds, reference, None)
    outputs, seconds = timed(lambda: classify(texts, batch_size=args.batch_size))
    add(f"pipeline(texts, batch_size={args.batch_size})", args.batch_size, seconds,
        pipeline_scores(outputs, labels), reference)  # fmt: skip

    for precision in ("fp32", "bf16"):
        classifier = TextClassifier.load(model_dir, precision=precision)
        result, seconds = timed(lambda c=classifier: c.predict(texts, batch_size=args.batch_size))
        add(f"trainer-tasks predict ({precision})", args.batch_size, seconds, result.scores, reference)

    if not args.skip_onnx:
        from trainer_tasks.inference.onnx_export import export_onnx

        onnx_dir = os.path.join(work, "minilm-news-onnx")
        record, export_seconds = timed(lambda: export_onnx(model_dir, onnx_dir))
        print(f"ONNX export: {export_seconds:.1f}s, parity check {record['max_abs_score_difference']:.1e}")
        classifier = TextClassifier.load(onnx_dir)
        result, seconds = timed(lambda: classifier.predict(texts, batch_size=args.batch_size))
        add("trainer-tasks predict (ONNX Runtime)", args.batch_size, seconds, result.scores, reference)

    base = rows[0]["texts_per_s"]
    table = markdown_table(
        ["method", "batch", "seconds", "texts/s", "vs pipeline()", "max abs score diff"],
        [[r["method"], r["batch"], f"{r['seconds']:.1f}", f"{r['texts_per_s']:.0f}",
          f"{r['texts_per_s'] / base:.1f}x", f"{r['max_abs_score_diff']:.1e}"] for r in rows],
    )  # fmt: skip
    print()
    print(
        f"{len(texts)} UCI headlines (seed {args.seed}; {np.mean(lengths):.0f} characters on average, "
        f"longest {max(lengths)}), all-MiniLM-L6-v2 + news head, CPU, torch threads {torch.get_num_threads()}, "
        f"load average before/after {load_before[0]:.1f}/{os.getloadavg()[0]:.1f}"
    )
    print()
    print(table)
    if args.output:
        Path(args.output).write_text(json.dumps({"rows": rows, "n": len(texts)}, indent=2) + "\n")


load_before = os.getloadavg()

if __name__ == "__main__":
    main()
