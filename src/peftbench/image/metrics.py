"""Image metrics on feature vectors: concept similarity and drift (docs/design.md, "Metrics").

Both work on the features of a `FeatureExtractor` (DINOv2's CLS token at full scale, a small digit CNN
in minigen), so the two image tasks share one definition of each number.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F


class FeatureExtractor(Protocol):
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Images, float in [0, 1], NCHW (any size; the extractor resizes) -> features [N, D] on CPU."""
        ...


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N, D] x [M, D] -> [N, M] cosine similarities."""
    return F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).T


def similarity_per_image(generated: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """For each generated image, its mean cosine similarity to all reference images: [N]."""
    return cosine_matrix(generated, references).mean(dim=1)


def similarity(generated: torch.Tensor, references: torch.Tensor) -> float:
    """Mean cosine similarity over all (generated, reference) pairs; higher = the concept is learned."""
    return float(similarity_per_image(generated, references).mean())


def drift_per_image(tuned: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """(1 - cos) / 2 between paired features (same prompt, same seed; adapter on vs off), in [0, 1]."""
    if tuned.shape != base.shape:
        raise ValueError(f"drift needs paired features, got {tuple(tuned.shape)} and {tuple(base.shape)}")
    cos = F.cosine_similarity(tuned.float(), base.float(), dim=-1)
    return ((1.0 - cos) / 2.0).clamp(0.0, 1.0)


def drift(tuned: torch.Tensor, base: torch.Tensor) -> float:
    """Mean normalised drift on unrelated prompts: 0 = unchanged, 1 = opposite features."""
    return float(drift_per_image(tuned, base).mean())
