"""The diffusers side of `imagegen`: load a text-to-image pipeline, precompute its inputs, train and
sample its denoiser.

Two families, chosen by the pipeline's `model_index.json`:
- Stable Diffusion (1.x / 2.x): UNet2DConditionModel, CLIP text encoder, AutoencoderKL; epsilon or
  v-prediction loss, as the scheduler config says.
- FLUX.2-klein: Flux2Transformer2DModel, Qwen3 text encoder, AutoencoderKLFlux2; flow-matching loss.

Text embeddings and VAE latents are computed once before training (`Family.encode_prompts`,
`Family.encode_images`), so the text encoder can be freed and the VAE parked off the accelerator while
the denoiser trains. Sampling runs the diffusers pipeline itself with the precomputed embeddings.
"""

from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from peftbench.errors import UserError

SD_PIPELINES = {"StableDiffusionPipeline"}
FLUX2_KLEIN_PIPELINES = {"Flux2KleinPipeline"}


def _hub_error(model_id: str, err: Exception) -> UserError:
    offline = " (offline: HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
    return UserError(f"model_id '{model_id}': not found as a local folder or on the Hub{offline}: {str(err).splitlines()[0]}")


def hub_revision(repo_id: str, repo_type: str = "model") -> str | None:
    """The commit a Hub repo is at, for meta_info; None for a local folder or when the Hub cannot be asked."""
    if Path(repo_id).is_dir():
        return None
    try:
        from huggingface_hub import HfApi

        return HfApi().repo_info(repo_id, repo_type=repo_type).sha
    except Exception:  # offline, private, rate-limited: the record just lacks the revision
        return None


def detect_family(model_id: str) -> str:
    """'stable-diffusion' or 'flux2-klein', from the pipeline class named in model_index.json."""
    from diffusers import DiffusionPipeline

    try:
        index = DiffusionPipeline.load_config(model_id)
    except (OSError, ValueError) as err:
        raise _hub_error(model_id, err) from None
    name = index.get("_class_name", "")
    if name in SD_PIPELINES:
        return "stable-diffusion"
    if name in FLUX2_KLEIN_PIPELINES:
        return "flux2-klein"
    known = ", ".join(sorted(SD_PIPELINES | FLUX2_KLEIN_PIPELINES))
    raise UserError(f"model_id '{model_id}': pipeline class '{name}' is not supported (supported: {known})")


def free() -> None:
    """Give memory of dropped modules back (the caller has removed its references first), so later
    phases do not count it."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def on_device(module, device: torch.device):
    """Bring a parked (CPU) module to the accelerator for a phase, then park it again."""
    if device.type == "cpu":
        yield module
        return
    module.to(device)
    try:
        yield module
    finally:
        module.to("cpu")
        torch.cuda.empty_cache()


@dataclass
class Loaded:
    family: "Family"
    denoiser: torch.nn.Module
    info: dict


class Family:
    """What differs between pipeline families: subclasses fill in the hooks below."""

    name: str
    denoiser_name: str  # subfolder / pipeline attribute of the trained model

    def __init__(self, model_id: str, dtype: torch.dtype, device: torch.device, options: dict):
        # from_pretrained takes a Hub id or a local folder alike
        self.model_id, self.location, self.dtype, self.device = model_id, model_id, dtype, device
        self.options = options
        self.tokenizer = self.text_encoder = self.vae = self.scheduler = None

    # --- loading -------------------------------------------------------------------------------------
    def load(self) -> torch.nn.Module:
        """Load every component; returns the denoiser (on the device, in the run's dtype)."""
        try:
            self._load_components()
            denoiser = self.load_denoiser()
        except OSError as err:
            raise _hub_error(self.model_id, err) from None
        self.text_encoder.to(self.device)
        self.vae.to(self.device)
        return denoiser

    def load_denoiser(self) -> torch.nn.Module:
        """A fresh copy of the base denoiser (also the reference model for full fine-tuning's drift)."""
        model = self.denoiser_cls().from_pretrained(self.location, subfolder=self.denoiser_name, torch_dtype=self.dtype)
        return model.to(self.device)

    def release_text_encoder(self) -> None:
        """All prompts are embedded: the text encoder is not needed again in this run."""
        self.text_encoder = self.tokenizer = None
        free()

    def park_vae(self) -> None:
        """Keep the VAE for decoding at evaluation, but off the accelerator while training."""
        self.vae.to("cpu")
        free()

    # --- hooks -----------------------------------------------------------------------------------------
    def denoiser_cls(self): ...

    def _load_components(self) -> None: ...

    def encode_prompts(self, prompts: list[str]) -> torch.Tensor: ...

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels in [-1, 1], (B, 3, H, W) -> the latents the denoiser is trained on (on CPU)."""
        ...

    def predictor(self, denoiser, embeds: torch.Tensor):
        """`predict(noisy_latents, timesteps) -> model output` for the shared diffusion loss."""
        ...

    @property
    def objective(self) -> str:
        """'epsilon', 'v_prediction' or 'flow': what the denoiser was trained to predict."""
        ...

    def loss(self, denoiser, latents: torch.Tensor, embeds: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        from peftbench.image.diffusion import diffusion_loss

        latents = latents.to(self.device, self.dtype)
        predict = self.predictor(denoiser, embeds.to(self.device, self.dtype))
        n_train = self.scheduler.config.num_train_timesteps
        if self.objective == "v_prediction":
            return _v_prediction_loss(predict, latents, self.noise_scheduler, generator)
        return diffusion_loss(predict, latents, self.objective, n_train, getattr(self, "noise_scheduler", None),
                              generator=generator)

    def pipeline(self, denoiser):
        """A diffusers pipeline around `denoiser` and the VAE, with no text encoder (embeddings are given)."""
        ...

    @torch.no_grad()
    def generate(self, denoiser, embeds: torch.Tensor, negative: torch.Tensor, seeds: list[int], steps: int,
                 guidance: float, resolution: int, batch_size: int) -> torch.Tensor:
        """Images for the rows of `embeds`, float [0, 1] NCHW on CPU; row i starts from seed i's noise."""
        pipe = self.pipeline(denoiser)
        pipe.set_progress_bar_config(disable=True)
        out = []
        with on_device(self.vae, self.device):
            for start in range(0, len(seeds), batch_size):
                chunk = seeds[start : start + batch_size]
                # One generator per image: its noise depends on its seed only, not on the batch.
                generators = [torch.Generator("cpu").manual_seed(int(s)) for s in chunk]
                images = pipe(
                    prompt_embeds=embeds[start : start + len(chunk)].to(self.device, self.dtype),
                    negative_prompt_embeds=negative.expand(len(chunk), *negative.shape[1:]).to(self.device, self.dtype),
                    num_inference_steps=steps, guidance_scale=guidance, height=resolution, width=resolution,
                    generator=generators, output_type="pt", **self.extra_call_kwargs(),
                ).images
                out.append(images.float().cpu())
        return torch.cat(out)

    def extra_call_kwargs(self) -> dict:
        return {}


def _v_prediction_loss(predict, x0, scheduler, generator) -> torch.Tensor:
    # The shared loss covers epsilon and flow; v-prediction (SD 2.x 768) differs only in the target.
    noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(x0)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (x0.shape[0],), generator=generator).to(x0.device)
    target = scheduler.get_velocity(x0, noise, t)
    return F.mse_loss(predict(scheduler.add_noise(x0, noise, t), t).float(), target.float())


