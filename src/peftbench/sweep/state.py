"""A sweep's state on disk, inside the results folder, so any process on any node can read it.

    <results>/.sweep/plan.state              the driver's plan: runs, pid, host, command
    <results>/.sweep/runs/<task>/<stem>.status   heartbeat of a running run (step, loss, ETA, pid)
    <results>/.sweep/locks/<task>/<stem>.lock    held by the process running that experiment
    <results>/.sweep/logs/<task>/<stem>.log      the run's stdout and stderr

Nothing here ends in `.json`, so tools that read every JSON file under a results folder never take
sweep bookkeeping for a result. Every write is atomic (temp file + rename): `kill -9` at any moment
leaves either the old file or the new one.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from peftbench.results import atomic_write_json

STATE_DIR = ".sweep"


def sweep_dir(results_dir: Path | str) -> Path:
    return Path(results_dir) / STATE_DIR


def plan_file(results_dir: Path | str) -> Path:
    return sweep_dir(results_dir) / "plan.state"


def heartbeat_file(results_dir: Path | str, task: str, stem: str) -> Path:
    return sweep_dir(results_dir) / "runs" / task / f"{stem}.status"


def lock_file(results_dir: Path | str, task: str, stem: str) -> Path:
    return sweep_dir(results_dir) / "locks" / task / f"{stem}.lock"


def log_file(results_dir: Path | str, task: str, stem: str) -> Path:
    return sweep_dir(results_dir) / "logs" / task / f"{stem}.log"


def read_state(path: Path) -> dict | None:
    """A state file's content, or None when it is missing or unreadable (never raises)."""
    from peftbench.safe_json import RECORD_MAX_BYTES, read_json

    try:  # strict read: a named pipe in its place must not block the status table, deep JSON not crash it
        data = read_json(path, RECORD_MAX_BYTES)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(path: Path, data: dict) -> None:
    atomic_write_json(path, data)


def run_lock(results_dir: Path | str, task: str, stem: str) -> FileLock:
    """An OS-level lock (flock): released by the kernel when its holder dies, even by kill -9, so a
    crashed run never blocks the next sweep. On a cluster the results folder must be a filesystem
    with working flock (NFSv4, Lustre, CephFS, local disks; not NFSv3 without lockd)."""
    path = lock_file(results_dir, task, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=0)


def is_locked(results_dir: Path | str, task: str, stem: str) -> bool:
    lock = run_lock(results_dir, task, stem)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False


def pid_alive(pid: int | None, host: str | None) -> bool | None:
    """Whether a process still runs; None when it ran on another host (can't tell from here)."""
    if not pid:
        return False
    if host and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def host_and_pid() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "updated": time.time()}
