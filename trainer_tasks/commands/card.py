"""``trainer-tasks card OUTPUT_DIR [--push]``: re-render a finished run's card, and publish the folder as it is."""

from __future__ import annotations

import argparse
import os
import urllib.parse

from tasks import TaskError

# The card, Hub and results modules import torch and transformers: they are imported where the command
# runs, so that `trainer-tasks --help` and `trainer-tasks card --help` start in a fraction of a second.


def read_results(output_dir: str) -> dict:
    """The run's ``results.json``, checked to hold what the card needs (a damaged one is named, not a KeyError)."""
    from trainer_tasks.record.results import RESULTS_FILE
    from trainer_tasks.record.run_files import check_run_folder, read_results_file

    check_run_folder(output_dir, "card")
    if not os.path.lexists(os.path.join(output_dir, RESULTS_FILE)):
        raise TaskError(f"{output_dir} has no {RESULTS_FILE}: pass the output folder of a finished train.py run")
    return read_results_file(output_dir)


def check_endpoint(endpoint: str | None) -> None:
    """``--hub_endpoint`` must be an http(s) URL: a typo would otherwise fail deep inside the HTTP client."""
    if endpoint is None:
        return
    try:
        parts = urllib.parse.urlsplit(endpoint)
        parts.port  # noqa: B018 (parsing the port is the check: "host:abc" raises ValueError)
    except ValueError as error:
        raise TaskError(
            f"--hub_endpoint {endpoint!r} is not a valid URL ({error}); e.g. https://huggingface.co"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TaskError(f"--hub_endpoint {endpoint!r} must be an http:// or https:// URL, e.g. https://huggingface.co")


def add_card_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", help="Output folder of a finished train.py run (with results.json).")
    parser.add_argument("--push", action="store_true", help="Then push the folder to the Hub (token: HF_TOKEN).")
    parser.add_argument("--hub_model_id", help="Repo to push to (default: the run's --hub_model_id).")
    parser.add_argument("--hub_endpoint", help="Hub-compatible server (default: the run's, else HF_ENDPOINT).")
    parser.add_argument("--task", help="Task name or path/to/file.py:NAME (default: the run's task name).")
    parser.add_argument("--base_model", help="Hub id of the fine-tuned checkpoint, when training used a local copy.")
    parser.add_argument("--license", help="Licence id for the card metadata (default: the base model's, if known).")


def run_card(args: argparse.Namespace) -> None:
    """Re-render the card of a finished run from its results.json, and push the folder with ``--push``."""
    from tasks import get_task
    from trainer_tasks.hub.card import CARD_FILE, collect_card, write_card
    from trainer_tasks.hub.publish import ensure_repo, hub_api, upload_output

    folder = args.output_dir
    check_endpoint(args.hub_endpoint)
    results = read_results(folder)
    try:
        task = get_task(args.task or results.task)
    except TaskError as error:
        raise TaskError(f"{error}; pass --task with the spec the run used (e.g. path/to/file.py:NAME)") from None
    task = task.for_labels(results.labels, results.problem_type)  # the generic task's labels are the run's
    hub = results.hub or {}
    repo_id = args.hub_model_id or hub.get("model_id")
    api = None
    if args.push:
        if not repo_id:
            raise TaskError(f"{folder} was not trained with --hub_model_id: pass --hub_model_id NAMESPACE/NAME")
        api = hub_api(args.hub_endpoint or hub.get("endpoint"))
        repo_id = ensure_repo(api, repo_id, folder, hub.get("private"))
    card = collect_card(results, task, folder, model_id=repo_id, base_model=args.base_model, license=args.license)
    try:
        path = write_card(folder, card)
    except OSError as error:
        raise TaskError(
            f"cannot write {CARD_FILE} in {folder} ({error.strerror or error}); make the folder writable or copy "
            "the run somewhere you can write"
        ) from None
    print(f"wrote {path}")
    if api is not None:
        message = "Upload model card and run folder (trainer-tasks card --push)"
        print(f"pushed {folder} to {upload_output(api, folder, repo_id, message, hub.get('revision'))}")
