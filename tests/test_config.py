import pytest

from peftbench.planning.config import build_config, deep_merge, parse_overrides, validate_config
from peftbench.errors import UserError
from peftbench.planning.experiment import config_hash
from peftbench.tasks.minimath import DEFAULTS, MiniMathConfig

SOURCE = "experiments/minimath/lora/t/training_params.json"


def build(overrides: dict):
    return build_config(DEFAULTS, overrides, SOURCE, MiniMathConfig)


def test_defaults_validate():
    cfg = build({})
    assert cfg.max_steps == DEFAULTS["max_steps"]
    assert cfg.optimizer_kwargs == DEFAULTS["optimizer_kwargs"]


def test_deep_merge_keeps_nested_defaults():
    cfg = build({"optimizer_kwargs": {"lr": 5e-4}, "data": {"test_size": 7}})
    assert cfg.optimizer_kwargs == {"lr": 5e-4, "weight_decay": DEFAULTS["optimizer_kwargs"]["weight_decay"]}
    assert cfg.data.test_size == 7
    assert cfg.data.valid_size == DEFAULTS["data"]["valid_size"]
    assert cfg.generation_kwargs.max_new_tokens == DEFAULTS["generation_kwargs"]["max_new_tokens"]


def test_deep_merge_does_not_mutate_inputs():
    base = {"a": {"b": 1, "c": [1]}}
    override = {"a": {"b": 2}}
    merged = deep_merge(base, override)
    assert merged == {"a": {"b": 2, "c": [1]}}
    merged["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}} and override == {"a": {"b": 2}}


@pytest.mark.parametrize("overrides, key", [({"batch_sise": 4}, "batch_sise"), ({"data": {"tset_size": 3}}, "data.tset_size")])
def test_unknown_key_names_file_and_key(overrides, key):
    with pytest.raises(UserError) as err:
        build(overrides)
    assert SOURCE in str(err.value)
    assert f"'{key}'" in str(err.value)


def test_wrong_type_names_key_and_value():
    with pytest.raises(UserError) as err:
        build({"batch_size": "eight"})
    message = str(err.value)
    assert SOURCE in message and "batch_size" in message and "eight" in message


@pytest.mark.parametrize(
    "overrides, key, value",
    [
        ({"max_steps": 0}, "max_steps", "0"),
        ({"optimizer_kwargs": {"lr": -1e-3}}, "optimizer_kwargs", "-0.001"),
        ({"query_template": "Question: {question}\nAnswer:"}, "query_template", "{question}"),
        ({"generation_kwargs": {"max_new_tokens": -1}}, "generation_kwargs.max_new_tokens", "-1"),
    ],
)
def test_impossible_values_rejected(overrides, key, value):
    with pytest.raises(UserError) as err:
        build(overrides)
    message = str(err.value)
    assert SOURCE in message and f"'{key}'" in message and value in message


def test_eval_steps_beyond_max_steps_is_clamped_by_the_config_model():
    """A short run still validates once (after its last step): the model clamps, whoever validates."""
    assert (build({"max_steps": 5}).eval_steps, build({"max_steps": 5, "eval_steps": 3}).eval_steps) == (5, 3)
    assert build({"max_steps": 500}).eval_steps == DEFAULTS["eval_steps"]


@pytest.mark.parametrize(("file", "line", "named"), [
    ({"batch_size": 0}, {}, SOURCE),  # the file's own mistake
    ({}, {"batch_size": 0}, "command line"),
    ({"foo": 1}, {"bar": 1}, SOURCE),  # both wrong: the file, validated before the command line came
    ({"max_steps": 0}, {"batch_size": 0}, SOURCE),
])
def test_one_pass_names_the_first_layer_that_is_wrong(file, line, named):
    with pytest.raises(UserError) as err:
        validate_config(DEFAULTS, [(SOURCE, file), ("command line", line)], MiniMathConfig)
    assert str(err.value).startswith(f"{named}: ")


def test_layers_merge_as_dicts_before_the_one_validation():
    cfg = validate_config(DEFAULTS, [(SOURCE, {"max_steps": 4, "optimizer_kwargs": {"lr": 1e-3}}),
                                     ("command line", {"optimizer_kwargs": {"weight_decay": 0.5}})], MiniMathConfig)
    assert (cfg.max_steps, cfg.eval_steps, cfg.optimizer_kwargs) == (4, 4, {"lr": 1e-3, "weight_decay": 0.5})


def test_parse_overrides_nested_and_json():
    assert parse_overrides(["a.b=1", "x=abc", "y=[1, 2]", "a.c=true", "z=\"q\""]) == {
        "a": {"b": 1, "c": True}, "x": "abc", "y": [1, 2], "z": "q"
    }
    assert parse_overrides([]) == {}


@pytest.mark.parametrize("bad", ["noequals", "=1"])
def test_parse_overrides_rejects_missing_key_or_equals(bad):
    with pytest.raises(UserError) as err:
        parse_overrides([bad])
    assert bad in str(err.value)


PEFT = {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"]}


def test_config_hash_stable_for_equal_inputs():
    a = config_hash("minimath", build({"optimizer_kwargs": {"lr": 1e-3}}), dict(PEFT), 0)
    b = config_hash("minimath", build({"optimizer_kwargs": {"lr": 1e-3}}), dict(reversed(list(PEFT.items()))), 0)
    assert a == b and isinstance(a, str) and len(a) >= 8


def test_config_hash_changes_with_seed_lr_peft_and_task():
    base = config_hash("minimath", build({}), PEFT, 0)
    assert config_hash("minimath", build({"seed": 1}), PEFT, 1) != base
    assert config_hash("minimath", build({}), PEFT, 1) != base
    assert config_hash("minimath", build({"optimizer_kwargs": {"lr": 1e-3}}), PEFT, 0) != base
    assert config_hash("minimath", build({}), {**PEFT, "r": 16}, 0) != base
    assert config_hash("minimath", build({}), None, 0) != base
    assert config_hash("metamathqa", build({}), PEFT, 0) != base
