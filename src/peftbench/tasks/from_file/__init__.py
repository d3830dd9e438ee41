"""Tasks declared in a YAML file: data, columns, prompt, target, scorer, forgetting corpus, defaults.

`register_task_file(path)` makes one a registered task (its `TaskSpec`); `load_task_file(path)` reads
and checks one; `scorer(name)` registers a Python scorer a task file can name. The manual is
docs/tasks-from-files.md.
"""

from peftbench.tasks.from_file.registration import register_task_file
from peftbench.tasks.from_file.scorers import registered_scorers, scorer
from peftbench.tasks.from_file.settings import TEXT_DEFAULTS
from peftbench.tasks.from_file.task import FileTask, load_task_file

__all__ = ["FileTask", "TEXT_DEFAULTS", "load_task_file", "register_task_file", "registered_scorers", "scorer"]
