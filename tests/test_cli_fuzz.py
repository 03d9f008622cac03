"""Property-based tests of the ``trainer-tasks`` command line: whatever a user types, success or one error line.

Command lines are generated from the parsers' own options (``cli.build_parser``): option names
exact, misspelt, abbreviated, upper-cased, single-dashed or invented; values of the right type,
the wrong type, out of range, missing, repeated, or written ``--option=value``; positionals from
good and bad paths; stray words. Each runs in-process through ``cli.main`` and must return 0 (and
have done its job), or 2 with exactly one ``error:`` line and no traceback. Damaged files (a gzip
cut at any byte, a ``results.json`` cut short or missing a key) must be named in that line.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
from pathlib import Path

import pytest
from cli_workspace import TEXTS, assert_one_error_line, assert_outcome, build_workspace, finished_run
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_card import NEWS_TEST, results_for

from trainer_tasks.commands import main as cli
from trainer_tasks.core.boundary import option_names
from trainer_tasks.record.run_files import RESULTS_SHAPE, OrNull

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same command lines on every run; raise max_examples locally to search wider
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
PARSER = cli.build_parser()
PARSERS = cli.command_parsers(PARSER)
HELP = ("-h", "--help")
# Words a user might type anywhere; no NUL (a real command line cannot hold one).
WORD = st.one_of(
    st.sampled_from(["x", "yes", "no", "none", "-", "--", "-1", "0", "1e9", "nan", "inf", "", " ", "é", "a b"]),
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=12),
)
BAD_NUMBERS = ["-1", "0", "-100", "10" * 12, "1.5", "1e3", "nan", "inf", "-inf", "0x10", "", "one"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_bert) -> dict[str, str]:
    return build_workspace(tmp_path_factory.mktemp("cli-fuzz"), tiny_bert)


def value_pools(paths: dict[str, str], out: Path) -> dict[tuple[str, str], list[str]]:
    """Good and bad values per (command, destination), from the workspace; others get random words.

    ``export`` never gets a loadable classifier: a real export takes seconds (test_onnx_export runs them),
    so its generated command lines all end in a refusal, which is what this test is about.
    """
    files = [paths[name] for name in ("in.txt", "in.csv", "in.jsonl", "in.txt.gz")]
    bad_files = [paths[name] for name in ("cut.txt.gz", "latin1.txt", "empty.csv", "folder", "missing")]
    not_models = [paths[name] for name in ("base", "no_tokenizer", "cut_weights", "bad_config", "folder")]
    not_models += [paths["missing"], paths["in.txt"], "someone/not-downloaded", "a/b/c"]
    return {
        ("predict", "model"): [paths["classifier"]] * 3 + not_models,
        ("predict", "input"): [*files, "-", *bad_files],
        ("predict", "output"): [
            str(out / "p.jsonl"), str(out / "p.csv"), "p.tsv", str(out / "missing" / "p.csv"), paths["folder"],
            os.path.join(paths["in.txt"], "p.csv"), "p.xlsx", "/",
        ],
        ("predict", "text_column"): ["text", "text", "comment"],
        ("export", "model"): not_models,
        ("export", "output_dir"): [
            str(out / "export"), paths["full_folder"], paths["in.txt"], os.path.join(paths["in.txt"], "x"),
        ],
        ("student", "teacher"): [paths["base"], paths["classifier"], paths["missing"], paths["in.txt"],
                                 paths["folder"], paths["no_tokenizer"]],
        ("student", "output_dir"): [str(out / "student"), "student-rel", paths["in.txt"],
                                    os.path.join(paths["in.txt"], "x")],
        ("compare", "run"): [f"a={paths['run_a']}", f"b={paths['run_b']}", paths["run_a"],
                             f"c={paths['run_damaged']}", f"d={paths['missing']}", f"e={paths['in.txt']}", "=x", "y="],
        ("compare", "output"): [str(out / "report"), "report-rel", paths["in.txt"], os.path.join(paths["in.txt"], "r")],
        ("compare", "reference"): ["a", "b", "z"],
        ("card", "output_dir"): [paths["run_a"], paths["run_a"], paths["run_damaged"], paths["missing"],
                                 paths["in.txt"], paths["folder"]],
        ("card", "task"): ["news", "toxic", "nope", "missing.py:TASK"],
        ("card", "hub_endpoint"): ["https://example.invalid", "notaurl", "http://[::1", "ftp://x"],
        ("card", "hub_model_id"): ["alice/model", "bad id!!", "a/b/c"],
    }  # fmt: skip


def rarely(draw, one_in: int) -> bool:
    """True about once in ``one_in`` draws: the largest value, since Hypothesis favours small ones (0)."""
    return draw(st.integers(0, one_in - 1)) == one_in - 1


@st.composite
def flag_as_typed(draw, option: str) -> str:
    """The option exactly (mostly), or as a user mistypes it: a prefix, a dropped, swapped or
    doubled letter, dashes for underscores, upper case, one dash."""
    body = option.lstrip("-")
    if not rarely(draw, 4):
        return option
    kind = draw(st.sampled_from(["prefix", "drop", "swap", "double", "dash", "upper", "single"]))
    if kind == "prefix" and len(body) > 1:
        return "--" + body[: draw(st.integers(1, len(body) - 1))]
    if kind in ("drop", "swap", "double") and len(body) > 1:
        at = draw(st.integers(0, len(body) - 2))
        if kind == "drop":
            body = body[:at] + body[at + 1 :]
        elif kind == "swap":
            body = body[:at] + body[at + 1] + body[at] + body[at + 2 :]
        else:
            body = body[: at + 1] + body[at:]
        return "--" + body
    if kind == "dash":
        return "--" + body.replace("_", "-")
    if kind == "upper":
        return "--" + body.upper()
    if kind == "single":
        return "-" + body
    return option


def value_strategy(action: argparse.Action, pool: list[str]) -> st.SearchStrategy[str]:
    """A value as the option expects it, or one of the wrong type or range."""
    if action.choices:
        good = st.sampled_from([str(choice) for choice in action.choices])
    elif action.type is int:
        good = st.integers(-3, 140).map(str)
    elif action.type is float:
        good = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    elif pool:
        good = st.sampled_from(pool)
    else:
        good = WORD
    return st.one_of(good, good, good, good, good, st.sampled_from(BAD_NUMBERS), WORD)


@st.composite
def option_words(draw, action: argparse.Action, pool: list[str], mistakes: bool) -> list[str]:
    """One use of an option: its name as typed and its values (none, one, several, or ``--name=value``).

    Without ``mistakes`` the name and the number of values are right (the values may still be wrong).
    """
    flag = draw(st.sampled_from(action.option_strings))
    flag = draw(flag_as_typed(flag)) if mistakes else flag
    if action.nargs == 0:  # a switch; a value after it is a stray word
        return [flag, draw(WORD)] if mistakes and rarely(draw, 6) else [flag]
    values = value_strategy(action, pool)
    if action.nargs in ("+", "*"):
        return [flag, *draw(st.lists(values, min_size=0 if mistakes else 1, max_size=4))]
    count = draw(st.sampled_from([1] * 8 + [0, 2])) if mistakes else 1  # sometimes missing or one too many
    words = draw(st.lists(values, min_size=count, max_size=count))
    if count == 1 and draw(st.booleans()):
        return [f"{flag}={words[0]}"]
    return [flag, *words]


@st.composite
def command_line(draw, command: str, pools: dict[tuple[str, str], list[str]], mistakes: bool) -> list[str]:
    """A whole command line for ``command``, built from its parser's positionals and options.

    With ``mistakes``: mistyped option and command names, positionals left out, values missing or
    doubled, stray words, ``--help``, words out of order. Without: the shape is right and only the
    values (paths, numbers, choices) may be wrong, so every line reaches the command's own checks.
    Required options (compare's --run, --output) are usually given, --run usually twice.
    """
    parser = PARSERS[command]
    chunks: list[list[str]] = []
    for action in parser._actions:
        if action.option_strings or (mistakes and rarely(draw, 15)):  # a positional is sometimes left out
            continue
        pool = pools.get((command, action.dest), [])
        chunks.append([draw(WORD if not pool or rarely(draw, 8) else st.sampled_from(pool))])
    options = [action for action in parser._actions if action.option_strings and action.dest != "help"]
    chosen = [action for action in options if action.required and not (mistakes and rarely(draw, 10))]
    chosen += [action for action in chosen if isinstance(action, argparse._AppendAction) and not rarely(draw, 6)]
    chosen += draw(st.lists(st.sampled_from(options), max_size=3))
    for action in chosen:
        chunks.append(draw(option_words(action, pools.get((command, action.dest), []), mistakes)))
    if not mistakes:
        return [command, *(word for chunk in chunks for word in chunk)]
    if rarely(draw, 20):
        chunks.append([draw(st.sampled_from(HELP))])
    if rarely(draw, 10):
        chunks.append([draw(WORD)])
    if rarely(draw, 4):
        chunks = draw(st.permutations(chunks))
    name = draw(flag_as_typed("--" + command)).lstrip("-") if rarely(draw, 15) else command
    return [name, *(word for chunk in chunks for word in chunk)]


def run_command_line(argv: list[str], capsys) -> tuple[int, str, str]:
    """``cli.main(argv)``; ``--help`` ends in argparse's ``SystemExit(0)`` after printing the usage."""
    try:
        code = cli.main(argv)
    except SystemExit as exit:
        out, err = capsys.readouterr()
        assert exit.code == 0 and any(word in HELP for word in argv), (argv, err)
        assert out.startswith("usage: trainer-tasks") and not err
        return 0, out, err
    out, err = capsys.readouterr()
    return code, out, err


def check_work_done(argv: list[str], out: str, err: str) -> None:
    """A command line that succeeded did its job: the file it names holds what the command writes."""
    if any(word in HELP for word in argv):
        return
    args = cli.parse_command_line(PARSER, argv)
    if args.command == "predict":
        if args.output:
            written = Path(args.output).read_text(encoding="utf-8").splitlines()
            assert len(written) == len(TEXTS) + args.output.endswith((".csv", ".tsv")), written
        else:
            rows = [json.loads(line) for line in out.splitlines()]
            assert [row["row"] for row in rows] == [1, 2, 3], out
        assert f"predict: {len(TEXTS)} rows" in err
    elif args.command == "student":
        assert Path(args.output_dir, "config.json").is_file()
    elif args.command == "compare":
        assert Path(args.output, "report.md").is_file() and "report written" in out
    elif args.command == "card":
        assert Path(args.output_dir, "README.md").is_file() and out.startswith("wrote ")
    elif args.command == "tasks":
        assert "news:" in out and "toxic:" in out
    else:
        raise AssertionError(f"{argv} succeeded, but this test never hands export a loadable model")


def unknown_options(argv: list[str], command: str) -> list[str]:
    """The option-like words of ``argv`` that the command's parser does not define (each must be refused).

    argparse reads a word with a space in it as a value even when it starts with ``--``: not counted.
    """
    known = set(option_names(PARSERS[command])) | {"--help"}
    return [
        word
        for word in argv[1:]
        if word.startswith("--") and len(word) > 2 and " " not in word and word.split("=", 1)[0] not in known
    ]


@pytest.mark.parametrize("mistakes", [True, False], ids=["mistyped", "well-formed"])
@pytest.mark.parametrize("command", list(cli.COMMANDS))
@SETTINGS
@given(data=st.data())
def test_any_command_line_succeeds_or_is_one_error_line(
    command, mistakes, data, workspace, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # relative outputs land in the test's folder
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(TEXTS) + "\n"))  # predict ... - reads these rows
    argv = data.draw(command_line(command, value_pools(workspace, tmp_path), mistakes), label="argv")
    code, out, err = run_command_line(argv, capsys)
    errors = assert_outcome(code, err)
    helped = any(word in HELP for word in argv)
    event(f"exit {code}: " + (errors[0][7:40] if errors else "help" if helped else "done"))
    if code == 0:
        check_work_done(argv, out, err)
        return
    error = errors[0]
    if argv[0] not in PARSERS:
        assert "invalid choice" in error
    if "unknown option " in error:  # it names a word the user typed, and suggests only real options
        named = error.split("unknown option ", 1)[1].split(" ", 1)[0].split(";", 1)[0]
        assert any(word.split("=", 1)[0] == named for word in argv), (named, argv)
        if "did you mean " in error:
            suggestion = error.split("did you mean ", 1)[1].split("?", 1)[0]
            assert suggestion in option_names(PARSERS[argv[0]]), error
    if argv[0] in PARSERS and unknown_options(argv, argv[0]) and not any(word in HELP for word in argv):
        assert code == 2, (argv, err)  # an abbreviation or misspelling is never taken for a real option


