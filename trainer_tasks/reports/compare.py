"""The comparison report: finished runs of one task side by side, as the thesis compared BERT and DistilBERT.

Reads each run's output folder (``results.json``; ``predictions_test.npz`` and ``trainer_state.json``
when ``train.py`` wrote them; ``distillation.json`` for distilled students) and writes a folder with
``report.md`` (the thesis tables, parameter counts, speed ratio and metric delta against a reference
model, paired-by-seed margins), ``summary.json`` (the same numbers, for machines) and PNG plots.

Runs given the same name are repeats (e.g. three seeds): the summary shows their mean ± standard
deviation, and two models' repeats with matching seeds are compared pair by pair, so a margin can
be told apart from seed noise. Runs must share the task, split and test set: comparing scores
on different test sets is refused rather than reported.

    trainer-tasks compare --run teacher=out/teacher --run student=out/student --output reports/news
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import statistics
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks import TaskError, get_task
from trainer_tasks.core.files import write_json_atomic, write_text_atomic
from trainer_tasks.core.output_files import REPORT_FILE, SUMMARY_FILE
from trainer_tasks.record.intervals import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    interval_method_text,
    paired_difference_interval,
    show_interval,
)
from trainer_tasks.record.results import RESULTS_FILE, epoch_table, markdown_table, test_table
from trainer_tasks.record.run_files import (
    FINISHED_RUN_ADVICE,
    check_run_folder,
    read_distillation_file,
    read_log_history,
    read_results_file,
)
from trainer_tasks.record.run_record import RunRecord
from trainer_tasks.reports import plots as report_plots
from trainer_tasks.training.distillation import DISTILLATION_FILE
from trainer_tasks.training.split_predictions import PREDICTIONS_FILE, Predictions, load_predictions

# Shown beside the primary metric when a run has them (single-label, then multi-label keys).
KEY_METRICS = ("accuracy", "jaccard_samples", "f1_micro", "f1_macro", "hamming_accuracy", "roc_auc_macro")


@dataclass
class Run:
    """One finished ``train.py`` run, read back from its output folder."""

    name: str
    folder: str
    record: RunRecord
    parameters: int | None
    predictions: Predictions | None
    log_history: list[dict]
    distillation: dict | None

    @property
    def seed(self) -> int:
        return self.record.training.seed

    def test(self, key: str) -> float | None:
        value = self.record.test_metrics.get(f"test_{key}")
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def count_parameters(folder: str) -> int | None:
    """Parameters of the saved model, read from the safetensors headers (no weights loaded).

    A weights file cut short (a copy or a save that was interrupted) is named, not a safetensors traceback.
    """
    from safetensors import SafetensorError, safe_open

    files = sorted(glob.glob(os.path.join(folder, "*.safetensors")))
    if not files:
        return None
    total = 0
    for path in files:
        try:
            with safe_open(path, framework="pt") as handle:
                for key in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
                    total += math.prod(handle.get_slice(key).get_shape())
        except (SafetensorError, OSError) as error:
            raise TaskError(f"{path}: cannot read the weights ({error}); {FINISHED_RUN_ADVICE}") from None
    return total


def read_test_predictions(folder: str, record: RunRecord) -> Predictions | None:
    """``predictions_test.npz`` when the run saved it, checked to fit the run's labels (the plots index by them)."""
    path = os.path.join(folder, PREDICTIONS_FILE)
    try:
        predictions = load_predictions(folder)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise TaskError(f"{path}: cannot read it ({error}); {FINISHED_RUN_ADVICE}") from None
    if predictions is None:
        return None
    labels = len(record.labels)
    logits, truth = predictions.logits, predictions.labels
    multi = predictions.is_multi_label
    shape_ok = (
        logits.ndim == 2
        and logits.shape[1] == labels
        and len(predictions.label_names) == labels
        and np.issubdtype(logits.dtype, np.number)
        and np.issubdtype(truth.dtype, np.number)
        and truth.shape == ((len(logits), labels) if multi else (len(logits),))
    )
    if shape_ok and not multi and len(truth):
        shape_ok = bool(np.all((truth >= 0) & (truth < labels)))
    if not shape_ok or predictions.problem_type != record.problem_type:
        raise TaskError(
            f"{path}: logits {logits.shape} and labels {truth.shape} ({predictions.problem_type}) do not fit the "
            f"run's {labels} labels ({record.problem_type}); {FINISHED_RUN_ADVICE}"
        )
    return predictions


