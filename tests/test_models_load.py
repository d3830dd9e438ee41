"""Loading "your model": dtype from the model's config, chat template from its tokenizer, and one-line
errors for a model that cannot be loaded (gated, missing, offline, not a causal LM) or whose layers an
adapter config names wrongly. Hub cases run against the loopback stand-in in hub_standin.py."""

from __future__ import annotations

import shutil

import pytest
import torch

from hub_standin import FakeHub, point_hub_at
from peftbench.adapters.build import wrap_model
from peftbench.planning.config import build_config
from peftbench.errors import UserError
from peftbench.tasks.minimath import DEFAULTS, MiniMathConfig
from peftbench.text.models import load_model


def cfg_for(model_id, dtype="float32"):
    return build_config(DEFAULTS, {"model_id": str(model_id), "dtype": dtype}, "test", MiniMathConfig)


@pytest.fixture(scope="module")
def bf16_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model published in bfloat16 (its config.json says so), like most Hub checkpoints."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-bf16")
    AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


def test_auto_dtype_comes_from_the_model_config(tiny_model_dir, bf16_model_dir):
    model, tokenizer, info = load_model(cfg_for(bf16_model_dir, "auto"), "cpu")
    assert next(model.parameters()).dtype == torch.bfloat16 and info["dtype"] == "bfloat16"
    model, _, info = load_model(cfg_for(tiny_model_dir, "auto"), "cpu")
    assert next(model.parameters()).dtype == torch.float32 and info["dtype"] == "float32"
    model, _, info = load_model(cfg_for(bf16_model_dir, "float32"), "cpu")  # a dtype the user set wins
    assert next(model.parameters()).dtype == torch.float32 and info["dtype"] == "float32"


def test_chat_template_is_the_tokenizers(tiny_model_dir):
    _, tokenizer, info = load_model(cfg_for(tiny_model_dir), "cpu")
    assert info["chat_template"] is True
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def load_message(model_id) -> str:
    with pytest.raises(UserError) as err:
        load_model(cfg_for(model_id), "cpu")
    message = str(err.value)
    assert "\n" not in message and f"model_id '{model_id}'" in message
    return message


def test_folder_that_is_not_a_causal_lm(tiny_model_dir, tmp_path):
    from transformers import DistilBertConfig, DistilBertModel

    folder = tmp_path / "encoder"
    DistilBertModel(DistilBertConfig(vocab_size=64, dim=16, n_layers=1, n_heads=2, hidden_dim=32)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    assert "not a causal language model (AutoModelForCausalLM cannot load DistilBertConfig)" in load_message(folder)
    empty = tmp_path / "tokenizer-only"
    empty.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, empty / name)
    assert "the folder has no config.json" in load_message(empty)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    with FakeHub() as server:
        point_hub_at(monkeypatch, server.url, tmp_path / "hub-cache")
        yield server


def test_gated_model_says_how_to_get_access(hub):
    hub.gated.add("meta-llama/Tiny-Gated")
    assert f"gated on the Hub: accept its conditions at {hub.url}/meta-llama/Tiny-Gated" in load_message("meta-llama/Tiny-Gated")
    assert any(r.startswith("HEAD /meta-llama/Tiny-Gated/resolve/") for r in hub.requests)  # it asked the stand-in


def test_missing_model_says_so(hub):
    assert "not a local folder and not a model on the Hub" in load_message("nobody/no-such-model")


def test_offline_without_a_cached_copy(hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert "not in the local Hugging Face cache and the Hub cannot be reached" in load_message("someone/some-model")
    assert hub.requests == []  # offline means offline


def test_target_module_that_the_model_lacks(tiny_model_dir):
    model, _, _ = load_model(cfg_for(tiny_model_dir), "cpu")
    lora = {"peft_type": "LORA", "r": 2, "target_modules": ["q_proj", "qkv_proj"]}
    with pytest.raises(UserError) as err:
        wrap_model(model, lora, "experiments/x/lora/y/adapter_config.json", True)
    message = str(err.value)
    assert message.startswith("experiments/x/lora/y/adapter_config.json: target_modules: qkv_proj not in this model")
    assert "q_proj" in message.split("named:")[1] and "\n" not in message


def test_target_modules_on_a_gpt2_style_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=32))
    with pytest.raises(UserError, match=r"target_modules: k_proj, q_proj, v_proj not in this model \(its layers are named: .*c_attn"):
        wrap_model(model, {"peft_type": "LORA", "r": 2, "target_modules": ["q_proj", "k_proj", "v_proj"]}, "cfg", True)
    wrapped = wrap_model(model, {"peft_type": "LORA", "r": 2, "target_modules": ["c_attn"]}, "cfg", True)
    assert wrapped.get_nb_trainable_parameters()[0] > 0


def test_a_text_run_stops_on_a_target_module_the_model_lacks(make_experiment, tiny_params, tmp_path):
    """Through the pipeline: set-up finds it (a user mistake, nothing written), though q_proj matches."""
    from peftbench.pipeline import execute
    from peftbench.planning.plan import plan_run

    lora = {"peft_type": "LORA", "r": 2, "target_modules": ["q_proj", "qkv_proj"], "task_type": "CAUSAL_LM"}
    plan = plan_run(make_experiment(adapter=lora), overrides=tiny_params)
    with pytest.raises(UserError, match="adapter_config.json: target_modules: qkv_proj not in this model"):
        execute(plan, tmp_path / "results")
    assert not (tmp_path / "results").exists() and not (tmp_path / "cancelled_results").exists()


def test_an_unreachable_hub_is_one_line_at_once_or_the_cache_without_retries(monkeypatch, tmp_path):
    """Offline with a Hub id (HF_HUB_OFFLINE unset): a short probe decides, instead of the Hub library's
    retries (about 46 s of "Retrying in 8s" before): not cached -> one line; cached -> the cache only."""
    import urllib.error
    import urllib.request

    import huggingface_hub

    from peftbench.errors import UserError
    from peftbench.text import models

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, name: None)
    with pytest.raises(UserError, match=r"model_id 'org/model': not in the local Hugging Face cache and the Hub .* "
                                        r"cannot be reached \(Name or service not known\)"):
        models._hub_check("org/model", "org/model")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, name: str(tmp_path / "config.json"))
    assert models._hub_check("org/model", "org/model") is True
    assert models._hub_check(str(tmp_path), str(tmp_path)) is False  # a local folder: no probe at all
