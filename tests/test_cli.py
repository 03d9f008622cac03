"""The ``trainer-tasks`` command: the installed script, and every mistake a user can make ending in one line.

In-process tests call ``cli.main(argv)`` on real files built by ``cli_workspace``: a saved tiny
classifier, inputs in every format, finished-run folders, and damaged copies of each. A mistake
must end in exit code 2 and exactly one line, ``error: ...``, naming the file or value and the fix;
destinations are checked before any model is loaded (shown by passing a model that does not exist).
The generated command lines are in ``test_cli_fuzz.py``.
"""

import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_workspace import TEXTS, assert_one_error_line, build_workspace, finished_run
from conftest import ROOT

from trainer_tasks.commands import main as cli
from trainer_tasks.core.boundary import StrictArgumentParser, option_names


def run(*args: str) -> subprocess.CompletedProcess:
    command = shutil.which("trainer-tasks") or pytest.skip("trainer-tasks is not installed (pip install -e .)")
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=120)


def test_tasks_lists_builtin_tasks_with_their_heads():
    done = run("tasks", "--verbose")
    assert done.returncode == 0, done.stderr
    assert "news: Topic of an English news headline" in done.stdout
    toxic_line = "multi_label_classification; labels: toxic, severe_toxic, obscene, threat, insult, identity_hate"
    assert toxic_line in done.stdout


def test_unknown_subcommand_is_a_usage_error():
    done = run("nonsense")
    assert done.returncode == 2 and "invalid choice" in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")  # one line, no usage block


# --- In-process: every mistake is one line, `error: ...`, exit code 2 ------------------------------------------

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root writes and reads through permission bits


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_bert) -> dict[str, str]:
    return build_workspace(tmp_path_factory.mktemp("cli"), tiny_bert)


def placeholders(command: str) -> list[str]:
    """Just enough for ``command`` to parse: its positionals and required options, as dummy words."""
    parser = cli.command_parsers(cli.build_parser())[command]
    words = [command]
    for action in parser._actions:
        if not action.option_strings:
            words.append("x")
        elif action.required:
            words += [action.option_strings[0], "x=y"]
    return words


