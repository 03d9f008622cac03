"""transformers' load report: one line when a base checkpoint only lacks the new classification head, else as is."""

from __future__ import annotations

import logging
import os
import shutil

import pytest
from safetensors.torch import load_file, save_file

from tasks import get_task
from trainer_tasks.training.arguments import ModelArguments
from trainer_tasks.training.modeling import load_model


@pytest.fixture
def transformers_records():
    """Records transformers logs (its loggers do not reach pytest's caplog: they stop at their own handler)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    library = logging.getLogger("transformers")
    level = library.level  # earlier in-process runs may have set transformers to errors only
    library.setLevel(logging.WARNING)
    library.addHandler(handler)
    yield records
    library.removeHandler(handler)
    library.setLevel(level)


def test_a_base_checkpoint_gets_one_line_about_its_new_head(tiny_bert, caplog, transformers_records):
    caplog.set_level(logging.INFO, logger="trainer_tasks")
    load_model(ModelArguments(model_name_or_path=tiny_bert), get_task("news"))
    assert not [record for record in transformers_records if "LOAD REPORT" in record.getMessage()]
    lines = [record.getMessage() for record in caplog.records if "classification head" in record.getMessage()]
    assert lines == [
        f"{tiny_bert}: new classification head for 4 labels (classifier.bias, classifier.weight), initialised at "
        "random; this run trains it"
    ]


def test_missing_encoder_weights_keep_transformers_whole_report(tiny_bert, tmp_path, caplog, transformers_records):
    """A checkpoint that lacks more than the head (here the pooler) is worth transformers' full table."""
    folder = str(tmp_path / "no-pooler")
    shutil.copytree(tiny_bert, folder)
    weights = os.path.join(folder, "model.safetensors")
    state = {key: tensor for key, tensor in load_file(weights).items() if "pooler." not in key}
    save_file(state, weights, metadata={"format": "pt"})
    caplog.set_level(logging.INFO, logger="trainer_tasks")
    load_model(ModelArguments(model_name_or_path=folder), get_task("news"))
    (report,) = [record.getMessage() for record in transformers_records if "LOAD REPORT" in record.getMessage()]
    assert "bert.pooler.dense.weight" in report and "classifier.weight" in report
    assert not [record for record in caplog.records if "classification head" in record.getMessage()]
