"""What a search may change: the learning rate (always), plus any knob an experiment declares searchable
in a `search_space.json` next to its configs.

    {"optimizer_kwargs.lr": {"low": 1e-4, "high": 3e-2, "log": true},
     "warmup_ratio": {"low": 0.0, "high": 0.2},
     "adapter.r": {"choices": [4, 8, 16]}}

Keys are dotted training parameters (what `--set` takes), or `adapter.<key>` for a key of
adapter_config.json. Without the file — or without `optimizer_kwargs.lr` in it — the learning rate is
searched on a log scale from the experiment's own value divided by `DEFAULT_SPAN` to it multiplied by
`DEFAULT_SPAN`: wide (three decades), and anchored on each method's own starting point, so no method's
range is a guess made for it here. No torch and no optuna at import.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from peftbench.planning.config import deep_merge, read_json
from peftbench.errors import UserError

SPACE_FILE = "search_space.json"
LR_KEY = "optimizer_kwargs.lr"
ADAPTER_PREFIX = "adapter."
DEFAULT_SPAN = 30.0


class Knob(BaseModel):
    """One searchable value: a range (`low`, `high`, optionally `log`, `integer`) or a list of `choices`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Knob:
        if self.choices is not None:
            if self.low is not None or self.high is not None or not self.choices:
                raise ValueError("give either a non-empty 'choices' list or 'low' and 'high', not both")
            return self
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError("expected 'low' < 'high' (or 'choices')")
        if self.log and self.low <= 0:
            raise ValueError("a log scale needs 'low' > 0")
        if self.integer and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError(f"an integer range needs whole-number bounds, got {self.low:g} to {self.high:g}")
        return self

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.choices is not None:
            return CategoricalDistribution(self.choices)
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        return f"{self.low:g} to {self.high:g}{' (log scale)' if self.log else ''}"


@dataclass(frozen=True)
class SearchSpace:
    knobs: dict[str, Knob]
    origin: str  # where the ranges come from, for the printed budget and the provenance

    def distributions(self) -> dict:
        return {key: knob.distribution() for key, knob in self.knobs.items()}

    def to_json(self) -> dict:
        return {key: knob.model_dump(exclude_defaults=True) for key, knob in self.knobs.items()}

    def describe(self) -> str:
        return "; ".join(f"{key} {knob.describe()}" for key, knob in self.knobs.items())


def load_space(exp_dir: Path, lr: float | None) -> SearchSpace:
    """The experiment's search space; `lr` is its configured learning rate (the default range's anchor)."""
    path = Path(exp_dir) / SPACE_FILE
    raw = read_json(path) if path.exists() else {}
    knobs = {}
    for key, spec in raw.items():
        if not isinstance(spec, dict):
            raise UserError(f"{path}: '{key}' must be an object with low/high or choices, got {spec!r}")
        try:
            knobs[key] = Knob.model_validate(spec)
        except ValidationError as err:
            raise UserError(f"{path}: '{key}': {err.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    if LR_KEY not in knobs:
        if lr is None:
            raise UserError(f"{exp_dir}: no learning rate (optimizer_kwargs.lr) to anchor the default range; "
                            f"declare '{LR_KEY}' in {SPACE_FILE}")
        knobs = {LR_KEY: Knob(low=lr / DEFAULT_SPAN, high=lr * DEFAULT_SPAN, log=True), **knobs}
        origin = f"default: its lr {lr:g} ÷/× {DEFAULT_SPAN:g}" + (f", plus {path.name}" if raw else "")
    else:
        origin = str(path.name)
    return SearchSpace(knobs, origin)


def nested(key: str, value: Any) -> dict:
    """`a.b.c`, v -> {"a": {"b": {"c": v}}}."""
    node: Any = value
    for part in reversed(key.split(".")):
        node = {part: node}
    return node


def apply(params: dict[str, Any], peft_config: dict | None, train_overrides: dict) -> tuple[dict | None, dict]:
    """The adapter config and training_params.json of one point of the space (the inputs untouched)."""
    adapter = copy.deepcopy(peft_config)
    training = copy.deepcopy(train_overrides)
    for key, value in params.items():
        if key.startswith(ADAPTER_PREFIX):
            if adapter is None:
                raise UserError(f"{SPACE_FILE}: '{key}' searches an adapter key, but the experiment has no adapter "
                                "config (full fine-tuning)")
            adapter = deep_merge(adapter, nested(key.removeprefix(ADAPTER_PREFIX), value))
        else:
            training = deep_merge(training, nested(key, value))
    return adapter, training


def default_point(space: SearchSpace, train_config: dict, peft_config: dict | None, where: Path) -> dict[str, Any]:
    """The experiment's own value of every knob (its validated training config, its adapter config):
    the search's trial 0. UserError when one lies outside its knob's range: a search must be able to
    keep the default."""
    point = {}
    for key, knob in space.knobs.items():
        source = (peft_config or {}) if key.startswith(ADAPTER_PREFIX) else train_config
        node: Any = source
        for part in key.removeprefix(ADAPTER_PREFIX).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        inside = (node in knob.choices if knob.choices is not None
                  else isinstance(node, (int, float)) and not isinstance(node, bool) and knob.low <= node <= knob.high)
        if not inside:
            raise UserError(f"{Path(where) / SPACE_FILE}: '{key}': the experiment's own value {node!r} lies outside "
                            f"{knob.describe()}; the space must hold the default, which every search tries first")
        point[key] = int(node) if knob.integer and knob.choices is None else node
    return point