@pytest.mark.parametrize("command", [None, *cli.COMMANDS])
def test_help_prints_usage_and_exits_0(command, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main([command, "--help"] if command else ["--help"])
    out, err = capsys.readouterr()
    assert exit.value.code == 0 and not err
    assert out.startswith(f"usage: trainer-tasks {command or ''}".rstrip())


def test_no_command_and_a_misspelt_command_are_one_error_line(capsys):
    assert_one_error_line(cli.main([]), capsys.readouterr().err, "required: command")
    err = assert_one_error_line(cli.main(["predcit", "m", "x"]), capsys.readouterr().err, "invalid choice")
    assert "did you mean predict?" in err


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_abbreviations_are_refused_with_the_full_option_suggested(command, capsys):
    """argparse would take ``--out`` for ``--output``; every prefix of every option is refused instead."""
    parser = cli.command_parsers(cli.build_parser())[command]
    for option in option_names(parser):
        if not option.startswith("--") or option == "--help":
            continue
        for length in range(4, len(option)):
            prefix = option[:length]
            if prefix in option_names(parser):
                continue
            err = assert_one_error_line(cli.main([*placeholders(command), prefix]), capsys.readouterr().err)
            assert f"unknown option {prefix} (did you mean " in err, err
            # Any suggestion is one of the command's own options (not always the one abbreviated: see
            # boundary.did_you_mean, which ranks by similarity before prefixes).
            assert err.split("did you mean ", 1)[1].split("?", 1)[0] in option_names(parser), err


def test_every_parser_is_strict():
    parser = cli.build_parser()
    for each in [parser, *cli.command_parsers(parser).values()]:
        assert isinstance(each, StrictArgumentParser) and not each.allow_abbrev


def test_a_real_option_in_the_wrong_place_is_explained(capsys):
    argv = ["predict", "model", "input", "--", "--no_progress"]
    assert_one_error_line(cli.main(argv), capsys.readouterr().err, "--no_progress comes after `--`")
    argv = ["--no_progress", "predict", "model", "input"]
    assert_one_error_line(cli.main(argv), capsys.readouterr().err, "--no_progress belongs after the command")


def test_wrong_value_types_and_ranges_are_one_line_before_any_model_is_loaded(tmp_path, capsys):
    missing = str(tmp_path / "no-model")  # never reached: the checks come first
    for flags, expected in [
        (["--batch_size", "ten"], "invalid int value: 'ten'"),
        (["--batch_size", "0"], "--batch_size must be a positive number, got 0"),
        (["--batch_tokens", "-5"], "--batch_tokens must be a positive number, got -5"),
        (["--max_length", "2"], "--max_length must be at least 3"),
        (["--precision", "fp16"], "invalid choice: 'fp16'"),
        (["--max_length=--"], "--max_length needs a value, got `--`"),  # argparse would store []
    ]:
        assert_one_error_line(cli.main(["predict", missing, "in.txt", *flags]), capsys.readouterr().err, expected)
    for flags, expected in [
        (["--opset", "0"], "--opset must be between 1 and"),
        (["--opset", "999"], "--opset must be between 1 and"),
        (["--tolerance", "nan"], "--tolerance must be a number >= 0"),
        (["--tolerance=-1e-3"], "--tolerance must be a number >= 0"),
    ]:
        code = cli.main(["export", missing, str(tmp_path / "out"), *flags])
        assert_one_error_line(code, capsys.readouterr().err, expected)
    assert not (tmp_path / "out").exists()


# --- predict: the destination is checked before the model is loaded --------------------------------------------


def test_predict_output_in_a_missing_folder_names_it_and_the_fix(workspace, tmp_path, capsys):
    folder = tmp_path / "not-made"
    # A model that does not exist: the output is refused first, so nothing is loaded or inferred.
    argv = ["predict", str(tmp_path / "no-model"), workspace["in.txt"], "--output", str(folder / "p.csv")]
    assert_one_error_line(cli.main(argv), capsys.readouterr().err, f"the folder {folder} does not exist", "mkdir -p")
    assert not folder.exists()


def test_predict_output_that_is_a_folder_or_cannot_be_written(workspace, tmp_path, capsys):
    no_model = str(tmp_path / "no-model")
    cases = [
        (workspace["folder"], f"--output {workspace['folder']} is a folder"),
        (os.path.join(workspace["in.txt"], "p.jsonl"), f"{workspace['in.txt']} is a file, not a folder"),
    ]
    if os.path.isdir("/proc"):  # exists, and no file can be created in it, whoever runs the test
        cases.append(("/proc/p.jsonl", "cannot write in /proc"))
    for output, expected in cases:
        argv = ["predict", no_model, workspace["in.txt"], "--output", output]
        assert_one_error_line(cli.main(argv), capsys.readouterr().err, expected)


@pytest.mark.skipif(AS_ROOT, reason="root writes through a read-only folder's permission bits")
def test_predict_output_in_a_read_only_folder(workspace, tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        argv = ["predict", str(tmp_path / "no-model"), workspace["in.txt"], "--output", str(folder / "p.csv")]
        assert_one_error_line(cli.main(argv), capsys.readouterr().err, f"cannot write in {folder}")
    finally:
        folder.chmod(0o755)


def test_predict_refuses_to_overwrite_its_input(workspace, tmp_path, capsys):
    source = tmp_path / "in.csv"
    shutil.copy(workspace["in.csv"], source)
    before = source.read_bytes()
    argv = ["predict", workspace["classifier"], str(source), "--output", str(source)]
    assert_one_error_line(cli.main(argv), capsys.readouterr().err, "is the input file")
    assert source.read_bytes() == before


def test_predict_replaces_a_previous_output_whole_and_leaves_no_temporary(workspace, tmp_path, capsys):
    output = tmp_path / "p.jsonl"
    output.write_text("old predictions\n" * 100)
    argv = ["predict", workspace["classifier"], workspace["in.txt"], "--output", str(output), "--no_progress"]
    assert cli.main(argv) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["text"] for row in rows] == TEXTS
    assert sorted(path.name for path in tmp_path.iterdir()) == ["p.jsonl"]


# --- predict: inputs that cannot be read ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("folder", "is a folder; pass the CSV, JSON Lines or text file itself"),
        ("missing", "no such file"),
        ("cut.txt.gz", "gzip data damaged or cut short"),
        ("latin1.txt", "line 1: byte 0xe9 at character 4 is not UTF-8 text"),
        ("empty.csv", "the file is empty"),
    ],
)
def test_predict_unreadable_inputs_are_one_line_naming_the_file(name, expected, workspace, capsys):
    code = cli.main(["predict", workspace["classifier"], workspace[name], "--no_progress"])
    assert_one_error_line(code, capsys.readouterr().err, workspace[name], expected)


