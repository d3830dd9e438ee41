"""Keeping what a run trained (`--save-adapter`): the pipeline writes the trained adapter (or model) in
PEFT/transformers format beside the record, with a model card carrying the run's metrics; it loads back
to the same model; a save that fails leaves no result claiming success; sweeps rerun done runs whose
adapter was not kept."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import peftbench.pipeline.sequence as sequence
from peftbench.pipeline import execute
from peftbench.planning.plan import plan_run
from peftbench.telemetry.progress import Reporter
from peftbench.records.record import parse_record
from peftbench.adapters.saved import RECORD_FILE, adapter_dir, save_adapter

LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}


@pytest.fixture
def trained(make_experiment, tiny_params, tmp_path, monkeypatch):
    """`trained(adapter, save_adapter) -> (model, outcome)`: a real tiny run, and the very model it
    trained (caught where the pipeline measures its saved size)."""

    def run(adapter, save: bool = False):
        caught = []
        measure = sequence.saved_size
        monkeypatch.setattr(sequence, "saved_size", lambda model: caught.append(model) or measure(model))
        folder = make_experiment(method="lora" if adapter else "full-finetuning", adapter=adapter)
        plan = plan_run(folder, overrides=tiny_params, save_adapter=save)
        outcome = execute(plan, tmp_path / "results", Reporter(enabled=False))
        return caught[0] if caught else None, outcome

    return run


def logits(model, ids=torch.tensor([[1, 2, 3, 4]])):
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_run_keeps_a_lora_adapter_that_loads_back_with_its_card(trained, tiny_model_dir):
    from huggingface_hub import ModelCard
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model, outcome = trained(LORA, save=True)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    folder = adapter_dir(outcome.path)
    assert folder == outcome.path.with_name("lora--t.adapter")
    assert {p.name for p in folder.iterdir()} == {"adapter_config.json", "adapter_model.safetensors", "README.md", RECORD_FILE}
    assert json.loads((folder / RECORD_FILE).read_text()) == json.loads(outcome.path.read_text())

    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), folder)
    assert torch.allclose(logits(reloaded), logits(model), atol=1e-5)

    card = ModelCard.load(folder / "README.md")
    final = outcome.record.final_metrics()
    results = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert results["test accuracy"] == final["test accuracy"] and results["drift"] == final["drift"]
    assert card.data.library_name == "peft" and "lora" in card.data.tags and card.data.base_model is None
    assert "# lora/t on minimath" in card.text and "PeftModel.from_pretrained" in card.text


def test_full_finetuning_keeps_a_loadable_model_and_tokenizer(trained):
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, outcome = trained(None, save=True)
    assert outcome.status == "success", outcome.record.run_info.error_msg
    folder = adapter_dir(outcome.path)
    reloaded = AutoModelForCausalLM.from_pretrained(folder)
    assert torch.allclose(logits(reloaded), logits(model), atol=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(outcome.record.run_info.train_config["model_id"])
    assert AutoTokenizer.from_pretrained(folder).chat_template == tokenizer.chat_template
    assert ModelCard.load(folder / "README.md").data.library_name == "transformers"


def test_without_the_option_nothing_is_kept(trained):
    _, outcome = trained(LORA)
    assert outcome.status == "success" and not adapter_dir(outcome.path).exists()


def test_a_failed_save_is_a_failed_run_with_nothing_half_written(trained, monkeypatch):
    import peftbench.adapters.model_card as model_card

    monkeypatch.setattr(model_card, "build_card", lambda record: 1 / 0)
    _, outcome = trained(LORA, save=True)
    assert outcome.status == "failed" and "ZeroDivisionError" in outcome.record.run_info.error_msg
    assert outcome.path.parent.parent.name == "cancelled_results"
    results = outcome.path.parents[2] / "results"
    assert not list(results.rglob("*.json")) and not list(results.rglob("*.adapter"))


def test_embedded_base_is_named_by_its_hub_id(trained):
    from huggingface_hub import ModelCard

    model, outcome = trained(LORA)
    data = outcome.record.to_json()
    data["meta_info"]["model_info"] = {"model_id": "embedded:SmolLM2-135M-Instruct",
                                       "source": "SmolLM2-135M-Instruct.Q4_1.gguf", "sha256": "ab" * 32}
    folder = save_adapter(model, adapter_dir(outcome.path), parse_record(data, "test"))
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    card = ModelCard.load(folder / "README.md")
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and "dequantized" in card.text
    assert model.peft_config["default"].base_model_name_or_path != "HuggingFaceTB/SmolLM2-135M-Instruct"  # untouched


def test_resave_replaces_and_a_failed_save_leaves_nothing(trained, monkeypatch):
    import peftbench.adapters.model_card as model_card

    model, outcome = trained(LORA)
    folder = adapter_dir(outcome.path)
    save_adapter(model, folder, outcome.record)
    (folder / "stale.txt").write_text("from an older save")
    save_adapter(model, folder, outcome.record)
    assert not (folder / "stale.txt").exists()

    monkeypatch.setattr(model_card, "build_card", lambda record: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        save_adapter(model, folder.with_name("other.adapter"), outcome.record)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["lora--t.adapter", "lora--t.json", "lora--t.predictions.jsonl"]


def test_reader_skips_adapter_folders(trained):
    from peftbench.analysis.load import load_runs

    _, outcome = trained(None, save=True)  # config.json, model.safetensors and the record copy
    assert (adapter_dir(outcome.path) / RECORD_FILE).is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = load_runs([outcome.path.parents[1]])
    assert len(runs) == 1


def test_sweep_reruns_a_done_run_whose_adapter_was_not_kept(trained, tmp_path):
    from peftbench.sweep.plan import decide

    model, outcome = trained(LORA)
    out, digest = tmp_path / "results", outcome.record.run_info.config_hash
    assert decide(out, "minimath", "lora--t", digest, False) == ("skip", "done")
    assert decide(out, "minimath", "lora--t", digest, False, save_adapter=True) == ("run", "done, but its adapter was not kept")
    save_adapter(model, adapter_dir(outcome.path), outcome.record)
    assert decide(out, "minimath", "lora--t", digest, False, save_adapter=True) == ("skip", "done")
    assert decide(out, "minimath", "lora--t", "0" * 16, False, save_adapter=True)[0] == "run"  # another config
