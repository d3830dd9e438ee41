"""The local executor: N worker processes at a time on this machine.

On CUDA each run gets its own GPU (`CUDA_VISIBLE_DEVICES`), or a share of one with --runs-per-gpu;
on CPU the cores are split between concurrent runs (each gets cores // jobs threads), because two
runs that each think they own every core slow each other down several-fold.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from peftbench.system.signals import Terminated
from peftbench.sweep.executor import ExecutorOptions, OnChange
from peftbench.sweep.launch import start_worker, worker_args
from peftbench.sweep.outcome import Outcome, from_exit_code
from peftbench.sweep.plan import SweepEntry
from peftbench.system.threads import cpu_cores, thread_env


@dataclass(frozen=True)
class Slot:
    gpu: str | None
    threads: int | None

    def env(self) -> dict[str, str]:
        env = thread_env(self.threads)
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
        return env


def visible_gpus() -> list[str]:
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def make_slots(jobs: int | None, runs_per_gpu: int) -> list[Slot]:
    gpus = visible_gpus()
    if gpus:
        slots = [Slot(gpu, None) for gpu in gpus for _ in range(runs_per_gpu)]
        return slots[:jobs] if jobs else slots
    jobs = jobs or 1
    return [Slot(None, max(1, cpu_cores() // jobs))] * jobs


class LocalExecutor:
    """N worker processes at a time on this machine (`ExecutorOptions.jobs`, `runs_per_gpu`)."""

    def __init__(self, options: ExecutorOptions, poll: float = 0.1):
        self.slots = make_slots(options.jobs, options.runs_per_gpu)
        self.tracking = options.tracking
        self.poll = poll

    def run(self, runs: list[SweepEntry], output_dir: Path, on_change: OnChange) -> dict[str, Outcome]:
        queue = list(runs)
        free = list(range(len(self.slots)))
        active: dict[str, tuple] = {}  # key -> (worker, slot index, planned, started)
        outcomes: dict[str, Outcome] = {}
        try:
            while queue or active:
                while queue and free:
                    planned, index = queue.pop(0), free.pop(0)
                    worker = start_worker(worker_args(planned, output_dir, self.tracking), self.slots[index].env())
                    active[planned.key] = (worker, index, planned, time.perf_counter())
                for key, (worker, index, planned, started) in list(active.items()):
                    if worker.proc.poll() is not None:
                        outcomes[key] = from_exit_code(worker.proc.returncode, planned, output_dir,
                                                       time.perf_counter() - started, early=worker.early_output())
                        free.append(index)
                        del active[key]
                on_change(outcomes, set(active))
                time.sleep(self.poll if active else 0)
        except (KeyboardInterrupt, Terminated) as stop:
            if isinstance(stop, Terminated):  # SIGTERM reached the driver alone: pass it on to the workers
                for worker, *_ in active.values():
                    worker.proc.terminate()
            _wait_for_records(active.values())
            raise
        return outcomes


def _wait_for_records(active) -> None:
    """Ctrl-C reached the workers too (same process group), SIGTERM was passed on: give them time to
    write their records."""
    for worker, *_ in active:
        try:
            worker.proc.wait(timeout=60)
        except Exception:
            worker.proc.kill()
