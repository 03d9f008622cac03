"""Publishing a run on the Hub: a fresh model card with every push, rank 0 only, failures that say what failed.

The Trainer's own machinery does the checkpoint pushes (``--hub_strategy every_save``, ``checkpoint``,
``all_checkpoints``). ``ModelCardCallback`` writes the card into the output folder and into the checkpoint
folder in ``on_push_begin``: the Trainer calls it right before it uploads them, whereas ``on_save`` comes
after the upload has already started in a background thread, so a card written there would race it.

The final push is ``push_output``: one ``upload_folder`` of the finished output folder (model, tokenizer,
``results.json``, ``README.md``) with the Trainer's ignore patterns. It is the same call as
``trainer-tasks card OUTPUT_DIR --push``, so a push that failed is retried by pushing the folder as it is.
The Trainer's ``push_to_hub`` is not used for it: it re-saves the model, replaces the card with the
Trainer's, and its errors surface as tracebacks from deep inside the client.

The token comes from the usual places (``HF_TOKEN``, ``hf auth login``, or ``--hub_token``) and is never
written: ``TaskTrainingArguments`` leaves it out of ``training_args.bin``, results record the command with it
redacted, and errors never quote it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError
from transformers import TrainerCallback
from transformers.trainer_utils import TrainOutput

from tasks import Task, TaskError
from trainer_tasks.core.boundary import first_line
from trainer_tasks.core.output_files import checkpoint_folder
from trainer_tasks.core.secrets import check_no_secrets, secret_values
from trainer_tasks.hub.card import CARD_FILE, collect_card, write_card
from trainer_tasks.record.results import collect_results
from trainer_tasks.record.run_record import RunRecord

logger = logging.getLogger(__name__)

# The Trainer's own ignore patterns for the output folder, plus the temporary files of atomic writes.
IGNORE_PATTERNS = ["_*", "checkpoint-*", ".*.tmp"]
HUB_ERRORS = (HfHubHTTPError, httpx2.HTTPError, httpx2.InvalidURL, OSError, ValueError, RuntimeError)
STATUS_HINTS = {
    401: "the server refused the token: set HF_TOKEN or run `hf auth login` with a token that can write to the repo",
    402: "payment required: the account's plan or quota does not allow this upload",
    403: "the token may not write to this repo or namespace",
    413: "the upload is larger than the server accepts (storage quota or file size limit)",
    429: "rate limited by the server: wait and retry",
}


def use_endpoint(endpoint: str | None) -> None:
    """Send the Trainer's own Hub calls to ``endpoint`` (``--hub_endpoint``).

    The Trainer routes every Hub call through transformers' shared ``HfApi`` (``transformers.utils.hub.hf_api``),
    whose endpoint was read from ``HF_ENDPOINT`` at import time; ``--hub_endpoint`` comes later, with the flags.
    """
    if endpoint:
        from transformers.utils.hub import hf_api

        hf_api().endpoint = endpoint.rstrip("/")


def describe_hub_error(error: BaseException, endpoint: str) -> str:
    """What went wrong, in one line a person can act on."""
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        server = (error.server_message or "").strip().splitlines()
        detail = f"HTTP {status} from {endpoint}" + (f" ({server[0]})" if server else "")
        hint = STATUS_HINTS.get(status)
        return f"{detail}: {hint}" if hint else detail
    if isinstance(error, (httpx2.TransportError, ConnectionError)):
        reason = f"{type(error).__name__}: {first_line(error)}"
        return f"cannot reach {endpoint} ({reason}); check the network and the endpoint"
    if error.__cause__ is not None and not isinstance(error, HfHubHTTPError):  # e.g. "Error while uploading 'x'"
        return f"{first_line(error)} {describe_hub_error(error.__cause__, endpoint)}"
    return f"{type(error).__name__}: {first_line(error)}"


@contextmanager
def hub_failure(action: str, endpoint: str, then: str, token: str | None = None) -> Iterator[None]:
    """Turn a failed Hub call into a one-line ``TaskError``: what failed, why, and what to do next."""
    try:
        yield
    except TaskError:
        raise
    except HUB_ERRORS as error:
        logger.debug("%s failed", action, exc_info=True)
        message = f"{action} failed: {describe_hub_error(error, endpoint)}. {then}"
        raise TaskError(message.replace(token, "<redacted>") if token else message) from None


def hub_api(endpoint: str | None = None, token: str | None = None) -> HfApi:
    return HfApi(endpoint=(endpoint or constants.ENDPOINT).rstrip("/"), token=token, library_name="trainer-tasks")


def retry_hint(folder: str) -> str:
    return (
        f"The local folder {folder} is complete and usable; push it as it is with "
        f"`trainer-tasks card {folder} --push` (HF_TOKEN or `hf auth login` for the token)"
    )


def ensure_repo(api: HfApi, repo_id: str, folder: str, private: bool | None = None, token: str | None = None) -> str:
    """Create the repo if needed; return its full id (namespace/name)."""
    with hub_failure(f"creating Hub repo {repo_id!r} at {api.endpoint}", api.endpoint, retry_hint(folder), token):
        return api.create_repo(repo_id, private=private, exist_ok=True).repo_id


def upload_output(
    api: HfApi, folder: str, repo_id: str, message: str, revision: str | None = None, token: str | None = None
) -> str:
    """Upload the output folder (checkpoints and underscore files left out, as the Trainer does); the commit URL.

    Refuses, before anything is sent, a folder in which any file holds a token this process knows
    (the argument, HF_TOKEN, the login file): a last guard behind keeping the token out by construction.
    """
    check_no_secrets(folder, [*secret_values(), *([token] if token else [])])
    where = f"{api.endpoint}/{repo_id}"
    with hub_failure(f"push of {folder} to {where}", api.endpoint, retry_hint(folder), token):
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=message,
            ignore_patterns=IGNORE_PATTERNS,
            revision=revision,
        )
    return info.commit_url


class HubPublishingMixin:
    """``TaskTrainer``'s changes to the Trainer's Hub integration (mixed in before ``Trainer``).

    - ``--hub_endpoint`` reaches the Trainer's own Hub calls (``use_endpoint``).
    - A repo that cannot be created stops the run before training, with a one-line ``TaskError``.
    - Once the repo exists, its full id (namespace/name) is pinned in ``args.hub_model_id``, so that
      ``results.json``, the card and a retried push all name the repo users download from.
    - ``save_model`` does not push: the Trainer's push-on-save would upload a folder without ``results.json``,
      with the Trainer's card, and fail with a traceback. ``train.py`` pushes once at the end (``push_output``).
    - ``create_model_card`` keeps the project's card when there is one (the Trainer's own drops metrics outside
      its whitelist, such as ``jaccard_samples``), for anyone calling ``trainer.push_to_hub()`` directly.
    """

    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        endpoint = getattr(self.args, "hub_endpoint", None)
        use_endpoint(endpoint)
        endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        repo = self.args.hub_model_id or os.path.basename(os.path.abspath(self.args.output_dir))
        then = "Nothing was trained; fix the token or endpoint, or train without --push_to_hub and push later"
        with hub_failure(f"creating Hub repo {repo!r} at {endpoint}", endpoint, then, token or self.args.hub_token):
            super().init_hf_repo(token=token, private=private)
        if getattr(self, "hub_model_id", None):
            self.args.hub_model_id = self.hub_model_id

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call=True)

    def create_model_card(self, *args, **kwargs) -> None:
        if os.path.isfile(os.path.join(self.args.output_dir, CARD_FILE)):
            return
        super().create_model_card(*args, **kwargs)


class ModelCardCallback(TrainerCallback):
    """Writes a fresh card (training in progress) before each of the Trainer's pushes, on rank 0."""

    def __init__(self, task: Task, model_args, data_args, raw, epoch_table) -> None:
        self.task, self.model_args, self.data_args = task, model_args, data_args
        self.raw, self.epoch_table = raw, epoch_table

    def on_push_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        progress = TrainOutput(state.global_step, math.nan, {})
        record = collect_results(
            self.task, self.model_args, self.data_args, args, self.raw, progress, {}, self.epoch_table
        )
        if args.max_steps and args.max_steps > 0:
            record.add(in_progress=f"step {state.global_step} of {args.max_steps}")
        else:
            record.add(in_progress=f"epoch {state.epoch or 0:g} of {args.num_train_epochs:g}")
        card = collect_card(record, self.task, args.output_dir)
        checkpoint = checkpoint_folder(args.output_dir, state.global_step)
        for folder in (args.output_dir, checkpoint):
            if os.path.isdir(folder):
                write_card(folder, card)


