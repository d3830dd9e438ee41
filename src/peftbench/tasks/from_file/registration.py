"""Task files become tasks: registering one puts a `TaskSpec` in the registry, so planning, sweeps,
workers and the pipeline treat it exactly like a built-in task.

A command registers a task file when it is given one (`--task-file PATH`) or finds one beside the
experiments (`experiments/<task>/task.yaml`, see `Experiment.task_file`). Registering the same file
again is a no-op; a second file, or a built-in task, under the same name is an error.
"""

from __future__ import annotations

from pathlib import Path

from peftbench.planning.config import TrainConfig
from peftbench.errors import UserError
from peftbench.tasks.from_file.task import load_task_file
from peftbench.tasks.registry import TaskSpec, register_task, registered

_BY_PATH: dict[Path, TaskSpec] = {}  # resolved task file -> its spec, so a file is read once per process


def register_task_file(path: Path | str) -> TaskSpec:
    """Read, check (its data included) and register the task a task file declares; its spec."""
    path = Path(path)
    key = path.resolve()
    if key in _BY_PATH:
        return _BY_PATH[key]
    task = load_task_file(path)
    taken = registered(task.name)
    if taken is not None:
        by = f"the task file {taken.source}" if taken.source else "a built-in task"
        raise UserError(f"{path}: name: task '{task.name}' is already declared by {by}; "
                        "give this task file another name")
    # One object per file: it caches the loaded splits and chat templates, and holds no per-run state.
    register_task(task.name, kind="text", metric="accuracy", config_model=TrainConfig, defaults=task.defaults,
                  summary=task.spec.description or f"declared by {path}", source=key,
                  fingerprint=task.fingerprint())(lambda: task)
    _BY_PATH[key] = registered(task.name)
    return _BY_PATH[key]
