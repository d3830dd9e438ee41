"""Type and range checks of adapter parameters, for every peft config class, from its own type hints.

peft's config dataclasses accept almost anything (`r: "8"`, `r: -3`, `lora_dropout: -0.5`, NaN): the
mistake surfaces after the model load, or never. Rather than a list of rules per method, the checks
here are derived from each dataclass field's type hint (int, float, bool, str, list[...], dict[...],
Optional, Union, Literal, enums, nested config dataclasses) plus a few range rules keyed by field-name
patterns that mean the same thing in every method (a `*dropout` is a probability, `r`/`*_r`/`*rank`
is a rank, `*_size`/`num_*`/`n_*` count something). A new peft method is covered without a line here.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import re
import types
import typing
from typing import Any

from peftbench.errors import UserError

# Bump when the checks change: peft_config.validate_peft_config remembers configs that passed.
CHECKS_VERSION = 1
# Without a model to compare with: no network layer is wider than this, so no rank can be larger.
MAX_RANK = 65_536
MAX_COUNT = 2**31 - 1  # counts and sizes: beyond int32, every kernel that indexes with them breaks

DROPOUT = re.compile(r".*dropout(_p)?")
RANK = re.compile(r"r|rank|.+_r|.+_rank")
COUNT = re.compile(r".+_size|.+_len|.+_length|n_.+|num_.+|.+_num|.+_layers")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@functools.lru_cache(maxsize=None)
def field_hints(config_cls: type) -> dict[str, tuple[Any, Any]]:
    """{field: (type hint, default)} of a config dataclass; default is MISSING when it has none."""
    hints = typing.get_type_hints(config_cls)
    out = {}
    for f in dataclasses.fields(config_cls):
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        out[f.name] = (hints.get(f.name, Any), default)
    return out


PLURAL = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}


def describe(hint: Any) -> str:
    """A type hint in the words of an error message."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if hint is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        # Sorted, null last: typing caches equal unions, so the order of the arms is that of whichever
        # equal union some library spelled first in this process, not the hint's own.
        return " or ".join(sorted({describe(a) for a in args}, key=lambda text: (text == "null", text)))
    if origin in (list, tuple) or hint in (list, tuple):
        return f"a list of {PLURAL.get(args[0]) or describe(args[0])}" if args and args[0] is not Ellipsis else "a list"
    if origin is dict or hint is dict:
        return f"an object of {describe(args[1])}" if len(args) == 2 else "an object"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    if dataclasses.is_dataclass(hint):
        return f"an object with the fields of {hint.__name__}"
    return "a value"


def matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a type hint (a bool is no int, an int is a float, NaN is no number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return True
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arm) for arm in args)
    if origin is typing.Literal:
        return any(_literal_matches(value, option) for option in args)
    if origin is list or hint is list:
        return isinstance(value, (list, tuple)) and (not args or all(matches(v, args[0]) for v in value))
    if origin is tuple or hint is tuple:
        return _tuple_matches(value, args)
    if origin is dict or hint is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value) and (
            len(args) != 2 or all(matches(v, args[1]) for v in value.values()))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return isinstance(value, hint) or (isinstance(value, (str, int)) and value in {m.value for m in hint})
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return isinstance(value, hint) or isinstance(value, dict)  # fields checked by _check_nested
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a hint we cannot read (forward reference, protocol): peft's own checks decide


def _literal_matches(value: Any, option: Any) -> bool:
    if isinstance(option, str) and "[" in option and isinstance(value, str):
        # peft spells a family of values as a template, e.g. 'pissa_niter_[number of iters]'.
        prefix = option.split("[", 1)[0]
        return value.startswith(prefix) and len(value) > len(prefix)
    return type(value) is type(option) and value == option


def _tuple_matches(value: Any, args: tuple) -> bool:
    if not isinstance(value, (list, tuple)):  # JSON has no tuples: a list stands for one
        return False
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return not args or all(matches(v, args[0]) for v in value)
    return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args))


