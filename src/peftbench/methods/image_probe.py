"""The image tasks' checks: five steps of the experiment's adapter on a random-init denoiser of the task's
shape — minigen's own UNet, or for imagegen a FLUX.2-klein transformer one block deep and 64 wide
(applicability and capabilities need the layers, not pretrained weights)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from peftbench.adapters.build import build_optimizer, wrap_model
from peftbench.planning.experiment import ADAPTER_FILE, Experiment
from peftbench.methods.probe import one_line

STEPS = 5
# The checks ask what a method's layers can do, not how well it learns: a step this large moves the
# stand-in's outputs far above the capability checks' tolerance, where the experiments' own learning
# rates (1e-4 for several imagegen configs) moved them by barely more than it.
PROBE_LR = 1e-2


@dataclass
class Denoiser:
    """A random-init stand-in of a task's denoiser: `build()` gives a fresh copy (the same weights every
    time), `run(model)` its output on fixed inputs, `fit(config)` the adapter config resized to its widths."""

    build: Callable[[], torch.nn.Module]
    run: Callable[[torch.nn.Module], torch.Tensor]
    fit: Callable[[dict | None], dict | None] = lambda config: config
    cfg: object = None  # the experiment's validated run config (optimizer, dtype handling), planned once


def _seeded(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build()


def _fixed(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


def minigen_denoiser(cfg) -> Denoiser:
    from peftbench.tasks.minigen import base_model as minigen_base

    size, settings = cfg.image.resolution, cfg.minigen.base
    x, cond = _fixed(2, 1, size, size), _fixed(2, minigen_base.MAX_WORDS, settings.embed_dim)
    return Denoiser(build=lambda: _seeded(lambda: minigen_base.build_unet(settings, size)),
                    run=lambda model: model(x, torch.tensor([10, 500]), encoder_hidden_states=cond).sample)


def flux2_denoiser() -> Denoiser:
    from diffusers import Flux2KleinPipeline

    from peftbench.methods.standins import fit_flux2_standin, tiny_flux2_transformer

    latents = _fixed(2, 16, 4, 4)
    embeds = _fixed(2, 8, 48)
    txt_ids = Flux2KleinPipeline._prepare_text_ids(embeds)
    img_ids = Flux2KleinPipeline._prepare_latent_ids(latents)

    def run(model):
        return model(hidden_states=Flux2KleinPipeline._pack_latents(latents), timestep=torch.tensor([0.1, 0.7]),
                     guidance=None, encoder_hidden_states=embeds, txt_ids=txt_ids, img_ids=img_ids,
                     return_dict=False)[0]

    return Denoiser(build=lambda: _seeded(tiny_flux2_transformer), run=run, fit=fit_flux2_standin)


def denoiser_for(exp: Experiment) -> Denoiser | None:
    """The stand-in of `exp`'s task, or None for an image task without one."""
    from peftbench.planning.plan import plan_run

    cfg = plan_run(exp.path).cfg
    if exp.task == "minigen":
        denoiser = minigen_denoiser(cfg)
    elif exp.task == "imagegen":
        denoiser = flux2_denoiser()
    else:
        return None
    denoiser.cfg = cfg
    return denoiser


@dataclass
class ImageProbe:
    model: torch.nn.Module
    denoiser: Denoiser
    loss: float
    trainable: int
    moved: bool


def train_image_probe(exp: Experiment, denoiser: Denoiser, seed: int = 0) -> ImageProbe:
    """STEPS optimizer steps pulling the stand-in's output on its fixed inputs towards a random target
    drawn with `seed`, which also initialises the adapter: two seeds give two different adapters even
    for methods whose initialisation is fixed (IA3's ones, OFT's identity)."""
    cfg = denoiser.cfg
    base = denoiser.build()
    torch.manual_seed(seed)
    model = wrap_model(base, denoiser.fit(exp.peft_config), str(exp.path / ADAPTER_FILE), cfg.autocast_adapter_dtype,
                       default_task_type=None)
    optimizer = build_optimizer(model, cfg.optimizer_type, {**cfg.optimizer_kwargs, "lr": PROBE_LR})
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    model.train()
    target = None
    for _ in range(STEPS):
        out = denoiser.run(model)
        if target is None:
            target = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
        loss = (out - target).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    moved = any(not torch.equal(b, p.detach()) for b, p in zip(before, params))
    return ImageProbe(model, denoiser, loss.item(), sum(p.numel() for p in params), moved)


def missing_image_extra() -> str | None:
    """Why image checks cannot run here (diffusers absent: the [image] extra), or None."""
    import importlib.util

    from peftbench.system.extras import missing_message

    return None if importlib.util.find_spec("diffusers") else missing_message("diffusers", "image")


def image_train_check(exp: Experiment) -> dict:
    """{"trains": bool | None, ...} for an image experiment on its task's stand-in denoiser."""
    missing = missing_image_extra()
    if missing:
        return {"trains": None, "error": f"not checked: {missing}"}
    denoiser = denoiser_for(exp)
    if denoiser is None:
        return {"trains": None, "error": "no tiny stand-in of this task's model: configs are validated only"}
    try:
        probe = train_image_probe(exp, denoiser)
    except Exception as err:
        return {"trains": False, "error": one_line(err)}
    ok = math.isfinite(probe.loss) and probe.moved
    return {"trains": ok, "loss": probe.loss, "trainable": probe.trainable, "moved": probe.moved,
            "error": "" if ok else "loss not finite or no trainable weight moved"}
