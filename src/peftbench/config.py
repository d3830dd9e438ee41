"""TrainConfig: the validated training parameters of one run.

A task's defaults are deep-merged with an experiment's `training_params.json` (a nested
`optimizer_kwargs: {"lr": ...}` keeps the default weight decay, unlike the reference suite's shallow
merge). Unknown keys, wrong types and impossible values raise a UserError naming the file and key.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from peftbench.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class GenerationConfig(_Strict):
    """Greedy decoding limits for evaluation."""

    max_new_tokens: int = Field(gt=0, description="new tokens generated per answer")
    max_length: int = Field(gt=0, description="cap on prompt + answer tokens")


class DataConfig(_Strict):
    """How much of each split to use; `None` means all of it (where the task has a finite split)."""

    train_size: int | None = Field(default=None, gt=0)
    valid_size: int = Field(default=50, gt=0)
    test_size: int | None = Field(default=None, gt=0)
    gsm8k_test_size: int | None = Field(
        default=0, ge=0, description="real GSM8K items scored as `test accuracy gsm8k`; 0 disables, null = all"
    )
    forgetting_size: int = Field(default=100, gt=0, description="texts in the forgetting sample")
    forgetting_max_tokens: int = Field(default=256, gt=0, description="tokens kept per forgetting text")
    sources: dict[str, str] = Field(
        default_factory=dict, description="override where a split is read from: Hub id or local file"
    )


class TrainConfig(_Strict):
    """Everything that decides how a run trains and evaluates (part of the config hash)."""

    model_id: str = Field(description="Hub id, local folder, or embedded:SmolLM2-135M-Instruct")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: str | None = None
    quantization: Literal["4bit", "8bit"] | None = None
    compile: bool = False
    use_gc: bool = Field(default=False, description="gradient checkpointing")
    use_amp: bool = Field(default=False, description="bf16 autocast on CUDA")
    autocast_adapter_dtype: bool = True

    max_seq_length: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    batch_size_eval: int = Field(gt=0)
    max_steps: int = Field(gt=0)
    eval_steps: int = Field(gt=0)
    seed: int = Field(default=0, ge=0)

    optimizer_type: str = "AdamW"
    optimizer_kwargs: dict[str, Any] = Field(default_factory=lambda: {"lr": 1e-4})
    lr_scheduler: Literal["cosine", "constant"] = "cosine"
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0)
    grad_norm_clip: float | None = Field(default=1.0, gt=0)
    loss_on: Literal["answer", "all"] = Field(
        default="answer", description="answer: prompt tokens masked from the loss; all: whole sequence"
    )

    query_template: str = "Question: {query} Think step by step.\nAnswer:"
    generation_kwargs: GenerationConfig
    data: DataConfig = Field(default_factory=DataConfig)

    @field_validator("optimizer_kwargs")
    @classmethod
    def _lr_positive(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        lr = kwargs.get("lr")
        if lr is not None and (not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        return kwargs

    @field_validator("query_template")
    @classmethod
    def _has_query(cls, template: str) -> str:
        if "{query}" not in template:
            raise ValueError("must contain the placeholder {query}")
        return template


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge `override` into a copy of `base`; dicts merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_json(path: Path) -> dict:
    """Read a JSON object, turning every failure into a UserError that names the file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def build_config(defaults: dict, overrides: dict, source: Path | str) -> TrainConfig:
    """Validate defaults deep-merged with overrides; errors name `source` and the offending key."""
    merged = deep_merge(defaults, overrides)
    try:
        return TrainConfig.model_validate(merged)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        value = _lookup(merged, first["loc"])
        if first["type"] == "extra_forbidden":
            raise UserError(f"{source}: unknown training parameter '{key}'") from None
        raise UserError(f"{source}: invalid value {value!r} for '{key}': {first['msg']}") from None


def _lookup(data: Any, loc: tuple) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def parse_overrides(items: list[str]) -> dict:
    """`["a.b=1", "c=\"x\""]` -> `{"a": {"b": 1}, "c": "x"}`; a value that is not JSON stays a string."""
    result: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set '{item}': expected KEY=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = result
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return result
