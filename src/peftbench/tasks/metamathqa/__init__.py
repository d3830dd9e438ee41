"""`metamathqa`: the full-scale profile of the reference suite (GPU + Hub by default).

Train on MetaMathQA, validate on a fixed random sample of 50 GSM8K train rows, test on the GSM8K test
set, forgetting on the first 100 finewiki documents; loss over the whole sequence, as the reference
computes it. Every source can point at a local JSON/JSONL file instead (`data.sources`).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from peftbench.planning.config import DataConfig, TrainConfig
from peftbench.tasks.registry import register_task

SOURCES = {
    "train": "meta-math/MetaMathQA",
    "valid": "openai/gsm8k:main",
    "test": "openai/gsm8k:main",
    "forgetting": "HuggingFaceFW/finewiki:en",
}

DEFAULTS = {
    "model_id": "meta-llama/Llama-3.2-3B",
    "dtype": "bfloat16",
    "max_seq_length": 768,
    "batch_size": 4,
    "batch_size_eval": 50,
    "max_steps": 5000,
    "eval_steps": 250,
    "optimizer_type": "AdamW",
    "optimizer_kwargs": {"lr": 1e-4, "weight_decay": 0.1},
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.0,
    "grad_norm_clip": 1.0,
    "loss_on": "all",
    "query_template": "Question: {query} Think step by step.\nAnswer:",
    "generation_kwargs": {"max_new_tokens": 300, "max_length": 800},
    "data": {
        "train_size": None,
        "valid_size": 50,
        "test_size": None,
        "forgetting_size": 100,
        "forgetting_max_tokens": 768,
        "sources": SOURCES,
    },
}


class MetaMathData(DataConfig):
    """metamathqa's data sizes, and where each split is read from."""

    sources: dict[str, str] = Field(
        default_factory=dict,
        description=f"read a split from elsewhere: Hub id (id:config) or local JSON/JSONL; splits {', '.join(SOURCES)}",
    )

    @field_validator("sources")
    @classmethod
    def _known_splits(cls, sources: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown split '{unknown[0]}' (expected {', '.join(SOURCES)})")
        return sources


class MetaMathConfig(TrainConfig):
    data: MetaMathData = Field(default_factory=MetaMathData, description="data sizes and sources")


SIZE_KEYS = {"train": "train_size", "valid": "valid_size", "test": "test_size", "forgetting": "forgetting_size"}


def sizes(cfg: MetaMathConfig) -> dict[str, int]:
    """How many rows each split supplies (TaskSpec.sizes), for the splits read from local files; a Hub
    split is not counted before the run (that would mean downloading it)."""
    from peftbench.tasks.common.sources import local_row_count

    supplied = {}
    for split, key in SIZE_KEYS.items():
        count = local_row_count(cfg.data.sources.get(split, SOURCES[split]))
        if count is not None:
            asked = getattr(cfg.data, key)
            supplied[f"data.{key}"] = count if asked is None else min(asked, count)
    return supplied


@register_task("metamathqa", kind="text", metric="accuracy", config_model=MetaMathConfig, defaults=DEFAULTS,
               sizes=sizes)
def metamathqa():
    """MetaMathQA -> GSM8K as in the reference suite (Llama-3.2-3B, GPU + Hub)."""
    from peftbench.tasks.metamathqa.task import MetaMathQA

    return MetaMathQA()


# The GPU profile trained by reinforcement learning (GRPO, training/grpo.py), mirroring the settings of the
# reference suite's RL track (peft's method_comparison/RLMath, default_training_params.json): GSM8K's training
# split as prompts (its first 3000 rows, less the validation rows), 8 sampled answers per prompt, up to 1024
# new tokens, temperature 1.0, KL 0.001, a constant learning rate of 4e-5, 100 steps, Qwen3.5-4B in bf16.
# Needs the Hub and a GPU (docs/rl.md); minimath-rl is its offline counterpart.
RL_SOURCES = {**SOURCES, "train": "openai/gsm8k:main"}
RL_DEFAULTS = {
    **DEFAULTS,
    "model_id": "Qwen/Qwen3.5-4B",
    "trainer": "grpo",
    "use_gc": True,
    "max_steps": 100,
    "eval_steps": 25,
    "optimizer_kwargs": {"lr": 4e-5, "weight_decay": 0.0},
    "lr_scheduler": "constant",
    "max_seq_length": 1536,
    "generation_kwargs": {"max_new_tokens": 1024, "max_length": 1536},
    "grpo": {"num_generations": 8, "max_new_tokens": 1024, "temperature": 1.0, "beta": 0.001, "loss_type": "grpo"},
    "data": {**DEFAULTS["data"], "train_size": 3000, "sources": RL_SOURCES},
}


@register_task("metamathqa-rl", kind="text", metric="accuracy", config_model=MetaMathConfig, defaults=RL_DEFAULTS,
               sizes=sizes)
def metamathqa_rl():
    """GRPO on GSM8K's training split, test on its test split, as the reference's RL track (Qwen3.5-4B, GPU + Hub)."""
    import logging

    import torch

    from peftbench.tasks.metamathqa.task import MetaMathQA

    if not torch.cuda.is_available():  # it would run, for days: say so before the model loads
        logging.getLogger(__name__).warning(
            "metamathqa-rl: no CUDA GPU here; this preset (a 4B model, 100 GRPO steps of 8 answers of up to 1024 "
            "tokens) needs one. The offline RL preset is minimath-rl.")
    return MetaMathQA()
