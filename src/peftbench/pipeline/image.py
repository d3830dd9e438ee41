"""An image task's side of the pipeline: the task's denoiser, batches and loss; similarity of generated
images to held-out references, drift against the untuned model, and the sample grid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import torch

from peftbench.image.metrics import drift_per_image, similarity, similarity_per_image
from peftbench.metrics import BASE_SIMILARITY, DRIFT, task_metric
from peftbench.pipeline.setup import BaseView
from peftbench.pipeline.state import Row, RunState
from peftbench.planning.config import RunConfig
from peftbench.tasks.base import Batch, ImageTask, PromptSet

if TYPE_CHECKING:
    from peftbench.telemetry.progress import Reporter


class ImageRun:
    """The `pipeline.modality.Modality` of image tasks."""

    def __init__(self, run: RunState, task: ImageTask, reporter: Reporter, device: torch.device):
        self.run, self.reporter, self.device = run, reporter, device
        self.cfg: RunConfig = run.cfg
        self.task, self.metric = task, run.plan.spec.metric

    def load(self) -> torch.nn.Module:
        """The task's denoiser and everything evaluation needs, plus the references' features."""
        with self.reporter.status("load base model and data"):
            self.bundle = self.task.load(self.cfg, self.device)
        self.run.model_info = self.bundle.model_info
        self.extractor = self.bundle.extractor
        self.references = {split: self.extractor.embed(images) for split, images in self.bundle.references.items()}
        return self.bundle.model

    def load_base(self) -> torch.nn.Module:
        return self.task.load(self.cfg, self.device).model

    def batches(self) -> Iterator[Batch]:
        return self.task.train_batches(self.bundle, self.cfg, self.device)

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return self.task.loss(model, batch, self.bundle)

    def validate(self, model: torch.nn.Module, items: int | None = None) -> dict[str, float]:
        with self.reporter.status(task_metric("valid", self.metric)):
            features = self.extractor.embed(self._generate(model, self.bundle.prompts["valid"].first(items)))
        return {task_metric("valid", self.metric): similarity(features, self.references["valid"])}

    def test(self, model: torch.nn.Module) -> None:
        """Images for the held-out prompts, and their similarity to the held-out references."""
        key = task_metric("test", self.metric)
        with self.reporter.status(key):
            features = self.extractor.embed(self._generate(model, self.bundle.prompts["test"]))
        self.per_image = similarity_per_image(features, self.references["test"])
        self.run.final[key] = float(self.per_image.mean())

    def afterwards(self, model: torch.nn.Module, base: BaseView) -> None:
        """Retention and inference overhead are measured for text tasks only."""

    def compare_with_base(self, model: torch.nn.Module, base: BaseView) -> None:
        """Drift (the same unrelated prompts and seeds, adapter on vs off), the base's own similarity,
        the sidecar rows and the sample grid."""
        prompts, run = self.bundle.prompts, self.run
        with self.reporter.status("drift (adapter on vs off)"):
            tuned_drift = self.extractor.embed(self._generate(model, prompts["drift"]))
            with base.active():
                base_drift = self.extractor.embed(self._generate(base.model, prompts["drift"]))
                base_test = self.extractor.embed(self._generate(base.model, prompts["test"]))
        drifts = drift_per_image(tuned_drift, base_drift)
        run.final[DRIFT.key] = float(drifts.mean())
        run.final[BASE_SIMILARITY.key] = similarity(base_test, self.references["test"])
        run.predictions = _rows(prompts["test"], self.per_image, "test") + _rows(prompts["drift"], drifts, "drift")
        with self.reporter.status("sample grid"):
            run.samples = list(self.bundle.grid_real) + [(row.label, self._generate(model, row))
                                                          for row in self.bundle.grid]

    def _generate(self, model: torch.nn.Module, prompts: PromptSet) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            return self.task.generate(model, self.bundle, prompts, self.cfg)


def _rows(prompts: PromptSet, values: torch.Tensor, role: str) -> list[Row]:
    key = "similarity" if role == "test" else "drift"
    return [{"id": f"{role}-{i}", "test_set": role, "prompt": p, "seed": s, key: float(v)}
            for i, (p, s, v) in enumerate(zip(prompts.prompts, prompts.seeds, values))]
