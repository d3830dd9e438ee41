"""Adapter parameters checked by type and range from each peft config dataclass's own hints (the
meta-device preflight against a model's architecture: tests/test_adapter_preflight.py). No model
weights are loaded here."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peftbench.adapters.params import check_fields, field_hints
from peftbench.adapters.peft_config import build_peft_config
from peftbench.errors import UserError

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _mapping():
    from peft import PEFT_TYPE_TO_CONFIG_MAPPING

    return PEFT_TYPE_TO_CONFIG_MAPPING


def test_every_peft_config_class_accepts_its_own_defaults():
    """The generic rules hold for every method peft ships: none refuses a class's own defaults."""
    for config_cls in _mapping().values():
        defaults = {k: v for k, (_, v) in field_hints(config_cls).items() if v is not dataclasses.MISSING}
        check_fields(config_cls, defaults, config_cls.__name__)


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*/*/*/adapter_config.json")), ids=lambda p: "/".join(p.parts[-4:-1]))
def test_every_shipped_adapter_config_passes(path):
    raw = json.loads(path.read_text())
    build_peft_config(raw, str(path), None if "imagegen" in path.parts else "CAUSAL_LM")


LORA = {"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"]}
BAD = {
    "rank as a string": ({"r": "8"}, "'8' for 'r': expected an integer"),
    "rank 1e12": ({"r": 1e12}, "for 'r': expected an integer"),
    "rank 10**12": ({"r": 10**12}, "for 'r': expected a rank from 1 to 65536"),
    "rank 0": ({"r": 0}, "0 for 'r': expected a rank from 1"),
    "negative rank": ({"r": -4}, "-4 for 'r': expected a rank"),
    "bool for an int": ({"r": True}, "True for 'r': expected an integer"),
    "negative dropout": ({"lora_dropout": -0.5}, "-0.5 for 'lora_dropout': expected a dropout probability in [0, 1)"),
    "dropout 1": ({"lora_dropout": 1.0}, "for 'lora_dropout': expected a dropout probability"),
    "NaN alpha": ({"lora_alpha": math.nan}, "for 'lora_alpha': NaN and infinity are not numbers"),
    "inf in a pattern": ({"alpha_pattern": {"q_proj": math.inf}}, "NaN and infinity"),
    "rank pattern 0": ({"rank_pattern": {"q_proj": 0}}, "for 'rank_pattern.q_proj': expected a rank"),
    # Our words for peft's hint, in our order; which arms the hint has (null?) is peft's business.
    "target_modules a number": ({"target_modules": 5}, "5 for 'target_modules': expected a list of strings or a string"),
    "literal": ({"bias": "some"}, "'some' for 'bias': expected one of 'none', 'all', 'lora_only'"),
    "init template": ({"init_lora_weights": "bogus"}, "'bogus' for 'init_lora_weights'"),
    "nested config key": ({"eva_config": {"nope": 1}}, "'eva_config.nope' is not a EvaConfig field"),
    "nested config type": ({"eva_config": {"rho": "x"}}, "'x' for 'eva_config.rho': expected a number"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_lora_values_are_one_line(case):
    change, expected = BAD[case]
    with pytest.raises(UserError) as caught:
        build_peft_config({**LORA, **change}, "adapter_config.json")
    message = str(caught.value)
    assert message.startswith("adapter_config.json: ") and "\n" not in message
    assert expected in message, message


def test_a_union_reads_the_same_whatever_the_order_of_its_arms():
    from peftbench.adapters.params import describe

    assert describe(str | list[str] | None) == describe(None | list[str] | str) == "a list of strings or a string or null"


@pytest.mark.parametrize("raw", [
    {"peft_type": "LORA", "init_lora_weights": "pissa_niter_4"},  # peft's template literal
    {"peft_type": "LORA", "layer_replication": [[0, 1], [1, 2]]},  # JSON list for a tuple
    {"peft_type": "OFT", "r": 0, "oft_block_size": 32},  # 0 is OFT's own default: "unset"
    {"peft_type": "BOFT", "boft_block_size": 0, "boft_block_num": 4, "target_modules": ["q_proj"]},
    {"peft_type": "LOKR", "decompose_factor": -1},
    {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 8},
    {"peft_type": "LORA", "lora_alpha": 16, "alpha_pattern": {"q_proj": 8.5}, "rank_pattern": {"q_proj": 4}},
])
def test_valid_unusual_values_pass(raw):
    build_peft_config(raw, "adapter_config.json")


# Property test: whatever a config file holds, the answer is a config or one UserError line. -------

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**40, max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=8)
PEFT_TYPES = ["LORA", "IA3", "LOHA", "LOKR", "BOFT", "VERA", "FOURIERFT", "PROMPT_TUNING", "PREFIX_TUNING", "LN_TUNING"]


@st.composite
def adapter_configs(draw):
    from peft import PeftType

    peft_type = draw(st.sampled_from(PEFT_TYPES))
    fields = sorted(field_hints(_mapping()[PeftType(peft_type)]))
    chosen = draw(st.lists(st.sampled_from(fields), max_size=5, unique=True))
    raw = {name: draw(JSON_VALUES) for name in chosen}
    return {**raw, "peft_type": peft_type}


def _one_line_or_config(fn, *args):
    try:
        return fn(*args)
    except UserError as err:
        assert str(err) and "\n" not in str(err), repr(str(err))
        return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adapter_configs())
def test_any_adapter_config_is_valid_or_one_line(raw):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft warns about odd but legal combinations
        _one_line_or_config(build_peft_config, raw, "adapter_config.json")


TRAIN_KEYS = ["batch_size", "batch_size_eval", "max_steps", "eval_steps", "seed", "warmup_ratio", "grad_norm_clip",
              "lr_scheduler", "dtype", "use_gc", "optimizer_kwargs", "max_seq_length", "data", "generation_kwargs",
              "query_template", "loss_on", "compile"]
NESTED = {"optimizer_kwargs": ["lr", "weight_decay", "betas"], "data": ["train_size", "test_size", "valid_size", "sources"],
          "generation_kwargs": ["max_new_tokens", "max_length"]}


@st.composite
def training_params(draw):
    out = {}
    for key in draw(st.lists(st.sampled_from(TRAIN_KEYS), max_size=4, unique=True)):
        if key in NESTED and draw(st.booleans()):
            subkeys = draw(st.lists(st.sampled_from(NESTED[key]), min_size=1, max_size=2, unique=True))
            out[key] = {sub: draw(JSON_VALUES) for sub in subkeys}
        else:
            out[key] = draw(JSON_VALUES)
    return out


@settings(max_examples=200, deadline=None)
@given(training_params())
def test_any_training_params_are_valid_or_one_line(params):
    from peftbench.planning.config import build_config
    from peftbench.tasks import task_spec

    spec = task_spec("minimath")
    config = _one_line_or_config(build_config, spec.defaults, params, "training_params.json", spec.config_model)
    if config is not None:  # what validated is what runs: no NaN, no bool where a number goes
        dumped = json.dumps(config.model_dump(mode="json"), allow_nan=False)
        assert dumped
