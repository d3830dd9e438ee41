"""Shared fixtures: a tiny random-initialised Llama model, experiment folders, an isolated cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


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
        "overhead": {"repeats": 1, "prompt_tokens": [8, 24], "new_tokens": 4},  # exercised, in a fraction of a second
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

    from peftbench.text.tiny import save_tiny_llama

    # Tiny matmuls gain nothing from a second thread, and on a shared 2-core machine lose a lot to it.
    torch.set_num_threads(1)
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


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


@pytest.fixture
def task_registry(monkeypatch):
    """Task files a test registers are forgotten after it (the registry is per process). Returns
    `forget()`, which also forgets them mid-test: what a fresh process (a sweep's worker) sees."""
    from peftbench.tasks import registry
    from peftbench.tasks.from_file import registration

    registry.task_names()  # every built-in registered first: one imported mid-test would vanish after it
    builtin = dict(registry._SPECS)

    def forget() -> None:
        monkeypatch.setattr(registry, "_SPECS", dict(builtin))
        monkeypatch.setattr(registration, "_BY_PATH", {})

    forget()
    return forget
