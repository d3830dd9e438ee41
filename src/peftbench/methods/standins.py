"""Tiny random-init stand-ins for a task's model: checks measure what peft does with the layers, so
pretrained weights are not needed, and a stand-in trains in well under a second."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from peftbench.models import cache_dir

# Configs are sized for the task's real model, and a few name a layer count (e.g. the number of
# adapted decoder layers); the deep stand-in has as many layers as common 1-8B decoders so those fit.
DEEP_LAYERS = 32


def tiny_llama(layers: int = 2) -> Path:
    """peftbench.tiny's Llama (hidden 64, SmolLM2's tokenizer) with `layers` decoder layers, cached."""
    target = cache_dir() / "standins" / f"tiny-llama-{layers}"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "config.json").exists():
            _build_tiny_llama(target, layers)
    return target


def _build_tiny_llama(target: Path, layers: int) -> None:
    import os
    import shutil
    import tempfile

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from peftbench.tiny import save_tiny_llama

    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        save_tiny_llama(tmp)
        if layers != 2:
            config = AutoConfig.from_pretrained(tmp)
            config.num_hidden_layers = layers
            torch.manual_seed(0)
            AutoModelForCausalLM.from_config(config).save_pretrained(tmp)
            AutoTokenizer.from_pretrained(tmp).save_pretrained(tmp)
        os.replace(tmp, target)  # atomic: a killed build never leaves a half-written stand-in
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
