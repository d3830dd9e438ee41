"""The task registry: a task's name -> its `TaskSpec` (kind, main metric, config model, defaults, and a
factory for the implementation).

Built-in tasks are the packages of `peftbench.tasks` (`minimath/`, `minigen/`, ...); a user's task is a
YAML task file (`from_file/`), registered the same way when a command is given it or finds it beside the
experiments. Each package's `__init__` is light — config model and defaults, no torch — and registers a factory with `@register_task`;
the factory imports the implementation only when a run needs it. So planning a run, `peftbench params`
or the sweep driver never import torch or diffusers for a task they only configure.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from peftbench.errors import UserError

Kind = Literal["text", "image"]
_NOT_TASKS = {"common", "from_file"}  # shared helpers, and the machinery of task files: not tasks


@dataclass(frozen=True)
class TaskSpec:
    """What the rest of peftbench knows about a task without importing its implementation.

    `metric` is the main metric's name ("accuracy" -> `valid accuracy`, `test accuracy`); `config_model`
    validates a run's parameters (a subclass of `peftbench.planning.config.RunConfig`, `extra="forbid"` so a key
    meaning nothing to this task is refused); `defaults` are deep-merged under an experiment's
    `training_params.json`; `max_threads` caps torch's threads for tasks whose ops are too small to gain
    from more (the executor's split still applies when it is lower). A task declared by a task file names
    it in `source` (a worker registers it again from there), and its `fingerprint` — a hash of the file
    and its data — enters the config hash, so an edited task or data file never passes for a finished run.
    `sizes(cfg)`, optional, says how much data the task can supply under a config, found without a model
    (from the light package or a cheap read of the data): `{dotted size key: how many items the task will
    supply for it}` — what the key asks for (a null key: all there are), or fewer when there are no more.
    Planning refuses a key that asks for more than that, and a `batch_size` above the training examples
    (`data.train_size`), so neither fails, nor is quietly capped, after the model load."""

    name: str
    kind: Kind
    metric: str
    config_model: type
    defaults: dict
    factory: Callable[[], Any]
    summary: str = ""
    max_threads: int | None = None
    source: Path | None = None
    fingerprint: str | None = None
    sizes: Callable[[Any], dict[str, int]] | None = None

    def create(self) -> Any:
        """The task's implementation object (data, scoring, or the image model's hooks): a fresh one for a
        built-in task; a task file's one object, which holds its loaded data and no per-run state."""
        return self.factory()


_SPECS: dict[str, TaskSpec] = {}


def register_task(name: str, *, kind: Kind, metric: str, config_model: type, defaults: dict,
                  summary: str = "", max_threads: int | None = None, source: Path | None = None,
                  fingerprint: str | None = None, sizes: Callable[[Any], dict[str, int]] | None = None) -> Callable:
    """Decorator for a task's factory. Registering a name twice is an error, never a silent overwrite."""

    def decorate(factory: Callable[[], Any]) -> Callable[[], Any]:
        if name in _SPECS:
            raise ValueError(f"task '{name}' is already registered (by {_SPECS[name].factory.__module__})")
        _SPECS[name] = TaskSpec(name, kind, metric, config_model, defaults, factory,
                                summary or (factory.__doc__ or "").strip(), max_threads, source, fingerprint,
                                sizes)
        return factory

    return decorate


def _builtin_packages() -> list[str]:
    import peftbench.tasks as package

    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg and m.name not in _NOT_TASKS)


def _import_builtin(name: str) -> None:
    """Import the package of task `name`: the package of that name, or for a variant `<package>-<what>`
    (minimath-rl: minimath trained with GRPO) the package that registers it beside its own task."""
    package = name if name in _builtin_packages() else name.split("-", 1)[0]
    if package in _builtin_packages():
        importlib.import_module(f"peftbench.tasks.{package}")


def registered(name: str) -> TaskSpec | None:
    """The spec of `name` if a task of that name exists (built-in or registered), else None."""
    if name not in _SPECS:
        _import_builtin(name)
    return _SPECS.get(name)


def task_spec(name: str) -> TaskSpec:
    """The spec of a registered task; imports only that task's light package."""
    spec = registered(name)
    if spec is None:
        raise UserError(f"task '{name}': unknown task (known: {', '.join(task_names())}; a task file is "
                        f"given with --task-file or found as experiments/{name}/task.yaml)")
    return spec


def task_names() -> list[str]:
    for name in _builtin_packages():
        _import_builtin(name)
    return sorted(_SPECS)


def get_task(name: str) -> Any:
    """A fresh implementation object of the task (imports its heavy modules)."""
    return task_spec(name).create()
