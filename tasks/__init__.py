"""Task plugins and the registry that finds them.

A task is found by name among, in order: the built-in tasks, tasks that installed packages declare
as entry points in the ``trainer_tasks`` group, and ``path/to/file.py:NAME`` (a Task object in a
file that is not installed at all). Third-party tasks therefore never need to edit this package.
"""

from __future__ import annotations

import importlib.util
import os
from importlib.metadata import entry_points

from tasks.base import DataConfig, Task, TaskError

ENTRY_POINT_GROUP = "trainer_tasks"

__all__ = ["BUILTIN_TASKS", "DataConfig", "Task", "TaskError", "available_tasks", "get_task"]


def builtin_tasks() -> dict[str, Task]:
    """The built-in tasks by name, imported on first use: ``from tasks import TaskError`` (which every
    entry point does) then costs no pandas or numpy, and ``--help`` stays fast."""
    from tasks.news import NEWS
    from tasks.text import TEXT
    from tasks.toxic import TOXIC

    return {task.name: task for task in (TEXT, NEWS, TOXIC)}


def __getattr__(name: str) -> object:
    if name == "BUILTIN_TASKS":  # kept as a module attribute for code that reads it
        return builtin_tasks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _entry_point_tasks() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_tasks() -> list[str]:
    """Names ``--task`` accepts (besides ``file.py:NAME``)."""
    return sorted(set(builtin_tasks()) | set(_entry_point_tasks()))


def _check(task: object, where: str) -> Task:
    if not isinstance(task, Task):
        raise TaskError(f"{where} is a {type(task).__name__}, not a tasks.base.Task")
    return task


def _load_from_file(spec: str) -> Task:
    path, _, attribute = spec.rpartition(":")
    if not os.path.isfile(path):
        raise TaskError(f"--task {spec}: no such file {path!r}")
    module_name = "trainer_tasks_user_task_" + os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise TaskError(f"--task {spec}: {path!r} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, attribute):
        names = [name for name, value in vars(module).items() if isinstance(value, Task)]
        raise TaskError(f"--task {spec}: {path} has no {attribute!r}; Task objects in it: {names}")
    return _check(getattr(module, attribute), f"--task {spec}")


def get_task(name: str) -> Task:
    """The task called ``name``, or ``path/to/file.py:NAME``; a clear error lists the known ones."""
    if ".py:" in name:
        return _load_from_file(name)
    builtin = builtin_tasks()
    if name in builtin:
        return builtin[name]
    plugins = _entry_point_tasks()
    if name in plugins:
        return _check(plugins[name].load(), f"entry point {name!r}")
    raise TaskError(
        f"unknown task {name!r}; known tasks: {', '.join(available_tasks())} "
        "(or pass path/to/file.py:NAME for a Task defined in a file)"
    )
