"""A sweep from plan to outcomes, for every caller: `peftbench sweep`, the presets (`demo`, `smoke`)
and the benchmark scripts. The driver writes its own state file (`.sweep/drivers/<host>-<pid>.state`),
which `peftbench status` reads from any process, and leaves running to the executor."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from peftbench.records.status import CANCELLED, FAILED
from peftbench.sweep.executor import Executor, ExecutorKind, ExecutorOptions, OnChange
from peftbench.sweep.outcome import Outcome
from peftbench.sweep.plan import SweepEntry
from peftbench.sweep.state import driver_file, prune_drivers, write_state


def make_executor(options: ExecutorOptions) -> Executor:
    """The executor `options` names; Ray is imported only when asked for (an extra, and slow to import)."""
    if options.kind is ExecutorKind.ray:
        from peftbench.sweep.ray_exec import RayExecutor

        return RayExecutor(options)
    from peftbench.sweep.local import LocalExecutor

    return LocalExecutor(options)


def run_planned(planned: list[SweepEntry], output_dir: Path | str, options: ExecutorOptions = ExecutorOptions(),
                on_change: OnChange | None = None) -> dict[str, Outcome]:
    """Run the plan's `run` rows with the executor `options` asks for; an Outcome per run key."""
    output_dir = Path(output_dir)
    state = {"command": sys.argv, "host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
             "executor": options.kind.value, "runs": [p.to_dict() for p in planned], "finished": None}
    prune_drivers(output_dir)
    mine = driver_file(output_dir)  # this driver's alone: a second sweep on the folder writes its own
    write_state(mine, state)
    todo = [p for p in planned if p.action == "run"]
    try:
        return make_executor(options).run(todo, output_dir, on_change or (lambda outcomes, running: None))
    finally:
        write_state(mine, {**state, "finished": time.time()})


def failed(outcomes: dict[str, Outcome]) -> list[str]:
    """Keys of runs that failed or were cancelled."""
    return [key for key, o in outcomes.items() if o.state in (FAILED, CANCELLED)]


def sweep_folders(folders: list[Path | str], output_dir: Path | str, overrides: dict | None = None,
                  seeds: list[int] | None = None, options: ExecutorOptions = ExecutorOptions(),
                  on_change: OnChange | None = None) -> tuple[list[SweepEntry], dict[str, Outcome]]:
    """Plan and run experiment folders in one call (benchmark scripts; no live display)."""
    from peftbench.planning.experiment import load_experiment
    from peftbench.sweep.plan import plan_sweep

    planned = plan_sweep([load_experiment(f) for f in folders], seeds, Path(output_dir), overrides)
    return planned, run_planned(planned, output_dir, options, on_change)