def write_model_card(trainer, task: Task, record: RunRecord) -> str | None:
    """``train.py`` step: the finished run's card, ``README.md`` in the output folder (rank 0, every run)."""
    if not trainer.is_world_process_zero():
        return None
    return write_card(trainer.args.output_dir, collect_card(record, task, trainer.args.output_dir))


def wait_for_checkpoint_pushes(trainer) -> None:
    """Let the Trainer's background checkpoint pushes finish; say which failed (the final push follows)."""
    pending = getattr(trainer, "push_in_progress", None)
    if pending is None:
        return
    pending.wait_until_done()
    for job in pending.jobs:
        error = None if job.cancelled() else job.exception()
        if error is not None:
            endpoint = getattr(trainer.args, "hub_endpoint", None) or constants.ENDPOINT
            logger.warning("a checkpoint push failed: %s", describe_hub_error(error, endpoint))


def push_output(trainer) -> str | None:
    """``train.py`` step: with ``--push_to_hub``, rank 0 pushes the finished output folder; the commit URL."""
    args = trainer.args
    if not args.push_to_hub or not trainer.is_world_process_zero():
        return None
    wait_for_checkpoint_pushes(trainer)
    api = hub_api(getattr(args, "hub_endpoint", None), args.hub_token)
    repo_id = ensure_repo(api, trainer.hub_model_id or args.hub_model_id, args.output_dir, args.hub_private_repo)
    url = upload_output(api, args.output_dir, repo_id, "End of training", args.hub_revision, args.hub_token)
    logger.info("pushed %s to %s", args.output_dir, url)
    return url


# --- trainer-tasks card OUTPUT_DIR [--push] ----------------------------------------------------------------
