"""imagegen's model, data and sampling: a diffusers pipeline with precomputed embeddings and latents."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator

import torch

from peftbench.tasks.base import Batch, ImageBundle, PromptSet


@dataclass
class _State:
    """Everything precomputed once per run; a second `load` (full fine-tuning's drift base) reuses it."""

    family: object
    latents: torch.Tensor  # (N, C, h, w) of the training images
    train_embeds: torch.Tensor  # (N, L, D): each image's own prompt
    embeds: dict[str, torch.Tensor]  # every evaluation prompt -> (L, D)
    negative: torch.Tensor  # (1, L, D): the empty prompt, for classifier-free guidance
    generator: torch.Generator  # noise and timesteps of the training loss


class ImagegenTask:
    def __init__(self):
        self._state: _State | None = None
        self._dataset_info: dict = {}
        self._bundle_parts: dict | None = None

    # --- loading -------------------------------------------------------------------------------------
    def load(self, cfg, device) -> ImageBundle:
        from peftbench.tasks.imagegen.pipeline import load_family

        dtype = getattr(torch, cfg.dtype)
        opts = cfg.imagegen
        if self._state is not None:  # full fine-tuning's base for drift: only a fresh denoiser is needed
            denoiser = self._state.family.load_denoiser()
            return ImageBundle(model=denoiser, state=self._state, **self._bundle_parts)
        # Cheap things first, so a wrong dataset or DINOv2 id fails before a multi-GB pipeline loads.
        splits, prompts = self._data(cfg)
        from peftbench.tasks.imagegen.dino import DinoExtractor
        from peftbench.tasks.imagegen.data import to_pixels

        extractor = DinoExtractor(opts.dino_model_id, device, cfg.batch_size_eval)
        loaded = load_family(cfg.model_id, opts.family, dtype, device,
                             {"max_sequence_length": opts.max_sequence_length,
                              "text_encoder_out_layers": opts.text_encoder_out_layers})
        if cfg.use_gc:
            loaded.denoiser.enable_gradient_checkpointing()
        self._state = self._precompute(cfg, loaded.family, splits, prompts)
        references = {name: (to_pixels([it.image for it in items], cfg.image.resolution) + 1) / 2
                      for name, items in (("valid", splits.valid), ("test", splits.test))}
        self._bundle_parts = {"model_info": {**loaded.info, **extractor.info}, "extractor": extractor,
                              "references": references, "prompts": prompts["sets"], "grid": prompts["grid"]}
        return ImageBundle(model=loaded.denoiser, state=self._state, **self._bundle_parts)

    def _data(self, cfg):
        from peftbench.tasks.imagegen.data import load_splits

        img, opts = cfg.image, cfg.imagegen
        splits = load_splits(_SplitSpec(cfg))
        self._dataset_info = splits.info

        def repeated(label, prompts, per_prompt):
            # Seed = position in the set: repeated or identical prompts still give distinct images,
            # and image i has the same seed with the adapter on and off.
            texts = [p for p in prompts for _ in range(per_prompt)]
            return PromptSet(label, texts, list(range(len(texts))))

        sets = {"valid": repeated("valid", [it.prompt for it in splits.valid], img.valid_seeds),
                "test": repeated("test", [it.prompt for it in splits.test], img.test_seeds),
                "drift": repeated("drift", [img.prompt(p) for p in opts.drift_prompts], img.drift_seeds)}
        grid = [PromptSet(img.prompt(p), [img.prompt(p)] * img.grid_seeds, list(range(img.grid_seeds)))
                for p in opts.grid_prompts]
        return splits, {"sets": sets, "grid": grid}

    def _precompute(self, cfg, family, splits, prompts) -> _State:
        """Text embeddings and latents once; then the text encoder goes and the VAE is parked."""
        from peftbench.tasks.imagegen.data import to_pixels

        train_prompts = [it.prompt for it in splits.train]
        eval_prompts = sorted({p for s in [*prompts["sets"].values(), *prompts["grid"]] for p in s.prompts})
        all_prompts = [""] + train_prompts + eval_prompts
        embeds = torch.cat([family.encode_prompts(all_prompts[i : i + 8]) for i in range(0, len(all_prompts), 8)])
        pixels = to_pixels([it.image for it in splits.train], cfg.image.resolution)
        latents = torch.cat([family.encode_images(pixels[i : i + 4]) for i in range(0, len(pixels), 4)])
        family.release_text_encoder()
        family.park_vae()
        n = len(train_prompts)
        return _State(family=family, latents=latents, train_embeds=embeds[1 : 1 + n],
                      embeds={p: embeds[1 + n + i] for i, p in enumerate(eval_prompts)}, negative=embeds[:1],
                      generator=torch.Generator().manual_seed(cfg.seed))

    # --- training ------------------------------------------------------------------------------------
    def train_batches(self, bundle: ImageBundle, cfg, device) -> Iterator[Batch]:
        state: _State = bundle.state
        order = torch.Generator().manual_seed(cfg.seed)
        n = len(state.latents)

        def indices():
            while True:  # a fresh permutation per epoch, fixed by the seed
                yield from torch.randperm(n, generator=order).tolist()

        stream = indices()
        while True:
            idx = list(itertools.islice(stream, cfg.batch_size))
            yield Batch({"latents": state.latents[idx].to(device), "embeds": state.train_embeds[idx].to(device)},
                        samples=len(idx))

    def loss(self, model, batch: Batch, bundle: ImageBundle):
        state: _State = bundle.state
        return state.family.loss(model, batch.inputs["latents"], batch.inputs["embeds"], state.generator)

    # --- evaluation ----------------------------------------------------------------------------------
    def generate(self, model, bundle: ImageBundle, prompts: PromptSet, cfg):
        state: _State = bundle.state
        missing = [p for p in prompts.prompts if p not in state.embeds]
        if missing:
            raise KeyError(f"prompt {missing[0]!r} was not embedded before training")
        embeds = torch.stack([state.embeds[p] for p in prompts.prompts])
        img = cfg.image
        return state.family.generate(model, embeds, state.negative, prompts.seeds, img.num_inference_steps,
                                     img.guidance_scale, img.resolution, cfg.batch_size_eval)

    def dataset_info(self, cfg) -> dict:
        opts = cfg.imagegen
        return {"dataset_id": opts.dataset_id, "split": opts.dataset_split, "valid_size": opts.valid_size,
                "test_size": opts.test_size, **self._dataset_info}


class _SplitSpec:
    """The fields data.load_splits reads, with prompts already filled in."""

    def __init__(self, cfg):
        opts, img = cfg.imagegen, cfg.image
        self.dataset_id, self.dataset_split, self.image_column = opts.dataset_id, opts.dataset_split, opts.image_column
        self.valid_size, self.test_size, self.num_train = opts.valid_size, opts.test_size, img.num_instance_images
        self.instance_prompts = [img.prompt(p) for p in (opts.instance_prompts or [img.instance_prompt])]

