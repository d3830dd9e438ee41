"""The image sets of `imagegen`: instance images and their prompts, split into train / valid / test.

Images come from a local folder (every .png/.jpg/.jpeg/.webp, sorted by name) or a Hub dataset (an
image column of one split). The split is by position and does not depend on the run's seed, so every
seed and every method is tested on the same held-out images: the last `test_size` images are the
held-out references, the `valid_size` before them validate, and training uses the first `num_train`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from peftbench.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


@dataclass(frozen=True)
class ImageItem:
    id: str
    prompt: str
    image: object  # PIL.Image.Image, RGB


@dataclass(frozen=True)
class ImageSplits:
    train: list[ImageItem]
    valid: list[ImageItem]
    test: list[ImageItem]
    info: dict


def image_files(folder: Path) -> list[Path]:
    """A local instance-image folder's images, in the order the split takes them."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _read_folder(folder: Path) -> tuple[list[str], list]:
    from PIL import Image

    files = image_files(folder)
    if not files:
        raise UserError(f"imagegen.dataset_id '{folder}': no .png/.jpg/.jpeg/.webp images in this folder")
    images = []
    for path in files:
        with Image.open(path) as img:
            images.append(img.convert("RGB"))
    return [p.name for p in files], images


def _read_hub(dataset_id: str, split: str, column: str) -> tuple[list[str], list, dict]:
    import datasets

    try:
        data = datasets.load_dataset(dataset_id, split=split)
    except Exception as err:  # datasets raises many types (hub, network, missing split)
        raise UserError(f"imagegen.dataset_id '{dataset_id}' (split '{split}'): cannot load: {str(err).splitlines()[0]}") from None
    if column not in data.column_names:
        raise UserError(f"imagegen.image_column '{column}': not a column of {dataset_id} (columns: {', '.join(data.column_names)})")
    images = [img.convert("RGB") for img in data[column]]
    from peftbench.tasks.imagegen.pipeline import hub_revision

    info = {"revision": hub_revision(dataset_id, "dataset")}
    return [f"{dataset_id}#{i}" for i in range(len(images))], images, info


def load_splits(spec) -> ImageSplits:
    """Read the instance images and split them; prompts pair up with images by position.

    `spec` has dataset_id, dataset_split, image_column, instance_prompts (filled in), num_train,
    valid_size and test_size."""
    source = spec.dataset_id
    if Path(source).is_dir():
        ids, images = _read_folder(Path(source))
        info = {"source": str(Path(source).resolve())}
    else:
        ids, images, info = _read_hub(source, spec.dataset_split, spec.image_column)
        info = {"source": source, "split": spec.dataset_split, **info}
    prompts = list(spec.instance_prompts)
    if len(prompts) == 1:
        prompts = prompts * len(images)
    if len(prompts) != len(images):
        raise UserError(
            f"imagegen.instance_prompts: {len(prompts)} prompts for {len(images)} images in '{source}' "
            "(expected one prompt per image, or a single prompt for all)"
        )
    n_valid, n_test, n_train = spec.valid_size, spec.test_size, spec.num_train
    if len(images) < n_train + n_valid + n_test:
        raise UserError(
            f"image.num_instance_images {n_train} + imagegen.valid_size {n_valid} + imagegen.test_size {n_test}: "
            f"'{source}' has only {len(images)} images"
        )
    items = [ImageItem(i, p, img) for i, p, img in zip(ids, prompts, images)]
    held_out = len(items) - n_valid - n_test  # the held-out images are always the last ones
    info.update(num_images=len(items), num_train=n_train, sha256=_images_hash(images))
    return ImageSplits(items[:n_train], items[held_out : held_out + n_valid], items[held_out + n_valid :], info)


def _images_hash(images) -> str:
    """Identity of the pixels actually used, so a changed dataset shows in the result's meta_info."""
    digest = hashlib.sha256()
    for img in images:
        digest.update(f"{img.size}".encode())
        digest.update(img.tobytes())
    return digest.hexdigest()


def to_pixels(images: list, resolution: int):
    """PIL images -> (B, 3, resolution, resolution) tensor in [-1, 1], resized and centre-cropped."""
    from diffusers.image_processor import VaeImageProcessor

    processor = VaeImageProcessor(do_resize=True, do_normalize=True, do_convert_rgb=True)
    return processor.preprocess(images, height=resolution, width=resolution, resize_mode="crop")
