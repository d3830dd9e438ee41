"""Diffusion training and sampling pieces shared by the image tasks.

Two objectives, chosen by what the denoiser was trained with:
- "epsilon" (DDPM/Stable Diffusion family): x_t = scheduler.add_noise(x0, noise, t), target = noise.
- "flow" (rectified flow / flow matching, FLUX family): x_s = (1 - s) x0 + s noise, target = noise - x0,
  with s in [0, 1] and the model's timestep = s * num_train_timesteps.
The task supplies `predict(noisy, timesteps) -> prediction` (a closure over its conditioning), so the
same code serves a UNet with class tokens and a transformer with text embeddings.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F

Objective = Literal["epsilon", "flow"]
Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def initial_noise(seeds: list[int], shape: tuple[int, ...], device=None, dtype=torch.float32) -> torch.Tensor:
    """Starting noise [len(seeds), *shape], one generator per seed: an image's noise depends on its seed
    only, not on which batch it is generated in (adapter on/off and every method see the same noise)."""
    noise = [torch.randn(shape, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float32) for s in seeds]
    return torch.stack(noise).to(device=device, dtype=dtype)


def diffusion_loss(
    predict: Predict,
    x0: torch.Tensor,
    objective: Objective,
    num_train_timesteps: int,
    noise_scheduler=None,
    weights: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean-squared denoising loss on a batch of clean images/latents `x0` (noise and timesteps drawn here).

    `noise_scheduler` (a diffusers DDPMScheduler or alike) is needed for "epsilon". `weights` [N] weigh
    samples (DreamBooth prior preservation: instance items 1, class items prior_loss_weight)."""
    n = x0.shape[0]
    noise = torch.randn(x0.shape, generator=generator, device="cpu", dtype=torch.float32).to(x0)
    if objective == "epsilon":
        if noise_scheduler is None:
            raise ValueError("the epsilon objective needs the noise scheduler")
        t = torch.randint(0, num_train_timesteps, (n,), generator=generator).to(x0.device)
        noisy, target = noise_scheduler.add_noise(x0, noise, t), noise
    elif objective == "flow":
        s = torch.rand((n,), generator=generator).to(x0)
        s_b = s.view(-1, *([1] * (x0.dim() - 1)))
        noisy, target = (1.0 - s_b) * x0 + s_b * noise, noise - x0
        t = s * num_train_timesteps
    else:
        raise ValueError(f"unknown diffusion objective {objective!r} (expected 'epsilon' or 'flow')")
    per_item = F.mse_loss(predict(noisy, t).float(), target.float(), reduction="none").flatten(1).mean(1)
    if weights is None:
        return per_item.mean()
    weights = weights.to(per_item)
    return (per_item * weights).sum() / weights.sum()


def guided(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: uncond + scale * (cond - uncond); scale 1 is the conditional prediction."""
    return uncond + scale * (cond - uncond)


@torch.no_grad()
def sample(predict: Predict, sampler, noise: torch.Tensor, steps: int) -> torch.Tensor:
    """Denoise `noise` with a diffusers scheduler (DDIM, Euler, FlowMatchEuler, …) in `steps` steps.

    `predict(x, t)` returns the model output the scheduler expects (guidance already applied).
    The scheduler is stateful, so pass a fresh or reset one (set_timesteps is called here)."""
    sampler.set_timesteps(steps, device=noise.device)
    x = noise * getattr(sampler, "init_noise_sigma", 1.0)
    for t in sampler.timesteps:
        model_in = sampler.scale_model_input(x, t) if hasattr(sampler, "scale_model_input") else x
        t_batch = t.expand(x.shape[0]) if t.dim() == 0 else t
        x = sampler.step(predict(model_in, t_batch), t, x).prev_sample
    return x
