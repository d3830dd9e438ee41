"""How a worker process is started, the same way by every executor."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from peftbench.sweep.plan import PlannedRun
from peftbench.trackers import Tracking

PR_SET_PDEATHSIG = 1


def worker_args(planned: PlannedRun, output_dir: Path, tracking: Tracking = Tracking()) -> list[str]:
    """Arguments after `python`; paths absolute so a worker on another node (shared filesystem) or
    in another working directory finds the same folders."""
    args = ["-m", "peftbench.sweep.worker", str(Path(output_dir).resolve()), json.dumps(planned.plan.to_json())]
    return args + [json.dumps(tracking.to_json())] if tracking.report_to else args


def _die_with_parent() -> None:
    """Linux: SIGTERM the worker when whoever started it dies (kill -9 of the sweep driver or of a Ray
    worker), so no orphan keeps training; SIGTERM lets it record itself as cancelled."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: orphans are possible, the run lock still keeps a second copy from starting


def start_worker(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Appended, never truncated: a second sweep's worker that finds the run locked must not wipe the
    # log of the run holding the lock.
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, *args], env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)
