"""An experiment's adapter_config.json as a peft config object, and the check that it is one.

No torch at import: planning validates adapter configs without loading a model, and remembers the ones
that passed so a sweep's driver does not pay peft's (and torch's) import for configs it already checked.
"""

from __future__ import annotations

from peftbench.adapters.params import CHECKS_VERSION, check_fields
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

    from peftbench.system.folders import cache_dir

    # CHECKS_VERSION: a config remembered as valid before a check was added is checked again.
    blob = json.dumps([raw, default_task_type, version("peft"), CHECKS_VERSION], sort_keys=True, default=str)
    mark = cache_dir() / "validated-configs" / hashlib.sha256(blob.encode()).hexdigest()[:24]
    if mark.exists():
        return
    build_peft_config(raw, source, default_task_type)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.touch()  # only configs that passed are remembered