def load_run(name: str, folder: str) -> Run:
    """One run folder read back; every file it holds is checked, so a damaged one is named here, not mid-report."""
    check_run_folder(folder, f"--run {name}={folder}")
    path = os.path.join(folder, RESULTS_FILE)
    if not os.path.lexists(path):
        raise TaskError(
            f"run {name!r}: no {RESULTS_FILE} in {folder}; pass the output folder of a finished train.py run"
        )
    record = read_results_file(folder)
    return Run(
        name=name,
        folder=folder,
        record=record,
        parameters=count_parameters(folder),
        predictions=read_test_predictions(folder, record),
        log_history=read_log_history(folder),
        distillation=read_distillation_file(os.path.join(folder, DISTILLATION_FILE)),
    )


def parse_run(spec: str) -> tuple[str, str]:
    """``NAME=FOLDER`` (or a bare folder, named after itself)."""
    name, sep, folder = spec.partition("=")
    if not sep:
        return os.path.basename(os.path.normpath(spec)), spec
    if not name or not folder:
        raise TaskError(f"--run {spec!r}: expected NAME=FOLDER, e.g. --run teacher=outputs/teacher")
    return name, folder


def check_comparable(runs: Sequence[Run]) -> None:
    """Same task, split and test set size for every run, else the scores do not compare."""
    if len(runs) < 2:
        raise TaskError(f"a comparison needs at least 2 runs, got {len(runs)}")
    first = runs[0]

    def key(run: Run) -> tuple:
        data = run.record.data
        return run.record.task, data.split, data.split_seed, data.test_size

    for run in runs[1:]:
        if key(run) != key(first):
            raise TaskError(
                f"runs {first.name!r} ({first.folder}) and {run.name!r} ({run.folder}) were not tested on the same "
                f"data: (task, split, split seed, test size) {key(first)} vs {key(run)}; train them with the same "
                "--task, --split, --split_seed and --max_predict_samples"
            )


def groups_of(runs: Sequence[Run]) -> dict[str, list[Run]]:
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.name, []).append(run)
    return groups


def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    return statistics.fmean(present), (statistics.stdev(present) if len(present) > 1 else None)


def show(mean: float | None, sd: float | None, digits: int = 4) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def key_metrics(runs: Sequence[Run]) -> list[str]:
    """The primary metric, then the other ``KEY_METRICS`` every run has; a run without the primary one is refused."""
    primary = runs[0].record.primary_metric
    for run in runs:
        if run.test(primary) is None:
            raise TaskError(
                f"run {run.name!r}: {os.path.join(run.folder, RESULTS_FILE)} has no test_{primary} in test_metrics "
                f"(missing or NaN), so it cannot be compared on the primary metric; {FINISHED_RUN_ADVICE}"
            )
    keys = [primary] + [k for k in KEY_METRICS if k != primary]
    return [k for k in keys if all(run.test(k) is not None for run in runs)]


def group_summary(groups: dict[str, list[Run]], metrics: Sequence[str], reference: str) -> dict[str, dict]:
    """Per model: mean/sd of every number in the summary table, and its ratios to the reference."""
    summary: dict[str, dict] = {}
    for name, members in groups.items():
        row: dict[str, Any] = {
            "runs": len(members),
            "seeds": [run.seed for run in members],
            "folders": [run.folder for run in members],
            "parameters": members[0].parameters,
            "test_intervals": [run.record.test_intervals for run in members],
        }
        for label, values in (
            ("test_loss", [run.test("loss") for run in members]),
            ("eval_time", [run.test("runtime") for run in members]),
            ("train_time", [run.record.training.train_runtime for run in members]),
            *((metric, [run.test(metric) for run in members]) for metric in metrics),
        ):
            row[label], row[f"{label}_sd"] = mean_sd(values)
            row[f"{label}_values"] = values
        summary[name] = row
    base = summary[reference]
    primary = metrics[0]
    for row in summary.values():
        row["parameter_ratio"] = _ratio(row["parameters"], base["parameters"])
        row["eval_time_ratio"] = _ratio(row["eval_time"], base["eval_time"])
        row["metric_share"] = _ratio(row[primary], base[primary])
        row["metric_delta"] = None if row[primary] is None else row[primary] - base[primary]
    return summary


def _ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


