"""``trainer-tasks compare --run NAME=FOLDER ...``: a report folder comparing finished runs of one task."""

from __future__ import annotations

import argparse
import os

from tasks import TaskError


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run",
        action="append",
        required=True,
        metavar="NAME=FOLDER",
        help="A finished run's output folder; repeat for each run. The same NAME on several runs = repeats (seeds).",
    )
    parser.add_argument("--output", required=True, help="Report folder to write (report.md, summary.json, PNGs).")
    parser.add_argument("--reference", default=None, help="Model the ratios and deltas are against (default: first).")
    parser.add_argument("--title", default=None, help="Report title.")


def check_report_folder(output: str) -> None:
    """``--output`` must be a folder this process can create or write in; checked before any run is read."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise TaskError(f"--output {output} is a file; the report is a folder (report.md, summary.json, PNGs)")
    existing = os.path.abspath(output)
    while not os.path.exists(existing):  # the nearest folder that exists: the one it is created in
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise TaskError(f"--output {output}: {existing} is a file, so the report folder cannot be created under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TaskError(f"--output {output}: no permission to write in {existing}; choose another report folder")


def run_compare(args: argparse.Namespace) -> None:
    """``trainer-tasks compare --run A=DIR --run B=DIR --output REPORT``."""
    from trainer_tasks.reports.compare import REPORT_FILE, load_run, parse_run, write_report  # imports torch

    check_report_folder(args.output)
    runs = [load_run(*parse_run(spec)) for spec in args.run]
    try:
        write_report(runs, args.output, reference=args.reference, title=args.title)
    except OSError as error:
        where = error.filename or args.output
        raise TaskError(f"--output {args.output}: cannot write {where} ({error.strerror or error})") from None
    print(f"report written to {os.path.join(args.output, REPORT_FILE)}")
