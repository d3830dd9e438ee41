"""The seam between the run sequence and a modality: what `sequence.py` calls on a text or an image run
(`text.TextRun`, `image.ImageRun`), in the order it calls it. A new modality, or a new trainer that needs
its own data and evaluation, implements this and nothing in the sequence changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Protocol

import torch

from peftbench.tasks.base import Batch

if TYPE_CHECKING:  # only an annotation; setup.py imports torch-heavy helpers at call time anyway
    from peftbench.pipeline.setup import BaseView


class Modality(Protocol):
    def load(self) -> torch.nn.Module:
        """The base model, and once what evaluation needs (data, references, the forgetting baseline);
        fills the run state's model info."""
        ...

    def load_base(self) -> torch.nn.Module:
        """A fresh base model, for comparisons where switching the adapter off does not give it back."""
        ...

    def batches(self) -> Iterator[Batch]:
        """Endless training batches, for the supervised loop (`training.sft.train`)."""
        ...

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """The training loss of one batch."""
        ...

    def validate(self, model: torch.nn.Module, items: int | None = None) -> dict[str, float]:
        """The validation row of a window: `valid <metric>` (on the first `items` validation examples only,
        for an early-stop look: `RunConfig.early_stop`)."""
        ...

    def test(self, model: torch.nn.Module) -> None:
        """The test metrics into the run's final row, the per-item rows into its predictions."""
        ...

    def compare_with_base(self, model: torch.nn.Module, base: BaseView) -> None:
        """Forgetting and drift against the untuned model."""
        ...

    def afterwards(self, model: torch.nn.Module, base: BaseView) -> None:
        """What fine-tuning costs afterwards (retention, inference overhead), where the modality has it."""
        ...
