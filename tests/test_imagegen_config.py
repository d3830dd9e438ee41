"""imagegen's configuration: the reference defaults, per-task validation, and the config hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peftbench.errors import UserError
from peftbench.planning.experiment import discover
from peftbench.planning.plan import plan_run
import reference_data

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
REFERENCE = reference_data.REFERENCE / "configs" / "image-gen"
LORA = EXPERIMENTS / "imagegen" / "lora" / "flux2-klein-default"


@pytest.mark.parametrize("exp", discover(EXPERIMENTS, "imagegen"), ids=lambda e: e.full_name)
def test_shipped_experiment_validates(exp):
    run = plan_run(exp.path)
    assert run.cfg.model_id == "black-forest-labs/FLUX.2-klein-base-4B" and run.cfg.dtype == "bfloat16"
    assert run.cfg.imagegen.dataset_id == "peft-internal-testing/cat-image-dataset"


def test_defaults_follow_the_reference():
    cfg = plan_run(LORA).cfg
    img, opts = cfg.image, cfg.imagegen
    assert (cfg.max_steps, cfg.batch_size, cfg.eval_steps, cfg.optimizer_kwargs) == (750, 2, 100, {"lr": 1e-4, "weight_decay": 1e-4})
    assert (img.resolution, img.num_inference_steps, img.guidance_scale, img.num_instance_images) == (512, 20, 3.5, 14)
    assert (opts.valid_size, opts.test_size, opts.dino_model_id) == (2, 4, "facebook/dinov2-base")
    if REFERENCE.is_dir():  # the reference data sits beside the checkout in the development set-up
        ref = json.loads((REFERENCE / "default_training_params.json").read_text())
        assert [img.prompt(p) for p in opts.instance_prompts] == ref["instance_prompts"]
        assert opts.drift_prompts == ref["drift_image_prompts"]
        assert [img.prompt(p) for p in opts.grid_prompts] == ref["sample_image_prompts"]


def test_unknown_and_misplaced_keys_are_refused():
    with pytest.raises(UserError, match="unknown training parameter 'imagegen.resolution'"):
        plan_run(LORA, overrides={"imagegen": {"resolution": 256}})
    with pytest.raises(UserError, match="unknown training parameter 'max_seq_length'"):  # a text-task key
        plan_run(LORA, overrides={"max_seq_length": 128})
    with pytest.raises(UserError, match="for 'image.prior_loss_weight': .*prior preservation is not implemented"):
        plan_run(LORA, overrides={"image": {"prior_loss_weight": 1.0}})
    with pytest.raises(UserError, match="'imagegen.family'"):
        plan_run(LORA, overrides={"imagegen": {"family": "sdxl"}})


def test_config_hash_covers_the_image_fields():
    base = plan_run(LORA).config_hash
    assert plan_run(LORA).config_hash == base
    assert plan_run(LORA, overrides={"imagegen": {"drift_prompts": ["a tree"]}}).config_hash != base
    assert plan_run(LORA, overrides={"image": {"guidance_scale": 5.0}}).config_hash != base


def test_prompt_templates_are_checked_before_the_run():
    with pytest.raises(UserError, match=r"'imagegen.drift_prompts': .*'a \{colour\} car' is not a valid template"):
        plan_run(LORA, overrides={"imagegen": {"drift_prompts": ["a {colour} car"]}})
