"""One planned run in its own process: take the run's lock, skip it if another process finished it
meanwhile, run it with a heartbeat, leave a result (success) or a record in the cancelled folder.

`python -m peftbench.sweep.worker OUTPUT_DIR PLAN_JSON [TRACKING_JSON]` — PLAN_JSON is `RunPlan.to_json()`:
the worker plans the same run again from it and refuses to run if the config changed since the sweep
planned it; TRACKING_JSON (`trackers.Tracking.to_json()`) names the `--report-to` trackers.
Exit codes: `peftbench.signals` (those of `peftbench run`, plus EXIT_LOCKED and EXIT_DONE_ELSEWHERE).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from filelock import Timeout

from peftbench.errors import UserError
from peftbench.plan import RunPlan
from peftbench.record import SUCCESS
from peftbench.results import result_path
from peftbench.signals import (EXIT_DONE_ELSEWHERE, EXIT_LOCKED, EXIT_USER_ERROR, Terminated, exit_code,
                               handle_sigterm)
from peftbench.sweep.plan import existing_hash
from peftbench.sweep.state import heartbeat_file, run_lock
from peftbench.trackers import Tracking


def main(argv: list[str] | None = None) -> int:
    output_dir, plan_json, *tracking_json = sys.argv[1:] if argv is None else argv
    handle_sigterm()
    try:
        plan = RunPlan.from_json(json.loads(plan_json))
        tracking = Tracking.from_json(json.loads(tracking_json[0])) if tracking_json else Tracking()
        return _run_locked(plan, Path(output_dir), tracking)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (KeyboardInterrupt, Terminated) as err:  # stopped before the run began: nothing to record
        return exit_code("cancelled", err)


def _run_locked(plan: RunPlan, output_dir: Path, tracking: Tracking) -> int:
    lock = run_lock(output_dir, plan.task, plan.stem)
    try:
        lock.acquire()
    except Timeout:
        print(f"{plan.task}/{plan.stem}: another process is running it (lock {lock.lock_file})", file=sys.stderr)
        return EXIT_LOCKED
    try:
        done = result_path(output_dir, plan.task, plan.stem, SUCCESS)
        if existing_hash(done) == plan.config_hash:  # finished by another sweep since we planned
            print(f"{plan.task}/{plan.stem}: already done by another process -> {done}", file=sys.stderr)
            return EXIT_DONE_ELSEWHERE
        return _run(plan, output_dir, tracking)
    finally:
        lock.release()


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