def test_predict_gz_name_on_data_that_is_not_gzip(workspace, tmp_path, capsys):
    for content, expected in [(b"", "named .gz but is empty"), (b"plain text\n", "does not start as gzip data does")]:
        path = tmp_path / "texts.txt.gz"
        path.write_bytes(content)
        code = cli.main(["predict", workspace["classifier"], str(path)])
        assert_one_error_line(code, capsys.readouterr().err, str(path), expected)


def test_predict_stdin_that_is_not_utf8(workspace, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"fine\ncaf\xe9\n"), encoding="utf-8"))
    code = cli.main(["predict", workspace["classifier"], "-", "--no_progress"])
    assert_one_error_line(code, capsys.readouterr().err, "standard input: byte 0xe9 is not UTF-8 text")


@pytest.mark.skipif(AS_ROOT, reason="root reads through permission bits")
def test_predict_input_without_read_permission(workspace, tmp_path, capsys):
    path = tmp_path / "secret.txt"
    path.write_text("hello\n")
    path.chmod(0o000)
    try:
        code = cli.main(["predict", workspace["classifier"], str(path)])
        assert_one_error_line(code, capsys.readouterr().err, str(path), "Permission denied")
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("base", "BertModel without a classification head"),
        ("no_tokenizer", "has no tokenizer"),
        ("cut_weights", "Error while deserializing header"),
        ("bad_config", "not a valid JSON file"),
        ("folder", "cannot load model from local folder"),
        ("in.txt", "it is a file; pass the model's folder"),
    ],
)
def test_predict_with_a_folder_that_is_not_a_classifier(name, expected, workspace, capsys):
    code = cli.main(["predict", workspace[name], workspace["in.txt"], "--no_progress"])
    assert_one_error_line(code, capsys.readouterr().err, workspace[name], expected)


