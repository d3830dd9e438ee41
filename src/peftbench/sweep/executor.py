"""Executors run a sweep's planned runs somewhere: this machine's processes (`local`) or a Ray cluster
(`ray`). Each is built from one `ExecutorOptions` and returns an `Outcome` per run; a new backend (e.g.
SLURM through submitit) is one more class with the same `run` method and one line in `driver.make_executor`.

Every executor starts the same worker process per run (`launch.start_worker`), so a run's memory
figures are its own and a run writes its own result, wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Protocol

from peftbench.errors import UserError
from peftbench.sweep.outcome import Outcome
from peftbench.sweep.plan import SweepEntry
from peftbench.telemetry.trackers import Tracking

OnChange = Callable[[dict[str, Outcome], set[str]], None]  # (outcomes so far, keys running now)


class ExecutorKind(str, Enum):
    local = "local"
    ray = "ray"


@dataclass(frozen=True)
class ExecutorOptions:
    """Where and how many runs at a time (and what every run reports to); the sweep's CLI options map
    onto these one to one."""

    kind: ExecutorKind = ExecutorKind.local
    jobs: int | None = None  # runs at a time; None: local -> one per GPU (1 on CPU), ray -> the cluster's
    runs_per_gpu: int = 1  # local, CUDA: runs sharing one GPU
    ray_address: str | None = None  # ray: join this cluster; None -> a private local instance
    cpus_per_run: int | None = None  # ray: CPUs each run asks for
    gpus_per_run: float | None = None  # ray: GPUs each run asks for
    tracking: Tracking = Tracking()  # --report-to: every worker logs its run to these trackers

    def __post_init__(self):
        if self.ray_address and self.kind is not ExecutorKind.ray:
            raise UserError("--ray-address needs --executor ray")


class Executor(Protocol):
    def run(self, runs: list[SweepEntry], output_dir: Path, on_change: OnChange) -> dict[str, Outcome]:
        """Run every planned run; an Outcome per run key. `on_change` is called as runs start and end."""
        ...
