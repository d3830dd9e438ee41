"""What a run accumulates as it goes; a cancelled or failed record is built from whatever is filled in."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from peftbench.planning.plan import RunPlan
from peftbench.training.sft import TrainState


@dataclass
class RunState:
    """The mutable state of one run while the pipeline executes its `RunPlan`."""

    plan: RunPlan
    task: Any  # the task's implementation object (plan.spec.create())
    started: float = field(default_factory=time.perf_counter)
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    state: TrainState = field(default_factory=TrainState)
    train_memory: dict = field(default_factory=dict)
    accounted_memory: dict = field(default_factory=dict)  # memory_accounting.AccountedMemory.summary()
    eval_memory: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)  # test metrics, forgetting, drift, ... (the final row)
    predictions: list[dict] = field(default_factory=list)  # the sidecar: one row per test item
    params: tuple[int, int] = (0, 0)  # trainable, total
    file_size: int | None = None
    peft_config: dict | None = None  # as peft resolved it (defaults filled in)
    base_changed: bool = False  # the adapter's initialisation rewrote base weights (setup.weight_sums)
    model_info: dict = field(default_factory=dict)
    run_info_extra: dict = field(default_factory=dict)  # modality-specific run_info keys
    dataset_info_extra: dict = field(default_factory=dict)  # modality-specific meta_info.dataset_info keys
    samples: list = field(default_factory=list)  # image tasks: (label, images) rows of the sample grid
    retention: dict = field(default_factory=dict)  # text tasks: train_info.retention (afterwards/)
    inference: dict = field(default_factory=dict)  # text tasks: train_info.inference (afterwards/overhead.py)
    model: Any = None  # the trained model, kept for --save-adapter
    tokenizer: Any = None  # text tasks: saved with a fully fine-tuned model, so its folder loads on its own

    @property
    def cfg(self):
        return self.plan.cfg
