"""The README's "Adding a task" example works as written, and its commands are what CI runs."""

import re
from pathlib import Path

from conftest import ROOT

from tasks import DataConfig, get_task

README = (ROOT / "README.md").read_text()


def test_readme_task_example_is_a_working_task(tmp_path):
    code = re.search(r"```python\n(# my_task\.py\n.*?)```", README, re.S).group(1)
    path = tmp_path / "my_task.py"
    path.write_text(code)
    rows = "\n".join(
        f"review number {i} {'great' if i % 2 else 'awful'},{'positive' if i % 2 else 'negative'}" for i in range(50)
    )
    data_file = tmp_path / "reviews.csv"
    data_file.write_text("text,label\n" + rows + "\n")
    task = get_task(f"{path}:SENTIMENT")
    splits = task.build_dataset(DataConfig(data_files=(str(data_file),)))
    assert sum(len(s) for s in splits.values()) == 50
    assert splits["train"].features["labels"].names == ["negative", "positive"]


def test_ci_runs_the_readme_commands():
    ci = Path(ROOT / ".ci" / "run").read_text()
    assert "readme_block main-job" in ci and "readme_block tests" in ci
    assert "<!-- main-job -->" in README and "<!-- tests -->" in README
