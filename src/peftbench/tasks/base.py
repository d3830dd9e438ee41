"""What a task is: data splits, prompt format, scoring and a forgetting corpus.

A task is one module in `peftbench.tasks` that calls `register(...)`. The runner knows nothing else
about it, so adding a task never touches the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol


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
    name: str
    metric: str  # e.g. "accuracy": reported as "valid accuracy", "test accuracy"

    def default_params(self) -> dict: ...

    def train_examples(self, cfg) -> list[Example]: ...

    def valid_examples(self, cfg) -> list[Example]: ...

    def test_sets(self, cfg) -> list[TestSet]: ...

    def forgetting_texts(self, cfg) -> tuple[list[str], dict]:
        """The general-text sample and a description of it (source, hash, version) for meta_info."""
        ...

    def score(self, prediction: str, gold: str) -> Score: ...

    def dataset_info(self, cfg) -> dict: ...


_REGISTRY: dict[str, Callable[[], Task]] = {}


def register(name: str, factory: Callable[[], Task]) -> None:
    _REGISTRY[name] = factory


def registered() -> dict[str, Callable[[], Task]]:
    return _REGISTRY


