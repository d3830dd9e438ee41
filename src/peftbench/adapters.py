"""Turn an experiment's adapter_config.json into a PEFT model, and build the optimizer.

Everything method-specific lives in peft itself; this file only maps user mistakes to clear errors.
"""

from __future__ import annotations

import torch

from peftbench.errors import UserError


def build_peft_config(raw: dict, source: str, default_task_type: str | None = "CAUSAL_LM"):
    """`default_task_type` fills a missing task_type: CAUSAL_LM for text models, None (plain PeftModel) for denoisers."""
    from peft import PEFT_TYPE_TO_CONFIG_MAPPING, PeftType

    peft_type = str(raw.get("peft_type", "")).upper()
    try:
        config_cls = PEFT_TYPE_TO_CONFIG_MAPPING[PeftType(peft_type)]
    except ValueError:
        known = ", ".join(sorted(t.value for t in PEFT_TYPE_TO_CONFIG_MAPPING))
        raise UserError(f"{source}: unknown peft_type '{raw.get('peft_type')}' (known: {known})") from None
    kwargs = {k: v for k, v in raw.items() if k not in ("peft_type", "auto_mapping", "peft_version")}
    # Configs saved by newer peft versions may carry keys this version lacks; they are refused, not dropped,
    # because silently ignoring a setting would make the run not what the file says.
    unknown = sorted(set(kwargs) - set(config_cls.__dataclass_fields__))
    if unknown:
        raise UserError(f"{source}: key '{unknown[0]}' is not a {config_cls.__name__} field in this peft version")
    if kwargs.get("task_type") is None:
        kwargs["task_type"] = default_task_type
    # Types and ranges from the dataclass's own hints (`r: "8"`, `lora_dropout: -0.5`, NaN, a bool for
    # an int): peft accepts them here and fails after the model load, or never.
    from peftbench.adapter_params import check_fields

    check_fields(config_cls, kwargs, source)
    try:
        return config_cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise UserError(f"{source}: invalid {config_cls.__name__}: {str(err).splitlines()[0]}") from None


def validate_peft_config(raw: dict, source: str, default_task_type: str | None = "CAUSAL_LM") -> None:
    """build_peft_config's checks, remembered per (config, peft version): importing peft takes several
    seconds, which a sweep would otherwise pay up front just to re-validate configs it already ran."""
    import hashlib
    import json
    from importlib.metadata import version

    from peftbench.models import cache_dir

    from peftbench.adapter_params import CHECKS_VERSION

    blob = json.dumps([raw, default_task_type, version("peft"), CHECKS_VERSION], sort_keys=True, default=str)
    mark = cache_dir() / "validated-configs" / hashlib.sha256(blob.encode()).hexdigest()[:24]
    if mark.exists():
        return
    build_peft_config(raw, source, default_task_type)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.touch()  # only configs that passed are remembered


def wrap_model(model, raw: dict | None, source: str, autocast_adapter_dtype: bool, default_task_type: str | None = "CAUSAL_LM"):
    """A PEFT model for `raw`, or the model itself (all parameters trainable) for full fine-tuning."""
    if raw is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import get_peft_model

    config = build_peft_config(raw, source, default_task_type)
    try:
        return get_peft_model(model, config, autocast_adapter_dtype=autocast_adapter_dtype)
    except ValueError as err:
        message = str(err).splitlines()[0]
        if "not found in the base model" in message or "Target modules" in message:
            raise UserError(f"{source}: target_modules: {message}") from None
        raise UserError(f"{source}: cannot apply {config.peft_type.value} to this model: {message}") from None


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


def build_scheduler(optimizer, kind: str, total_steps: int, warmup_ratio: float):
    from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup

    warmup = int(total_steps * warmup_ratio)
    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)
    return get_constant_schedule_with_warmup(optimizer, warmup)