def gzip_of(text: str) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(text.encode("utf-8"))
    return buffer.getvalue()


INPUTS = {
    "texts.txt.gz": "\n".join(TEXTS) + "\n",
    "texts.csv.gz": "id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(TEXTS)),
    "texts.jsonl.gz": "".join(json.dumps({"text": t}) + "\n" for t in TEXTS),
}


@SETTINGS
@given(name=st.sampled_from(sorted(INPUTS)), cut=st.floats(0, 1, exclude_max=True))
def test_gzip_cut_at_any_byte_is_one_error_line_naming_the_file(name, cut, workspace, tmp_path, capsys):
    whole = gzip_of(INPUTS[name])
    path = tmp_path / name
    path.write_bytes(whole[: int(cut * len(whole))])
    code = cli.main(["predict", workspace["classifier"], str(path), "--output", str(tmp_path / "p.jsonl")])
    assert_one_error_line(code, capsys.readouterr().err, str(path))
    assert not (tmp_path / "p.jsonl").exists()


@SETTINGS
@given(name=st.sampled_from(sorted(INPUTS)), where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_gzip_with_a_flipped_bit_reads_the_same_rows_or_is_one_error_line(
    name, where, bit, workspace, tmp_path, capsys
):
    """A flipped bit in a header field gzip ignores (time, OS) reads as before; anywhere else it is an error."""
    data = bytearray(gzip_of(INPUTS[name]))
    data[int(where * len(data))] ^= 1 << bit
    path = tmp_path / name
    path.write_bytes(bytes(data))
    code = cli.main(["predict", workspace["classifier"], str(path), "--no_progress"])
    out, err = capsys.readouterr()
    if code == 0:
        assert [json.loads(line)["text"] for line in out.splitlines()] == TEXTS
    else:
        assert_one_error_line(code, err, str(path))


def required_keys(shape: object, prefix: str = "") -> list[str]:
    """Dotted names of the keys ``RESULTS_SHAPE`` requires (the ones a report or card cannot do without)."""
    if isinstance(shape, OrNull) or not isinstance(shape, dict):
        return []
    keys = []
    for spec, inner in shape.items():
        if spec.endswith("?"):
            continue
        name = f"{prefix}.{spec}" if prefix else spec
        keys += [name, *required_keys(inner, name)]
    return keys


def without(results: dict, dotted: str) -> dict:
    parent = results
    *path, last = dotted.split(".")
    for key in path:
        parent = parent[key]
    del parent[last]
    return results


DAMAGE = st.one_of(
    st.tuples(st.just("cut"), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("drop"), st.sampled_from(required_keys(RESULTS_SHAPE))),
    st.tuples(st.just("replace"), st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                                               lambda inner: st.lists(inner, max_size=3), max_leaves=5)),
)  # fmt: skip


