"""`minimath`: the offline default. Procedural word problems (train/valid/test, held-out templates and
number ranges) plus real GSM8K test items from a PyPI package; forgetting on CPython's pydoc topics.
Runs on a laptop CPU with the embedded SmolLM2-135M-Instruct."""

from __future__ import annotations

from pydantic import Field

from peftbench.planning.config import DataConfig, TrainConfig
from peftbench.tasks.registry import register_task


class MiniMathData(DataConfig):
    """minimath's data sizes: its own problems, plus a sample of real GSM8K test items."""

    gsm8k_test_size: int | None = Field(
        default=0, ge=0, description="real GSM8K items scored as `test accuracy gsm8k`; 0 disables, null = all 1319"
    )


class MiniMathConfig(TrainConfig):
    data: MiniMathData = Field(default_factory=MiniMathData, description="data sizes")


DEFAULTS = {
    "model_id": "embedded:SmolLM2-135M-Instruct",
    "dtype": "float32",
    "max_seq_length": 256,
    "batch_size": 4,
    "batch_size_eval": 50,
    "max_steps": 60,
    "eval_steps": 30,
    "optimizer_type": "AdamW",
    "optimizer_kwargs": {"lr": 2e-3, "weight_decay": 0.0},
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.05,
    "grad_norm_clip": 1.0,
    "loss_on": "answer",
    "query_template": "Question: {query}\nAnswer:",
    "generation_kwargs": {"max_new_tokens": 64, "max_length": 320},
    "data": {
        "train_size": 4000,
        "valid_size": 16,
        "test_size": 100,
        "gsm8k_test_size": 50,
        "forgetting_size": 16,
        "forgetting_max_tokens": 128,
    },
}


TRAIN_ALL = 4000  # the problems a null data.train_size means
TEST_ALL = 500  # ... and a null data.test_size


def sizes(cfg: MiniMathConfig) -> dict[str, int]:
    """How many items each split supplies under `cfg` (TaskSpec.sizes): the generator makes as many
    problems as asked until a template runs out; the GSM8K file and the pydoc topics are counted."""
    from peftbench.tasks.common import corpora, gsm8k
    from peftbench.tasks.minimath import problems

    data = cfg.data
    supplied = {"data.train_size": problems.supply("train", data.train_size or TRAIN_ALL, cfg.seed),
                "data.valid_size": problems.supply("valid", data.valid_size, 0),
                "data.test_size": problems.supply("test", data.test_size or TEST_ALL, 0),
                "data.forgetting_size": corpora.pydoc_topic_count()}
    if data.gsm8k_test_size != 0:
        supplied["data.gsm8k_test_size"] = gsm8k.count_rows(gsm8k.packaged_test_path())
    return supplied


@register_task("minimath", kind="text", metric="accuracy", config_model=MiniMathConfig, defaults=DEFAULTS,
               sizes=sizes)
def minimath():
    """Offline arithmetic word problems on the embedded SmolLM2-135M (CPU, minutes)."""
    from peftbench.tasks.minimath.task import MiniMath

    return MiniMath()


# minimath trained by reinforcement learning (GRPO, training/grpo.py): the same problems, scorer and test sets,
# rewarded by the scorer instead of taught the worked solutions. Short enough to sweep on a laptop CPU.
RL_DEFAULTS = {
    **DEFAULTS,
    "trainer": "grpo",
    # 2 prompts x 4 answers of up to 48 tokens a step: on this project's 2 shared CPU cores a step of 4 x 4
    # answers of up to 64 tokens took 2-3 minutes beside other runs, two thirds of it sampling (docs/rl.md)
    "batch_size": 2,
    "max_steps": 16,
    "eval_steps": 8,
    "optimizer_kwargs": {"lr": 1e-4, "weight_decay": 0.0},
    "grpo": {"num_generations": 4, "max_new_tokens": 48, "temperature": 0.9, "beta": 0.04},
    "data": {**DEFAULTS["data"], "valid_size": 32, "gsm8k_test_size": 0},
}


@register_task("minimath-rl", kind="text", metric="accuracy", config_model=MiniMathConfig, defaults=RL_DEFAULTS,
               sizes=sizes)
def minimath_rl():
    """minimath trained with GRPO: 16 steps of 2 prompts x 4 sampled answers, rewarded by the scorer (CPU)."""
    from peftbench.tasks.minimath.task import MiniMath

    return MiniMath()
