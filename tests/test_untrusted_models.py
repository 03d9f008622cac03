"""Untrusted checkpoints: weights load from safetensors only, pickles and shipped code only on request.

The pickles here are real ``torch.save`` files, one of them booby-trapped: unpickled without
restrictions it would create a marker file, so the tests can see that nothing ran.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from conftest import train_args
from safetensors.torch import load_file

import train
from tasks import TaskError, get_task
from trainer_tasks.training.arguments import ModelArguments
from trainer_tasks.training.modeling import load_model


class Trap:
    """Unpickling this runs ``os.system``: the classic payload of a malicious pytorch_model.bin."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def copy_as_pickle(source: str, folder: str, trap: str | None = None, keep_safetensors: bool = False) -> str:
    """A copy of ``source`` whose weights are a pickled state dict (maybe trapped), as old checkpoints ship."""
    shutil.copytree(source, folder)
    state = load_file(os.path.join(folder, "model.safetensors"))
    payload = {**state, "trap": Trap(trap)} if trap else state
    torch.save(payload, os.path.join(folder, "pytorch_model.bin"))
    if not keep_safetensors:
        os.remove(os.path.join(folder, "model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def pickled_bert(tmp_path_factory, tiny_bert) -> str:
    return copy_as_pickle(tiny_bert, str(tmp_path_factory.mktemp("pickle") / "model"))


def test_safetensors_checkpoint_loads_by_default(tiny_bert):
    model = load_model(ModelArguments(model_name_or_path=tiny_bert), get_task("news"))
    assert model.config.num_labels == 4


def test_pickle_only_checkpoint_is_refused_with_the_way_out(tmp_path, pickled_bert, news_csv):
    expected = r"only as a pickle \(pytorch_model\.bin\).*save_pretrained.*--allow_pickle_weights"
    with pytest.raises(TaskError, match=expected):
        train.main(["--task", "news", "--data_files", news_csv, *train_args(pickled_bert, str(tmp_path))])
    assert not os.listdir(tmp_path)  # refused before anything was written


def test_pickle_only_checkpoint_trains_when_the_user_opts_in(tmp_path, pickled_bert, news_csv):
    flags = train_args(pickled_bert, str(tmp_path), "--num_train_epochs", "1", "--max_train_samples", "64")
    results = train.main(["--task", "news", "--data_files", news_csv, *flags, "--allow_pickle_weights"])
    assert results["training"]["global_steps"] == 4
    # what it saves is safetensors again
    assert os.path.isfile(tmp_path / "model.safetensors") and not os.path.isfile(tmp_path / "pytorch_model.bin")


def test_a_trapped_pickle_beside_safetensors_is_never_unpickled(tmp_path, tiny_bert):
    marker = tmp_path / "PWNED"
    folder = copy_as_pickle(tiny_bert, str(tmp_path / "model"), trap=str(marker), keep_safetensors=True)
    for allow in (False, True):  # safetensors win even when pickles are allowed
        load_model(ModelArguments(model_name_or_path=folder, allow_pickle_weights=allow), get_task("news"))
    assert not marker.exists()


def test_a_trapped_pickle_is_refused_even_when_pickles_are_allowed(tmp_path, tiny_bert):
    marker = tmp_path / "PWNED"
    folder = copy_as_pickle(tiny_bert, str(tmp_path / "model"), trap=str(marker))
    with pytest.raises(TaskError, match="only as a pickle"):
        load_model(ModelArguments(model_name_or_path=folder), get_task("news"))
    with pytest.raises(TaskError, match=r"hold more than tensors.*weights_only=True"):
        load_model(ModelArguments(model_name_or_path=folder, allow_pickle_weights=True), get_task("news"))
    assert not marker.exists()
    torch.load(os.path.join(folder, "pytorch_model.bin"), weights_only=False)  # what a plain unpickle does
    assert marker.exists(), "the trap is armed: unrestricted unpickling runs its code"


def test_code_shipped_with_a_checkpoint_does_not_run_without_trust_remote_code(tmp_path, tiny_bert, news_csv):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_bert, folder)
    marker = tmp_path / "EXECUTED"
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="my-custom-bert",
        auto_map={"AutoConfig": "custom.Config", "AutoModelForSequenceClassification": "custom.Model"},
    )
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(TaskError, match=r"ships its own Python code.*--trust_remote_code only if you trust"):
        train.main(["--task", "news", "--data_files", news_csv, *train_args(str(folder), str(tmp_path / "out"))])
    assert not marker.exists()
    assert ModelArguments().trust_remote_code is False and ModelArguments().allow_pickle_weights is False