def paired_margins(groups: dict[str, list[Run]], metric: str, reference: str) -> list[dict]:
    """For each pair of non-reference models with runs of the same seeds: later minus earlier, seed by seed."""
    names = [name for name in groups if name != reference]
    margins = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            by_seed = {run.seed: run for run in groups[first]}
            pairs = [(run.seed, by_seed[run.seed], run) for run in groups[second] if run.seed in by_seed]
            if not pairs:
                continue
            diffs = [b.test(metric) - a.test(metric) for _, a, b in pairs]
            mean, sd = mean_sd(diffs)
            margins.append(
                {
                    "better": second,
                    "than": first,
                    "metric": metric,
                    "per_seed": [
                        {"seed": seed, first: a.test(metric), second: b.test(metric), "difference": d}
                        for (seed, a, b), d in zip(pairs, diffs, strict=True)
                    ],
                    "mean_difference": mean,
                    "sd_difference": sd,
                    "wins": sum(d > 0 for d in diffs),
                    "pairs": len(diffs),
                }
            )
    return margins


def describe_data(run: Run) -> str:
    data = run.record.data
    split_seed = run.seed if data.split_seed is None else data.split_seed
    files = ", ".join(os.path.basename(f) for f in data.data_files) or data.dataset_name or "-"
    return (
        f"Task **{run.record.task}** ({run.record.problem_type}), data {files}. "
        f"Split **{data.split}** (split seed {split_seed}): train {data.train_size:,}, "
        f"validation {data.validation_size:,}, test {data.test_size:,} examples; every run used the same "
        f"test set. Max sequence length {data.max_seq_length or 'model limit'}"
        f"{', padded to it' if data.pad_to_max_length else ', dynamic padding'}."
    )


def describe_hardware(runs: Sequence[Run]) -> str:
    seen = []
    for run in runs:
        hw = run.record.hardware
        line = (
            f"{hw.get('cpu_count', '?')} CPU cores ({hw.get('cpu', '?')}), "
            + (f"GPU {hw['gpu']} x{hw.get('gpu_count', 1)}, " if hw.get("gpu") else "no GPU, ")
            + f"{hw.get('platform', '?')}, torch {hw.get('torch', '?')}, "
            f"{run.record.world_size} training process(es)"
        )
        if line not in seen:
            seen.append(line)
    return "Hardware: " + "; ".join(seen) + "."


def show_parameters(count: int | None) -> str:
    if not count:
        return "-"
    return f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count:,}"


def summary_table(summary: dict[str, dict], metrics: Sequence[str], reference: str) -> str:
    primary = metrics[0]
    header = [
        "model",
        "runs",
        "parameters",
        "test loss",
        *metrics,
        "train time (s)",
        "test eval time (s)",
        f"params vs {reference}",
        f"eval time vs {reference}",
        f"{primary} vs {reference}",
        f"{primary} delta",
    ]
    rows = []
    for name, row in summary.items():
        rows.append(
            [
                name,
                row["runs"],
                show_parameters(row["parameters"]),
                show(row["test_loss"], row["test_loss_sd"]),
                *(show(row[m], row[f"{m}_sd"]) for m in metrics),
                show(row["train_time"], row["train_time_sd"], 1),
                show(row["eval_time"], row["eval_time_sd"], 2),
                show(row["parameter_ratio"], None, 3),
                show(row["eval_time_ratio"], None, 3),
                "-" if row["metric_share"] is None else f"{100 * row['metric_share']:.2f}%",
                "-" if row["metric_delta"] is None else f"{row['metric_delta']:+.4f}",
            ]
        )
    return markdown_table(header, rows)


def speed_table(speed: dict[str, float], reference: str) -> str:
    base = speed.get(reference)
    rows = [
        [name, f"{rate:.1f}", show(_ratio(base, rate), None, 3), show(_ratio(rate, base), None, 2)]
        for name, rate in speed.items()
    ]
    return markdown_table(["model", "texts/s", f"time vs {reference}", f"speed-up vs {reference}"], rows)


def margin_section(margin: dict) -> list[str]:
    first, second, metric = margin["than"], margin["better"], margin["metric"]
    rows = [[m["seed"], m[first], m[second], f"{m['difference']:+.4f}"] for m in margin["per_seed"]]
    return [
        f"### {second} − {first}, paired by seed ({metric})",
        "",
        markdown_table(["seed", first, second, "difference"], rows),
        "",
        f"Mean difference {show(margin['mean_difference'], margin['sd_difference'])} "
        f"(± one standard deviation over seeds); {second} better in {margin['wins']} of {margin['pairs']} seeds.",
        "",
    ]


def run_interval(run: Run, metric: str) -> tuple[float, float] | None:
    """The run's recorded bootstrap interval of ``metric``, or None (a run trained before intervals were kept)."""
    bounds = (run.record.test_intervals or {}).get("metrics", {}).get(metric)
    return (float(bounds[0]), float(bounds[1])) if bounds else None


def metrics_function(record: RunRecord):
    """The run's task's ``compute_metrics`` (its labels and head), or None when the task is not installed here."""
    try:
        return get_task(record.task).for_labels(record.labels, record.problem_type).compute_metrics
    except TaskError:
        return None


