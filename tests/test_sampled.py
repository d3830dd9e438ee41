"""Sampled pass@k (text/sampled.py): the unbiased estimator, seeded sampling, and a tiny-model run whose
record carries pass@k beside greedy pass@1."""

from __future__ import annotations

import json
from math import comb

import pytest

from peftbench.errors import UserError
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run
from peftbench.telemetry.progress import Reporter
from peftbench.text.sampled import pass_at_k

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(4, 0, 1) == 0.0 and pass_at_k(4, 4, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25) and pass_at_k(4, 1, 4) == 1.0
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - comb(7, 2) / comb(10, 2))
    # the chance that k answers drawn without replacement from the n include a right one, by counting
    n, c, k = 6, 2, 3
    from itertools import combinations
    draws = list(combinations([True] * c + [False] * (n - c), k))
    assert pass_at_k(n, c, k) == pytest.approx(sum(any(d) for d in draws) / len(draws))


def _run(make_experiment, tiny_params, out, name):
    params = {**tiny_params, "sampled": {"samples": 3, "k": [1, 3], "temperature": 1.0},
              "generation_kwargs": {"max_new_tokens": 6, "max_length": 160}}
    return execute(plan_run(make_experiment(name=name, adapter=LORA, params=params)), out, Reporter(enabled=False))


def test_a_run_records_sampled_pass_at_k(make_experiment, tiny_params, tmp_path):
    first = _run(make_experiment, tiny_params, tmp_path / "a", "s")
    assert first.record.status == "success", first.record.run_info.error_msg
    final = first.record.final_metrics()
    assert 0.0 <= final["test pass@1"] <= final["test pass@3"] <= 1.0
    rows = [json.loads(line) for line in first.path.with_suffix(".predictions.jsonl").read_text().splitlines()]
    tested = [r for r in rows if r.get("test_set") == "minimath"]
    assert tested and all(r["samples"] == 3 and 0 <= r["samples_correct"] <= 3 for r in tested)
    assert final["test pass@1"] == pytest.approx(sum(r["samples_correct"] for r in tested) / (3 * len(tested)))
    assert first.record.run_info.train_config["sampled"]["samples"] == 3


def test_k_beyond_the_samples_is_a_user_error(make_experiment, tiny_params):
    folder = make_experiment(adapter=LORA, params={**tiny_params, "sampled": {"samples": 2, "k": [1, 4]}})
    with pytest.raises(UserError, match="k 4 must be between 1 and samples \\(2\\)"):
        plan_run(folder)


def test_the_same_seed_samples_the_same_answers_and_another_seed_others(make_experiment, tiny_params):
    import torch

    from peftbench.tasks.registry import task_spec
    from peftbench.text.models import load_model
    from peftbench.text.sampled import sample_answers

    params = {**tiny_params, "sampled": {"samples": 4, "k": [1]}, "generation_kwargs": {"max_new_tokens": 8, "max_length": 160}}
    cfg = plan_run(make_experiment(adapter=LORA, params=params)).cfg
    model, tokenizer, _ = load_model(cfg, torch.device("cpu"))
    examples = task_spec("minimath").create().valid_examples(cfg)
    first = sample_answers(model, tokenizer, cfg, examples)
    assert len(first) == len(examples) and all(len(texts) == 4 for texts in first)
    assert sample_answers(model, tokenizer, cfg, examples) == first
    assert len({text for texts in first for text in texts}) > 1  # sampled, not greedy
    other = sample_answers(model, tokenizer, cfg.model_copy(update={"seed": 1}), examples)
    assert other != first
