"""minigen's data: scikit-learn's handwritten digits (1,797 8x8 images, shipped with the package).

Splits are fixed (seed 0), not drawn per run, so every experiment and seed teaches the same concept
from the same instance images and is scored against the same references:
- the concept digit (never seen by the base model): `num_instance_images` instance images, then
  disjoint validation and test references;
- the other nine digits ("known"): the base model's pretraining data, and the prior-preservation items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DIGITS = tuple(range(10))
SOURCE = "sklearn.datasets.load_digits"


@dataclass(frozen=True)
class DigitSplits:
    instance: torch.Tensor  # [n, 1, 8, 8] in [-1, 1]: the concept's training images
    valid: torch.Tensor  # held-out concept images (validation references)
    test: torch.Tensor  # held-out concept images (test references)
    known: torch.Tensor  # every image of the known digits
    known_labels: torch.Tensor  # their digit labels


def load_images() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as float [N, 1, 8, 8] in [-1, 1] (pixel values 0..16 scaled) and int64 labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0 * 2.0 - 1.0).unsqueeze(1)
    return images, torch.from_numpy(digits.target.astype(np.int64))


def split(concept: int, num_instance: int, valid_size: int, test_size: int) -> DigitSplits:
    images, labels = load_images()
    mine = torch.nonzero(labels == concept).flatten()
    order = mine[torch.randperm(len(mine), generator=torch.Generator().manual_seed(0))]
    needed = num_instance + valid_size + test_size
    if needed > len(order):
        raise ValueError(f"digit {concept} has {len(order)} images; {num_instance} instance + "
                         f"{valid_size} valid + {test_size} test need {needed}")
    cut1, cut2 = num_instance, num_instance + valid_size
    known = labels != concept
    return DigitSplits(images[order[:cut1]], images[order[cut1:cut2]], images[order[cut2:needed]],
                       images[known], labels[known])


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] model space -> [0, 1] image space (what extractors and grids take)."""
    return ((images.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Digits at `resolution` x `resolution` (bilinear; 8 keeps them as they are)."""
    if images.shape[-1] == resolution:
        return images
    return torch.nn.functional.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)
