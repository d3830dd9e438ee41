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
from typing import Callable

from peftbench.sweep.launch import start_worker, worker_args
from peftbench.sweep.outcome import Outcome, from_exit_code
from peftbench.sweep.plan import PlannedRun
from peftbench.sweep.state import log_file


@dataclass(frozen=True)
class Slot:
    gpu: str | None
    threads: int | None

    def env(self) -> dict[str, str]:
        env = {}
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
        if self.threads:
            env.update(PEFTBENCH_THREADS=str(self.threads), OMP_NUM_THREADS=str(self.threads),
                       MKL_NUM_THREADS=str(self.threads))
        return env


def visible_gpus() -> list[str]:
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def make_slots(jobs: int | None, runs_per_gpu: int) -> list[Slot]:
    gpus = visible_gpus()
    if gpus:
        slots = [Slot(gpu, None) for gpu in gpus for _ in range(runs_per_gpu)]
        return slots[:jobs] if jobs else slots
    jobs = jobs or 1
    return [Slot(None, max(1, cpu_cores() // jobs))] * jobs


def run_local(
    runs: list[PlannedRun], output_dir: Path, slots: list[Slot], max_steps: int | None, sets: list[str],
    on_change: Callable[[dict[str, Outcome], set[str]], None], poll: float = 0.1,
) -> dict[str, Outcome]:
    """Run every planned run; returns an Outcome per run key. `on_change(outcomes, running)` redraws."""
    queue = list(runs)
    free = list(range(len(slots)))
    active: dict[str, tuple] = {}  # key -> (process, slot index, planned, started)
    outcomes: dict[str, Outcome] = {}
    try:
        while queue or active:
            while queue and free:
                planned, index = queue.pop(0), free.pop(0)
                args = worker_args(planned, output_dir, max_steps, sets)
                proc = start_worker(args, slots[index].env(), log_file(output_dir, planned.task, planned.stem))
                active[planned.key] = (proc, index, planned, time.perf_counter())
            for key, (proc, index, planned, started) in list(active.items()):
                if proc.poll() is not None:
                    outcomes[key] = from_exit_code(proc.returncode, planned, output_dir, time.perf_counter() - started)
                    free.append(index)
                    del active[key]
            on_change(outcomes, set(active))
            time.sleep(poll if active else 0)
    except KeyboardInterrupt:
        # Ctrl-C reached the workers too (same process group): give them time to write their records.
        for proc, *_ in active.values():
            try:
                proc.wait(timeout=60)
            except Exception:
                proc.kill()
        raise
    return outcomes
