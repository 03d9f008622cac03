"""Finding tasks: built-in, installed entry points, and path/to/file.py:NAME."""

import sys
import textwrap

import pytest

from tasks import TaskError, available_tasks, get_task

PLUGIN = """
from tasks import Task
from tasks.metrics import single_label_metrics
from tasks.news import build_news

LABELS = ("business", "science/tech", "entertainment", "health")
HEADLINES = Task(
    name="headlines",
    description="News topics again, as a third-party plugin.",
    labels=LABELS,
    problem_type="single_label_classification",
    build_dataset=build_news,
    compute_metrics=single_label_metrics(LABELS),
    primary_metric="accuracy",
)
"""


def test_builtin_tasks():
    assert {"news", "toxic"} <= set(available_tasks())
    assert get_task("news").problem_type == "single_label_classification"
    assert get_task("toxic").problem_type == "multi_label_classification"


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(TaskError, match=r"unknown task 'sentiment'; known tasks: .*news.*toxic"):
        get_task("sentiment")


def test_task_from_a_file(tmp_path):
    path = tmp_path / "my_task.py"
    path.write_text(PLUGIN)
    task = get_task(f"{path}:HEADLINES")
    assert task.name == "headlines" and task.labels[0] == "business"
    with pytest.raises(TaskError, match=r"has no 'NOPE'; Task objects in it: \['HEADLINES'\]"):
        get_task(f"{path}:NOPE")


def test_task_from_an_installed_entry_point(tmp_path, monkeypatch):
    """A real installed distribution (dist-info on sys.path) declaring the trainer_tasks group."""
    (tmp_path / "headlines_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "headlines_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: headlines-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent("""
        [trainer_tasks]
        headlines = headlines_plugin:HEADLINES
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "headlines" in available_tasks()
    assert get_task("headlines").description.startswith("News topics again")
    sys.modules.pop("headlines_plugin", None)
