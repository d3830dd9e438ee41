"""What a training loop reports to besides the model and its data: the meters it feeds each step, the
pipeline's callbacks, and the state they see (`TrainState`). Both loops (`sft.train`, `grpo.train_grpo`) take the same two objects, which the
run pipeline builds in one place (`pipeline/sequence.py`), so a new meter or callback is one field here
rather than one more parameter on every loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from peftbench.telemetry.measure import Stopwatch

if TYPE_CHECKING:  # only annotations
    from peftbench.telemetry.measure import MemorySampler
    from peftbench.telemetry.memory_accounting import AccountedMemory


@dataclass
class TrainState:
    """What training has produced so far; a cancelled run reports exactly this."""

    step: int = 0
    samples: int = 0
    tokens: int = 0
    train_time: Stopwatch = field(default_factory=Stopwatch)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    last_loss: float = float("nan")


def _ignore(_: object) -> None:
    """A callback nobody asked for."""


def _go_on(_: object) -> bool:
    """No early stop: train every step."""
    return True


@dataclass(frozen=True)
class Meters:
    """Entered by the caller around the loop. `memory` is sampled after every step; `accounted`, when
    given, records each optimizer step's accounted memory (telemetry/memory_accounting.py)."""

    memory: MemorySampler
    accounted: AccountedMemory | None = None


@dataclass(frozen=True)
class Hooks:
    """`validate()` scores the model between windows (its keys join the window row); `on_step(state)`
    follows every step (progress bar, heartbeat); `on_window(row)` gets each window's row as it is
    recorded (`--report-to` trackers); `keep_going(state)`, after every step and its window, ends
    training when it returns False (an early stop: `RunConfig.early_stop`)."""

    validate: Callable[[], dict[str, float]]
    on_step: Callable[[TrainState], None] = _ignore
    on_window: Callable[[dict[str, Any]], None] = _ignore
    keep_going: Callable[[TrainState], bool] = _go_on
