"""`minigen`: the offline image task. Teach a small digit diffusion model a digit it never saw (7 by
default) from 8 examples under a new identifier ("a sks digit"), DreamBooth style; similarity to
held-out 7s, drift on the nine digits it knew. Runs on a CPU in minutes, data from scikit-learn."""

from __future__ import annotations

from pydantic import Field

from peftbench.planning.config import ImageTrainConfig, Strict
from peftbench.tasks.registry import register_task

MODEL_ID = "minigen:digits-unet"


class BaseSettings(Strict):
    """How the base model is pretrained (part of its cache key)."""

    steps: int = Field(gt=0, description="pretraining steps on the nine known digits")
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    channels: list[int] = Field(min_length=2, description="UNet block widths (multiples of 8)")
    embed_dim: int = Field(gt=0, description="word-embedding / cross-attention width")
    class_prompt_rate: float = Field(ge=0, lt=1, description="share of 'a digit' prompts (guidance baseline)")
    seed: int = Field(default=0, ge=0)


class MiniGenSettings(Strict):
    concept_digit: int = Field(ge=0, le=9, description="the digit the base never sees; the concept to learn")
    valid_size: int = Field(gt=0, description="held-out concept images used as validation references")
    test_size: int = Field(gt=0, description="held-out concept images used as test references")
    feature_steps: int = Field(gt=0, description="training steps of the feature extractor")
    base: BaseSettings


class MiniGenConfig(ImageTrainConfig):
    minigen: MiniGenSettings = Field(description="the concept, its splits and the base model")


DEFAULTS = {
    "model_id": MODEL_ID,
    "batch_size": 8,
    "batch_size_eval": 128,
    "max_steps": 100,
    "eval_steps": 50,
    "optimizer_type": "AdamW",
    "optimizer_kwargs": {"lr": 5e-3, "weight_decay": 0.0},
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.0,
    "grad_norm_clip": 1.0,
    "image": {
        "resolution": 8,
        "identifier": "sks",
        "class_word": "digit",
        "instance_prompt": "a {identifier} {class_word}",
        "num_instance_images": 8,
        "prior_loss_weight": 0.0,
        "num_inference_steps": 20,
        "guidance_scale": 2.0,
        "test_seeds": 32,
        "valid_seeds": 16,
        "drift_seeds": 8,
        "grid_seeds": 8,
    },
    "minigen": {
        "concept_digit": 7,
        "valid_size": 16,
        "test_size": 64,
        "feature_steps": 400,
        "base": {"steps": 1200, "batch_size": 64, "lr": 3e-3, "channels": [16, 32], "embed_dim": 16,
                 "class_prompt_rate": 0.15, "seed": 0},
    },
}


def concept_images(digit: int) -> int | None:
    """Images of `digit` in scikit-learn's digits, read from the data file it ships (importing
    scikit-learn costs seconds); None when the file is not where this version keeps it."""
    import gzip
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    try:
        with gzip.open(path, "rt") as rows:
            return sum(1 for row in rows if row.strip() and row.rsplit(",", 1)[-1].strip() in (str(digit), f"{digit}.0"))
    except (OSError, EOFError):
        return None


def sizes(cfg: MiniGenConfig) -> dict[str, int]:
    """The concept digit's images are shared out in order: instance images, then validation and test
    references (TaskSpec.sizes)."""
    left = concept_images(cfg.minigen.concept_digit)
    if left is None:
        return {}
    supplied = {}
    for key, asked in (("image.num_instance_images", cfg.image.num_instance_images),
                       ("minigen.valid_size", cfg.minigen.valid_size), ("minigen.test_size", cfg.minigen.test_size)):
        supplied[key] = max(0, min(asked, left))
        left -= supplied[key]
    return supplied


# 8x8 images make every op tiny: a second thread only adds synchronisation, and on a busy 2-core machine
# it made pretraining ~5x slower (OpenMP threads waiting on each other).
@register_task("minigen", kind="image", metric="similarity", config_model=MiniGenConfig, defaults=DEFAULTS,
               max_threads=1, sizes=sizes)
def minigen():
    """Offline DreamBooth-style concept learning on a small digit diffusion model (CPU, minutes)."""
    from peftbench.tasks.minigen.task import MiniGen

    return MiniGen()
