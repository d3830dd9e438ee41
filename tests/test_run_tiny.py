"""End-to-end runs on a tiny random-initialised Llama: every phase of the run pipeline, in seconds."""

import inspect
import json

import pytest

import peftbench.pipeline.sequence as pipeline_sequence
from peftbench.errors import UserError
from peftbench.telemetry.progress import Reporter
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}

RUN_INFO = {"created_at", "total_time", "experiment_name", "task", "train_config", "peft_config", "seed",
            "config_hash", "peftbench_version", "git", "error_msg"}
TRAIN_INFO = {"status", "train_time", "total_time", "accelerator_memory_max", "accelerator_memory_reserved_avg",
              "accelerator_memory_reserved_99th", "memory_kind", "eval_memory_max", "file_size",
              "num_trainable_params", "num_total_params", "metrics"}
META_INFO = {"model_info", "dataset_info", "package_info", "system_info", "pytorch_info"}
PREDICTION_KEYS = {"id", "prompt", "gold", "prediction", "extracted", "correct"}


def run_experiment(folder, out, params, **kwargs):
    planned = plan_run(folder, overrides=params, **kwargs)
    return execute(planned, out, Reporter(enabled=False))


def read_predictions(result_path):
    """The test items of a run's sidecar (its forgetting-sample rows left out)."""
    from peftbench.analysis.predictions import iter_predictions

    return list(iter_predictions(result_path))


def files_under(path):
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


@pytest.fixture
def out(tmp_path):
    return tmp_path / "results"


def test_lora_run_writes_complete_record(make_experiment, tiny_params, out):
    folder = make_experiment(adapter=LORA)
    outcome = run_experiment(folder, out, tiny_params)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    assert outcome.path == out / "minimath" / "lora--t.json"
    record = json.loads(outcome.path.read_text())
    assert record["run_info"]["config_hash"] == outcome.record.run_info.config_hash

    run_info, train_info, meta = record["run_info"], record["train_info"], record["meta_info"]
    assert RUN_INFO <= run_info.keys()
    assert TRAIN_INFO <= train_info.keys()
    assert META_INFO <= meta.keys()
    assert run_info["experiment_name"] == "lora/t" and run_info["task"] == "minimath"
    assert run_info["seed"] == 0 and run_info["error_msg"] == ""
    assert run_info["train_config"]["max_steps"] == 2
    assert run_info["peft_config"]["peft_type"] == "LORA"
    assert sorted(run_info["peft_config"]["target_modules"]) == ["q_proj", "v_proj"]
    assert set(run_info["git"]) >= {"commit", "dirty"}
    assert train_info["status"] == "success"
    assert train_info["memory_kind"] in ("cpu-rss", "cuda-reserved")

    metrics = train_info["metrics"]
    assert len(metrics) >= 2
    for row in metrics[:-1]:
        assert {"step", "valid accuracy", "train loss", "tokens / sec"} <= row.keys()
        assert 0 <= row["valid accuracy"] <= 1 and row["train loss"] > 0
    assert [row["step"] for row in metrics[:-1]] == [1, 2]
    final = metrics[-1]
    assert {"test accuracy", "test accuracy gsm8k", "forgetting", "drift", "train total tokens"} <= final.keys()
    assert 0 <= final["test accuracy"] <= 1 and 0 <= final["test accuracy gsm8k"] <= 1
    assert final["drift"] >= 0
    assert isinstance(final["forgetting"], float)
    assert final["train total tokens"] > 0

    assert 0 < train_info["train_time"] < train_info["total_time"]
    assert 0 < train_info["num_trainable_params"] < train_info["num_total_params"]
    assert train_info["file_size"] > 0

    predictions = read_predictions(outcome.path)
    assert len(predictions) == 3 + 2
    for row in predictions:
        assert PREDICTION_KEYS <= row.keys()
        assert isinstance(row["correct"], bool)
    assert len({row["id"] for row in predictions}) == 5
    assert not (out.parent / "cancelled_results").exists()


def test_full_finetuning(make_experiment, tiny_params, out):
    folder = make_experiment(method="full", params=tiny_params)
    outcome = run_experiment(folder, out, None)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    assert outcome.path == out / "minimath" / "full--t.json"
    info = outcome.record.to_json()["train_info"]
    assert info["num_trainable_params"] == info["num_total_params"] > 0
    assert outcome.record.run_info.peft_config is None
    assert info["file_size"] > 0
    assert info["metrics"][-1]["drift"] >= 0