def _base_model(denoiser):
    # Pipelines check their components' classes; the adapter layers live inside the base model, so
    # enabling or disabling the adapter on the PeftModel still acts on what the pipeline runs.
    return denoiser.get_base_model() if hasattr(denoiser, "get_base_model") else denoiser


class StableDiffusion(Family):
    name = "stable-diffusion"
    denoiser_name = "unet"

    def denoiser_cls(self):
        from diffusers import UNet2DConditionModel

        return UNet2DConditionModel

    def _load_components(self) -> None:
        from diffusers import AutoencoderKL, DDPMScheduler
        from transformers import CLIPTextModel, CLIPTokenizer

        loc = self.location
        self.tokenizer = CLIPTokenizer.from_pretrained(loc, subfolder="tokenizer")
        self.text_encoder = CLIPTextModel.from_pretrained(loc, subfolder="text_encoder", torch_dtype=self.dtype)
        self.vae = AutoencoderKL.from_pretrained(loc, subfolder="vae", torch_dtype=self.dtype)
        # Sampling uses the pipeline's own scheduler; training adds noise as DDPM defines it, with the
        # same betas and prediction type (what diffusers' DreamBooth example does).
        self.scheduler = _scheduler_from(loc)
        self.noise_scheduler = DDPMScheduler.from_config(self.scheduler.config)
        self.text_encoder.requires_grad_(False)
        self.vae.requires_grad_(False)

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        tok = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt")
        return self.text_encoder(tok.input_ids.to(self.device))[0].cpu()

    @torch.no_grad()
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        # The distribution's mean, not a sample: latents are computed once, so a sample would freeze
        # one random draw; the mean is the deterministic choice.
        dist = self.vae.encode(pixels.to(self.device, self.vae.dtype)).latent_dist
        return (dist.mean * self.vae.config.scaling_factor).cpu()

    @property
    def objective(self) -> str:
        kind = self.noise_scheduler.config.prediction_type
        if kind not in ("epsilon", "v_prediction"):
            raise UserError(f"model_id '{self.model_id}': scheduler prediction_type '{kind}' is not supported")
        return kind

    def predictor(self, denoiser, embeds):
        return lambda noisy, t: denoiser(noisy, t, encoder_hidden_states=embeds).sample

    def pipeline(self, denoiser):
        from diffusers import StableDiffusionPipeline

        return StableDiffusionPipeline(
            vae=self.vae, text_encoder=None, tokenizer=None, unet=_base_model(denoiser), scheduler=self.scheduler,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )


