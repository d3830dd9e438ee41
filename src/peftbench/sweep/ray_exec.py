"""The Ray executor: each run is a Ray task holding the resources it asked for (1 GPU, or CPUs on a
CPU cluster); Ray places it on any node with those free.

Results are written by the run itself, on the node that ran it, straight into the results folder
the user gave — which therefore must be a shared filesystem (NFS, Lustre, a cloud bucket mounted on
every node). Why not send records back to the driver: a run's result is its JSON, predictions
sidecar and sample images, written atomically by the process that produced them; if the driver
dies, finished runs are already safe, and the run lock and heartbeat live in the same folder, so
`peftbench status` and a second sweep see them from any node. The driver checks that each
successful run's result is visible to it and says so when it is not (folder not shared).

Each Ray task starts the same worker process as the local executor (so a run's memory figures are its
own) and kills it with SIGTERM if the Ray worker dies; the driver then records the run as failed and
goes on with the others.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from peftbench.errors import UserError
from peftbench.records.status import FAILED, SUCCESS
from peftbench.system.extras import require
from peftbench.sweep.executor import ExecutorOptions, OnChange
from peftbench.sweep.launch import worker_args
from peftbench.sweep.outcome import Outcome, from_exit_code, is_done, record_crash
from peftbench.sweep.plan import SweepEntry
from peftbench.system.threads import thread_env


def _run_worker(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Runs on a Ray worker: the worker process, with this node's Python; (exit code, host, what it
    printed before taking the run's lock)."""
    from peftbench.sweep.launch import start_worker

    worker = start_worker(args, env)
    return worker.proc.wait(), socket.gethostname(), worker.early_output()


def connect(address: str | None, cpus: int | None):
    ray = require("ray")  # the [ray] extra; missing -> one line naming the pip install
    try:
        if address:
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        else:  # a private Ray instance on this machine, gone when the sweep ends
            ray.init(num_cpus=cpus, log_to_driver=False, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise UserError(f"--ray-address {address or '(local)'}: cannot start or join Ray ({str(err).splitlines()[0]})") from None
    return ray


class RayExecutor:
    """Each run a Ray task holding the resources it asked for; at most `jobs` at a time if given."""

    def __init__(self, options: ExecutorOptions, poll: float = 0.5):
        self.options, self.poll = options, poll

    def run(self, runs: list[SweepEntry], output_dir: Path, on_change: OnChange) -> dict[str, Outcome]:
        opts = self.options
        ray = connect(opts.ray_address, None)
        try:
            has_gpus = ray.cluster_resources().get("GPU", 0) > 0
            gpus = opts.gpus_per_run if opts.gpus_per_run is not None else (1 if has_gpus else 0)
            cpus = opts.cpus_per_run or (1 if gpus else 2)
            env = {} if gpus else thread_env(cpus)
            task = ray.remote(_run_worker).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
            return _drive(ray, task, runs, output_dir, env, on_change, opts.jobs, self.poll, opts.tracking)
        finally:
            ray.shutdown()


def _drive(ray, task, runs, output_dir, env, on_change, jobs, poll, tracking) -> dict[str, Outcome]:
    queue = list(runs)
    pending: dict = {}  # ObjectRef -> (planned, started)
    outcomes: dict[str, Outcome] = {}
    while queue or pending:
        while queue and (not jobs or len(pending) < jobs):
            planned = queue.pop(0)
            ref = task.remote(worker_args(planned, output_dir, tracking), env)
            pending[ref] = (planned, time.perf_counter())
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=poll)
        for ref in ready:
            planned, started = pending.pop(ref)
            outcomes[planned.key] = _collect(ray, ref, planned, output_dir, time.perf_counter() - started)
        on_change(outcomes, {p.key for p, _ in pending.values()})
    return outcomes


def _collect(ray, ref, planned: SweepEntry, output_dir: Path, seconds: float) -> Outcome:
    try:
        code, host, early = ray.get(ref)
    except ray.exceptions.RayError as err:  # the Ray worker or its node died
        message = f"Ray worker died: {type(err).__name__}"
        if not is_done(planned, output_dir):
            record_crash(planned, output_dir, message)
        return Outcome(FAILED, message, seconds)
    outcome = from_exit_code(code, planned, output_dir, seconds, host, early)
    if outcome.state == SUCCESS and not is_done(planned, output_dir):
        return Outcome(FAILED, f"finished on {host}, but its result is not in {output_dir} here: "
                                 "the results folder must be shared by all nodes", seconds, host)
    return outcome
