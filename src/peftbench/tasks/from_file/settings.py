"""The training defaults of a task file, under its own `training:` section.

They are the built-in `minimath` task's (the offline model, CPU-sized steps and batches), so a task file
with no `training:` section runs on a laptop; only the data sizes and the prompt differ. A task file's
parameters are validated by `TrainConfig` itself: its data section (`train_size`, `valid_size`,
`test_size`, forgetting sizes) caps splits the file already defines, and task-specific keys of the
built-in tasks (`gsm8k_test_size`, `sources`) mean nothing here.
"""

from __future__ import annotations

from peftbench.tasks.minimath import DEFAULTS as _MINIMATH

# The prompt is rendered by the task itself (templates with any column, or the chat template), so the
# pipeline's query template passes it through unchanged.
TEXT_DEFAULTS = {
    **{key: value for key, value in _MINIMATH.items() if key not in ("data", "query_template")},
    "query_template": "{query}",
    "data": {"train_size": None, "valid_size": 50, "test_size": None, "forgetting_size": 16, "forgetting_max_tokens": 128},
}
