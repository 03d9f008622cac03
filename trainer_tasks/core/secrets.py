"""Keep the Hub token out of everything a run writes or prints.

The token reaches a run as ``--hub_token``, from the environment (``HF_TOKEN``) or from the file
``hf auth login`` writes. Users share logs, checkpoints and output folders, and push them to the
Hub, so the token is blanked where the Trainer would store it (``training_args.bin`` pickles the
whole ``TrainingArguments``), scrubbed from log records, replaced in the recorded command line,
and an output folder can be checked for it before anything is published. Every writer and pusher
of the project goes through this module rather than redacting on its own.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from tasks import TaskError

REDACTED = "<redacted>"
SECRET_FLAGS = ("--hub_token", "--hub-token")
SECRET_FIELDS = ("hub_token",)
TOKEN_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words
# The shape of a Hugging Face access token: caught even when no option, variable or file named it.
TOKEN_PATTERN = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")


def secret_values(training_args: Any = None) -> list[str]:
    """Every token this process could use: the argument, the environment, the login file.

    The login file is read directly: ``huggingface_hub.get_token()`` may refresh or exchange
    tokens over the network, and finding secrets must never need the network.
    """
    values = [getattr(training_args, field, None) for field in SECRET_FIELDS]
    values += [os.environ.get(name) for name in TOKEN_ENV_VARS]
    from huggingface_hub import constants

    for path in (constants.HF_TOKEN_PATH,):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                values.append(handle.read().strip())
    unique = {value.strip() for value in values if isinstance(value, str) and len(value.strip()) >= MIN_SECRET_LENGTH}
    return sorted(unique, key=len, reverse=True)  # longest first, so a token containing another is replaced whole


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and anything shaped like a Hub token, replaced by ``<redacted>``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return TOKEN_PATTERN.sub(REDACTED, text)


def redacted_command(argv: Sequence[str], secrets: Iterable[str] = ()) -> str:
    """The command line with the values of secret flags (and any known secret) replaced, fit for logs and cards."""
    words: list[str] = []
    hide_next = False
    for word in argv:
        if hide_next:
            words.append(REDACTED)
            hide_next = False
        elif word in SECRET_FLAGS:
            words.append(word)
            hide_next = True
        elif word.split("=", 1)[0] in SECRET_FLAGS:
            words.append(word.split("=", 1)[0] + "=" + REDACTED)
        else:
            words.append(word)
    return redact(" ".join(words), secrets)


def redacted_state(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of an object's ``__dict__`` with secret fields blanked, for pickling.

    ``TaskTrainingArguments.__getstate__`` returns this, so ``training_args.bin`` (which the
    Trainer writes with ``torch.save(self.args)`` into every checkpoint and the output folder)
    never holds the token, while the live arguments keep it for pushing.
    """
    return {key: (None if key in SECRET_FIELDS and value else value) for key, value in state.items()}


class RedactingFilter(logging.Filter):
    """Replaces secrets in a log record's final message (and traceback text) before any handler writes it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Handlers format the traceback after filters run: format it now, so it can be cleaned.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def install_log_redaction(secrets: Iterable[str]) -> RedactingFilter | None:
    """Attach a ``RedactingFilter`` to every handler now configured (root, transformers, datasets, ...).

    Handler filters, not logger filters: a logger's filter does not see records that its children
    propagate to it. transformers keeps its own stderr handler and does not propagate, so it is
    reached through the logger registry.
    """
    secrets = list(secrets)
    if not secrets:
        return None
    redacting = RedactingFilter(secrets)
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
                handler.addFilter(redacting)
    return redacting


def files_containing(folder: str, secrets: Iterable[str]) -> list[str]:
    """Every file under ``folder`` (binary ones too, recursively) whose bytes contain a secret."""
    needles = [secret.encode("utf-8") for secret in secrets if secret]
    longest = max((len(needle) for needle in needles), default=0)
    found = []
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                tail = b""
                while chunk := handle.read(1 << 20):
                    window = tail + chunk
                    if any(needle in window for needle in needles):
                        found.append(path)
                        break
                    tail = window[-longest:] if longest else b""
    return sorted(found)


def check_no_secrets(folder: str, secrets: Iterable[str]) -> None:
    """Refuse to publish or hand over a folder in which a token was written."""
    leaked = files_containing(folder, secrets)
    if leaked:
        raise TaskError(
            f"{len(leaked)} file(s) under {folder} contain the Hub token: {leaked[:5]}; "
            "remove or regenerate them before sharing the folder, and revoke the token if it was shared"
        )
