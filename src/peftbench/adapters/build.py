"""Turn an experiment's adapter config into a PEFT model, and build the optimizer and schedule.

Everything method-specific lives in peft itself; this file only maps user mistakes to clear errors.
"""

from __future__ import annotations

import torch

from peftbench.errors import UserError
from peftbench.adapters.peft_config import build_peft_config


def wrap_model(model, raw: dict | None, source: str, autocast_adapter_dtype: bool,
               default_task_type: str | None = "CAUSAL_LM", every_target: bool = True) -> torch.nn.Module:
    """A PEFT model for `raw`, or the model itself (all parameters trainable) for full fine-tuning.
    `every_target`: each name in a list of target modules must exist in the model (`check_target_modules`)."""
    if raw is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import get_peft_model

    config = build_peft_config(raw, source, default_task_type)
    if every_target:
        check_target_modules(model, config, source)
    try:
        return get_peft_model(model, config, autocast_adapter_dtype=autocast_adapter_dtype)
    except ValueError as err:
        message = str(err).splitlines()[0]
        if "not found in the base model" in message or "Target modules" in message:
            raise UserError(f"{source}: target_modules: {message}") from None
        raise UserError(f"{source}: cannot apply {config.peft_type.value} to this model: {message}") from None


def check_target_modules(model, config, source: str) -> None:
    """Every module a list-valued `target_modules` names must exist in this model. peft only warns when
    some of them match and others do not, and the run would then train fewer layers than the config
    says - on another model than the one the config was written for, that is the common case.

    Text runs check (their configs name Llama's layers; "your model" may be another family). Image runs
    do not: the shipped image configs name the FLUX transformer's layers on purpose, and on a Stable
    Diffusion UNet only its attention projections match, which peft's skipping handles as documented
    (README, "imagegen"); peft still refuses a config none of whose names match."""
    targets = getattr(config, "target_modules", None)
    if not targets or isinstance(targets, str):  # a regex or "all-linear": peft itself checks those
        return
    names = [name for name, _ in model.named_modules() if name]
    missing = sorted(t for t in targets if not any(n == t or n.endswith("." + t) for n in names))
    if missing:
        layers = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                         if name and not list(module.children()) and not name.rsplit(".", 1)[-1].isdigit()})
        raise UserError(f"{source}: target_modules: {', '.join(missing)} not in this model "
                        f"(its layers are named: {', '.join(layers)})")


def build_optimizer(model, optimizer_type: str, kwargs: dict) -> torch.optim.Optimizer:
    """Any torch.optim optimizer by name, or peft's LoRA+ / LoRA-FA optimizers."""
    kwargs = dict(kwargs)
    name = optimizer_type.lower()
    if name == "lora+":
        from peft.optimizers import create_loraplus_optimizer

        cls = getattr(torch.optim, kwargs.pop("optimizer", "AdamW"))
        return _checked(create_loraplus_optimizer, model, cls, **kwargs)
    if name == "lora-fa":
        from peft.optimizers import create_lorafa_optimizer

        return _checked(create_lorafa_optimizer, model, **kwargs)
    cls = getattr(torch.optim, optimizer_type, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise UserError(f"optimizer_type '{optimizer_type}': not a torch.optim optimizer, 'lora+' or 'lora-fa'")
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return cls(params, **kwargs)
    except TypeError as err:
        raise UserError(f"optimizer_kwargs: {err}") from None


def _checked(factory, *args, **kwargs):
    """peft's optimizer factories report wrong kwargs as TypeError; name the config key instead."""
    try:
        return factory(*args, **kwargs)
    except TypeError as err:
        raise UserError(f"optimizer_kwargs: {err}") from None


def build_scheduler(optimizer, kind: str, total_steps: int, warmup_ratio: float) -> torch.optim.lr_scheduler.LRScheduler:
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup

    warmup = int(total_steps * warmup_ratio)
    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)
    return get_constant_schedule_with_warmup(optimizer, warmup)
