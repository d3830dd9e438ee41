"""Baselines as rows: the untrained base model (zero-shot) and k-shot prompting of it, recorded as normal
records and shown in every leaderboard; the k-shot prompt; the image-task variant."""

from __future__ import annotations

import json

import pytest

from peftbench.analysis import report_data
from peftbench.analysis.load import load_runs
from peftbench.planning.config import build_config
from peftbench.errors import UserError
from peftbench.pipeline import execute
from peftbench.pipeline.text import few_shot_config
from peftbench.planning.plan import plan_run
from peftbench.tasks.base import Example
from peftbench.tasks.minimath import DEFAULTS, MiniMathConfig

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}


def test_zero_shot_and_k_shot_are_leaderboard_rows(make_experiment, tiny_params, tmp_path):
    out = tmp_path / "results"
    long_prompts = {"generation_kwargs": {"max_new_tokens": 4, "max_length": 600}}
    folders = [make_experiment(method="base", name="zero-shot", params={**tiny_params, "skip_training": True}),
               make_experiment(method="base", name="k-shot", params={**tiny_params, **long_prompts,
                                                                      "skip_training": True, "few_shot": 2}),
               make_experiment(method="lora", name="default", adapter=LORA, params=tiny_params)]
    outcomes = [execute(plan_run(folder), out) for folder in folders]
    assert [o.status for o in outcomes] == ["success"] * 3
    zero = outcomes[0].record
    assert zero.train_info.num_trainable_params == 0 and zero.train_info.file_size == 0
    assert zero.train_info.train_time == 0 and zero.window_rows()[0]["step"] == 0  # validated, never trained
    final = zero.final_metrics()
    assert {"test accuracy", "test accuracy gsm8k"} <= set(final)
    assert final["drift"] == 0 and abs(final["forgetting"]) < 1e-6  # the untrained model is its own base

    rows = [json.loads(line) for line in outcomes[1].path.with_name("base--k-shot.predictions.jsonl").read_text().splitlines()]
    prompt = next(r["prompt"] for r in rows if r.get("test_set") == "minimath")
    assert prompt.count("Answer:") == 3 and prompt.count("The answer is") == 2  # two solved shots, then the question

    runs = load_runs(out)
    assert set(runs.loc[runs["experiment"].str.startswith("base/"), "method"]) == {"base"}
    report = report_data.build(runs, "lora", n_resamples=200)[0]
    assert {"base/zero-shot", "base/k-shot", "lora/default"} == set(report_data.leaderboard(report)["experiment"])


def _config(**extra):
    return build_config(DEFAULTS, extra, "test", MiniMathConfig)


def test_few_shot_prompt_is_drawn_with_the_seed_and_escaped():
    pool = [Example(f"e{i}", f"Q{i} {{x}}?", f"{i} + 1 = {i + 1}. The answer is {i + 1}.", str(i + 1)) for i in range(20)]
    cfg = few_shot_config(_config(few_shot=3, seed=0), pool)
    prompt = cfg.query_template.format(query="What is 2 + 2?")
    assert prompt.count("Question:") == 4 and prompt.endswith("Question: What is 2 + 2?\nAnswer:")
    assert "{x}" in prompt  # braces of the examples survive the template's formatting
    other = few_shot_config(_config(few_shot=3, seed=1), pool)
    assert other.query_template != cfg.query_template  # another seed, other shots
    assert few_shot_config(_config(few_shot=3, seed=0), pool).query_template == cfg.query_template
    with pytest.raises(UserError, match="few_shot=30: only 20 training examples"):
        few_shot_config(_config(few_shot=30), pool)


def test_untrained_image_model_is_a_row_too(make_experiment, tmp_path):
    from test_golden_record import TINY_MINIGEN

    folder = make_experiment(task="minigen", method="base", name="untrained", params={**TINY_MINIGEN, "skip_training": True})
    outcome = execute(plan_run(folder), tmp_path / "results")
    assert outcome.status == "success", outcome.record.run_info.error_msg
    final = outcome.record.final_metrics()
    assert final["drift"] == pytest.approx(0, abs=1e-6)  # the same images, up to float rounding
    assert final["test similarity"] == pytest.approx(final["base similarity"])
    assert outcome.record.train_info.file_size == 0


def test_a_baseline_with_an_adapter_config_is_refused_before_anything_runs(make_experiment, tiny_params):
    folder = make_experiment(method="base", name="odd", adapter=LORA, params={**tiny_params, "skip_training": True})
    with pytest.raises(UserError, match="skip_training evaluates the base model as it is; it cannot also apply"):
        plan_run(folder)