def can_pair(first: Run, second: Run) -> bool:
    """Both runs kept their test predictions, on the same rows (same labels in the same order), split by example:
    a grouped split's groups are not in ``predictions_test.npz``, and resampling its rows one by one overstates."""
    a, b = first.predictions, second.predictions
    by_example = all(
        not run.record.data.group_column and (run.record.test_intervals or {}).get("method", "example") == "example"
        for run in (first, second)
    )
    return by_example and a is not None and b is not None and np.array_equal(a.labels, b.labels)


def difference(first: Run, second: Run, metric: str) -> dict[str, Any]:
    """``second`` minus ``first`` on ``metric``, and whether it is more than the test sample's noise.

    A paired bootstrap of the difference when both runs scored the same rows (both models meet the same
    resampled rows, so their shared luck cancels); else whether the two recorded intervals overlap, a rough check.
    """
    result: dict[str, Any] = {
        "first": first.name,
        "second": second.name,
        "metric": metric,
        "difference": second.test(metric) - first.test(metric),
    }
    compute = metrics_function(first.record) if can_pair(first, second) else None
    if compute is not None:
        settings = first.record.test_intervals or {}
        confidence = settings.get("confidence", DEFAULT_CONFIDENCE)
        bounds = paired_difference_interval(
            compute, first.predictions.logits, second.predictions.logits, first.predictions.labels, metric,
            settings.get("resamples", DEFAULT_RESAMPLES), settings.get("seed", DEFAULT_SEED), confidence,
        )  # fmt: skip
        if bounds is not None:
            clear = not bounds[0] <= 0 <= bounds[1]
            return result | {"method": "paired bootstrap", "confidence": confidence, "interval": list(bounds),
                             "clear": clear}  # fmt: skip
    ours, theirs = run_interval(first, metric), run_interval(second, metric)
    if ours and theirs:
        overlap = ours[0] <= theirs[1] and theirs[0] <= ours[1]
        intervals = {first.name: list(ours), second.name: list(theirs)}
        return result | {"method": "interval overlap", "intervals": intervals, "clear": not overlap}
    return result | {"method": None, "clear": None}


def differences(groups: dict[str, list[Run]], metric: str) -> list[dict[str, Any]]:
    """Every pair of models (each model's first run), later minus earlier in the order given."""
    firsts = [members[0] for members in groups.values()]
    return [difference(a, b, metric) for i, a in enumerate(firsts) for b in firsts[i + 1 :]]


def difference_line(result: dict[str, Any]) -> str:
    """One pair's difference in words, saying how strong the evidence is."""
    first, second, metric = result["first"], result["second"], result["metric"]
    head = f"- **{second} − {first}** ({metric}): {result['difference']:+.4f}"
    if result["method"] == "paired bootstrap":
        share = round(100 * result["confidence"])
        better = "better" if result["interval"][0] > 0 else "worse"
        verdict = (
            f"{second} is {better} on this test set, beyond its sampling noise"
            if result["clear"]
            else "within the test set's sampling noise: no clear difference"
        )
        return (
            f"{head}, {share}% CI {show_interval(result['interval'])} from a paired bootstrap (both models scored on "
            f"the same resamples of the test rows); {verdict}."
        )
    if result["method"] == "interval overlap":
        shown = "; ".join(f"{name} {show_interval(bounds)}" for name, bounds in result["intervals"].items())
        verdict = (
            "they do not overlap: the difference is larger than the test set's sampling noise"
            if result["clear"]
            else "they overlap: no clear difference (a rough check: overlapping intervals can still hide a real "
            "difference, which a paired bootstrap on both runs' saved test predictions could show)"
        )
        return f"{head}; intervals {shown}: {verdict}."
    return f"{head}; no intervals recorded for one of the runs (trained before they were kept), so no judgement."


def run_section(run: Run) -> list[str]:
    training = run.record.training
    settings = (
        f"lr {training.learning_rate}, batch {training.per_device_train_batch_size} x "
        f"{run.record.world_size} process(es), epochs {training.num_train_epochs}, "
        f"{training.global_steps} steps, seed {run.seed}"
    )
    lines = [
        f"### {run.name} (seed {run.seed})",
        "",
        f"`{run.folder}` — {run.record.model_name_or_path}; {settings}.",
    ]
    if run.distillation:
        d = run.distillation
        lines.append(
            f"Distilled from `{d['teacher']}`: alpha_task {d['alpha_task']}, alpha_soft {d['alpha_soft']}, "
            f"alpha_cos {d['alpha_cos']} ({d['cosine_layers']} hidden states), T {d['temperature']}. Its train "
            "loss below is the whole distillation objective; the training-curve plot shows its task term."
        )
    lines += ["", epoch_table(run.record.epochs, run.record.primary_metric), ""]
    test = run.record.test_metrics
    lines.append(
        f"Test: loss {show(run.test('loss'), None)}, {run.record.primary_metric} "
        f"{show(run.test(run.record.primary_metric), None)}, eval time {show(test.get('test_runtime'), None, 2)} s."
    )
    if run.record.test_intervals:
        method = interval_method_text(run.record.test_intervals, run.record.data.group_column)
        lines += ["", test_table(test, run.record.test_intervals), "", method]
    return [*lines, ""]


