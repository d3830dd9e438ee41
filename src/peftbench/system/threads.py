"""CPU thread settings: how an executor tells a run how many threads it may use, and how the run obeys.

Two runs that each think they own every core slow each other down several-fold, so executors split the
cores (`thread_env`) and the run applies the split (`apply_thread_limit`), capped further by its task's
own limit (a task whose ops are too small to gain from more threads)."""

from __future__ import annotations

import os

ENV = "PEFTBENCH_THREADS"


def thread_env(threads: int | None) -> dict[str, str]:
    """Environment for a child process limited to `threads` (None: no limit)."""
    if not threads:
        return {}
    value = str(threads)
    return {ENV: value, "OMP_NUM_THREADS": value, "MKL_NUM_THREADS": value}


def apply_thread_limit(task_limit: int | None = None) -> None:
    """Set torch's thread count to the executor's split and the task's cap, whichever is lower; with
    neither, leave torch's default (every core)."""
    limits = [n for n in (int(os.environ.get(ENV, "0") or 0), task_limit or 0) if n > 0]
    if limits:
        import torch

        torch.set_num_threads(min(limits))


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
