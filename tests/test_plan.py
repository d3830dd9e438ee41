"""A planned run travels to a worker as JSON; the worker plans it again and notices an edited config."""

from __future__ import annotations

import json

import pytest

from peftbench.errors import UserError
from peftbench.planning.plan import RunPlan, plan_run
from peftbench.system.signals import Terminated, describe, exit_code
from peftbench.sweep.executor import ExecutorKind, ExecutorOptions
from peftbench.system.threads import thread_env

LORA = {"peft_type": "LORA", "r": 2, "target_modules": ["q_proj"], "task_type": "CAUSAL_LM"}


def test_plan_round_trips_through_json(make_experiment):
    plan = plan_run(make_experiment(adapter=LORA), max_steps=3, seed=2, overrides={"data": {"test_size": 5}})
    again = RunPlan.from_json(json.loads(json.dumps(plan.to_json())))
    assert (again.config_hash, again.seed, again.stem, again.cfg.max_steps) == (plan.config_hash, 2, "lora--t--seed2", 3)
    assert again.cfg == plan.cfg


def test_worker_refuses_a_config_edited_after_planning(make_experiment):
    folder = make_experiment(adapter=LORA)
    sent = plan_run(folder).to_json()
    (folder / "adapter_config.json").write_text(json.dumps({**LORA, "r": 4}))
    with pytest.raises(UserError, match="config changed since the sweep planned it"):
        RunPlan.from_json(sent)


@pytest.mark.parametrize("status, error, code", [
    ("success", None, 0), ("failed", RuntimeError("x"), 1), ("cancelled", KeyboardInterrupt(), 130),
    ("cancelled", Terminated(), 143)])
def test_one_place_maps_outcomes_to_exit_codes(status, error, code):
    assert exit_code(status, error) == code


def test_error_messages_for_records():
    assert describe(KeyboardInterrupt()) == "interrupted by the user (Ctrl-C)"
    assert describe(Terminated()) == "terminated by SIGTERM"
    assert describe(ValueError("bad")) == "ValueError: bad"


def test_executor_options_and_thread_environment():
    with pytest.raises(UserError, match="--ray-address needs --executor ray"):
        ExecutorOptions(ExecutorKind.local, ray_address="auto")
    assert ExecutorOptions(ExecutorKind.ray, ray_address="auto").ray_address == "auto"
    assert thread_env(3) == {"PEFTBENCH_THREADS": "3", "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    assert thread_env(None) == {}
