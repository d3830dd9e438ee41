"""The full-scale `metamathqa` task runs end to end offline on local stand-ins: the tiny model and
small JSONL files in the Hub datasets' formats (MetaMathQA, GSM8K, finewiki)."""

import json

from conftest import TINY_PARAMS
from peftbench.telemetry.progress import Reporter
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run
from peftbench.tasks import task_spec


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _sources(tmp_path) -> dict:
    metamath = [{"query": f"What is {i} + {i}?", "response": f"{i} + {i} = {2 * i}. The answer is: {2 * i}",
                 "type": "GSM_AnsAug"} for i in range(1, 13)]
    gsm = [{"question": f"Tom has {i} apples and buys 2 more. How many apples?",
            "answer": f"He has {i} + 2 = <<{i}+2={i + 2}>>{i + 2} apples.\n#### {i + 2}"} for i in range(1, 9)]
    wiki = [{"text": f"Document {i} is about the history of a small town by the river. " * 3} for i in range(4)]
    return {
        "train": _write_jsonl(tmp_path / "metamath.jsonl", metamath),
        "valid": _write_jsonl(tmp_path / "gsm_train.jsonl", gsm),
        "test": _write_jsonl(tmp_path / "gsm_test.jsonl", gsm[:5]),
        "forgetting": _write_jsonl(tmp_path / "wiki.jsonl", wiki),
    }


def test_metamathqa_defaults_match_the_reference():
    defaults = task_spec("metamathqa").defaults
    assert defaults["model_id"] == "meta-llama/Llama-3.2-3B"
    assert defaults["loss_on"] == "all" and defaults["max_steps"] == 5000
    assert defaults["optimizer_kwargs"] == {"lr": 1e-4, "weight_decay": 0.1}


def test_metamathqa_runs_on_local_stand_ins(tiny_model_dir, make_experiment, tmp_path):
    params = TINY_PARAMS(tiny_model_dir)
    params["data"] = {"valid_size": 3, "test_size": 5, "forgetting_size": 4, "forgetting_max_tokens": 16,
                      "sources": _sources(tmp_path)}
    exp = make_experiment(task="metamathqa", adapter={"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"]},
                          params=params)
    outcome = execute(plan_run(exp), tmp_path / "results", Reporter(enabled=False))
    assert outcome.status == "success", outcome.record.run_info.error_msg
    final = outcome.record.train_info.metrics[-1]
    assert "test accuracy" in final and "test accuracy gsm8k" not in final
    info = outcome.record.meta_info.dataset_info
    assert info["train"]["path"].endswith("metamath.jsonl")
    from peftbench.analysis.predictions import iter_predictions

    sidecar = tmp_path / "results" / "metamathqa" / "lora--t.predictions.jsonl"
    assert len(list(iter_predictions(sidecar))) == 5  # test items; the forgetting sample's rows apart
    assert len(list(iter_predictions(sidecar, forgetting=True))) == 4


def test_the_gpu_rl_preset_mirrors_the_reference_rl_track():
    defaults = task_spec("metamathqa-rl").defaults
    assert defaults["trainer"] == "grpo" and defaults["max_steps"] == 100
    assert defaults["data"]["sources"]["train"] == defaults["data"]["sources"]["test"] == "openai/gsm8k:main"
    assert defaults["grpo"]["num_generations"] == 8 and defaults["grpo"]["beta"] == 0.001


def test_rl_on_gsm8ks_training_split_never_trains_on_its_validation_rows(tmp_path):
    from peftbench.tasks.metamathqa.task import MetaMathQA

    sources = _sources(tmp_path)
    spec = task_spec("metamathqa-rl")
    data = {**spec.defaults["data"], "train_size": 5, "valid_size": 3,
            "sources": {**sources, "train": sources["valid"]}}  # both from the GSM8K-format training file
    cfg = spec.config_model.model_validate({**spec.defaults, "data": data})
    task = MetaMathQA()
    train, valid = task.train_examples(cfg), task.valid_examples(cfg)
    assert len(train) == 5 and len(valid) == 3
    assert not {e.id for e in train} & {e.id for e in valid}  # same id prefix and row numbers: disjoint rows
    assert all(e.gold and e.target.endswith(f"The answer is {e.gold}.") for e in train)
