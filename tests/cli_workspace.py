"""Files for the ``trainer-tasks`` command-line tests: real models, inputs, run folders, and damaged copies.

Everything is built on the spot from the session's tiny BERT (no training): a saved classifier, its
base encoder, three-row inputs in every format ``predict`` reads, and finished-run folders whose
``results.json`` has the schema ``train.py`` writes. ``assert_outcome`` is the contract every test
checks: exit code 0, or 2 with exactly one ``error:`` line and no traceback.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

from classifiers import save_classifier
from test_card import NEWS_TEST, results_for

TEXTS = ["stocks fall as the bank raises rates", "the film star wins an award", "a new vaccine study"]
NEWS_LABELS = ("business", "science/tech", "entertainment", "health")


def assert_outcome(code: int, err: str) -> list[str]:
    """0, or 2 with one ``error:`` line (the last one) and no traceback; returns the error lines."""
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if code == 0:
        assert not errors, err
        return errors
    assert code == 2, f"exit code {code}: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return errors


def assert_one_error_line(code: int, err: str, *expected: str) -> str:
    """Exit code 2 and a stderr that is exactly one ``error:`` line containing each of ``expected``."""
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    for text in expected:
        assert text in err, f"{text!r} not in {err!r}"
    return err


def finished_run(folder: Path, test_metrics: dict | None = None) -> str:
    """A finished news run's folder: ``results.json`` as ``train.py`` writes it (no weights needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    results = results_for("news", NEWS_TEST if test_metrics is None else test_metrics)
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return str(folder)


def build_workspace(root: Path, tiny_bert: str) -> dict[str, str]:
    """Every path the command-line tests hand to ``trainer-tasks``, good and bad, by name."""
    root.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    paths["classifier"] = save_classifier(tiny_bert, str(root / "classifier"), NEWS_LABELS, False)
    paths["base"] = shutil.copytree(tiny_bert, root / "base-encoder").as_posix()  # no head: refused by predict
    no_tokenizer = shutil.copytree(paths["classifier"], root / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (no_tokenizer / name).unlink()
    paths["no_tokenizer"] = str(no_tokenizer)
    cut_weights = shutil.copytree(paths["classifier"], root / "cut-weights")
    weights = (cut_weights / "model.safetensors").read_bytes()
    (cut_weights / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    paths["cut_weights"] = str(cut_weights)
    bad_config = shutil.copytree(paths["classifier"], root / "bad-config")
    (bad_config / "config.json").write_text('{"model_type": "bert", ')
    paths["bad_config"] = str(bad_config)

    (root / "in.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    (root / "in.csv").write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(TEXTS)), encoding="utf-8")
    (root / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    with gzip.open(root / "in.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(TEXTS) + "\n")
    (root / "cut.txt.gz").write_bytes((root / "in.txt.gz").read_bytes()[:20])
    (root / "latin1.txt").write_bytes("café crème\n".encode("latin-1"))
    (root / "empty.csv").write_bytes(b"")
    for name in ("in.txt", "in.csv", "in.jsonl", "in.txt.gz", "cut.txt.gz", "latin1.txt", "empty.csv"):
        paths[name] = str(root / name)

    paths["folder"] = str(root / "a-folder")
    os.makedirs(paths["folder"])
    paths["full_folder"] = str(root / "full-folder")
    os.makedirs(paths["full_folder"])
    Path(paths["full_folder"], "keep.txt").write_text("not an export")
    paths["missing"] = str(root / "no-such-thing")
    paths["run_a"] = finished_run(root / "run-a")
    paths["run_b"] = finished_run(root / "run-b")
    damaged = root / "run-damaged"
    damaged.mkdir()
    text = json.dumps(results_for("news", NEWS_TEST), indent=2)
    (damaged / "results.json").write_text(text[: len(text) // 2])
    paths["run_damaged"] = str(damaged)
    return paths
