"""What a run accumulates as it goes; a cancelled or failed record is built from whatever is filled in."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peftbench.planning.config import RunConfig
from peftbench.planning.plan import RunPlan
from peftbench.tasks.base import ImageTask, Task
from peftbench.training.hooks import TrainState

if TYPE_CHECKING:
    import torch

# Memory figures as `telemetry.measure.MemorySampler.summary()` and `AccountedMemory.summary()` give them:
# bytes, or a name ("kind"), or the accounted breakdown.
MemorySummary = dict[str, Any]
Row = dict[str, Any]  # a metrics row, a sidecar row: JSON values by key


@dataclass
class RunState:
    """The mutable state of one run while the pipeline executes its `RunPlan`."""

    plan: RunPlan
    task: Task | ImageTask  # the task's implementation object (plan.spec.create()), of the plan's kind
    started: float = field(default_factory=time.perf_counter)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    state: TrainState = field(default_factory=TrainState)
    train_memory: MemorySummary = field(default_factory=dict)
    accounted_memory: MemorySummary = field(default_factory=dict)  # memory_accounting.AccountedMemory.summary()
    eval_memory: MemorySummary = field(default_factory=dict)
    final: Row = field(default_factory=dict)  # test metrics, forgetting, drift, ... (the final row)
    predictions: list[Row] = field(default_factory=list)  # the sidecar: one row per test item
    params: tuple[int, int] = (0, 0)  # trainable, total
    file_size: int | None = None
    peft_config: dict[str, Any] | None = None  # as peft resolved it (defaults filled in)
    base_changed: bool = False  # the adapter's initialisation rewrote base weights (setup.weight_sums)
    model_info: dict[str, Any] = field(default_factory=dict)
    run_info_extra: dict[str, Any] = field(default_factory=dict)  # modality-specific run_info keys
    dataset_info_extra: dict[str, Any] = field(default_factory=dict)  # modality-specific dataset_info keys
    samples: list[tuple[str, torch.Tensor]] = field(default_factory=list)  # image tasks: (label, images) grid rows
    retention: dict[str, Any] = field(default_factory=dict)  # text tasks: train_info.retention (afterwards/)
    inference: dict[str, Any] = field(default_factory=dict)  # text tasks: train_info.inference (afterwards/overhead.py)
    early_stop: dict[str, Any] = field(default_factory=dict)  # train_info.early_stop: the look part-way, when asked
    model: Any = None  # the trained model (a peft or transformers model), kept for --save-adapter
    tokenizer: Any = None  # text tasks: saved with a fully fine-tuned model, so its folder loads on its own

    @property
    def cfg(self) -> RunConfig:
        return self.plan.cfg
