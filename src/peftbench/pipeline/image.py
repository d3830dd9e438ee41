"""An image task's side of the pipeline: the task's denoiser, batches and loss; similarity of generated
images to held-out references, drift against the untuned model, and the sample grid."""

from __future__ import annotations

import torch

from peftbench.image.metrics import drift_per_image, similarity, similarity_per_image
from peftbench.metrics import BASE_SIMILARITY, DRIFT, task_metric
from peftbench.pipeline.setup import BaseView


class ImageRun:
    def __init__(self, run, reporter, device):
        self.run, self.reporter, self.device = run, reporter, device
        self.cfg, self.task, self.metric = run.cfg, run.task, run.plan.spec.metric

    def load(self):
        """The task's denoiser and everything evaluation needs, plus the references' features."""
        with self.reporter.status("load base model and data"):
            self.bundle = self.task.load(self.cfg, self.device)
        self.run.model_info = self.bundle.model_info
        self.extractor = self.bundle.extractor
        self.references = {split: self.extractor.embed(images) for split, images in self.bundle.references.items()}
        return self.bundle.model

    def load_base(self):
        return self.task.load(self.cfg, self.device).model

    def batches(self):
        return self.task.train_batches(self.bundle, self.cfg, self.device)

    def loss(self, model, batch):
        return self.task.loss(model, batch, self.bundle)

    def validate(self, model) -> dict:
        with self.reporter.status(task_metric("valid", self.metric)):
            features = self.extractor.embed(self._generate(model, self.bundle.prompts["valid"]))
        return {task_metric("valid", self.metric): similarity(features, self.references["valid"])}

    def test(self, model) -> None:
        """Images for the held-out prompts, and their similarity to the held-out references."""
        key = task_metric("test", self.metric)
        with self.reporter.status(key):
            features = self.extractor.embed(self._generate(model, self.bundle.prompts["test"]))
        self.per_image = similarity_per_image(features, self.references["test"])
        self.run.final[key] = float(self.per_image.mean())

    def afterwards(self, model, base: BaseView) -> None:
        """Retention and inference overhead are measured for text tasks only."""

    def compare_with_base(self, model, base: BaseView) -> None:
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

    def _generate(self, model, prompts) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            return self.task.generate(model, self.bundle, prompts, self.cfg)


def _rows(prompts, values: torch.Tensor, role: str) -> list[dict]:
    key = "similarity" if role == "test" else "drift"
    return [{"id": f"{role}-{i}", "test_set": role, "prompt": p, "seed": s, key: float(v)}
            for i, (p, s, v) in enumerate(zip(prompts.prompts, prompts.seeds, values))]
