"""Tasks: each is a package here (`minimath/`, `metamathqa/`, `minigen/`, `imagegen/`) that registers
itself with `@register_task` (see `registry.py`); `common/` holds data sources they share."""

from peftbench.tasks.registry import TaskSpec, get_task, register_task, task_names, task_spec

__all__ = ["TaskSpec", "get_task", "register_task", "task_names", "task_spec"]
