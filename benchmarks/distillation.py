"""DistilBERT's claim on real data: a teacher, its half-depth student, and the student distilled from it.

One command, CPU, offline, on ``../shared``:

    nice python benchmarks/distillation.py --shared ../shared --output outputs/distillation-benchmark

1. news (story-grouped split): the teacher (all-MiniLM-L6-v2, 6 layers) is fine-tuned on a train
   subset; the student is the teacher's every-other-layer copy (layers 0, 2, 4 of the pre-trained
   encoder, as DistilBERT was initialised), trained (a) on the labels alone and (b) distilled from the
   teacher, with the same data, steps and hyper-parameters, for each of several seeds. The split and
   the train/validation/test subsets are the same for every run (``--split_seed``); the seed changes
   the head's initialisation, dropout and data order.
2. inference speed of teacher and student in ``pipeline()``, measured back to back, interleaved and
   repeated (median), because this machine's cores are shared and load drifts between runs.
3. toxic: teacher, student (a) and (b), one seed, with the Hamming score (``jaccard_samples``) and
   micro-F1.

Each part writes a comparison report (``trainer_tasks.reports.compare``: markdown, PNG plots, summary.json)
and the script prints the headline numbers. A run whose ``results.json`` exists is reused, so an
interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks.environment import set_defaults  # noqa: E402

# One intra-op thread unless told otherwise: on a CPU shared with other jobs, 2 OpenMP threads per
# process spin at barriers waiting for a core; measured here under load: 21.6 vs 3.1 samples/s.
set_defaults(threads="1")

import train  # noqa: E402
from tasks import DataConfig, get_task  # noqa: E402
from trainer_tasks.reports.compare import load_run, write_report  # noqa: E402

NEWS_FILE = "data/news/uci-news-aggregator.csv.gz"
TOXIC_FILES = ("data/toxic/thesis_val.csv.gz", "data/toxic/thesis_test.csv.gz")
MODEL = "models/all-MiniLM-L6-v2"
SPLIT_SEED = 42
TEACHER_SEED = 42


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"), help="The shared/ folder (data, models).")
    parser.add_argument("--output", default="outputs/distillation-benchmark", help="Runs and reports go here.")
    parser.add_argument("--news_train", type=int, default=5000, help="News training headlines (a train subset).")
    parser.add_argument("--news_eval", type=int, default=500, help="News validation headlines.")
    parser.add_argument("--news_test", type=int, default=2000, help="News test headlines (story-grouped held-out).")
    parser.add_argument("--toxic_train", type=int, default=3000, help="Toxic training comments.")
    parser.add_argument("--toxic_eval", type=int, default=300, help="Toxic validation comments.")
    parser.add_argument("--toxic_test", type=int, default=1000, help="Toxic test comments.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="Student seeds (news).")
    parser.add_argument("--epochs", type=float, default=1.0, help="News epochs, every run (same budget).")
    parser.add_argument("--learning_rate", type=float, default=1e-4, help="News learning rate.")
    # Toxic labels are rare: one epoch at 1e-4 on a few thousand comments leaves every model predicting
    # no label at all (measured: F1 0 for all three), so toxic gets more steps and a larger rate.
    parser.add_argument("--toxic_epochs", type=float, default=2.0, help="Toxic epochs, every run.")
    parser.add_argument("--toxic_learning_rate", type=float, default=2e-4, help="Toxic learning rate.")
    parser.add_argument("--speed_texts", type=int, default=1000, help="Test headlines timed in pipeline().")
    parser.add_argument("--speed_repeats", type=int, default=3)
    parser.add_argument("--skip_toxic", action="store_true")
    parser.add_argument(
        "--student_init",
        choices=["base", "teacher"],
        default="base",
        help="News students copy layers 0, 2, 4 of the pre-trained encoder (base, DistilBERT's way) or of the "
        "fine-tuned news teacher, head included (teacher; runs and report get a -ft suffix).",
    )
    parser.add_argument(
        "--distillation",
        type=shlex.split,
        default=[],
        help="Extra train.py flags for the distilled runs, quoted: --distillation '--alpha_cos 0 --temperature 4'.",
    )
    return parser.parse_args()


def run(folder: Path, flags: list[str]) -> Path:
    """One ``train.py`` run, in this process; skipped when its results already exist."""
    if (folder / "results.json").is_file():
        print(f"reusing {folder}")
        return folder
    start = time.perf_counter()
    train.main([*flags, "--output_dir", str(folder)])
    print(f"finished {folder} in {time.perf_counter() - start:.0f} s", flush=True)
    return folder


def common_flags(
    task: str, data_files: list[str], sizes: tuple[int, int, int], epochs: float, lr: float, extra: list[str]
) -> list[str]:
    return [
        "--task", task, "--data_files", *data_files, "--split_seed", str(SPLIT_SEED),
        "--max_train_samples", str(sizes[0]), "--max_eval_samples", str(sizes[1]),
        "--max_predict_samples", str(sizes[2]), "--num_train_epochs", str(epochs),
        "--learning_rate", str(lr), "--per_device_train_batch_size", "32",
        "--per_device_eval_batch_size", "128", "--logging_steps", "25", "--save_strategy", "no",
        "--report_to", "none", "--disable_tqdm", "true", *extra,
    ]  # fmt: skip


def pipeline_speed(folders: dict[str, Path], texts: list[str], repeats: int) -> dict[str, float]:
    """Texts per second in ``pipeline()`` (batch 64), models timed in turn, median of ``repeats`` rounds."""
    from transformers import pipeline

    classifiers = {name: pipeline("text-classification", model=str(folder)) for name, folder in folders.items()}
    for classify in classifiers.values():
        classify(texts[:128], batch_size=64, truncation=True)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in classifiers}
    for _ in range(repeats):
        for name, classify in classifiers.items():
            start = time.perf_counter()
            classify(texts, batch_size=64, truncation=True)
            seconds[name].append(time.perf_counter() - start)
    return {name: len(texts) / statistics.median(times) for name, times in seconds.items()}


def news(args, shared: Path, out: Path) -> dict:
    model = str(shared / MODEL)
    files = [str(shared / NEWS_FILE)]
    sizes = (args.news_train, args.news_eval, args.news_test)
    common = common_flags("news", files, sizes, args.epochs, args.learning_rate, ["--split", "story"])
    teacher = run(out / "news-teacher", [*common, "--model_name_or_path", model, "--seed", str(TEACHER_SEED)])
    runs = [load_run("teacher", str(teacher))]
    source, tag = (model, "") if args.student_init == "base" else (str(teacher), "-ft")
    for seed in args.seeds:
        student = [*common, "--student_from_teacher", source, "--seed", str(seed)]
        plain = run(out / f"news-student{tag}-seed{seed}", student)
        distilled = run(
            out / f"news-distilled{tag}-seed{seed}", [*student, "--teacher", str(teacher), *args.distillation]
        )
        runs += [load_run("student", str(plain)), load_run("distilled", str(distilled))]

    test = get_task("news").build_dataset(DataConfig(data_files=tuple(files), split="story", seed=SPLIT_SEED))["test"]
    texts = test["text"][: args.speed_texts]
    speed = pipeline_speed(
        {"teacher": teacher, "student": out / f"news-student{tag}-seed{args.seeds[0]}"}, texts, args.speed_repeats
    )
    speed["distilled"] = speed["student"]  # the same architecture: timed once
    note = (
        f"`pipeline('text-classification')`, batch 64, {len(texts):,} test headlines, models timed in turn, "
        f"median of {args.speed_repeats} rounds (shared CPU: interleaving cancels most load drift). "
        "The distilled student has the student's architecture, so its speed is the student's."
    )
    write_report(
        runs,
        str(out / f"report-news{tag}"),
        title="news: MiniLM-L6 teacher vs its 3-layer student, plain and distilled",
        speed=speed,
        speed_note=note,
        notes=[sizes_note(args, "news")],
    )
    return {"runs": runs, "speed": speed}


def toxic(args, shared: Path, out: Path) -> list:
    model = str(shared / MODEL)
    files = [str(shared / f) for f in TOXIC_FILES]
    sizes = (args.toxic_train, args.toxic_eval, args.toxic_test)
    common = common_flags(
        "toxic", files, sizes, args.toxic_epochs, args.toxic_learning_rate, ["--max_text_chars", "200"]
    )
    seed = str(args.seeds[0])
    teacher = run(out / "toxic-teacher", [*common, "--model_name_or_path", model, "--seed", str(TEACHER_SEED)])
    student = [*common, "--student_from_teacher", model, "--seed", seed]
    plain = run(out / "toxic-student", student)
    distilled = run(out / "toxic-distilled", [*student, "--teacher", str(teacher), *args.distillation])
    runs = [load_run("teacher", str(teacher)), load_run("student", str(plain)), load_run("distilled", str(distilled))]
    write_report(
        runs,
        str(out / "report-toxic"),
        title="toxic: MiniLM-L6 teacher vs its 3-layer student, plain and distilled",
        notes=[sizes_note(args, "toxic")],
    )
    return runs


def sizes_note(args, task: str) -> str:
    epochs, lr = (args.epochs, args.learning_rate) if task == "news" else (args.toxic_epochs, args.toxic_learning_rate)
    base = task == "toxic" or args.student_init == "base"
    init = "the pre-trained all-MiniLM-L6-v2" if base else "the fine-tuned news teacher (head included)"
    return (
        f"Benchmark settings: {epochs:g} epoch(s), lr {lr}, batch 32, one process with "
        f"{os.environ['OMP_NUM_THREADS']} thread(s) (the 2 cores are shared with other jobs); teacher "
        f"seed {TEACHER_SEED}, student seeds {args.seeds if task == 'news' else args.seeds[:1]}; students start "
        f"from layers 0, 2, 4 of {init}; distillation flags: "
        f"{' '.join(args.distillation) or 'defaults'} (alpha_task 0.5, alpha_soft 0.5, alpha_cos 0.5, T 2 unless set)."
    )


def headline(news_result: dict, toxic_runs: list | None) -> None:
    runs, speed = news_result["runs"], news_result["speed"]
    teacher = next(r for r in runs if r.name == "teacher")
    plain = {r.seed: r.test("accuracy") for r in runs if r.name == "student"}
    distilled = {r.seed: r.test("accuracy") for r in runs if r.name == "distilled"}
    print("\n== news (story split) ==")
    print(f"teacher accuracy {teacher.test('accuracy'):.4f}, eval time {teacher.test('runtime'):.2f} s")
    for seed in sorted(plain):
        print(
            f"seed {seed}: student {plain[seed]:.4f}  distilled {distilled[seed]:.4f}  "
            f"margin {distilled[seed] - plain[seed]:+.4f}"
        )
    margins = [distilled[s] - plain[s] for s in plain]
    mean_d = statistics.fmean(distilled.values())
    print(
        f"distilled mean {mean_d:.4f} = {100 * mean_d / teacher.test('accuracy'):.2f}% of the teacher; "
        f"student mean {statistics.fmean(plain.values()):.4f} = "
        f"{100 * statistics.fmean(plain.values()) / teacher.test('accuracy'):.2f}%"
    )
    spread = statistics.stdev(margins) if len(margins) > 1 else float("nan")
    print(f"margin distilled - student: mean {statistics.fmean(margins):+.4f}, sd {spread:.4f}")
    print(
        f"pipeline texts/s: teacher {speed['teacher']:.1f}, student {speed['student']:.1f}; "
        f"time ratio student/teacher {speed['teacher'] / speed['student']:.3f}"
    )
    if toxic_runs:
        print("\n== toxic ==")
        for r in toxic_runs:
            print(
                f"{r.name}: jaccard_samples (Hamming score) {r.test('jaccard_samples'):.4f}, "
                f"f1_micro {r.test('f1_micro'):.4f}, f1_macro {r.test('f1_macro'):.4f}"
            )


def main() -> None:
    args = parse()
    shared, out = Path(args.shared), Path(args.output)
    if not (shared / NEWS_FILE).is_file():
        sys.exit(f"{shared / NEWS_FILE} not found: pass --shared pointing at the shared/ folder")
    start = time.perf_counter()
    news_result = news(args, shared, out)
    toxic_runs = None if args.skip_toxic else toxic(args, shared, out)
    headline(news_result, toxic_runs)
    tag = "" if args.student_init == "base" else "-ft"
    print(f"\nreports: {out / f'report-news{tag}'}" + ("" if args.skip_toxic else f", {out / 'report-toxic'}"))
    print(f"benchmark wall-clock {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
