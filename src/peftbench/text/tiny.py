"""A tiny random-initialised Llama with the offline model's tokenizer: the stand-in that tests and
the sweep-overhead benchmark train in seconds, so they measure the harness, not the model."""

from __future__ import annotations

from pathlib import Path


def save_tiny_llama(path: Path | str, seed: int = 0) -> Path:
    """2 layers, hidden 64, SmolLM2's tokenizer (so prompts tokenise as on the real model)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from peftbench.text.models import EMBEDDED_MODELS, gguf_path

    gguf = gguf_path("SmolLM2-135M-Instruct")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=EMBEDDED_MODELS["SmolLM2-135M-Instruct"][1])
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
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.generation_config, key, getattr(tokenizer, key))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)
