"""One planned run in its own process: take the run's lock, skip it if another process finished it
meanwhile, run it with a heartbeat, leave a result (success) or a record in the cancelled folder.

`python -m peftbench.sweep.worker EXP_DIR --output-dir D [--seed S] [--max-steps N] [--set K=V ...]`
Exit codes: those of `peftbench run` (0 success, 1 failed, 2 user error, 130/143 interrupted), plus
75 = another process holds this run's lock, 76 = another process already finished it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

EXIT_LOCKED = 75
EXIT_DONE_ELSEWHERE = 76


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m peftbench.sweep.worker")
    parser.add_argument("experiment_dir", type=Path)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--set", dest="set_", action="append", default=[])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    threads = int(os.environ.get("PEFTBENCH_THREADS", "0"))
    if threads:  # the executor splits the cores between concurrent runs instead of oversubscribing
        import torch

        torch.set_num_threads(threads)
    from filelock import Timeout

    from peftbench.config import parse_overrides
    from peftbench.errors import UserError
    from peftbench.results import SUCCESS, result_path
    from peftbench.runner import Terminated, execute, plan_run
    from peftbench.sweep.heartbeat import HeartbeatReporter
    from peftbench.sweep.plan import existing_hash
    from peftbench.sweep.state import heartbeat_file, run_lock

    def on_sigterm(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        run = plan_run(args.experiment_dir, args.max_steps, args.seed, parse_overrides(args.set_))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    task, stem = run.experiment.task, run.experiment.result_stem(run.seed)
    lock = run_lock(args.output_dir, task, stem)
    try:
        lock.acquire()
    except Timeout:
        print(f"{task}/{stem}: another process is running it (lock {lock.lock_file})", file=sys.stderr)
        return EXIT_LOCKED
    beat_path = heartbeat_file(args.output_dir, task, stem)
    try:
        done = result_path(args.output_dir, task, stem, SUCCESS)
        if existing_hash(done) == run.config_hash:  # finished by another sweep since we planned
            print(f"{task}/{stem}: already done by another process -> {done}", file=sys.stderr)
            return EXIT_DONE_ELSEWHERE
        reporter = HeartbeatReporter(beat_path, experiment=run.experiment.full_name, seed=run.seed)
        try:
            outcome = execute(run, args.output_dir, reporter)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{outcome.status}: {outcome.path}", file=sys.stderr)
        if outcome.status == "success":
            return 0
        print(outcome.record["run_info"]["error_msg"], file=sys.stderr)
        return {KeyboardInterrupt: 130, Terminated: 143}.get(type(outcome.error), 1)
    finally:
        beat_path.unlink(missing_ok=True)
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
