"""Tasks as packages: registration by decorator, duplicates refused, lookups that import only what they
need, and `peftbench params` built from the config models."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from peftbench.cli import app
from peftbench.planning.config import describe_fields
from peftbench.errors import UserError
from peftbench.tasks import register_task, task_names, task_spec
from peftbench.tasks.minimath import MiniMathConfig


def test_builtin_tasks_are_registered_with_their_kind_and_metric():
    assert {"minimath", "metamathqa", "minigen", "imagegen"} <= set(task_names())
    assert (task_spec("minimath").kind, task_spec("minimath").metric) == ("text", "accuracy")
    assert (task_spec("minigen").kind, task_spec("minigen").metric, task_spec("minigen").max_threads) == ("image", "similarity", 1)


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="task 'minimath' is already registered"):
        register_task("minimath", kind="text", metric="accuracy", config_model=MiniMathConfig, defaults={})(lambda: None)


def test_unknown_task_names_the_known_ones():
    with pytest.raises(UserError, match="task 'nope': unknown task \\(known: .*minimath"):
        task_spec("nope")


def test_lookup_and_planning_import_neither_torch_nor_other_tasks(make_experiment):
    """Planning a run (what the sweep driver does) loads no model stack; looking up one task does not
    import the others (diffusers for the image tasks)."""
    folder = make_experiment(params={"max_steps": 2})  # full fine-tuning: nothing for peft to check
    code = ("import sys\nfrom peftbench.planning.plan import plan_run\n"
            f"plan = plan_run({str(folder)!r})\n"
            "print(sorted(m for m in ('torch', 'peft', 'diffusers', 'peftbench.tasks.minigen', "
            "'peftbench.tasks.minimath.task') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_task_sections_belong_to_their_task(make_experiment):
    from peftbench.planning.plan import plan_run

    with pytest.raises(UserError, match="unknown training parameter 'data.sources'"):
        plan_run(make_experiment(params={}), overrides={"data": {"sources": {"train": "x.jsonl"}}})
    with pytest.raises(UserError, match="unknown training parameter 'data.gsm8k_test_size'"):
        plan_run(make_experiment(task="metamathqa", params={}), overrides={"data": {"gsm8k_test_size": 3}})
    with pytest.raises(UserError, match="data.sources.*unknown split 'tarin'"):
        plan_run(make_experiment(task="metamathqa", params={}), overrides={"data": {"sources": {"tarin": "x"}}})


def test_params_lists_every_leaf_key_with_default_and_meaning():
    fields = {f.key: f for f in describe_fields(MiniMathConfig, task_spec("minimath").defaults)}
    assert fields["data.gsm8k_test_size"].default == "50" and "GSM8K" in fields["data.gsm8k_test_size"].description
    assert fields["optimizer_kwargs"].default == '{"lr": 0.002, "weight_decay": 0.0}'
    assert all(f.description for f in fields.values()), [k for k, f in fields.items() if not f.description]
    result = CliRunner().invoke(app, ["params", "--task", "minigen"])
    assert result.exit_code == 0 and "minigen.concept_digit" in result.output
    result = CliRunner().invoke(app, ["params", "--task", "nope"])
    assert result.exit_code == 2 and "unknown task" in result.output