class Flux2Klein(Family):
    name = "flux2-klein"
    denoiser_name = "transformer"

    def denoiser_cls(self):
        from diffusers import Flux2Transformer2DModel

        return Flux2Transformer2DModel

    def _load_components(self) -> None:
        from diffusers import AutoencoderKLFlux2, DiffusionPipeline
        from transformers import AutoTokenizer, Qwen3ForCausalLM

        loc = self.location
        self.tokenizer = AutoTokenizer.from_pretrained(loc, subfolder="tokenizer")
        self.text_encoder = Qwen3ForCausalLM.from_pretrained(loc, subfolder="text_encoder", torch_dtype=self.dtype)
        self.vae = AutoencoderKLFlux2.from_pretrained(loc, subfolder="vae", torch_dtype=self.dtype)
        self.scheduler = _scheduler_from(loc)
        self.is_distilled = bool(DiffusionPipeline.load_config(loc).get("is_distilled", False))
        self.text_encoder.requires_grad_(False)
        self.vae.requires_grad_(False)

    def _layers(self) -> tuple[int, ...]:
        from diffusers import Flux2KleinPipeline

        layers = self.options.get("text_encoder_out_layers")
        if layers:
            return tuple(layers)
        # The pipeline's own default, so training and plain `pipe(prompt)` see the same conditioning.
        import inspect

        return inspect.signature(Flux2KleinPipeline.encode_prompt).parameters["text_encoder_out_layers"].default

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        from diffusers import Flux2KleinPipeline

        embeds = Flux2KleinPipeline._get_qwen3_prompt_embeds(
            self.text_encoder, self.tokenizer, prompts, dtype=self.dtype, device=self.device,
            max_sequence_length=self.options.get("max_sequence_length", 512), hidden_states_layers=self._layers(),
        )
        return embeds.cpu()

    @torch.no_grad()
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        from diffusers import Flux2KleinPipeline

        # As the pipeline encodes reference images: VAE mode, 2x2 patches, the VAE's batch-norm statistics.
        out = self.vae.encode(pixels.to(self.device, self.vae.dtype)).latent_dist.mode()
        latents = Flux2KleinPipeline._patchify_latents(out)
        bn = self.vae.bn
        mean = bn.running_mean.view(1, -1, 1, 1).to(latents)
        std = torch.sqrt(bn.running_var.view(1, -1, 1, 1) + self.vae.config.batch_norm_eps).to(latents)
        return ((latents - mean) / std).cpu()

    objective = "flow"

    def predictor(self, denoiser, embeds):
        from diffusers import Flux2KleinPipeline

        txt_ids = Flux2KleinPipeline._prepare_text_ids(embeds).to(self.device)
        n_train = self.scheduler.config.num_train_timesteps

        def predict(noisy, t):
            b, c, h, w = noisy.shape
            img_ids = Flux2KleinPipeline._prepare_latent_ids(noisy).to(self.device)
            # The transformer works on packed tokens (B, h*w, C) and takes time in [0, 1], as the pipeline feeds it.
            packed = denoiser(
                hidden_states=Flux2KleinPipeline._pack_latents(noisy), timestep=(t / n_train).to(noisy.dtype),
                guidance=None, encoder_hidden_states=embeds, txt_ids=txt_ids, img_ids=img_ids, return_dict=False,
            )[0]
            return packed.permute(0, 2, 1).reshape(b, c, h, w)

        return predict

    def pipeline(self, denoiser):
        from diffusers import Flux2KleinPipeline

        return Flux2KleinPipeline(scheduler=self.scheduler, vae=self.vae, text_encoder=None, tokenizer=None,
                                  transformer=_base_model(denoiser), is_distilled=self.is_distilled)

    def extra_call_kwargs(self) -> dict:
        return {"max_sequence_length": self.options.get("max_sequence_length", 512)}


def _scheduler_from(location: str):
    from diffusers import DiffusionPipeline
    import diffusers

    index = DiffusionPipeline.load_config(location)
    _library, cls_name = index["scheduler"]
    return getattr(diffusers, cls_name).from_pretrained(location, subfolder="scheduler")


FAMILY_CLASSES = {"stable-diffusion": StableDiffusion, "flux2-klein": Flux2Klein}


def load_family(model_id: str, family: str, dtype: torch.dtype, device: torch.device, options: dict) -> Loaded:
    """Resolve `model_id` (Hub id or local pipeline folder), load its components and the denoiser."""
    from diffusers.utils import logging as diffusers_logging

    from peftbench.system import logs

    logs.quiet_transformers()  # peftbench draws its own progress; the libraries' per-load bars are noise
    diffusers_logging.set_verbosity(logs.library_level())
    diffusers_logging.disable_progress_bar()
    info = {"model_id": model_id}
    if Path(model_id).is_dir():
        info["local_path"] = str(Path(model_id).resolve())
    detected = detect_family(model_id)
    if family != "auto" and family != detected:
        raise UserError(f"imagegen.family '{family}': model_id '{model_id}' is a {detected} pipeline")
    fam = FAMILY_CLASSES[detected](model_id, dtype, device, options)
    denoiser = fam.load()
    _ = fam.objective  # an unsupported prediction type stops here, before any precomputing
    info.update(family=detected, denoiser=type(denoiser).__name__, revision=hub_revision(model_id))
    return Loaded(fam, denoiser, info)
