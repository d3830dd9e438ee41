"""One planned run in its own process: take the run's lock, skip it if another process finished it
meanwhile, run it with a heartbeat, leave a result (success) or a record in the cancelled folder.

`python -m peftbench.sweep.worker OUTPUT_DIR PLAN_JSON [TRACKING_JSON]` — PLAN_JSON is `RunPlan.to_json()`:
the worker plans the same run again from it and refuses to run if the config changed since the sweep
planned it; TRACKING_JSON (`trackers.Tracking.to_json()`) names the `--report-to` trackers.
Exit codes: `peftbench.system.signals` (those of `peftbench run`, plus EXIT_LOCKED and EXIT_DONE_ELSEWHERE).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from filelock import Timeout

from peftbench.system import folders, logs
from peftbench.errors import UserError
from peftbench.planning.plan import RunPlan
from peftbench.records.status import CANCELLED, SUCCESS
from peftbench.records.results import result_path
from peftbench.system.signals import (EXIT_DONE_ELSEWHERE, EXIT_LOCKED, EXIT_USER_ERROR, Terminated, exit_code,
                               handle_stops)
from peftbench.sweep.plan import adapter_kept, existing_hash
from peftbench.sweep.state import heartbeat_file, log_file, run_lock


_to_executor = None  # the stream the executor reads, kept once stdout and stderr go to the run's log
from peftbench.telemetry.trackers import Tracking


def main(argv: list[str] | None = None) -> int:
    output_dir, plan_json, *tracking_json = sys.argv[1:] if argv is None else argv
    logs.configure()  # the verbosity the sweep's command was given (PEFTBENCH_VERBOSITY)
    folders.unset_empty_variables()
    handle_stops()
    try:
        plan = RunPlan.from_json(json.loads(plan_json))
        tracking = Tracking.from_json(json.loads(tracking_json[0])) if tracking_json else Tracking()
        return _run_locked(plan, Path(output_dir), tracking)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        if _to_executor is not None:  # the executor shows this line as the run's reason
            print(f"error: {err}", file=_to_executor, flush=True)
        return EXIT_USER_ERROR
    except (KeyboardInterrupt, Terminated) as err:  # stopped before the run began: nothing to record
        return exit_code(CANCELLED, err)


def _run_locked(plan: RunPlan, output_dir: Path, tracking: Tracking) -> int:
    lock = run_lock(output_dir, plan.task, plan.stem)
    try:
        lock.acquire()
    except Timeout:
        print(f"{plan.task}/{plan.stem}: another process is running it (lock {lock.lock_file})", file=sys.stderr)
        return EXIT_LOCKED
    try:
        _log_to(log_file(output_dir, plan.task, plan.stem), f"{plan.task}/{plan.stem}")
        done = result_path(output_dir, plan.task, plan.stem, SUCCESS)
        kept = not plan.save_adapter or adapter_kept(done, plan.config_hash)
        if existing_hash(done) == plan.config_hash and kept:  # finished by another sweep since we planned
            print(f"{plan.task}/{plan.stem}: already done by another process -> {done}", file=sys.stderr)
            return EXIT_DONE_ELSEWHERE
        return _run(plan, output_dir, tracking)
    finally:
        lock.release()


def _log_to(path: Path, key: str) -> None:
    """From here on, this process's stdout and stderr (and its children's) go to the run's log. Only the
    holder of the run's lock opens it, so a second sweep's worker that finds the run locked never
    touches the log of the run in progress; appended, so an earlier attempt's log stays readable."""
    global _to_executor
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    _to_executor = os.fdopen(os.dup(2), "w")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)
    print(f"--- {key}: attempt at {time.strftime('%Y-%m-%d %H:%M:%S')}, pid {os.getpid()} on {socket.gethostname()}",
          flush=True)


def _run(plan: RunPlan, output_dir: Path, tracking: Tracking) -> int:
    from peftbench.pipeline import execute
    from peftbench.sweep.heartbeat import HeartbeatReporter

    beat_path = heartbeat_file(output_dir, plan.task, plan.stem)
    try:
        outcome = execute(plan, output_dir, HeartbeatReporter(beat_path, experiment=plan.experiment.full_name,
                                                              seed=plan.seed), tracking.make())
    finally:
        beat_path.unlink(missing_ok=True)
    print(f"{outcome.status}: {outcome.path}", file=sys.stderr)
    if outcome.status != SUCCESS:
        print(outcome.record.run_info.error_msg, file=sys.stderr)
    return exit_code(outcome.status, outcome.error)


if __name__ == "__main__":
    sys.exit(main())
