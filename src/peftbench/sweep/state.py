"""A sweep's state on disk, inside the results folder, so any process on any node can read it.

    <results>/.sweep/drivers/<host>-<pid>.state   a driver's plan: runs, pid, host, command, finished
    <results>/.sweep/runs/<task>/<stem>.status    heartbeat of a running run (step, loss, ETA, pid)
    <results>/.sweep/locks/<task>/<stem>.lock     held by the process running that experiment
    <results>/.sweep/logs/<task>/<stem>.log       the run's output, written only by the lock's holder

Every file has one writer: a driver writes only its own state file (two sweeps on one folder never
overwrite each other's plan; `peftbench status` merges the live ones), and a worker opens its run's
log only once it holds the run's lock. Nothing here ends in `.json`, so tools that read every JSON file
under a results folder never take sweep bookkeeping for a result. Every write is atomic (temp file +
rename): `kill -9` at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from peftbench.records.names import is_name, join_under
from peftbench.records.results import atomic_write_json

STATE_DIR = ".sweep"


def sweep_dir(results_dir: Path | str) -> Path:
    return Path(results_dir) / STATE_DIR


def drivers_dir(results_dir: Path | str) -> Path:
    return sweep_dir(results_dir) / "drivers"


def driver_file(results_dir: Path | str, host: str | None = None, pid: int | None = None) -> Path:
    """A driver's own state file (default: this process's)."""
    host = host or socket.gethostname()
    # A host name is not ours to trust as a file name: one that is not a plain name is hashed.
    label = host if is_name(host) else hashlib.sha256(host.encode()).hexdigest()[:12]
    return drivers_dir(results_dir) / f"{label}-{pid or os.getpid()}.state"


def _run_file(results_dir: Path | str, kind: str, task: str, stem: str, suffix: str) -> Path:
    # Task and stem come from validated experiment names; checked again because these are paths we write.
    return join_under(sweep_dir(results_dir) / kind, task, f"{stem}{suffix}", what="sweep run", last_is_file=True,
                      contained=False)


def heartbeat_file(results_dir: Path | str, task: str, stem: str) -> Path:
    return _run_file(results_dir, "runs", task, stem, ".status")


def lock_file(results_dir: Path | str, task: str, stem: str) -> Path:
    return _run_file(results_dir, "locks", task, stem, ".lock")


def log_file(results_dir: Path | str, task: str, stem: str) -> Path:
    return _run_file(results_dir, "logs", task, stem, ".log")


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


@dataclass
class SweepView:
    """What `peftbench status` shows: the runs of the live drivers (else of the latest one)."""

    runs: list[dict]
    alive: bool
    drivers: list[dict]


def read_drivers(results_dir: Path | str) -> list[dict]:
    """Every readable driver state of the folder, oldest first."""
    folder = drivers_dir(results_dir)
    states = [read_state(path) for path in sorted(folder.glob("*.state"))] if folder.is_dir() else []
    return sorted((s for s in states if s and isinstance(s.get("runs"), list)), key=lambda s: s.get("started") or 0)


def driver_alive(state: dict) -> bool:
    return state.get("finished") is None and pid_alive(state.get("pid"), state.get("host")) is not False


def sweep_view(results_dir: Path | str) -> SweepView | None:
    """The drivers still running and their runs merged (each run once); when none runs, the latest
    driver's. None when no sweep ever wrote here."""
    states = read_drivers(results_dir)
    if not states:
        return None
    live = [s for s in states if driver_alive(s)]
    shown = live or states[-1:]
    runs: dict[str, dict] = {}
    for state in shown:
        for run in state["runs"]:
            if isinstance(run, dict) and "key" in run:
                runs.setdefault(run["key"], run)
    return SweepView(list(runs.values()), bool(live), shown)


def prune_drivers(results_dir: Path | str) -> None:
    """Remove the state files of drivers that finished, or died on this host: they will never write
    again, and status shows only live drivers or the latest one."""
    folder = drivers_dir(results_dir)
    for path in sorted(folder.glob("*.state")) if folder.is_dir() else []:
        state = read_state(path)
        if state is None or state.get("finished") is not None or pid_alive(state.get("pid"), state.get("host")) is False:
            path.unlink(missing_ok=True)
