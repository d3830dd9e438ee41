"""Every shipped minigen experiment validates, applies to the minigen UNet and takes a training step
(on a random-init UNet of the default shape: applicability does not need pretrained weights)."""

from pathlib import Path

import pytest
import torch

from peftbench.adapters import build_optimizer, wrap_model
from peftbench.experiment import ADAPTER_FILE, discover
from peftbench.plan import plan_run
from peftbench.tasks.minigen import base_model

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
MINIGEN = [e for e in discover(EXPERIMENTS, "minigen") if not e.overrides.get("skip_training")]  # base/: no training
# The issue's list for image tasks; LoRA ships two ranks and DoRA under lora/.
REQUIRED = {"lora", "loha", "lokr", "oft", "boft", "ia3", "vera", "fourierft", "full-finetuning"}


def test_issue_methods_are_shipped():
    assert REQUIRED <= {e.method for e in MINIGEN}
    lora = {e.name for e in MINIGEN if e.method == "lora"}
    assert {"r4", "r16", "dora"} <= lora


@pytest.mark.parametrize("exp", MINIGEN, ids=lambda e: e.full_name)
def test_shipped_minigen_experiment_trains_one_step(exp):
    run = plan_run(exp.path)
    cfg = run.cfg
    torch.manual_seed(0)
    unet = base_model.build_unet(cfg.minigen.base, cfg.image.resolution)
    model = wrap_model(unet, exp.peft_config, str(exp.path / ADAPTER_FILE), cfg.autocast_adapter_dtype,
                       default_task_type=None)
    optimizer = build_optimizer(model, cfg.optimizer_type, cfg.optimizer_kwargs)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    x = torch.randn(2, 1, cfg.image.resolution, cfg.image.resolution)
    cond = torch.randn(2, base_model.MAX_WORDS, cfg.minigen.base.embed_dim)
    loss = model(x, torch.tensor([10, 500]), encoder_hidden_states=cond).sample.pow(2).mean()
    loss.backward()
    optimizer.step()
    after = [p.detach() for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(before, after)), "no trainable parameter moved"
