"""minigen end to end on tiny settings (a few pretraining steps, 2 training steps, 2 sampler steps),
plus its config validation. The tiny base model is cached once per test session."""

import json

import pytest

from peftbench.errors import UserError
from peftbench.telemetry.progress import Reporter
from peftbench.records.results import predictions_path, samples_path
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run

# Channels stay at the defaults so shipped adapter configs (OFT/BOFT block sizes) fit the tiny base.
TINY_MINIGEN = {
    "max_steps": 2,
    "eval_steps": 1,
    "batch_size": 2,
    "batch_size_eval": 16,
    "image": {"num_instance_images": 2, "num_inference_steps": 2, "test_seeds": 2, "valid_seeds": 2,
              "drift_seeds": 1, "grid_seeds": 2},
    "minigen": {"valid_size": 2, "test_size": 3, "feature_steps": 3, "base": {"steps": 3, "batch_size": 4}},
}
LORA = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["to_q", "to_v"]}


def _run(folder, tmp_path, **extra):
    run = plan_run(folder, overrides={**TINY_MINIGEN, **extra})
    return execute(run, tmp_path / "results", Reporter(enabled=False))


def test_lora_run_writes_record_sidecar_and_samples(make_experiment, tmp_path):
    outcome = _run(make_experiment("minigen", "lora", "t", adapter=LORA), tmp_path)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    record = json.loads(outcome.path.read_text())
    info = record["train_info"]
    final = info["metrics"][-1]
    assert {"test similarity", "drift", "base similarity"} <= set(final)
    assert -1.0 <= final["test similarity"] <= 1.0 and 0.0 <= final["drift"] <= 1.0
    assert "valid similarity" in info["metrics"][0] and info["metrics"][0]["samples / sec"] > 0
    assert 0 < info["num_trainable_params"] < info["num_total_params"] and info["file_size"] > 0
    assert record["run_info"]["peft_config"]["task_type"] is None  # a plain PeftModel, not a causal LM
    assert record["meta_info"]["model_info"]["model_id"] == "minigen:digits-unet"
    rows = [json.loads(line) for line in predictions_path(outcome.path).read_text().splitlines()]
    assert [r["test_set"] for r in rows] == ["test"] * 2 + ["drift"] * 9  # 2 test seeds, 9 known digits
    assert samples_path(outcome.path).stat().st_size > 0


def test_full_finetuning_compares_against_a_fresh_base(make_experiment, tmp_path):
    outcome = _run(make_experiment("minigen", "full-finetuning", "t", params={}), tmp_path)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    final = outcome.record.train_info.metrics[-1]
    assert final["drift"] > 0.0  # every weight moved: the tuned model's images differ from the base's
    assert outcome.record.train_info.num_trainable_params == outcome.record.train_info.num_total_params


def test_failed_run_writes_no_samples(make_experiment, tmp_path):
    folder = make_experiment("minigen", "lora", "nan", adapter=LORA)
    outcome = _run(folder, tmp_path, optimizer_kwargs={"lr": 1e30})  # the loss overflows to inf / nan
    assert outcome.status != "success"  # "failed": the run broke by itself
    assert not samples_path(outcome.path).exists()
    assert not list((tmp_path / "results").rglob("*.json"))


def test_image_keys_are_validated_per_task(make_experiment):
    folder = make_experiment("minigen", "lora", "bad", adapter=LORA, params={"max_seq_length": 64})
    with pytest.raises(UserError, match="training_params.json: unknown training parameter 'max_seq_length'"):
        plan_run(folder)
    folder = make_experiment("minigen", "lora", "bad2", adapter=LORA,
                             params={"image": {"instance_prompt": "a digit"}})
    with pytest.raises(UserError, match="'image.instance_prompt'.*identifier"):
        plan_run(folder)


def test_config_hash_covers_image_settings(make_experiment):
    folder = make_experiment("minigen", "lora", "h", adapter=LORA)
    assert plan_run(folder).config_hash != plan_run(folder, overrides={"image": {"guidance_scale": 3.0}}).config_hash


def test_wrong_model_id_is_a_user_error(make_experiment, tmp_path):
    folder = make_experiment("minigen", "lora", "m", adapter=LORA)
    with pytest.raises(UserError, match="model_id 'gpt2'"):
        _run(folder, tmp_path, model_id="gpt2")


def test_first_use_and_cached_base_give_the_same_run(make_experiment, tmp_path, monkeypatch):
    # Pretraining on a cache miss must not shift the run's random state (adapter init, noise).
    monkeypatch.setenv("PEFTBENCH_CACHE", str(tmp_path / "fresh-cache"))
    folder = make_experiment("minigen", "lora", "same", adapter=LORA)
    first = _run(folder, tmp_path / "a")
    second = _run(folder, tmp_path / "b")
    assert first.status == second.status == "success"
    keys = ("test similarity", "drift", "base similarity", "train loss")
    row1, row2 = first.record.train_info.metrics[-1], second.record.train_info.metrics[-1]
    assert [row1[k] for k in keys] == [row2[k] for k in keys]


def test_overlong_instance_prompt_is_a_user_error(make_experiment, tmp_path):
    folder = make_experiment("minigen", "lora", "long", adapter=LORA)
    with pytest.raises(UserError, match="image.instance_prompt: .*at most 4 words"):
        _run(folder, tmp_path, image={"instance_prompt": "a photo of {identifier} {class_word}"})
