"""Publishing over HTTP: real train.py runs push to the FAKE Hub of tests/fake_hub.py on 127.0.0.1, then the
real client downloads the repo and pipeline() must predict what the local folder predicts.

Neither huggingface_hub nor the Trainer is patched: HF_ENDPOINT or --hub_endpoint points them at the fake,
and HF_HUB_DISABLE_XET=1 makes the client take its plain LFS upload path (the fake does not speak Xet).
The clients run in subprocesses because conftest sets HF_HUB_OFFLINE=1 for this process, and
huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
from conftest import ROOT, train_args
from fake_hub import FakeHub
from huggingface_hub import ModelCard

from tasks import TaskError
from trainer_tasks.training.arguments import TaskTrainingArguments

TOKEN = "hf_PLANTEDdoNotLeak0123456789abcdef"
USER = "tester"
TOXIC_TEXTS = ["thanks for the citation, good edit", "stupid idiot moron kill hurt", "you damn crap idiot"]
NEWS_TEXTS = ["stocks market profit shares", "film star movie album", "ebola vaccine hospital study"]

ROUND_TRIP = r"""
import contextlib, io, json, re, sys
from huggingface_hub import ModelCard, snapshot_download
from transformers import pipeline

repo_id, local, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
remote = pipeline("text-classification", model=repo_id, top_k=None)(texts)  # from_pretrained(repo_id)
snapshot = snapshot_download(repo_id)
from_snapshot = pipeline("text-classification", model=snapshot, top_k=None)(texts)
here = pipeline("text-classification", model=local, top_k=None)(texts)
usage = re.search(r"```python\n(.*?)```", ModelCard.load(repo_id).text, re.S).group(1)
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    exec(usage, {})  # the card's own "How to use" code, as written, against the Hub it was pushed to
print(json.dumps({"remote": remote, "snapshot": from_snapshot, "local": here, "usage": printed.getvalue()}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(tmp / "hf-home"),  # own cache, and no stored login to fall back on
        "OMP_NUM_THREADS": "1",
    }
    for name in ("HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        env.pop(name, None)
    return {**env, **extra}


def run(command: list[str], env: dict[str, str], expect: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == expect, done.stderr[-4000:]
    return done


def card_command(folder: Path) -> list[str]:
    return [sys.executable, "-m", "trainer_tasks.commands.main", "card", str(folder), "--push"]


def round_trip(env: dict[str, str], repo_id: str, local: Path, texts: list[str]) -> dict:
    done = run([sys.executable, "-c", ROUND_TRIP, repo_id, str(local), json.dumps(texts)], env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_same_predictions(got: list, expected: list) -> None:
    for got_row, expected_row in zip(got, expected, strict=True):
        assert [s["label"] for s in got_row] == [s["label"] for s in expected_row]
        assert [s["score"] for s in got_row] == pytest.approx([s["score"] for s in expected_row], abs=1e-6)


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def hub():
    with FakeHub({TOKEN: USER}, port=free_port()) as fake:
        yield fake


@pytest.fixture(scope="module")
def toxic_push(hub, tmp_path_factory, tiny_distilbert, toxic_csv):
    """2 processes under accelerate launch, --hub_strategy checkpoint; endpoint and token from the environment."""
    tmp = tmp_path_factory.mktemp("toxic-push")
    out = tmp / "out"
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "accelerate_configs" / "cpu.yaml"),
        "--num_processes", "2", "--main_process_port", "29633", str(ROOT / "train.py"),
        "--task", "toxic", "--data_files", toxic_csv,
        *train_args(tiny_distilbert, str(out), "--num_train_epochs", "2", "--save_strategy", "epoch"),
        "--push_to_hub", "--hub_strategy", "checkpoint", "--hub_model_id", "toxic-tiny", "--hub_always_push",
    ]  # fmt: skip
    done = run(command, client_env(tmp, HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN))
    return out, done, tmp


@pytest.fixture(scope="module")
def news_refused(hub, tmp_path_factory, tiny_bert, news_csv):
    """One process, a private repo; --hub_endpoint and --hub_token flags; the fake answers 401 to every upload."""
    tmp = tmp_path_factory.mktemp("news-refused")
    out = tmp / "out"
    command = [
        sys.executable, str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv,
        *train_args(tiny_bert, str(out), "--num_train_epochs", "2"),
        "--push_to_hub", "--hub_strategy", "end", "--hub_model_id", "news-tiny", "--hub_private_repo", "true",
        "--hub_endpoint", hub.url, "--hub_token", TOKEN,
    ]  # fmt: skip
    hub.refuse = {"preupload": 401, "lfs": 401, "commit": 401}
    try:
        done = run(command, client_env(tmp), expect=2)
    finally:
        hub.refuse = {}
    return out, done, tmp


@pytest.mark.slow
def test_checkpoint_strategy_pushes_each_epoch_from_rank_zero_then_the_final_folder(hub, toxic_push):
    out, _, _ = toxic_push
    repo_id = f"{USER}/toxic-tiny"
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2 and results["hub"]["model_id"] == repo_id  # full id pinned by the Trainer
    # one process pushes: each save gives one root commit and one last-checkpoint commit, none twice
    assert sorted(hub.commit_titles(repo_id)) == sorted(
        ["initial commit", "End of training"]
        + [f"Training in progress, epoch {epoch}{suffix}" for epoch in (1, 2) for suffix in ("", ", checkpoint")]
    )
    assert hub.count("POST", r"^/api/repos/create$") == 2  # the Trainer's, then the final push's (exist_ok)
    files = hub.files(repo_id)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"):
        assert files[name] == (out / name).read_bytes(), name
    assert files["results.json"] == (out / "results.json").read_bytes()
    assert {"model.safetensors", "training_args.bin", "last-checkpoint/model.safetensors"} <= hub.lfs_paths(repo_id)
    assert hub.count("PUT", r"^/lfs-upload/") >= 2 and hub.count("POST", r"\.git/info/lfs/objects/batch$") >= 1
    for name in ("config.json", "model.safetensors", "tokenizer.json", "optimizer.pt", "trainer_state.json"):
        assert f"last-checkpoint/{name}" in files
    assert not any(path.startswith("checkpoint-") for path in files)
    assert hub.unhandled == []


@pytest.mark.slow
def test_every_push_carries_a_fresh_card(hub, toxic_push):
    out, _, _ = toxic_push
    repo = hub.repos[f"{USER}/toxic-tiny"]
    for commit in repo.commits[1:]:
        card = ModelCard(commit.files["README.md"].data.decode())
        assert card.data.pipeline_tag == "text-classification" and "multi-label" in card.data.tags
        if commit.title.startswith("Training in progress"):
            # The Trainer uploads the output folder in a background thread: the next epoch's save may
            # rewrite the card before an upload reads it. Never stale: at least the commit's epoch.
            epoch = int(commit.title.split("epoch ")[1][0])
            assert any(f"Training in progress (epoch {e} of 2)" in card.text for e in range(epoch, 3))
    checkpoint_card = ModelCard(hub.files(repo.repo_id)["last-checkpoint/README.md"].decode())
    assert "Training in progress (epoch 2 of 2)" in checkpoint_card.text
    last = max(out.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    assert (last / "README.md").read_text() == str(checkpoint_card)


@pytest.mark.slow
def test_pushed_card_model_index_holds_the_results(hub, toxic_push, tmp_path):
    out, _, _ = toxic_push
    results = json.loads((out / "results.json").read_text())
    path = tmp_path / "README.md"
    path.write_bytes(hub.files(f"{USER}/toxic-tiny")["README.md"])
    card = ModelCard.load(path)
    metrics = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert metrics["jaccard_samples"] == results["test_metrics"]["test_jaccard_samples"]
    assert card.data.eval_results[0].metric_type == "jaccard_samples"
    assert card.data.model_name == f"{USER}/toxic-tiny"
    assert "| `identity_hate` | hate towards a group identity" in card.text


@pytest.mark.slow
def test_toxic_round_trip_predictions_equal_the_local_folder(hub, toxic_push):
    out, _, tmp = toxic_push
    got = round_trip(client_env(tmp, HF_ENDPOINT=hub.url), f"{USER}/toxic-tiny", out, TOXIC_TEXTS)
    assert_same_predictions(got["remote"], got["local"])
    assert_same_predictions(got["snapshot"], got["local"])
    assert all(len(row) == 6 for row in got["remote"])
    assert len(got["usage"].strip().splitlines()) == 3  # the card's example ran on its three texts


@pytest.mark.slow
def test_refused_push_is_one_clear_line_and_leaves_a_complete_folder(hub, news_refused):
    out, done, _ = news_refused
    assert "Traceback" not in done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: push of {out} to {hub.url}/{USER}/news-tiny failed: HTTP 401")
    assert "refused the token" in error and f"trainer-tasks card {out} --push" in error
    for name in ("config.json", "model.safetensors", "tokenizer.json", "results.json", "results.md", "README.md"):
        assert (out / name).is_file(), name
    assert hub.commit_titles(f"{USER}/news-tiny") == ["initial commit"]  # created at start, nothing uploaded
    assert hub.repos[f"{USER}/news-tiny"].private


@pytest.mark.slow
def test_retry_after_the_endpoint_was_down_pushes_the_folder_as_is(hub, news_refused):
    out, _, tmp = news_refused
    before = tree_digest(out)
    env = client_env(tmp, HF_TOKEN=TOKEN)  # the endpoint comes from results.json, the token from HF_TOKEN
    hub.stop()
    try:
        down = run(card_command(out), env, expect=2)
    finally:
        hub.start()
    assert "Traceback" not in down.stderr
    assert f"failed: cannot reach {hub.url} (ConnectError" in down.stderr.strip().splitlines()[-1]
    assert tree_digest(out) == before
    run(card_command(out), env)
    assert tree_digest(out) == before  # the re-rendered card is byte for byte the one train.py wrote
    repo_id = f"{USER}/news-tiny"
    files = hub.files(repo_id)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "results.json", "README.md"):
        assert files[name] == (out / name).read_bytes(), name
    card = ModelCard(files["README.md"].decode())
    results = json.loads((out / "results.json").read_text())
    accuracy = {r.metric_type: r.metric_value for r in card.data.eval_results}["accuracy"]
    assert accuracy == results["test_metrics"]["test_accuracy"]
    got = round_trip(client_env(tmp, HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN), repo_id, out, NEWS_TEXTS)  # private
    assert_same_predictions(got["remote"], got["local"])
    assert all(len(row) == 4 for row in got["remote"]) and len(got["usage"].strip().splitlines()) == 3


@pytest.mark.slow
def test_a_folder_holding_the_token_is_never_uploaded(hub, news_refused, tmp_path):
    """Whatever wrote it there, a token in any file of the folder stops the push before a byte is sent."""
    out, _, _ = news_refused
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "notes.txt").write_text(f"pasted by mistake: {TOKEN}\n")
    repo_id = f"{USER}/news-tiny"
    commits = hub.commit_titles(repo_id)
    refused = run(card_command(copy), client_env(tmp_path, HF_TOKEN=TOKEN), expect=2)
    error = refused.stderr.strip().splitlines()[-1]
    assert "contain the Hub token" in error and str(copy / "notes.txt") in error
    assert TOKEN not in refused.stderr + refused.stdout
    assert hub.commit_titles(repo_id) == commits


@pytest.mark.slow
def test_unreachable_endpoint_stops_the_run_before_training(tmp_path, tiny_bert, news_csv):
    dead = f"http://127.0.0.1:{free_port()}"
    command = [
        sys.executable, str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv,
        *train_args(tiny_bert, str(tmp_path / "out")), "--push_to_hub", "--hub_endpoint", dead,
    ]  # fmt: skip
    done = run(command, client_env(tmp_path, HF_TOKEN=TOKEN), expect=2)
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: creating Hub repo 'out' at {dead} failed: cannot reach {dead}")
    assert "Nothing was trained" in error and not (tmp_path / "out" / "results.json").exists()


@pytest.mark.slow
def test_the_token_is_nowhere(hub, toxic_push, news_refused):
    planted = TOKEN.encode()
    pushed = [stored.data for repo in hub.repos.values() for commit in repo.commits for stored in commit.files.values()]
    assert len(pushed) > 20 and not any(planted in data for data in pushed + list(hub.lfs_objects.values()))
    for out, done, _ in (toxic_push, news_refused):
        assert TOKEN not in done.stdout and TOKEN not in done.stderr
        for path in out.rglob("*"):
            assert not path.is_file() or planted not in path.read_bytes(), path
    # --hub_token was used (the repo was created by its user), yet training_args.bin does not hold it
    args = torch.load(news_refused[0] / "training_args.bin", weights_only=False)
    assert args.hub_token is None and args.hub_model_id == f"{USER}/news-tiny"
    assert f"{USER}/news-tiny" in hub.repos


def test_pickled_training_arguments_leave_the_token_out(tmp_path):
    args = TaskTrainingArguments(output_dir=str(tmp_path), hub_token=TOKEN, report_to="none")
    torch.save(args, tmp_path / "training_args.bin")
    assert TOKEN.encode() not in (tmp_path / "training_args.bin").read_bytes()
    loaded = torch.load(tmp_path / "training_args.bin", weights_only=False)
    assert loaded.hub_token is None and loaded.learning_rate == args.learning_rate
    assert args.hub_token == TOKEN  # the live arguments still push with it


def test_hub_endpoint_must_be_a_url(tmp_path):
    with pytest.raises(TaskError, match="--hub_endpoint must be an http"):
        TaskTrainingArguments(output_dir=str(tmp_path), hub_endpoint="127.0.0.1:8080", report_to="none")


def hub_reachable() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_real_hub_round_trip(tmp_path, tiny_bert, news_csv):
    """Against huggingface.co itself: runs only with HF_TOKEN and network, and reports skipped otherwise."""
    token = os.environ.get("HF_TOKEN")
    if not token:
        pytest.skip("real-Hub test: HF_TOKEN is not set")
    if not hub_reachable():
        pytest.skip("real-Hub test: huggingface.co cannot be reached")
    env = client_env(tmp_path, HF_TOKEN=token)
    env.pop("HF_HUB_DISABLE_XET")  # the real Hub speaks Xet
    out = tmp_path / "out"
    name = f"trainer-tasks-test-{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable, str(ROOT / "train.py"), "--task", "news", "--data_files", news_csv,
        *train_args(tiny_bert, str(out), "--num_train_epochs", "1"),
        "--push_to_hub", "--hub_strategy", "end", "--hub_model_id", name, "--hub_private_repo", "true",
    ]  # fmt: skip
    run(command, env)
    repo_id = json.loads((out / "results.json").read_text())["hub"]["model_id"]
    try:
        got = round_trip(env, repo_id, out, NEWS_TEXTS)
        assert_same_predictions(got["remote"], got["local"])
    finally:
        delete = f"from huggingface_hub import HfApi; HfApi().delete_repo({repo_id!r}, missing_ok=True)"
        run([sys.executable, "-c", delete], env)
