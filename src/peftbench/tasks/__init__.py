"""Task registry: each task is one module that calls `register(name, factory)` on import."""

from __future__ import annotations

import importlib

from peftbench.errors import UserError
from peftbench.tasks.base import Task, registered

# Built-in task modules, imported on first lookup (not at package import, so light modules such as
# peftbench.extract can use peftbench.tasks.base without pulling in every task).
BUILTIN = ("minimath", "metamathqa", "minigen", "imagegen")


def _load_builtin() -> None:
    for name in BUILTIN:
        importlib.import_module(f"peftbench.tasks.{name}")


def get_task(name: str) -> Task:
    _load_builtin()
    factories = registered()
    if name not in factories:
        raise UserError(f"task '{name}': unknown task (known: {', '.join(sorted(factories))})")
    return factories[name]()


def task_names() -> list[str]:
    _load_builtin()
    return sorted(registered())
