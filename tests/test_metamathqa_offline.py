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
