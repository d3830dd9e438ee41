"""Task `imagegen` (full scale, GPU + Hub): DreamBooth-style concept learning on a diffusers
text-to-image pipeline, scored with DINOv2.

Defaults follow the reference suite's image task: FLUX.2-klein-base-4B, the 20-image cat-plushy set
(14 train / 2 valid / 4 test, split by position), 750 steps of batch 2, bf16, DINOv2 similarity between
images generated for the held-out prompts and the held-out photos, drift on ten unrelated prompts.
Every model and data set can be a local folder, which is how the tests run it on tiny stand-ins.
"""

from __future__ import annotations

from peftbench.tasks.imagegen.config import ImagegenConfig
from peftbench.tasks.imagegen.defaults import DEFAULT_PARAMS
from peftbench.tasks.registry import register_task


@register_task("imagegen", kind="image", metric="similarity", config_model=ImagegenConfig, defaults=DEFAULT_PARAMS)
def imagegen():
    """DreamBooth-style concept learning on a diffusers pipeline (FLUX.2-klein; GPU + Hub)."""
    from peftbench.tasks.imagegen.task import ImagegenTask

    return ImagegenTask()
