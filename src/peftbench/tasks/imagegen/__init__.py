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


def sizes(cfg: ImagegenConfig) -> dict[str, int]:
    """A local image folder is counted when planning (TaskSpec.sizes): the split takes the test images
    from the end, the validation images before them, training from the start. A Hub dataset is counted
    when it loads."""
    from pathlib import Path

    from peftbench.tasks.imagegen.data import image_files

    folder = Path(cfg.imagegen.dataset_id)
    if not folder.is_dir():
        return {}
    left = len(image_files(folder))
    supplied = {}
    for key, asked in (("imagegen.test_size", cfg.imagegen.test_size), ("imagegen.valid_size", cfg.imagegen.valid_size),
                       ("image.num_instance_images", cfg.image.num_instance_images)):
        supplied[key] = max(0, min(asked, left))
        left -= supplied[key]
    return supplied


@register_task("imagegen", kind="image", metric="similarity", config_model=ImagegenConfig, defaults=DEFAULT_PARAMS,
               sizes=sizes)
def imagegen():
    """DreamBooth-style concept learning on a diffusers pipeline (FLUX.2-klein; GPU + Hub)."""
    from peftbench.tasks.imagegen.task import ImagegenTask

    return ImagegenTask()
