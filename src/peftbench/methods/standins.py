"""Tiny random-init stand-ins for a task's model: checks measure what peft does with the layers, so
pretrained weights are not needed, and a stand-in trains in well under a second."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

from peftbench.system.folders import cache_dir

# Configs are sized for the task's real model, and a few name a layer count (e.g. the number of
# adapted decoder layers); the deep stand-in has as many layers as common 1-8B decoders so those fit.
DEEP_LAYERS = 32


def tiny_llama(layers: int = 2) -> Path:
    """peftbench.text.tiny's Llama (hidden 64, SmolLM2's tokenizer) with `layers` decoder layers, cached."""
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

    from peftbench.text.tiny import save_tiny_llama

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


def tiny_flux2_transformer():
    """A FLUX.2-klein transformer (diffusers' Flux2Transformer2DModel) one double and one single block
    deep and 64 wide: the smallest width at which every shipped imagegen config applies once
    `fit_flux2_standin` has resized the few sizes that must divide a layer (OFT's 32-blocks and
    FourierFT's 2000 frequencies per 64 x 64 layer fit as shipped). Its inputs: 16 latent channels
    (4 VAE channels in 2 x 2 patches) and prompt embeddings of 3 x 16 (three stacked text-encoder layers)."""
    from diffusers import Flux2Transformer2DModel

    return Flux2Transformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=32,
        num_attention_heads=2, joint_attention_dim=48, timestep_guidance_channels=32,
        axes_dims_rope=(8, 8, 8, 8), guidance_embeds=False,
    )


def fit_flux2_standin(peft_config: dict | None) -> dict | None:
    """An imagegen adapter config with the sizes that must divide (or stay below) each adapted layer's
    width shrunk from FLUX.2-klein's 3072 to the stand-in's 64; module names stay as shipped."""
    if not peft_config:
        return peft_config
    kind = peft_config.get("peft_type")
    if kind == "C3A":
        return {**peft_config, "block_size": 16, "block_size_pattern": {}}
    if kind == "VBLORA":
        return {**peft_config, "vector_length": 16}
    if kind == "LORA" and peft_config.get("kasa_config"):  # KaSA keeps r below min(in, out)
        return {**peft_config, "r": 16, "lora_alpha": 16}
    return peft_config