def _non_finite(value: Any) -> bool:
    """Whether a NaN or infinity hides anywhere in a JSON value (dict values, list items)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return False


def _int_only(hint: Any) -> bool:
    """int or Optional[int]: the only hints the "rank at least 1" rule applies to (OSF's
    effective_rank may be a float fraction)."""
    arms = [a for a in (typing.get_args(hint) or (hint,)) if a is not type(None)]
    return arms == [int]


def range_problem(name: str, value: Any, hint: Any, default: Any, max_rank: int | None = None) -> str | None:
    """What is wrong with a well-typed number under the name rules, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if DROPOUT.fullmatch(name):
        return None if 0 <= value < 1 else "expected a dropout probability in [0, 1)"
    if RANK.fullmatch(name) and not name.endswith("_pattern"):
        low = 0 if default == 0 or not _int_only(hint) else 1  # 0 means "unset" where it is the default (OFT's r)
        high = max_rank or MAX_RANK
        if not low <= value <= high:
            bound = f"the model's widest layer, {max_rank}" if max_rank else f"{MAX_RANK}"
            return f"expected a rank from {low} to {bound}"
        return None
    if COUNT.fullmatch(name) and isinstance(value, int):
        return None if 0 <= value <= MAX_COUNT else f"expected a count from 0 to {MAX_COUNT}"
    return None


def check_fields(config_cls: type, kwargs: dict, source: str, max_rank: int | None = None, prefix: str = "") -> None:
    """UserError naming `source`, the key and the value for the first field of `kwargs` whose value
    does not fit `config_cls`'s type hint or the name rules. Unknown keys are the caller's business."""
    hints = field_hints(config_cls)
    for name, value in kwargs.items():
        if name not in hints:
            continue
        hint, default = hints[name]
        key = prefix + name
        if value is None and default is None:
            continue  # the class's own default (peft writes `num_virtual_tokens: int = None`)
        if _non_finite(value):
            raise UserError(f"{source}: invalid value {_short(value)} for '{key}': NaN and infinity are not numbers")
        if not matches(value, hint):
            raise UserError(f"{source}: invalid value {_short(value)} for '{key}': expected {describe(hint)}")
        _check_nested(hint, name, value, source, max_rank, key)
        problem = range_problem(name, value, hint, default, max_rank)
        if problem:
            raise UserError(f"{source}: invalid value {_short(value)} for '{key}': {problem}")


def _check_nested(hint: Any, name: str, value: Any, source: str, max_rank: int | None, key: str) -> None:
    """Values inside a field: a nested config's fields, and `<x>_pattern` maps (rank_pattern,
    alpha_pattern) whose values obey the rules of field `<x>`."""
    nested = _dataclass_arm(hint)
    if nested is not None and isinstance(value, dict):
        unknown = sorted(set(value) - set(field_hints(nested)))
        if unknown:
            raise UserError(f"{source}: key '{key}.{unknown[0]}' is not a {nested.__name__} field in this peft version")
        check_fields(nested, value, source, max_rank, prefix=key + ".")
    if name.endswith("_pattern") and isinstance(value, dict):
        base = name[: -len("_pattern")]
        # The items' own hint where the field has one (OSF: dict[str, int | float]), else: ranks are ints.
        item_hint = next((typing.get_args(a)[1] for a in typing.get_args(hint) or (hint,)
                          if typing.get_origin(a) is dict and len(typing.get_args(a)) == 2),
                         int if base == "rank" else float)
        for pattern, item in value.items():
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise UserError(f"{source}: invalid value {_short(item)} for '{key}.{pattern}': expected a number")
            problem = range_problem(base, item, item_hint, None, max_rank)
            if problem:
                raise UserError(f"{source}: invalid value {_short(item)} for '{key}.{pattern}': {problem}")


def _dataclass_arm(hint: Any) -> type | None:
    for arm in typing.get_args(hint) or (hint,):
        if isinstance(arm, type) and dataclasses.is_dataclass(arm):
            return arm
    return None