def write_report(
    runs: Sequence[Run],
    output_dir: str,
    *,
    reference: str | None = None,
    title: str | None = None,
    speed: dict[str, float] | None = None,
    speed_note: str = "",
    notes: Sequence[str] = (),
) -> str:
    """Write ``report.md``, ``summary.json`` and the PNGs to ``output_dir``; return the markdown."""
    check_comparable(runs)
    groups = groups_of(runs)
    reference = reference or runs[0].name
    if reference not in groups:
        raise TaskError(f"--reference {reference!r} is not one of the run names {list(groups)}")
    metrics = key_metrics(runs)
    primary = metrics[0]
    summary = group_summary(groups, metrics, reference)
    margins = paired_margins(groups, primary, reference)
    judged = differences(groups, primary)
    os.makedirs(output_dir, exist_ok=True)

    figures = [
        (
            "Training curves",
            report_plots.training_curves(runs, os.path.join(output_dir, "training_curves.png"), primary),
        )
    ]
    with_predictions = [(name, members[0].predictions) for name, members in groups.items() if members[0].predictions]
    if len(with_predictions) == len(groups):
        if with_predictions[0][1].is_multi_label:
            figures.append(
                (
                    "ROC per label",
                    report_plots.label_curves(with_predictions, os.path.join(output_dir, "roc.png"), "roc"),
                )
            )
            figures.append(
                (
                    "Precision-recall per label",
                    report_plots.label_curves(with_predictions, os.path.join(output_dir, "pr.png"), "pr"),
                )
            )
        else:
            figures.append(
                (
                    "Confusion matrices (test)",
                    report_plots.confusion_matrices(with_predictions, os.path.join(output_dir, "confusion_matrix.png")),
                )
            )
    else:
        missing = [name for name in groups if name not in dict(with_predictions)]
        notes = [*notes, f"No test predictions saved for {missing}: confusion matrix / ROC plots skipped."]

    first = runs[0]
    title = title or f"{first.record.task}: model comparison"
    lines = [
        f"# {title}",
        "",
        describe_data(first),
        "",
        describe_hardware(runs),
        "",
        *(f"{note}\n" for note in notes),
        "## Summary (test split)",
        "",
        "Mean ± standard deviation over a model's runs (seeds). Ratios and delta are against "
        f"**{reference}**; eval time is the Trainer's test evaluation (same test set, batch size per run).",
        "",
        summary_table(summary, metrics, reference),
        "",
    ]
    if speed:
        lines += ["## Inference speed", "", speed_note, "", speed_table(speed, reference), ""]
    if margins:
        lines += ["## Margins", ""]
        for margin in margins:
            lines += margin_section(margin)
    if judged:
        lines += [f"## Differences beyond noise? ({primary}, test split)", ""]
        lines += [*(difference_line(result) for result in judged), ""]
    lines += ["## Plots", ""]
    if any(len(members) > 1 for members in groups.values()):
        firsts = ", ".join(f"{name} seed {members[0].seed}" for name, members in groups.items())
        lines += [f"Training curves show every run; test-prediction plots show each model's first run ({firsts}).", ""]
    for caption, path in figures:
        lines += [f"### {caption}", "", f"![{caption}]({os.path.basename(path)})", ""]
    lines += ["## Per-run tables (thesis layout)", ""]
    for run in runs:
        lines += run_section(run)
    markdown = "\n".join(lines)
    write_text_atomic(os.path.join(output_dir, REPORT_FILE), markdown)
    write_json_atomic(
        os.path.join(output_dir, SUMMARY_FILE),
        {
            "task": first.record.task,
            "data": dataclasses.asdict(first.record.data),
            "reference": reference,
            "metrics": metrics,
            "models": summary,
            "margins": margins,
            "differences": judged,
            "speed_texts_per_second": speed,
            "figures": [os.path.basename(path) for _, path in figures],
        },
    )
    return markdown
