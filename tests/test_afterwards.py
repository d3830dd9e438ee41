"""What fine-tuning costs afterwards, on the tiny model: instruction-following retention (prompts fixed by
seed, IFEval's checks, the base model's answers cached), lm-eval tasks through lm-eval's own API on a
local task, and inference overhead (unmerged, merged, or why not)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from peftbench.afterwards import instructions
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run
from peftbench.telemetry.progress import Reporter

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}
PROMPT_TUNING = {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4, "task_type": "CAUSAL_LM"}


def test_prompts_are_fixed_balanced_and_their_checks_are_ifevals():
    first, again = instructions.prompts(28), instructions.prompts(28)
    assert first == again and len({p.id for p in first}) == 28
    assert sorted({p.instruction for p in first}) == sorted(k.id for k in instructions.KINDS)
    assert all(sum(p.instruction == k.id for p in first) == 2 for k in instructions.KINDS)
    assert instructions.prompts(30)[:28] == first  # a larger set extends the smaller one
    lower = next(p for p in first if p.instruction == "change_case:english_lowercase")
    assert "lowercase" in lower.text
    assert instructions.passes(lower, "the water cycle moves water between the sea and the sky.")
    assert not instructions.passes(lower, "The Water Cycle.") and not instructions.passes(lower, "")


def _run(make_experiment, tiny_params, tmp_path, adapter, method="lora", **extra):
    folder = make_experiment(method=method, adapter=adapter, params={**tiny_params, **extra})
    outcome = execute(plan_run(folder), tmp_path / "results", Reporter(enabled=False))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    return outcome


def test_instruction_following_before_and_after_with_per_item_rows(make_experiment, tiny_params, tmp_path):
    retention = {"instructions": {"size": 14, "max_new_tokens": 6}}
    outcome = _run(make_experiment, tiny_params, tmp_path, LORA, retention=retention)
    final, info = outcome.record.final_metrics(), outcome.record.train_info.retention["instructions"]
    assert info["status"] == "measured" and info["version"] == instructions.VERSION and info["size"] == 14
    assert 0 < info["seconds"] < outcome.record.run_info.total_time  # what measuring added, inside the run
    assert final["instruction following delta"] == pytest.approx(
        final["instruction following"] - final["base instruction following"])
    low, high = info["delta_ci95"]
    assert low <= final["instruction following delta"] <= high
    sidecar = outcome.path.with_name(outcome.path.stem + ".predictions.jsonl")
    rows = [json.loads(line) for line in sidecar.read_text().splitlines()]
    items = [r for r in rows if r["test_set"] == "instructions"]
    assert len(items) == 14 and {"correct", "base_correct", "instruction", "response"} <= items[0].keys()
    assert sum(r["correct"] for r in items) / 14 == final["instruction following"]
    assert list((Path(os.environ["PEFTBENCH_CACHE"]) / "retention").glob("instructions-*.json")), \
        "the base model's answers are cached for the next run"


def test_without_the_extra_retention_is_not_measured_and_the_run_goes_on(make_experiment, tiny_params, tmp_path,
                                                                         monkeypatch):
    from peftbench.system.extras import MissingExtra

    def missing():
        raise MissingExtra("instruction-following retention needs if_verifiable, which is not installed: "
                           "pip install 'peftbench[retention]'")

    monkeypatch.setattr(instructions, "registry", missing)
    outcome = _run(make_experiment, tiny_params, tmp_path, LORA, retention={"instructions": {"size": 14}})
    info = outcome.record.train_info.retention["instructions"]
    assert info["status"].startswith("not measured: ") and "peftbench[retention]" in info["status"]
    assert "instruction following" not in outcome.record.final_metrics()


def test_lm_eval_tasks_run_on_the_base_and_the_tuned_model(make_experiment, tiny_params, tmp_path):
    pytest.importorskip("lm_eval", reason="lm-eval is the [retention] extra")
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i} plus {i}?", "choices": [str(2 * i), str(i)],
                                        "label": 0}) + "\n" for i in range(1, 7)))
    task = tmp_path / "addition.yaml"
    task.write_text(f"task: peftbench_addition\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n"
                    "test_split: test\noutput_type: multiple_choice\ndoc_to_text: \"{{question}} Answer:\"\n"
                    "doc_to_choice: \"{{choices}}\"\ndoc_to_target: label\nmetric_list:\n  - metric: acc\n"
                    "metadata:\n  version: 1\n")
    outcome = _run(make_experiment, tiny_params, tmp_path, LORA,
                   retention={"lm_eval_tasks": [str(task)], "lm_eval_limit": 4})
    entry = outcome.record.train_info.retention["lm_eval"]
    assert entry["status"] == "measured", entry
    figures = entry["results"]["peftbench_addition"]
    assert set(figures) == {"tuned", "base", "delta"} and "acc,none" in figures["tuned"]
    assert figures["delta"]["acc,none"] == pytest.approx(figures["tuned"]["acc,none"] - figures["base"]["acc,none"])
    assert entry["n_samples"]["peftbench_addition"]["effective"] == 4


@pytest.mark.parametrize("adapter, merged", [(LORA, True), (PROMPT_TUNING, False), (None, False)],
                         ids=["lora", "prompt-tuning", "full-finetuning"])
def test_overhead_is_measured_unmerged_and_merged_where_a_method_can_merge(make_experiment, tiny_params, tmp_path,
                                                                           adapter, merged):
    outcome = _run(make_experiment, tiny_params, tmp_path, adapter, overhead={"repeats": 2, "prompt_tokens": [8, 24],
                                                                             "new_tokens": 3})
    info, final = outcome.record.train_info.inference, outcome.record.final_metrics()
    assert info["status"] == "measured" and info["repeats"] == 2
    assert 0 < info["seconds"] < outcome.record.run_info.total_time
    assert set(info["models"]) == ({"base", "unmerged", "merged"} if merged else {"base", "unmerged"})
    for name, entry in info["models"].items():
        for timing in entry["per_prompt_tokens"].values():
            assert timing["first_token_s"] > 0 and timing["per_token_s"] >= 0
        if name != "base":
            low, high = entry["overhead_iqr"]
            assert low <= entry["overhead_median"] <= high
    assert ("generation overhead merged" in final) == merged and "generation overhead unmerged" in final
    if adapter is PROMPT_TUNING:
        assert info["merged"].startswith("cannot merge") and info["virtual_tokens"] == 4
    if adapter is None:
        assert info["merged"] == "cannot merge: no adapter to merge"


def test_a_baseline_row_measures_the_base_itself_and_no_overhead(make_experiment, tiny_params, tmp_path):
    outcome = _run(make_experiment, tiny_params, tmp_path, None, method="base", skip_training=True,
                   retention={"instructions": {"size": 14, "max_new_tokens": 4}})
    final = outcome.record.final_metrics()
    assert final["instruction following delta"] == 0 and outcome.record.train_info.inference is None
