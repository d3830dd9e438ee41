"""A run's heartbeat: what the sweep's status table shows while it runs (phase, step, loss, ETA).

A Reporter whose bars are invisible and whose every update is also written, at most once a second,
to the run's `.status` file, so the driver (or `peftbench status` in another terminal, or a driver on
another node) can draw the run without talking to its process.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from peftbench.telemetry.progress import Reporter
from peftbench.sweep.state import host_and_pid, write_state


class HeartbeatReporter(Reporter):
    def __init__(self, path: Path, every: float = 1.0, **fields):
        super().__init__(enabled=False)
        self.path, self.every = Path(path), every
        self.data = {"state": "running", "phase": "loading", "started": time.time(), **fields}
        self._last = 0.0
        self.beat(force=True)

    def beat(self, force: bool = False, **fields) -> None:
        self.data.update(fields)
        now = time.monotonic()
        if force or now - self._last >= self.every:
            self._last = now
            write_state(self.path, {**self.data, **host_and_pid()})

    @contextlib.contextmanager
    def training(self, total_steps: int):
        started = time.monotonic()
        self.beat(force=True, phase="train", step=0, max_steps=total_steps, total=None)
        with super().training(total_steps) as on_step:

            def on_step_and_beat(state) -> None:
                on_step(state)
                elapsed = time.monotonic() - started
                eta = elapsed / state.step * (total_steps - state.step) if state.step else None
                self.beat(force=state.step == total_steps, phase="train", step=state.step, loss=state.last_loss, eta=eta)

            yield on_step_and_beat

    @contextlib.contextmanager
    def task(self, label: str, total: int, keep: bool = False):
        self.beat(force=True, phase=label, done=0, total=total)
        with super().task(label, total, keep) as advance:
            yield advance

    @contextlib.contextmanager
    def status(self, message: str):
        self.beat(force=True, phase=message, total=None)
        with super().status(message):
            yield
