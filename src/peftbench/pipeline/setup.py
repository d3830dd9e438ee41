"""The set-up every run shares: PEFT on the base model, optimizer and schedule; the untuned model to
compare against; the size of what training produced."""

from __future__ import annotations

import contextlib
import tempfile
from typing import Any, Callable

import torch

from peftbench.adapters.build import build_optimizer, build_scheduler, wrap_model
from peftbench.planning.config import trains_with_grpo
from peftbench.planning.experiment import ADAPTER_FILE
from peftbench.telemetry.measure import count_parameters, dir_size
from peftbench.pipeline.state import RunState


Training = tuple[torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]
WeightSums = dict[torch.nn.Parameter, float]


def prepare_training(run: RunState, base_model: torch.nn.Module) -> Training:
    """Wrap the base model (or unfreeze it: full fine-tuning), then build optimizer and schedule."""
    plan, cfg = run.plan, run.plan.cfg
    raw = plan.experiment.peft_config
    before = weight_sums(base_model) if raw is not None else None
    # Image configs name layers of several denoisers on purpose (adapters.check_target_modules).
    model = wrap_model(base_model, raw, str(plan.experiment.path / ADAPTER_FILE), cfg.autocast_adapter_dtype,
                       plan.peft_task_type, every_target=plan.spec.kind == "text")
    run.base_changed = before is not None and weight_sums(before) != before
    run.peft_config = resolved_peft_config(model, cfg.model_id) if raw is not None else None
    init = cfg.grpo.init_adapter if trains_with_grpo(cfg) else None
    if init:  # RL after supervised fine-tuning: the saved adapter's weights, trained further
        load_adapter_weights(model, init)
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    run.params = count_parameters(model)  # after the optimizer: LoRA-FA freezes the A matrices
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, cfg.max_steps, cfg.warmup_ratio)
    if cfg.compile:
        model.compile()
    return model, optimizer, scheduler


def load_adapter_weights(model: torch.nn.Module, folder: str) -> None:
    """Load a saved adapter's weights (`--save-adapter`'s `<stem>.adapter/`) into the wrapped model, whose
    adapter must have the same configuration; UserError when the folder holds no adapter."""
    from pathlib import Path

    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    from peftbench.errors import UserError

    weights = Path(folder) / "adapter_model.safetensors"
    if not hasattr(model, "peft_config"):
        raise UserError(f"grpo.init_adapter {folder}: full fine-tuning has no adapter; give the saved model's folder "
                        "as model_id instead")
    if not weights.is_file():
        raise UserError(f"grpo.init_adapter {folder}: no adapter_model.safetensors there (expected a folder "
                        "--save-adapter kept)")
    result = set_peft_model_state_dict(model, load_file(str(weights)))
    if getattr(result, "unexpected_keys", None):
        raise UserError(f"grpo.init_adapter {folder}: its weights do not fit this adapter "
                        f"({len(result.unexpected_keys)} unexpected, e.g. {result.unexpected_keys[0]})")


def weight_sums(model_or_sums: torch.nn.Module | WeightSums) -> WeightSums:
    """{parameter object: sum of its values} of a model's parameters (or, given such a dict, of the same
    parameter objects now). An adapter whose initialisation rewrites the base weights it wraps (PiSSA,
    OLoRA, CorDA, LoftQ) keeps the parameter objects but changes their values, which this sees; then
    switching the adapter off no longer gives the base model."""
    params = model_or_sums.keys() if isinstance(model_or_sums, dict) else model_or_sums.parameters()
    with torch.no_grad():
        return {p: float(p.detach().double().sum()) for p in params}


def resolved_peft_config(model: Any, model_id: str | None = None) -> dict[str, Any]:
    """The adapter config with peft's defaults filled in, as JSON (sets become sorted lists); its base
    model named by `model_id` (what the user gave: a Hub id, a folder, embedded:<name>), not by the
    local folder the weights were loaded from (a converted model in this machine's cache). `model` is a
    peft model (typed `Any`: torch's `Module` types an attribute it does not know as a tensor or module)."""
    config: dict[str, Any] = model.peft_config["default"].to_dict()
    if model_id is not None and config.get("base_model_name_or_path"):  # set by peft from the loaded folder
        config["base_model_name_or_path"] = model_id
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in config.items()}


def saved_size(model: Any) -> int:
    """Bytes that `save_pretrained` (a peft or transformers model's method) writes: the adapter, or the
    whole model for full fine-tuning."""
    with tempfile.TemporaryDirectory(prefix="peftbench-size-") as tmp:
        model.save_pretrained(tmp)
        return dir_size(tmp)


class BaseView:
    """The untuned model beside the tuned one, for forgetting and drift: the same model with its adapter
    switched off, or — full fine-tuning changed the weights themselves, or the adapter's initialisation
    rewrote the base weights it wraps (`base_changed`) — a freshly loaded base, loaded on first use and
    dropped on exit. Use `with view.active(): ... view.model(...)`."""

    def __init__(self, tuned: torch.nn.Module, load_fresh: Callable[[], torch.nn.Module], base_changed: bool = False):
        self._tuned, self._load_fresh = tuned, load_fresh
        self._fresh: torch.nn.Module | None = None
        self.is_adapter = hasattr(tuned, "disable_adapter") and not base_changed

    @property
    def model(self) -> torch.nn.Module:
        if self.is_adapter:
            return self._tuned
        if self._fresh is None:
            self._fresh = self._load_fresh()
        return self._fresh

    def active(self) -> contextlib.AbstractContextManager[object]:
        if not self.is_adapter:
            return contextlib.nullcontext()
        # a peft model's method; torch's Module types an attribute it does not know as a tensor or module
        disable: Callable[[], contextlib.AbstractContextManager[object]] = getattr(self._tuned, "disable_adapter")
        return disable()

    def __enter__(self) -> BaseView:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fresh = None
