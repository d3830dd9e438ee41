import pytest

from peftbench.errors import UserError
from peftbench.planning.experiment import discover, load_experiment

LORA = {"peft_type": "LORA", "r": 4, "target_modules": ["q_proj", "v_proj"]}


def test_load_splits_task_method_name(make_experiment):
    folder = make_experiment("minimath", "lora", "r4", adapter=LORA, params={"max_steps": 3})
    exp = load_experiment(folder)
    assert (exp.task, exp.method, exp.name) == ("minimath", "lora", "r4")
    assert exp.full_name == "lora/r4"
    assert exp.peft_config == LORA
    assert exp.overrides == {"max_steps": 3}


def test_load_without_adapter_is_full_finetuning(make_experiment):
    exp = load_experiment(make_experiment("minimath", "full", "t", params={}))
    assert exp.peft_config is None and exp.overrides == {}


def test_missing_folder(tmp_path):
    missing = tmp_path / "experiments" / "minimath" / "lora" / "nope"
    with pytest.raises(UserError) as err:
        load_experiment(missing)
    assert str(missing) in str(err.value)


def test_malformed_json_names_file_and_line(make_experiment):
    folder = make_experiment()
    bad = folder / "adapter_config.json"
    bad.write_text('{\n  "peft_type": "LORA",\n  "r": 4,\n}\n')
    with pytest.raises(UserError) as err:
        load_experiment(folder)
    message = str(err.value)
    assert str(bad) in message and "line 4" in message


def test_malformed_training_params(make_experiment):
    folder = make_experiment(adapter=LORA)
    (folder / "training_params.json").write_text("[1, 2]")
    with pytest.raises(UserError) as err:
        load_experiment(folder)
    assert "training_params.json" in str(err.value)


def test_adapter_without_peft_type(make_experiment):
    folder = make_experiment(adapter={"r": 4})
    with pytest.raises(UserError) as err:
        load_experiment(folder)
    assert "peft_type" in str(err.value) and "adapter_config.json" in str(err.value)


def test_discover_finds_either_file_filters_and_sorts(make_experiment, tmp_path):
    make_experiment("minimath", "lora", "b", adapter=LORA)
    make_experiment("minimath", "lora", "a", params={"max_steps": 1})
    make_experiment("minimath", "ia3", "x", adapter={"peft_type": "IA3"})
    make_experiment("metamathqa", "lora", "y", adapter=LORA)
    make_experiment("minimath", "empty", "z")  # neither file: not an experiment
    root = tmp_path / "experiments"

    everything = [(e.task, e.full_name) for e in discover(root)]
    assert everything == [
        ("metamathqa", "lora/y"),
        ("minimath", "ia3/x"),
        ("minimath", "lora/a"),
        ("minimath", "lora/b"),
    ]
    assert [e.full_name for e in discover(root, "minimath")] == ["ia3/x", "lora/a", "lora/b"]
    with pytest.raises(UserError):
        discover(root, "no_such_task")
    with pytest.raises(UserError):
        discover(tmp_path / "missing")


def test_result_stem(make_experiment):
    exp = load_experiment(make_experiment("minimath", "lora", "r4", adapter=LORA))
    assert exp.result_stem(0) == "lora--r4"
    assert exp.result_stem(3) == "lora--r4--seed3"
