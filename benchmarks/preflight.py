"""Apply an adapter config to the task model's architecture on the meta device, before any weights load.

The model is built from its config.json only (tensors on `meta` take no memory and no time), so peft's
own checks run against the real layer shapes: a target module the model lacks, a rank above the
widest layer, `n_frequency` beyond a layer's size, an adapter with more parameters than anyone
would train. The run's model load (20 s and more) then never starts for a config that cannot work.

Generic over methods: nothing here names a peft type. An init that needs real weights (PiSSA's SVD,
OLoRA's QR, EVA, LoftQ) cannot run on meta tensors: such a failure is inconclusive, never an error.

Not wired into planning or runs, so it lives beside the benchmark that measures why
(`benchmarks/adapter_preflight.py`, which imports it from here; tests/test_adapter_preflight.py loads it
by path): planning imports no
torch, and torch, transformers and peft take seconds to import, more than a sweep driver's whole plan;
inside a run, where they are imported anyway, the preflight of a default LoRA costs about as much as
loading the offline model from its cache, to spare that load only for a config that cannot work,
which already ends as one line before training (a target module the model lacks), while ranks and
counts are bounded without a model (`peftbench.adapters.params.MAX_RANK`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

from peftbench.adapters.params import check_fields, field_hints
from peftbench.errors import UserError

# An adapter with more trainable parameters than this many times the model is a typo (r: 50000), not
# an experiment: training it would exhaust memory long after the model load.
MAX_ADAPTER_RATIO = 10.0
IGNORED_KEYS = ("peft_type", "auto_mapping", "peft_version")


@dataclass(frozen=True)
class Preflight:
    """What applying the adapter on the meta device found."""

    trainable: int | None  # adapter parameters; None when the check was inconclusive
    total: int  # parameters of the base model
    max_rank: int  # widest layer dimension of the model (embeddings excluded)
    note: str = ""  # why the check was inconclusive


def meta_causal_lm(location: str):
    """The causal LM of a local folder or cached Hub id, built from its config on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(location)
    except (OSError, ValueError) as err:
        raise UserError(f"model_id '{location}': no usable config.json ({str(err).splitlines()[0]})") from None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def widest_layer(model) -> int:
    """The largest dimension of any weight with 2+ dimensions outside embeddings: no rank above it
    means anything (a rank-r update of an m x n matrix has rank at most min(m, n))."""
    import torch

    # The output head is an embedding too (often the same tensor): its vocabulary dimension is no layer width.
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    widest = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, torch.nn.Embedding) or module is output or id(weight) in embeddings:
            continue
        if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
            widest = max(widest, *weight.shape)
    return widest


def preflight(raw: dict, model, source: str, default_task_type: str | None = "CAUSAL_LM",
              max_ratio: float = MAX_ADAPTER_RATIO) -> Preflight:
    """Check `raw` (an adapter_config.json) against `model` (built on the meta device, e.g. by
    meta_causal_lm); UserError naming `source` for a config that cannot work on this model."""
    import torch
    from peft import get_peft_model

    from peftbench.adapters.peft_config import build_peft_config

    config = build_peft_config(raw, source, default_task_type)  # types, ranges, peft's __post_init__
    total = sum(p.numel() for p in model.parameters())
    max_rank = widest_layer(model) or None
    kwargs = {k: v for k, v in raw.items() if k not in IGNORED_KEYS}
    check_fields(type(config), kwargs, source, max_rank=max_rank)
    kind = config.peft_type.value if hasattr(config.peft_type, "value") else str(config.peft_type)
    try:
        # Under the meta device too: the adapter's own layers would otherwise be allocated (and
        # initialised) in real memory, gigabytes for the very configs this check is meant to stop.
        with torch.device("meta"):
            peft_model = get_peft_model(model, config)
    except (ValueError, TypeError) as err:  # peft's checks of a config against the model
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        unset = _unset_required(type(config), config)
        hint = f" (unset: {', '.join(unset)})" if unset and isinstance(err, TypeError) else ""
        raise UserError(f"{source}: cannot apply {kind} to this model: {message}{hint}") from None
    except (RuntimeError, NotImplementedError) as err:  # an init that needs real weights
        return Preflight(None, total, max_rank or 0, f"inconclusive on the meta device: {str(err).splitlines()[0]}")
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    if trainable > max_ratio * total:
        raise UserError(f"{source}: {kind} would train {trainable:,} parameters, more than {max_ratio:g} times "
                        f"the model's {total:,}; check the ranks and sizes")
    return Preflight(trainable, total, max_rank or 0)


def _unset_required(config_cls: type, config) -> list[str]:
    """Fields peft types as plain int/float/bool (not Optional) but left at None: peft needs them set."""
    out = []
    for name, (hint, _) in field_hints(config_cls).items():
        arms = typing.get_args(hint) or (hint,)
        if type(None) not in arms and hint in (int, float, bool) and getattr(config, name, 0) is None:
            out.append(name)
    return out

