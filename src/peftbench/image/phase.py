"""The runner's image path: PEFT on the task's denoiser, the shared training loop, then similarity,
drift and the sample grid. `runner._run_all` calls `run_image` for tasks of kind "image"; the record
is built and written by the runner exactly as for text tasks.
"""

from __future__ import annotations

import contextlib

import torch

from peftbench.adapters import build_optimizer, build_scheduler, wrap_model
from peftbench.experiment import ADAPTER_FILE
from peftbench.image.metrics import drift_per_image, similarity, similarity_per_image
from peftbench.measure import MemorySampler, count_parameters
from peftbench.train import train


def run_image(run, reporter, device: torch.device) -> None:
    """Fill `run` (state, memory, final metrics, predictions, samples) for an image task."""
    from peftbench.runner import _peft_config_dict, _saved_size  # runner imports this module lazily

    cfg, task = run.cfg, run.task
    with reporter.status("load base model and data"):
        bundle = task.load(cfg, device)
    run.model_info = bundle.model_info
    extractor = bundle.extractor
    ref_features = {split: extractor.embed(images) for split, images in bundle.references.items()}

    source = str(run.experiment.path / ADAPTER_FILE)
    model = wrap_model(bundle.model, run.experiment.peft_config, source, cfg.autocast_adapter_dtype,
                       default_task_type=None)  # a denoiser is no causal LM: plain PeftModel
    run.peft_config = _peft_config_dict(model, run.experiment.peft_config)
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    run.params = count_parameters(model)
    scheduler = build_scheduler(optimizer, cfg.lr_scheduler, cfg.max_steps, cfg.warmup_ratio)
    if cfg.compile:
        model.compile()

    def generate(which_model, prompts):
        return _generate(task, which_model, bundle, prompts, cfg)

    memory = MemorySampler(device)

    def validate() -> dict:
        with memory.paused(), reporter.status("valid similarity"):
            features = extractor.embed(generate(model, bundle.prompts["valid"]))
        return {f"valid {task.metric}": similarity(features, ref_features["valid"])}

    batches = task.train_batches(bundle, cfg, device)
    with reporter.training(cfg.max_steps) as on_step, memory:
        train(model, optimizer, scheduler, batches, lambda m, b: task.loss(m, b, bundle), cfg, device,
              memory, run.state, validate, on_step)
    run.train_memory = memory.summary()
    del optimizer, scheduler, batches
    _evaluate(run, model, bundle, ref_features, reporter, device)
    run.file_size = _saved_size(model)


def _generate(task, model, bundle, prompts, cfg) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return task.generate(model, bundle, prompts, cfg)


def _evaluate(run, model, bundle, ref_features: dict, reporter, device) -> None:
    """Test similarity (tuned and base), drift, the sidecar rows and the sample grid rows."""
    cfg, task, extractor = run.cfg, run.task, bundle.extractor

    def generate(which_model, prompts):
        return _generate(task, which_model, bundle, prompts, cfg)

    test = bundle.prompts["test"]
    with MemorySampler(device) as eval_memory, reporter.status(f"test {task.metric}"):
        tuned_test = generate(model, test)
    run.eval_memory = eval_memory.summary()
    test_features = extractor.embed(tuned_test)
    per_image = similarity_per_image(test_features, ref_features["test"])
    run.final[f"test {task.metric}"] = float(per_image.mean())

    drift_set = bundle.prompts["drift"]
    with reporter.status("drift (adapter on vs off)"):
        tuned_drift = extractor.embed(generate(model, drift_set))
        with _base_model(model, task, cfg, device) as base:
            base_drift = extractor.embed(generate(base, drift_set))
            base_test = extractor.embed(generate(base, test))
    drifts = drift_per_image(tuned_drift, base_drift)
    run.final["drift"] = float(drifts.mean())
    run.final[f"base {task.metric}"] = similarity(base_test, ref_features["test"])
    run.predictions = _rows(test, per_image, "test") + _rows(drift_set, drifts, "drift")

    with reporter.status("sample grid"):
        run.samples = list(bundle.grid_real) + [(row.label, generate(model, row)) for row in bundle.grid]


@contextlib.contextmanager
def _base_model(model, task, cfg, device):
    """The untuned denoiser: the adapter switched off, or (full fine-tuning) a freshly loaded base."""
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
        return
    base = task.load(cfg, device).model
    try:
        yield base
    finally:
        del base


def _rows(prompts, values: torch.Tensor, role: str) -> list[dict]:
    key = "similarity" if role == "test" else "drift"
    return [{"id": f"{role}-{i}", "test_set": role, "prompt": p, "seed": s, key: float(v)}
            for i, (p, s, v) in enumerate(zip(prompts.prompts, prompts.seeds, values))]
