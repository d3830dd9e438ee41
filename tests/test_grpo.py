"""GRPO as a second way to train (training/grpo.py): the task's scorer as the reward, TRL's trainer inside the
run pipeline (records, accounted memory, window rows, the reference's rl_eval_info), a start from a
saved supervised adapter, and the shipped offline preset (minimath-rl). On the tiny model, in seconds."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from peftbench.errors import UserError
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run
from peftbench.telemetry.progress import Reporter
from peftbench.training.grpo import grpo_arguments, reward_functions
from peftbench.tasks.base import Score

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_the_reward_is_the_tasks_scorer_plus_an_optional_format_reward():
    task = SimpleNamespace(score=lambda text, gold: Score(None, text.strip().endswith(gold)))
    plain = SimpleNamespace(format_reward=0.0, answer_phrase="The answer is")
    (correct,) = reward_functions(task, plain)
    assert correct(["x. The answer is 12", "The answer is 13", "12"], ["12", "12", "12"]) == [1.0, 0.0, 1.0]
    shaped = SimpleNamespace(format_reward=0.1, answer_phrase="The answer is")
    correct, form = reward_functions(task, shaped)
    assert form(["The answer is 3", "3"]) == [0.1, 0.0]


def test_the_prompts_are_the_training_split_only():
    """Rewards never read the test (or validation) split: TRL's dataset is built from train_examples alone."""
    from peftbench.tasks.base import Example
    from peftbench.training.grpo import prompts_dataset

    def unread(cfg):
        raise AssertionError("a split other than training was read")

    train = [Example(id=f"t{i}", question=f"q{i}", target="", gold=str(i)) for i in range(3)]
    task = SimpleNamespace(train_examples=lambda cfg: train, valid_examples=unread, test_sets=unread)
    data = prompts_dataset(task, SimpleNamespace(query_template="Q: {query}\nA:"), lambda t, q: t.format(query=q))
    assert data["prompt"] == ["Q: q0\nA:", "Q: q1\nA:", "Q: q2\nA:"] and data["gold"] == ["0", "1", "2"]


@pytest.mark.parametrize("use_gc", [False, True])
def test_the_runs_use_gc_decides_gradient_checkpointing_not_trls_default(make_experiment, tiny_params, tmp_path, use_gc):
    """TRL's GRPOConfig turns gradient checkpointing on by default; in training mode that makes generation run
    without a KV cache (quadratic in the answer length), so the run's own use_gc must reach it."""
    params = {**tiny_params, "trainer": "grpo", "use_gc": use_gc}
    cfg = plan_run(make_experiment(name="gc", adapter=LORA, params=params)).cfg
    assert grpo_arguments(cfg, str(tmp_path)).gradient_checkpointing is use_gc


def _grpo(make_experiment, tiny_params, tmp_path, name="rl", **grpo):
    params = {**tiny_params, "trainer": "grpo", "grpo": {"num_generations": 2, "max_new_tokens": 4, **grpo}}
    folder = make_experiment(name=name, adapter=LORA, params=params)
    return execute(plan_run(folder), tmp_path / "results", Reporter(enabled=False))


def test_a_grpo_run_records_what_a_supervised_run_does_and_the_rl_figures(make_experiment, tiny_params, tmp_path):
    outcome = _grpo(make_experiment, tiny_params, tmp_path)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    record = json.loads(outcome.path.read_text())
    rows = record["train_info"]["metrics"]
    windows, final = rows[:-1], rows[-1]
    assert [r["step"] for r in windows] == [1, 2] and final["step"] == 2
    for row in windows:
        assert {"reward", "reward std", "kl", "completion length", "train loss", "valid accuracy"} <= row.keys()
    assert "test accuracy" in final and "forgetting" in final and final["train total tokens"] > 0
    info = record["rl_eval_info"]
    assert info["test_pass_at_1"] == final["test accuracy"] and info["num_eval_samples"] == 3
    assert info["reward_mean"] == windows[-1]["reward"] and info["kl_mean"] == windows[-1]["kl"]
    assert record["train_info"]["accounted_memory_max"] > 0 and record["train_info"]["train_time"] > 0
    assert record["run_info"]["train_config"]["trainer"] == "grpo"


def test_rl_can_start_from_a_saved_supervised_adapter(make_experiment, tiny_params, tmp_path):
    sft = execute(plan_run(make_experiment(name="sft", adapter=LORA, params=tiny_params), save_adapter=True),
                  tmp_path / "results", Reporter(enabled=False))
    saved = sft.path.with_name(sft.path.stem + ".adapter")
    assert (saved / "adapter_model.safetensors").is_file()
    outcome = _grpo(make_experiment, tiny_params, tmp_path, name="rl-from-sft", init_adapter=str(saved))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    with pytest.raises(UserError, match="no adapter_model.safetensors there"):
        _grpo(make_experiment, tiny_params, tmp_path, name="rl-bad", init_adapter=str(tmp_path))


