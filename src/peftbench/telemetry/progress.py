"""Progress bars for training (step, loss, ETA) and evaluation, with rich.

One live display per run (rich allows only one at a time), holding a bar per phase; validation bars
appear under the training bar and disappear when done.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class Reporter:
    """Shows progress on stderr; `enabled=False` makes every method a no-op (tests, quiet sweeps)."""

    def __init__(self, enabled: bool = True, console: Console | None = None):
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self.bar = Progress(
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not enabled,
        )

    def __enter__(self) -> Reporter:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.bar.tasks:
            self.bar.live.transient = True  # nothing was shown: leave no blank line behind
        self.bar.stop()

    @contextlib.contextmanager
    def training(self, total_steps: int) -> Iterator[Callable[[Any], None]]:
        """Yields `on_step(state)` that advances the bar and shows the latest loss."""
        job = self.bar.add_task("train", total=total_steps, info="")

        def on_step(state: Any) -> None:  # a training.hooks.TrainState
            self.bar.update(job, completed=state.step, info=f"loss {state.last_loss:.3f}")

        yield on_step

    @contextlib.contextmanager
    def task(self, label: str, total: int, keep: bool = False) -> Iterator[Callable[[int], None]]:
        """Yields `advance(n)` for an evaluation over `total` items."""
        job = self.bar.add_task(label, total=total, info="")
        try:
            yield lambda n: self.bar.advance(job, n)
        finally:
            if not keep:
                self.bar.remove_task(job)

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        job = self.bar.add_task(message, total=None, info="")
        try:
            yield
        finally:
            self.bar.update(job, total=1, completed=1)
