"""``python train.py --help`` without importing torch: the real parser's help, kept while its sources are unchanged.

``train.py``'s parser is built from its argument dataclasses, transformers' ``TrainingArguments``
among them, and importing those imports torch and the Trainer: seconds before a line of help
(``benchmarks/startup.py``). So the first ``train.py --help`` builds the real parser and prints its
help as always, and this module keeps the text with everything the text was made from:

- every module file the process had loaded when the help was printed (this project's, transformers',
  torch's, ...), by path, size and modification time, as Python checks a ``.pyc`` against its source;
- ``sys.path`` and the modification time of each of its folders (a package installed, removed, or
  added in front of another);
- the script, the Python executable, version and ``-O`` level (which drops docstrings);
- what argparse formats with: the terminal width, the locale and colour variables, a terminal or not.

The next ``train.py --help`` checks all of it (a few thousand ``stat`` calls: milliseconds) and
prints the kept text only when every item matches; otherwise the real parser runs and a fresh text
is kept. No text is ever printed that the real parser, run now, would not print: the options, their
defaults and help come from the dataclass sources (none of them reads an environment variable).
Only a bare ``--help`` or ``-h`` is answered this way; with a recipe (whose values show as the
defaults) or any other word the real parser runs. The files are in ``$XDG_CACHE_HOME/trainer-tasks``
(``~/.cache/trainer-tasks``); ``TRAINER_TASKS_HELP_CACHE=0`` turns this off. A cache that cannot be
written or read is the same as none.

This module imports only the standard library: it runs before anything else in ``train.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from typing import Any

FORMAT = 1  # bumped when what is kept changes
HELP_WORDS = (["--help"], ["-h"])
OFF_SWITCH = "TRAINER_TASKS_HELP_CACHE"
# What argparse's output depends on besides the parser: width (COLUMNS, else the terminal's), the
# translation of its words (gettext's variables), and colour (Python 3.14+).
FORMATTING_VARIABLES = (
    "COLUMNS",
    "LANGUAGE",
    "LC_ALL",
    "LC_MESSAGES",
    "LANG",
    "NO_COLOR",
    "FORCE_COLOR",
    "PYTHON_COLORS",
    "TERM",
)

_pending: dict[str, Any] | None = None  # set when this process answers a bare --help with the real parser


def cache_folder() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "trainer-tasks")


def help_context(script: str) -> dict[str, Any]:
    """What the text is formatted for and its modules are found with (the cache file is named by its hash)."""
    return {
        "format": FORMAT,
        "script": os.path.realpath(script),
        "python": [sys.executable, sys.version, sys.flags.optimize],
        "columns": shutil.get_terminal_size().columns,
        "environment": {name: os.environ.get(name) for name in FORMATTING_VARIABLES},
        "terminal": sys.stdout.isatty(),
        "sys_path": [os.path.abspath(folder) for folder in sys.path],  # "" is the working folder
    }


def cache_file(context: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:32]
    return os.path.join(cache_folder(), f"train-help-{digest}.json")


def stamp(path: str) -> list[int] | None:
    """(modification time in ns, size) of a file or folder; None where there is none."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_mtime_ns, status.st_size]


def print_kept_help(argv: list[str], script: str) -> None:
    """For a bare ``--help``: print the kept text and exit 0 when it is current; otherwise return and let
    the real parser answer (``keep_help`` then keeps its text). Any other command line: return at once."""
    global _pending
    if argv not in HELP_WORDS or os.environ.get(OFF_SWITCH) == "0":
        return
    context = help_context(script)
    kept = read_kept(cache_file(context), context)
    if kept is None:
        _pending = context
        return
    sys.stdout.write(kept)
    sys.stdout.flush()
    sys.exit(0)


def read_kept(path: str, context: dict[str, Any]) -> str | None:
    """The kept text, if it was made in ``context`` from files that are all as they were."""
    try:
        with open(path, encoding="utf-8") as handle:
            kept = json.load(handle)
        if kept["context"] != context:
            return None
        if any(stamp(file) != file_stamp for file, file_stamp in kept["files"]):
            return None
        return str(kept["text"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def keep_help(text: str) -> None:
    """Called by the real parser after printing its help; keeps ``text`` when ``print_kept_help`` asked for it."""
    global _pending
    context, _pending = _pending, None
    if context is None:
        return
    files: dict[str, list[int] | None] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not os.path.isabs(path):
            continue  # built in, or a made-up name (torch.ops' "_ops.py"): no file behind it
        files[path] = stamp(path)
        if files[path] is None:  # a module whose file cannot be checked (in a zip, since deleted): keep nothing
            return
    for folder in context["sys_path"]:
        files[folder] = stamp(folder)
    record = {"context": context, "files": sorted(files.items()), "text": text}
    with contextlib.suppress(OSError):
        write_atomically(cache_file(context), json.dumps(record))


def write_atomically(path: str, text: str) -> None:
    """Whole or not at all: concurrent ``--help`` runs (``accelerate launch train.py --help``) each write one."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".help-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