def test_the_offline_rl_preset_ships_the_methods_and_plans():
    """minimath-rl: LoRA r16 (the reference) and r1, DoRA, PiSSA, full fine-tuning, IA3, MiSS, VeRA and
    the untrained model; every experiment plans (configs valid) with GRPO as its trainer."""
    from peftbench.planning.experiment import discover

    found = {e.full_name: e for e in discover(EXPERIMENTS, "minimath-rl")}
    assert set(found) == {"lora/default", "lora/r1", "lora/dora", "lora/pissa", "full-finetuning/default",
                          "ia3/default", "miss/default", "vera/default", "base/zero-shot"}
    for exp in found.values():
        plan = plan_run(exp.path)
        assert plan.cfg.trainer == "grpo" and plan.task == "minimath-rl"
    assert plan_run(found["lora/r1"].path).experiment.peft_config["r"] == 1


def test_the_gpu_rl_preset_plans_without_the_hub():
    """metamathqa-rl: its experiments plan offline (nothing is downloaded before a run)."""
    from peftbench.planning.experiment import discover

    found = {e.full_name: e for e in discover(EXPERIMENTS, "metamathqa-rl")}
    assert set(found) == {"lora/default", "lora/r1", "full-finetuning/default", "base/zero-shot"}
    for exp in found.values():
        plan = plan_run(exp.path)
        assert plan.cfg.trainer == "grpo" and plan.cfg.model_id == "Qwen/Qwen3.5-4B"


def test_sampling_is_seeded_the_same_seed_gives_the_same_record(make_experiment, tiny_params, tmp_path):
    """Two runs of one config and seed sample the same answers: the same rewards, losses and results. The
    tiny model's answers are random tokens; a format reward for a letter some contain (q) makes the rewards depend on
    which tokens were sampled, so unseeded sampling would show."""
    def figures(name, seed=0):
        folder = make_experiment(name=name, adapter=LORA, params={
            **tiny_params, "seed": seed, "trainer": "grpo",
            "grpo": {"num_generations": 4, "max_new_tokens": 6, "temperature": 1.0, "format_reward": 1.0,
                     "answer_phrase": "q"}})
        outcome = execute(plan_run(folder), tmp_path / name, Reporter(enabled=False))
        assert outcome.status == "success", outcome.record.run_info.error_msg
        keep = ("reward", "reward std", "completion length", "train loss", "kl", "valid accuracy", "test accuracy")
        return [{k: row[k] for k in keep if k in row} for row in outcome.record.train_info.metrics]

    first = figures("first")
    assert first == figures("second")
    assert first != figures("other-seed", seed=1)  # the figures do depend on what was sampled


METHODS = {
    "ia3": {"peft_type": "IA3", "target_modules": ["k_proj", "v_proj", "down_proj"],
            "feedforward_modules": ["down_proj"], "task_type": "CAUSAL_LM"},
    "vera": {"peft_type": "VERA", "r": 4, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"},
    "prompt_tuning": {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4, "task_type": "CAUSAL_LM"},
    "prefix_tuning": {"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 4, "task_type": "CAUSAL_LM"},
    "full-finetuning": None,
}


@pytest.mark.parametrize("method", list(METHODS))
def test_grpo_trains_other_kinds_of_method(method, make_experiment, tiny_params, tmp_path):
    """Scaling vectors, shared random projections, prompt learning (virtual tokens in the prompt or the
    cache) and full fine-tuning, besides LoRA: each trains two GRPO steps and writes its record."""
    params = {**tiny_params, "trainer": "grpo", "grpo": {"num_generations": 2, "max_new_tokens": 4}}
    folder = make_experiment(method=method, name="rl", adapter=METHODS[method], params=params)
    outcome = execute(plan_run(folder), tmp_path / "results", Reporter(enabled=False))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    assert "reward" in outcome.record.train_info.metrics[0]


def test_adalora_is_refused_before_any_model_loads(make_experiment, tiny_params):
    adalora = {"peft_type": "ADALORA", "init_r": 4, "target_r": 2, "total_step": 2,
               "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
    folder = make_experiment(method="adalora", name="rl", adapter=adalora, params={**tiny_params, "trainer": "grpo"})
    with pytest.raises(UserError, match="adapter_config.json: AdaLoRA cannot train with GRPO"):
        plan_run(folder)
