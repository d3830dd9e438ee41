"""Every shipped minigen experiment validates, applies to the minigen UNet and trains (on a random-init
UNet of the default shape: applicability does not need pretrained weights); every imagegen experiment
does the same on the tiny FLUX.2-klein transformer `peftbench methods` checks it on."""

from pathlib import Path

import pytest

from peftbench.planning.experiment import discover
from peftbench.methods.image_probe import image_train_check

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
MINIGEN = [e for e in discover(EXPERIMENTS, "minigen") if not e.is_baseline]  # base/: nothing trains
IMAGEGEN = [e for e in discover(EXPERIMENTS, "imagegen") if not e.is_baseline]
# The issue's list for image tasks; LoRA ships two ranks and DoRA under lora/.
REQUIRED = {"lora", "loha", "lokr", "oft", "boft", "ia3", "vera", "fourierft", "full-finetuning"}


def test_issue_methods_are_shipped():
    assert REQUIRED <= {e.method for e in MINIGEN}
    lora = {e.name for e in MINIGEN if e.method == "lora"}
    assert {"r4", "r16", "dora"} <= lora


def test_every_imagegen_method_is_shipped_for_minigen():
    # imagegen copies the reference's FLUX.2 configs; minigen ships each of those types sized for its UNet
    # (the reference keeps DoRA in its own folder; minigen keeps it under lora/).
    assert {e.method for e in IMAGEGEN} - {"dora"} <= {e.method for e in MINIGEN}


@pytest.mark.parametrize("exp", MINIGEN + IMAGEGEN, ids=lambda e: f"{e.task}/{e.full_name}")
def test_shipped_image_experiment_trains_on_its_standin(exp):
    result = image_train_check(exp)
    assert result["trains"], result["error"]
