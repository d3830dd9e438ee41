"""minigen's model, data and sampling: the digit UNet, its batches, diffusion loss and generation."""

from __future__ import annotations

from typing import Iterator

import torch

from peftbench.errors import UserError
from peftbench.image.diffusion import diffusion_loss, guided, initial_noise, sample
from peftbench.tasks.base import Batch, ImageBundle, PromptSet
from peftbench.tasks.minigen import MODEL_ID, MiniGenConfig
from peftbench.tasks.minigen import base_model
from peftbench.tasks.minigen import digits

VALID_SEED0, DRIFT_SEED0, GRID_SEED0 = 10_000, 20_000, 30_000  # disjoint from test seeds 0..n-1


class MiniGen:
    def load(self, cfg: MiniGenConfig, device) -> ImageBundle:
        from peftbench.tasks.minigen.features import load_features

        img, mg = cfg.image, cfg.minigen
        if cfg.model_id != MODEL_ID:
            raise UserError(f"model_id '{cfg.model_id}': minigen builds its own base model; expected '{MODEL_ID}'")
        if img.resolution % 4 or any(c % 8 for c in mg.base.channels):
            raise UserError(f"image.resolution {img.resolution} / minigen.base.channels {mg.base.channels}: "
                            "expected a resolution divisible by 4 and channels divisible by 8")
        try:
            data = digits.split(mg.concept_digit, img.num_instance_images, mg.valid_size, mg.test_size)
        except ValueError as err:
            raise UserError(f"minigen sizes: {err}") from None
        unet, encoder, info = base_model.load_base(mg.base, img.resolution, mg.concept_digit)
        unet.to(device)
        if cfg.dtype != "float32":  # diffusers warns about a cast even when it changes nothing
            unet.to(getattr(torch, cfg.dtype))
        try:
            encoder.encode([img.prompt(img.instance_prompt)])
        except ValueError as err:
            raise UserError(f"image.instance_prompt: {err}") from None
        extractor = load_features(mg.feature_steps)
        prompts, grid = _prompt_sets(img, mg.concept_digit)
        references = {"valid": digits.to_unit(data.valid), "test": digits.to_unit(data.test)}
        state = {"data": data, "encoder": encoder, "scheduler": base_model.noise_scheduler(), "device": device,
                 "noise": torch.Generator().manual_seed(cfg.seed)}
        real = [("instance images (training)", digits.to_unit(data.instance[: img.grid_seeds]))]
        return ImageBundle(unet, {**info, "features": extractor.info}, extractor, references, prompts, grid, state,
                           grid_real=real)

    def train_batches(self, bundle: ImageBundle, cfg: MiniGenConfig, device) -> Iterator[Batch]:
        img, state = cfg.image, bundle.state
        data, encoder = state["data"], state["encoder"]
        resolution, dtype = img.resolution, getattr(torch, cfg.dtype)
        instance = digits.resize(data.instance, resolution)
        instance_cond = encoder.encode([img.prompt(img.instance_prompt)])[0]
        known = digits.resize(data.known, resolution)
        known_cond = encoder.encode([base_model.digit_prompt(d) for d in digits.DIGITS])
        gen = torch.Generator().manual_seed(cfg.seed)
        while True:
            idx = torch.randint(0, len(instance), (cfg.batch_size,), generator=gen)
            x0, cond = instance[idx], instance_cond.expand(cfg.batch_size, -1, -1)
            weights = torch.ones(cfg.batch_size)
            if img.prior_loss_weight > 0:  # prior preservation with real images of the known digits
                pidx = torch.randint(0, len(known), (cfg.batch_size,), generator=gen)
                x0 = torch.cat([x0, known[pidx]])
                cond = torch.cat([cond, known_cond[data.known_labels[pidx]]])
                weights = torch.cat([weights, torch.full((cfg.batch_size,), img.prior_loss_weight)])
            inputs = {"x0": x0.to(device, dtype), "cond": cond.to(device, dtype), "weights": weights}
            yield Batch(inputs, samples=cfg.batch_size)

    def loss(self, model, batch: Batch, bundle: ImageBundle) -> torch.Tensor:
        inputs = batch.inputs

        def predict(noisy, t):
            return model(noisy, t, encoder_hidden_states=inputs["cond"]).sample

        return diffusion_loss(predict, inputs["x0"], "epsilon", base_model.TRAIN_TIMESTEPS,
                              bundle.state["scheduler"], inputs["weights"], bundle.state["noise"])

    def generate(self, model, bundle: ImageBundle, prompts: PromptSet, cfg: MiniGenConfig) -> torch.Tensor:
        from diffusers import DDIMScheduler

        img, state = cfg.image, bundle.state
        device, dtype = state["device"], getattr(torch, cfg.dtype)
        uncond = state["encoder"].encode([base_model.CLASS_PROMPT])[0].to(device, dtype)
        out = []
        for start in range(0, len(prompts.prompts), cfg.batch_size_eval):
            chunk = slice(start, start + cfg.batch_size_eval)
            cond = state["encoder"].encode(prompts.prompts[chunk]).to(device, dtype)
            both = torch.cat([cond, uncond.expand_as(cond)])

            def predict(x, t):
                eps = model(torch.cat([x, x]), torch.cat([t, t]), encoder_hidden_states=both).sample
                return guided(*eps.chunk(2), img.guidance_scale)

            noise = initial_noise(prompts.seeds[chunk], (1, img.resolution, img.resolution), device, dtype)
            sampler = DDIMScheduler.from_config(state["scheduler"].config)
            out.append(digits.to_unit(sample(predict, sampler, noise, img.num_inference_steps)).cpu())
        return torch.cat(out)

    def dataset_info(self, cfg: MiniGenConfig) -> dict:
        mg = cfg.minigen
        return {"minigen": {"source": digits.SOURCE, "concept_digit": mg.concept_digit,
                            "instance_images": cfg.image.num_instance_images, "valid_references": mg.valid_size,
                            "test_references": mg.test_size, "split_seed": 0}}


def _prompt_sets(img, concept: int) -> tuple[dict[str, PromptSet], list[PromptSet]]:
    """Evaluation prompts (seed ranges kept apart, so validation never peeks at test images) and grid rows."""
    instance = img.prompt(img.instance_prompt)
    known = [d for d in digits.DIGITS if d != concept]
    drift_prompts = [base_model.digit_prompt(d) for d in known for _ in range(img.drift_seeds)]
    prompts = {
        "valid": PromptSet("valid", [instance] * img.valid_seeds, [VALID_SEED0 + i for i in range(img.valid_seeds)]),
        "test": PromptSet("test", [instance] * img.test_seeds, list(range(img.test_seeds))),
        "drift": PromptSet("drift", drift_prompts, [DRIFT_SEED0 + i % img.drift_seeds for i in range(len(drift_prompts))]),
    }
    # Grid rows: the concept, a different subject, the class without the identifier.
    rows = [instance, base_model.digit_prompt(known[0]), base_model.CLASS_PROMPT]
    grid = [PromptSet(p, [p] * img.grid_seeds, [GRID_SEED0 + i for i in range(img.grid_seeds)]) for p in rows]
    return prompts, grid