@SETTINGS
@given(command=st.sampled_from(["compare", "card"]), damage=DAMAGE)
def test_damaged_results_json_is_one_error_line_naming_it(command, damage, workspace, tmp_path, capsys):
    run = Path(finished_run(tmp_path / "run"))
    whole = (run / "results.json").read_text()
    kind, how = damage
    if kind == "cut":  # anywhere before the closing brace: a write that stopped early
        broken = whole[: int(how * whole.rindex("}"))]
    elif kind == "drop":
        broken = json.dumps(without(results_for("news", NEWS_TEST), how))
    else:
        broken = json.dumps(how)
    (run / "results.json").write_text(broken)
    argv = ["card", str(run)]
    if command == "compare":
        runs = ["--run", f"good={workspace['run_a']}", "--run", f"bad={run}"]
        argv = ["compare", *runs, "--output", str(tmp_path / "r")]
    err = assert_one_error_line(cli.main(argv), capsys.readouterr().err, str(run / "results.json"))
    assert "the run may not have finished" in err
    if kind == "drop":
        assert f"{how} is missing" in err
    assert not (tmp_path / "r").exists() and not (run / "README.md").exists()


@SETTINGS
@given(cut=st.floats(0, 1, exclude_max=True))
def test_cut_trainer_state_json_is_one_error_line_naming_it(cut, workspace, tmp_path, capsys):
    run = Path(finished_run(tmp_path / "run"))
    state = json.dumps({"global_step": 4, "log_history": [{"epoch": 1.0, "loss": 0.5, "step": 4}]}, indent=2)
    (run / "trainer_state.json").write_text(state[: int(cut * state.rindex("}"))])
    argv = ["compare", "--run", f"a={workspace['run_a']}", "--run", f"b={run}", "--output", str(tmp_path / "r")]
    err = assert_one_error_line(cli.main(argv), capsys.readouterr().err, str(run / "trainer_state.json"))
    assert "the run may not have finished" in err
