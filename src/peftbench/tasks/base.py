"""What a task is. Two kinds, told apart by `kind`:

- "text" (`Task`): data splits, prompt format, scoring and a forgetting corpus; the runner does the rest.
- "image" (`ImageTask`): the task loads its denoiser and data, supplies training batches and the loss,
  and generates images; the runner does PEFT, the training loop, memory, similarity, drift and the record.

A task is one package in `peftbench.tasks` whose light `__init__` registers a factory for these
objects with `@register_task` (name, kind, main metric, config model, defaults: `registry.TaskSpec`).
The run pipeline knows nothing else about it, so adding a task never touches the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Protocol

if TYPE_CHECKING:  # annotations only: planning a run imports tasks without torch
    import torch

    from peftbench.image.metrics import FeatureExtractor


@dataclass(frozen=True)
class Example:
    """One problem. `target` is what the model learns to write after the prompt (a worked solution
    ending in the final answer); `gold` is the final answer alone, compared after extraction."""

    id: str
    question: str
    target: str
    gold: str


@dataclass(frozen=True)
class TestSet:
    """A named test split. The empty name reports as `test accuracy`; others as `test accuracy <name>`."""

    name: str
    examples: list[Example]


@dataclass(frozen=True)
class Score:
    extracted: str | None
    correct: bool


class Task(Protocol):
    """A text task's data and scoring; `cfg` is the run's validated config (the task's config model)."""

    def train_examples(self, cfg) -> list[Example]: ...

    def valid_examples(self, cfg) -> list[Example]: ...

    def test_sets(self, cfg) -> list[TestSet]: ...

    def forgetting_texts(self, cfg) -> tuple[list[str], dict]:
        """The general-text sample and a description of it (source, hash, version) for meta_info."""
        ...

    def score(self, prediction: str, gold: str) -> Score: ...

    def dataset_info(self, cfg) -> dict: ...


@dataclass(frozen=True)
class PromptSet:
    """Images to generate: prompt i with seed i (same prompt + seed = same starting noise).
    `label` names the set in the sample grid and in sidecar rows."""

    label: str
    prompts: list[str]
    seeds: list[int]

    def first(self, count: int | None) -> PromptSet:
        """The first `count` prompts with their seeds (all of them for None)."""
        return self if count is None else PromptSet(self.label, self.prompts[:count], self.seeds[:count])

    def __post_init__(self):
        if len(self.prompts) != len(self.seeds):
            raise ValueError(f"PromptSet {self.label!r}: {len(self.prompts)} prompts but {len(self.seeds)} seeds")


@dataclass
class ImageBundle:
    """What an image task's `load` returns; the runner treats everything but `model` as opaque.

    model:       the denoiser (torch.nn.Module). PEFT wraps it, the optimizer trains it, its adapter's
                 size is the file size. Frozen parts (text encoder, VAE) are not in it: their outputs
                 are precomputed, so they are not held during training.
    model_info:  identity of the base (ids, hashes, cache key) for meta_info.
    extractor:   the similarity feature extractor (`peftbench.image.metrics.FeatureExtractor`).
    references:  held-out images of the concept, float [0,1] NCHW, by split: {"valid": …, "test": …}.
    prompts:     PromptSets by role: "valid" and "test" (the concept, compared with references),
                 "drift" (unrelated prompts: adapter on vs off).
    grid:        rows of the samples PNG (instance prompt, a different subject, the class without the
                 identifier), generated with the tuned model; `grid_real` rows (e.g. the instance
                 images) are shown above them as they are.
    state:       anything else the task needs (precomputed embeddings and latents, scheduler, …).
    """

    model: torch.nn.Module
    model_info: dict[str, Any]
    extractor: FeatureExtractor
    references: dict[str, torch.Tensor]
    prompts: dict[str, PromptSet]
    grid: list[PromptSet]
    state: Any = None
    grid_real: list[tuple[str, torch.Tensor]] = field(default_factory=list)  # real rows (label, images) atop the grid


@dataclass
class Batch:
    """One training step's data for the training loop: `inputs` goes to the loss function as is;
    `samples` and `tokens` (unpadded; 0 for images) feed the throughput figures."""

    inputs: Any
    samples: int
    tokens: int = 0


class ImageTask(Protocol):
    """An image task's model, data and sampling; the pipeline does PEFT, training and the metrics."""

    def load(self, cfg, device) -> ImageBundle:
        """The base denoiser on `device` plus everything evaluation needs (see ImageBundle). Deterministic
        from cfg: two runs with the same config start from the same weights."""
        ...

    def train_batches(self, bundle: ImageBundle, cfg, device) -> Iterator[Batch]:
        """Endless training batches (instance images + prompt embeddings, prior-preservation items),
        already on `device`, in an order fixed by cfg.seed."""
        ...

    def loss(self, model, batch: Batch, bundle: ImageBundle) -> torch.Tensor:
        """Scalar training loss of `model` (the wrapped denoiser) on one batch: noise/timesteps sampled
        inside (`peftbench.image.diffusion`), epsilon or flow-matching target as the model needs."""
        ...

    def generate(self, model, bundle: ImageBundle, prompts: PromptSet, cfg) -> torch.Tensor:
        """Images for `prompts` (seed i for prompt i), float [0,1] NCHW on CPU, in eval mode, no grad."""
        ...

    def dataset_info(self, cfg) -> dict: ...
