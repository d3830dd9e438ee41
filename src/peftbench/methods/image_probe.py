"""The image tasks' training check: one step of the experiment's adapter on a random-init denoiser of
the task's shape (applicability needs the layers, not pretrained weights)."""

from __future__ import annotations

import math

import torch

from peftbench.adapters import build_optimizer, wrap_model
from peftbench.experiment import ADAPTER_FILE, Experiment
from peftbench.methods.probe import one_line


def minigen_train_check(exp: Experiment) -> dict:
    """{"trains": bool, ...} for a minigen experiment: one denoising step on its UNet's shape."""
    from peftbench.plan import plan_run
    from peftbench.tasks.minigen import base_model as minigen_base

    try:
        cfg = plan_run(exp.path).cfg
        torch.manual_seed(0)
        unet = minigen_base.build_unet(cfg.minigen.base, cfg.image.resolution)
        model = wrap_model(unet, exp.peft_config, str(exp.path / ADAPTER_FILE), cfg.autocast_adapter_dtype,
                           default_task_type=None)
        optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
        params = [p for p in model.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params]
        size = cfg.image.resolution
        x = torch.randn(2, 1, size, size)
        cond = torch.randn(2, minigen_base.MAX_WORDS, cfg.minigen.base.embed_dim)
        loss = model(x, torch.tensor([10, 500]), encoder_hidden_states=cond).sample.pow(2).mean()
        loss.backward()
        optimizer.step()
    except Exception as err:
        return {"trains": False, "error": one_line(err)}
    moved = any(not torch.equal(b, p.detach()) for b, p in zip(before, params))
    ok = math.isfinite(loss.item()) and moved
    return {"trains": ok, "loss": loss.item(), "trainable": sum(p.numel() for p in params), "moved": moved,
            "error": "" if ok else "loss not finite or no trainable weight moved"}
