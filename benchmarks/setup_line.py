"""The line every benchmark prints first: when, on what machine and load, with which software."""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib import metadata


def setup_line() -> str:
    import torch

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("torch", "transformers", "peft"))
    return (f"date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}; "
            f"{versions}; torch threads {torch.get_num_threads()}")


def begin(experiment: str, threads: int | None):
    """Set the torch thread count asked for, plan the experiment and print the setup line: (run, cfg, task)."""
    import torch

    from peftbench.planning.plan import plan_run

    if threads:
        torch.set_num_threads(threads)
    run = plan_run(experiment)
    print(setup_line())
    return run, run.cfg, run.spec.create()