def test_predict_with_a_damaged_onnx_file(workspace, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    folder = shutil.copytree(workspace["classifier"], tmp_path / "onnx-export")
    (folder / "model.onnx").write_bytes(b"\x08\x07 not a protobuf")
    code = cli.main(["predict", str(folder), workspace["in.txt"]])
    assert_one_error_line(code, capsys.readouterr().err, str(folder / "model.onnx"), "export the model again")


# --- export: the output folder -------------------------------------------------------------------------------------


def test_export_refuses_a_non_empty_folder_naming_what_is_in_it(workspace, tmp_path, capsys):
    folder = Path(workspace["full_folder"])
    # A model that does not exist: the folder is refused first, before anything is loaded.
    code = cli.main(["export", str(tmp_path / "no-model"), str(folder)])
    assert_one_error_line(code, capsys.readouterr().err, f"{folder} is not empty (it holds keep.txt)", "--overwrite")
    assert sorted(path.name for path in folder.iterdir()) == ["keep.txt"]


def test_export_into_a_file_or_under_one(workspace, tmp_path, capsys):
    no_model = str(tmp_path / "no-model")
    assert_one_error_line(cli.main(["export", no_model, workspace["in.txt"]]), capsys.readouterr().err, "is a file")
    code = cli.main(["export", no_model, os.path.join(workspace["in.txt"], "onnx")])
    assert_one_error_line(code, capsys.readouterr().err, f"{workspace['in.txt']} is a file")


def test_export_overwrite_never_clears_the_model_being_exported(workspace, tmp_path, capsys):
    model = shutil.copytree(workspace["classifier"], tmp_path / "parent" / "model")
    before = sorted(path.name for path in model.iterdir())
    for output in (model, model.parent):
        code = cli.main(["export", str(model), str(output), "--overwrite"])
        assert_one_error_line(code, capsys.readouterr().err, "holds the model being exported")
    assert sorted(path.name for path in model.iterdir()) == before


def test_export_overwrite_clears_the_folder_then_exports(workspace, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    folder = tmp_path / "onnx"
    (folder / "old-run").mkdir(parents=True)
    (folder / "old-run" / "stale.bin").write_bytes(b"x")
    (folder / "notes.txt").write_text("stale")
    assert cli.main(["export", workspace["classifier"], str(folder), "--overwrite"]) == 0
    names = {path.name for path in folder.iterdir()}
    assert {"model.onnx", "config.json", "onnx_export.json"} <= names and not names & {"old-run", "notes.txt"}
    assert json.loads((folder / "onnx_export.json").read_text())["opset"] == 18


def test_export_to_an_opset_the_model_cannot_use_is_refused_not_mislabelled(workspace, tmp_path, capsys):
    """torch falls back to its own opset when conversion fails; the record would have said the one asked for."""
    pytest.importorskip("onnxruntime")
    code = cli.main(["export", workspace["classifier"], str(tmp_path / "onnx"), "--opset", "14"])
    err = assert_one_error_line(code, capsys.readouterr().err, "could not convert", "to opset 14", "try --opset 18")
    assert "wrote opset 18" in err and not (tmp_path / "onnx" / "model.onnx").exists()


# --- student ------------------------------------------------------------------------------------------------------


def test_student_refuses_to_write_over_its_teacher(workspace, tmp_path, capsys):
    teacher = shutil.copytree(workspace["base"], tmp_path / "teacher")
    weights = (teacher / "model.safetensors").read_bytes()
    code = cli.main(["student", str(teacher), str(teacher)])
    assert_one_error_line(code, capsys.readouterr().err, "is the teacher's folder")
    assert (teacher / "model.safetensors").read_bytes() == weights
    code = cli.main(["student", str(teacher), workspace["in.txt"]])
    assert_one_error_line(code, capsys.readouterr().err, f"{workspace['in.txt']} is a file")
    code = cli.main(["student", str(teacher), str(tmp_path / "out"), "--layers", "0", "5"])
    assert_one_error_line(code, capsys.readouterr().err, "--layers [5] out of range: the teacher has layers 0..1")


# --- compare and card: run folders written by train.py ------------------------------------------------------------


def compare(*runs: str, output: str) -> list[str]:
    return ["compare", *(word for run in runs for word in ("--run", run)), "--output", output]


def test_compare_run_folders_that_are_missing_files_or_not_finished(workspace, tmp_path, capsys):
    good = f"a={workspace['run_a']}"
    report = str(tmp_path / "report")
    empty = tmp_path / "empty-run"
    empty.mkdir()
    cases = [
        (f"b={workspace['missing']}", "no such folder"),
        (f"b={workspace['in.txt']}", "is a file; pass the output folder"),
        (f"b={empty}", f"no results.json in {empty}"),
        (f"b={workspace['run_damaged']}", "results.json: not valid JSON"),
    ]
    for run, expected in cases:
        assert_one_error_line(cli.main(compare(good, run, output=report)), capsys.readouterr().err, expected)
    assert not os.path.exists(report)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("predictions_test.npz", b"PK\x03\x04 cut", "cannot read it"),
        ("model.safetensors", b"\xff" * 12, "cannot read the weights"),
        ("distillation.json", b'{"teacher": 3}', "teacher must be a string, found a number"),
        ("trainer_state.json", b'{"log_history": [{"epoch": 1, "loss": "high"}]}', "log_history[0].loss must be"),
        ("results.json", b"\xff\xfe{}", "not UTF-8 text"),
    ],
)
def test_compare_damaged_files_in_a_run_folder_are_named(name, content, expected, workspace, tmp_path, capsys):
    run = Path(finished_run(tmp_path / "run"))
    (run / name).write_bytes(content)
    code = cli.main(compare(f"a={workspace['run_a']}", f"b={run}", output=str(tmp_path / "report")))
    assert_one_error_line(code, capsys.readouterr().err, str(run / name), expected, "the run may not have finished")


