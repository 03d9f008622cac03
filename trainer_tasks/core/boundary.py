"""The one boundary between a user and every entry point (``train.py`` and each ``trainer-tasks`` command).

A user who makes an ordinary mistake (a misspelt flag, a missing file, a bad value) must get one
line, ``error: ...``, naming what was wrong and how to fix it, and exit code 2, never a traceback
from deep inside a library. An unexpected internal error is a bug: its traceback is kept (that is
the bug report), with a line above it that says so. Ctrl-C and ``SIGTERM`` (a preempted job) end
with one line saying what to do next, exit code 130 / 143.

Every message goes through the secret redaction first: an error may quote a value that holds a token.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from types import FrameType

from tasks import TaskError

USER_ERROR_EXIT = 2
INTERRUPT_EXIT = 130
TERMINATE_EXIT = 143


class Interrupted(KeyboardInterrupt):
    """``SIGTERM`` turned into an exception, so that it unwinds (and releases locks) like Ctrl-C."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


# The signal received, kept until the entry point has reported it. Python runs a signal handler
# between bytecodes of the main thread, and an exception raised there while the interpreter is inside
# a ``__del__`` or a weakref/GC callback is printed as "Exception ignored" and dropped: the run would
# go on as if never stopped. ``raise_if_interrupted`` (called after every training step and when the
# entry point's work returns) raises it again, so a stop is never lost.
_received: int | None = None


def _interruption(signal_number: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signal_number == signal.SIGINT else Interrupted(signal_number)


def _raise_interrupted(signal_number: int, _frame: FrameType | None) -> None:
    global _received
    _received = signal_number
    raise _interruption(signal_number)


def raise_if_interrupted() -> None:
    """Raise the Ctrl-C/SIGTERM received earlier whose exception was swallowed on the way (see ``_received``)."""
    if _received is not None:
        raise _interruption(_received)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type where it has none): what a one-line error quotes."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def one_line(text: str) -> str:
    """Messages are printed as one line: newlines of wrapped library messages become spaces."""
    return " ".join(str(text).split())


class StrictArgumentParser(argparse.ArgumentParser):
    """``argparse`` that refuses abbreviations and reports mistakes as ``TaskError`` (one line, exit 2).

    argparse accepts any unambiguous prefix of a flag (``--hub_tok`` for ``--hub_token``), so a value
    arrives under a name that nothing else recognises (redaction, recipes, logs); and its own errors
    print the whole usage block. Unknown options get a "did you mean" from the parser's own options.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise TaskError(f"{self.prog}: {message}; run `{self.prog} --help` for the options")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            raise TaskError(unused_arguments_message(self, extras))
        return namespace


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    return [option for action in parser._actions for option in action.option_strings]


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean --task?)`` for the closest option name, or nothing."""
    name = word.split("=", 1)[0]
    candidates = [option for option in options if option not in ("-h", "--help")]
    # An abbreviation first (argparse used to take it): the shortest option it begins, then the closest spelling.
    close = sorted((option for option in candidates if option.startswith(name) and len(name) > 3), key=len)[:1]
    close = close or difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unused_arguments_message(parser: argparse.ArgumentParser, extras: Sequence[str]) -> str:
    """One sentence about the words the parser did not take: unknown options first, never their values.

    Values are not quoted: the word after an unknown ``--hub_tok`` is the token itself.
    """
    options = option_names(parser)
    unknown = [word for word in extras if word.startswith("-") and not _is_number(word)]
    if unknown:
        word = unknown[0].split("=", 1)[0]
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        return f"unknown option {word}{did_you_mean(word, options)}{more}; run `{parser.prog} --help` for the options"
    return (
        f"unexpected argument {extras[0]!r}{f' (and {len(extras) - 1} more)' if len(extras) > 1 else ''}: every "
        f"value must follow its option (--option value ...); run `{parser.prog} --help` for the options"
    )


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def is_first_process() -> bool:
    """Rank 0 of a distributed launch (or a plain process): the one that speaks for the run.

    Every process of a launch checks the same options and data and fails the same way; one line
    from rank 0 says it once. Internal errors are printed by every process: each is a bug report.
    """
    return os.environ.get("RANK", "0") == "0"


def run_entry_point(
    main: Callable[[], object],
    *,
    secrets: Callable[[], Iterable[str]] = lambda: (),
    on_interrupt: Callable[[], str] | None = None,
) -> int:
    """Run ``main`` and turn how it ends into an exit code; the caller passes it to ``sys.exit``.

    ``secrets`` is called when a message is printed (the token may have been read after start-up);
    ``on_interrupt`` returns the line printed on Ctrl-C/SIGTERM (e.g. where the last checkpoint is).
    """
    from trainer_tasks.core.secrets import redact

    global _received
    _received = None
    previous = {number: signal.signal(number, _raise_interrupted) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        main()
        raise_if_interrupted()
        return 0
    except TaskError as error:
        if is_first_process():
            print(f"error: {one_line(redact(str(error), secrets()))}", file=sys.stderr)
        return USER_ERROR_EXIT
    except BrokenPipeError:  # e.g. `trainer-tasks predict ... | head`: the reader has all it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as interruption:
        _received = None
        what = "terminated (SIGTERM)" if isinstance(interruption, Interrupted) else "interrupted (Ctrl-C)"
        if is_first_process():
            advice = on_interrupt() if on_interrupt is not None else "nothing was written after the interruption"
            print(f"{what}: {one_line(redact(advice, secrets()))}", file=sys.stderr)
        return TERMINATE_EXIT if isinstance(interruption, Interrupted) else INTERRUPT_EXIT
    except Exception:
        print(
            "internal error: an unexpected failure, not a mistake in your input; please report it with the "
            "traceback below",
            file=sys.stderr,
        )
        print(redact(traceback.format_exc(), secrets()), file=sys.stderr, end="")
        return 1
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
