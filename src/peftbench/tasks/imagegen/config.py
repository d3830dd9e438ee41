"""imagegen's config sections: `imagegen.*` (data, DINOv2, prompt sets) and its `image.*` rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from peftbench.planning.config import ImageConfig, ImageTrainConfig, Strict


class ImagegenOptions(Strict):
    """What only `imagegen` needs: where the images and DINOv2 come from, and the prompt sets."""

    family: Literal["auto", "stable-diffusion", "flux2-klein"] = Field(
        default="auto", description="pipeline family; auto = from the pipeline's model_index.json")
    dataset_id: str = Field(description="instance images: a local folder or a Hub dataset id")
    dataset_split: str = Field(default="train", description="split of a Hub dataset")
    image_column: str = Field(default="image", description="image column of a Hub dataset")
    instance_prompts: list[str] = Field(
        default_factory=list,
        description="one prompt per image, in dataset order ({identifier}/{class_word} filled in); "
                    "empty = image.instance_prompt for every image")
    valid_size: int = Field(ge=1, description="images just before the test ones, used for validation")
    test_size: int = Field(ge=1, description="last images of the set: the held-out references")
    dino_model_id: str = Field(description="DINOv2 for similarity: Hub id or local folder")
    drift_prompts: list[str] = Field(min_length=1, description="unrelated prompts: adapter on vs off")
    grid_prompts: list[str] = Field(min_length=1, description="rows of the sample grid")
    max_sequence_length: int = Field(default=512, gt=0, description="FLUX.2: text tokens per prompt")
    text_encoder_out_layers: list[int] | None = Field(
        default=None, description="FLUX.2: hidden layers stacked into the prompt embedding; null = the pipeline's default")

    @field_validator("instance_prompts", "drift_prompts", "grid_prompts")
    @classmethod
    def _templates(cls, templates: list[str]) -> list[str]:
        for template in templates:
            try:
                template.format(identifier="", class_word="")
            except (KeyError, IndexError, ValueError) as err:  # what str.format raises on stray braces
                raise ValueError(f"{template!r} is not a valid template (only {{identifier}} and {{class_word}} "
                                 f"are filled in): {err!r}") from None
        return templates


class ImagegenImage(ImageConfig):
    @field_validator("prior_loss_weight")
    @classmethod
    def _no_prior(cls, weight: float) -> float:
        if weight > 0:
            raise ValueError("prior preservation is not implemented for imagegen (use 0)")
        return weight


class ImagegenConfig(ImageTrainConfig):
    image: ImagegenImage = Field(description="concept learning and sampling")
    imagegen: ImagegenOptions = Field(description="data, DINOv2 and prompt sets")