def test_compare_run_without_its_primary_test_metric(workspace, tmp_path, capsys):
    run = finished_run(tmp_path / "run", test_metrics={"test_loss": 0.4})
    code = cli.main(compare(f"a={workspace['run_a']}", f"b={run}", output=str(tmp_path / "report")))
    assert_one_error_line(code, capsys.readouterr().err, "has no test_accuracy", "the run may not have finished")


def test_compare_output_that_is_a_file_is_refused_before_reading_runs(workspace, tmp_path, capsys):
    code = cli.main(compare(f"a={workspace['missing']}", "b=nowhere", output=workspace["in.txt"]))
    assert_one_error_line(code, capsys.readouterr().err, f"--output {workspace['in.txt']} is a file")


def test_card_errors_name_the_folder_or_file(workspace, tmp_path, capsys):
    assert_one_error_line(cli.main(["card", workspace["missing"]]), capsys.readouterr().err, "no such folder")
    assert_one_error_line(cli.main(["card", workspace["in.txt"]]), capsys.readouterr().err, "is a file")
    run = Path(finished_run(tmp_path / "run"))
    for content, expected in [(b"", "the file is empty"), (b"\xe9t\xe9", "not UTF-8 text"), (b"[1]", "top level")]:
        (run / "results.json").write_bytes(content)
        code = cli.main(["card", str(run)])
        assert_one_error_line(code, capsys.readouterr().err, str(run / "results.json"), expected)
    code = cli.main(["card", workspace["run_a"], "--push", "--hub_endpoint", "http://[::1"])
    assert_one_error_line(code, capsys.readouterr().err, "--hub_endpoint 'http://[::1' is not a valid URL")


# --- Stopped from outside: one line, exit 143, no half-written output -----------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigterm_during_predict_is_one_line_and_leaves_no_partial_output(workspace, tmp_path):
    """A real process stopped while it waits for input: exit 143, one line, and --output neither half nor temporary."""
    output = tmp_path / "p.jsonl"
    command = [sys.executable, "-m", "trainer_tasks.commands.main", "predict", workspace["classifier"], "-", "--output",
               str(output), "--precision", "fp32", "--no_progress"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        process.stdin.write("a first text\n")
        process.stdin.flush()
        for line in process.stderr:  # the model is loaded (its last log line is the fast path) and stdin is read
            if "fast path:" in line:
                break
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait(timeout=60) == 143
    finally:
        process.kill()
    assert rest.count("\n") == 1 and rest.startswith("terminated (SIGTERM): "), rest
    assert "holds no partial predictions" in rest
    assert list(tmp_path.iterdir()) == []


def test_predict_reads_a_whole_gzip_file_like_plain_text(workspace, tmp_path, capsys):
    """The counterpart of the cut-gzip tests (test_cli_fuzz.py): the whole file is read, row for row."""
    path = tmp_path / "texts.txt.gz"
    path.write_bytes(gzip.compress(("\n".join(TEXTS) + "\n").encode()))
    assert cli.main(["predict", workspace["classifier"], str(path), "--no_progress"]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == TEXTS