@pytest.mark.parametrize(
    "method, adapter",
    [
        ("ia3", {"peft_type": "IA3", "task_type": "CAUSAL_LM"}),
        ("prompt_tuning", {"peft_type": "PROMPT_TUNING", "task_type": "CAUSAL_LM", "num_virtual_tokens": 4}),
    ],
)
def test_other_methods(make_experiment, tiny_params, out, method, adapter):
    folder = make_experiment(method=method, adapter=adapter)
    outcome = run_experiment(folder, out, tiny_params)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    info = outcome.record.to_json()["train_info"]
    assert 0 < info["num_trainable_params"] < info["num_total_params"]
    assert {"test accuracy", "drift"} <= info["metrics"][-1].keys()
    assert len(read_predictions(outcome.path)) == 5


@pytest.mark.parametrize("error, message, status", [
    (RuntimeError("boom"), "boom", "failed"), (KeyboardInterrupt(), "interrupted", "cancelled")])
def test_failure_during_training_is_recorded_apart(make_experiment, tiny_params, out, monkeypatch, error, message, status):
    signature = inspect.signature(pipeline_sequence.train)

    def failing_train(*args, **kwargs):  # the training loop's own signature, whatever it grows
        state = signature.bind(*args, **kwargs).arguments["state"]
        state.step = 1
        state.metrics.append({"step": 1, "train loss": 1.0})
        raise error

    monkeypatch.setattr(pipeline_sequence, "train", failing_train)
    folder = make_experiment(adapter=LORA)
    outcome = run_experiment(folder, out, tiny_params)
    assert outcome.status == status
    assert outcome.error is error
    cancelled = out.parent / "cancelled_results" / "minimath" / "lora--t.json"
    assert outcome.path == cancelled and cancelled.is_file()
    record = json.loads(cancelled.read_text())
    assert record["train_info"]["status"] == status
    assert message in record["run_info"]["error_msg"]
    assert record["train_info"]["metrics"] == [{"step": 1, "train loss": 1.0}]
    assert files_under(out) == []


def test_missing_target_module_is_user_error(make_experiment, tiny_params, out):
    folder = make_experiment(adapter={**LORA, "target_modules": ["nonexistent_proj"]})
    with pytest.raises(UserError) as err:
        run_experiment(folder, out, tiny_params)
    assert "target_modules" in str(err.value)
    assert files_under(out) == []
    assert files_under(out.parent / "cancelled_results") == []


def test_same_seed_is_deterministic(make_experiment, tiny_params, tmp_path):
    folder = make_experiment(adapter=LORA)
    first = run_experiment(folder, tmp_path / "a", tiny_params)
    second = run_experiment(folder, tmp_path / "b", tiny_params)
    assert first.status == second.status == "success"
    assert first.record.run_info.config_hash == second.record.run_info.config_hash
    losses = [[row["train loss"] for row in o.record.train_info.metrics] for o in (first, second)]
    assert losses[0] == losses[1]
    strip = lambda rows: [{k: r[k] for k in ("id", "prediction", "extracted", "correct")} for r in rows]
    assert strip(read_predictions(first.path)) == strip(read_predictions(second.path))
    final = [o.record.train_info.metrics[-1] for o in (first, second)]
    assert final[0]["drift"] == final[1]["drift"] and final[0]["forgetting"] == final[1]["forgetting"]


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_drift_of_an_adapter_that_rewrites_the_base_compares_with_the_true_base(make_experiment, tiny_params, out,
                                                                               monkeypatch, init):
    """PiSSA and OLoRA move part of each wrapped weight into the adapter at initialisation, so the
    adapter switched off is not the base model. Trained with a learning rate too small to move
    anything, the tuned model still is the base: its drift must be ~0, not the initialisation's change."""
    folder = make_experiment(method="lora", name=init, adapter={**LORA, "init_lora_weights": init})
    params = {**tiny_params, "optimizer_kwargs": {"lr": 1e-12}}
    seen = {}
    original = pipeline_sequence.BaseView

    def spy(model, load_fresh, base_changed=False):
        seen["base_changed"] = base_changed
        return original(model, load_fresh, base_changed)

    monkeypatch.setattr(pipeline_sequence, "BaseView", spy)
    outcome = run_experiment(folder, out, params)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    assert seen["base_changed"] is True
    assert outcome.record.train_info.metrics[-1]["drift"] < 1e-6, outcome.record.train_info.metrics[-1]["drift"]
