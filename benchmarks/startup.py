"""Start-up time of the front door: how long until ``--help`` (or the task list) is on the screen.

    python benchmarks/startup.py            # median of 3 runs per command
    python benchmarks/startup.py --runs 5

Each command runs in a fresh subprocess, as a user starts it, and is timed wall-clock from start to
exit. ``train.py --help`` is answered from the real parser's kept help text (``help_cache``) when
nothing it was made from has changed: one untimed run first makes sure it is kept, and the row with
the cache switched off (``TRAINER_TASKS_HELP_CACHE=0``) is what a first ``--help`` costs (the real
parser: transformers' ``TrainingArguments`` imports torch). Timings depend on the machine and its
load, so the load average is printed with the table; nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFF_SWITCH = "TRAINER_TASKS_HELP_CACHE"  # trainer_tasks.training.help_cache.OFF_SWITCH (not imported: no cost here)


def trainer_tasks() -> list[str]:
    """The installed ``trainer-tasks`` script, else the same entry point through ``python -c``."""
    script = shutil.which("trainer-tasks")
    if script:
        return [script]
    return [sys.executable, "-c", "import sys; from trainer_tasks.commands.main import main; sys.exit(main())"]


def commands() -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, command line, extra environment) of every row."""
    train = [sys.executable, str(ROOT / "train.py")]
    return [
        ("python train.py --help", [*train, "--help"], {}),
        ("python train.py --help (help cache off: the real parser)", [*train, "--help"], {OFF_SWITCH: "0"}),
        ("trainer-tasks --help", [*trainer_tasks(), "--help"], {}),
        ("trainer-tasks tasks", [*trainer_tasks(), "tasks"], {}),
        ("trainer-tasks predict --help", [*trainer_tasks(), "predict", "--help"], {}),
    ]


def run_once(command: list[str], extra_env: dict[str, str]) -> float:
    env = {**os.environ, **extra_env}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds


def measure(runs: int) -> list[dict]:
    rows = []
    for name, command, extra_env in commands():
        if name == "python train.py --help":
            run_once(command, extra_env)  # untimed: keeps the help text if it is not kept yet
        times = [run_once(command, extra_env) for _ in range(runs)]
        rows.append({"command": name, "median_s": statistics.median(times), "runs_s": times})
    return rows


def table(rows: list[dict], runs: int) -> str:
    lines = [f"| command | median of {runs} (s) | runs (s) |", "|---|---|---|"]
    for row in rows:
        each = ", ".join(f"{seconds:.2f}" for seconds in row["runs_s"])
        lines.append(f"| `{row['command']}` | {row['median_s']:.2f} | {each} |")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return "\n".join(lines) + f"\n\n{os.cpu_count()} CPUs, load average {load}; Python {sys.version.split()[0]}."


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Timed runs per command (default 3; the median is shown).")
    args = parser.parse_args(argv)
    rows = measure(args.runs)
    print(table(rows, args.runs))
    return rows


if __name__ == "__main__":
    main()
