"""How a worker process is started, the same way by every executor."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from peftbench.sweep.plan import SweepEntry
from peftbench.telemetry.trackers import Tracking

PR_SET_PDEATHSIG = 1


def worker_args(planned: SweepEntry, output_dir: Path, tracking: Tracking = Tracking()) -> list[str]:
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


@dataclass
class Worker:
    """A started worker process, and what it printed before it took its run's lock (a refusal: the run
    is locked, or its config changed). After the lock, a worker writes to the run's log itself
    (`worker._log_to`), so no executor ever opens a log another process may be writing."""

    proc: subprocess.Popen
    early: IO[bytes]

    def early_output(self, limit: int = 4096) -> str:
        """The last `limit` bytes the worker printed before it held the lock."""
        try:
            self.early.seek(0, os.SEEK_END)
            self.early.seek(max(0, self.early.tell() - limit))
            return self.early.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        finally:
            self.early.close()


def start_worker(args: list[str], env: dict[str, str]) -> Worker:
    # An anonymous temp file, not a pipe: nobody reads while the worker runs, and a pipe would block a
    # worker that printed more than its buffer; gone with its last handle, so nothing is left on disk.
    early = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, *args], env={**os.environ, **env}, stdout=early,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    return Worker(proc, early)
