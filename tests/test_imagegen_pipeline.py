"""imagegen's diffusers pieces on tiny stand-ins: family detection, the one-time text/image encoding,
the training loss of each family, per-seed sampling, the data split, and every shipped experiment
applied to a FLUX.2-klein-shaped transformer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from peftbench.errors import UserError
from peftbench.methods.standins import fit_flux2_standin
from test_imagegen_standins import (FLUX2_TEXT_LAYERS, RESOLUTION, build_flux2_klein_pipeline, build_instance_images,
                                    build_sd_pipeline)

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("imagegen-pipelines")
    return {"sd": build_sd_pipeline(root / "sd"), "sd-v": build_sd_pipeline(root / "sd-v", "v_prediction"),
            "flux": build_flux2_klein_pipeline(root / "flux"), "images": build_instance_images(root / "images")}


def load(folder, family="auto"):
    from peftbench.tasks.imagegen.pipeline import load_family

    options = {"max_sequence_length": 24, "text_encoder_out_layers": FLUX2_TEXT_LAYERS}
    return load_family(str(folder), family, torch.float32, CPU, options)


def pixels(n=2):
    from PIL import Image

    from peftbench.tasks.imagegen.data import to_pixels

    return to_pixels([Image.new("RGB", (40, 36), (20 * i, 100, 200)) for i in range(n)], RESOLUTION)


@pytest.mark.parametrize("key,family,embed_shape,latent_shape", [
    ("sd", "stable-diffusion", (2, 16, 16), (2, 4, 16, 16)),
    ("flux", "flux2-klein", (2, 24, 16 * len(FLUX2_TEXT_LAYERS)), (2, 16, 8, 8)),
])
def test_precompute_then_release(folders, key, family, embed_shape, latent_shape):
    loaded = load(folders[key])
    fam = loaded.family
    assert loaded.info["family"] == family == fam.name
    embeds = fam.encode_prompts(["a photo of sks cat", "a red car"])
    assert embeds.shape == embed_shape and embeds.device.type == "cpu"
    assert not torch.equal(embeds[0], embeds[1])  # the prompt matters
    assert torch.equal(embeds[:1], fam.encode_prompts(["a photo of sks cat"]))  # and nothing else does
    x = pixels()
    assert x.shape == (2, 3, RESOLUTION, RESOLUTION) and x.min() >= -1 and x.max() <= 1
    latents = fam.encode_images(x)
    assert latents.shape == latent_shape
    fam.release_text_encoder()
    assert fam.text_encoder is None and fam.tokenizer is None


@pytest.mark.parametrize("key", ["sd", "sd-v", "flux"])
def test_loss_is_deterministic_and_trains_the_denoiser(folders, key):
    loaded = load(folders[key])
    fam, denoiser = loaded.family, loaded.denoiser
    latents = fam.encode_images(pixels())
    embeds = fam.encode_prompts(["a photo of sks cat", "sks cat at the beach"])
    first = fam.loss(denoiser, latents, embeds, torch.Generator().manual_seed(3))
    second = fam.loss(denoiser, latents, embeds, torch.Generator().manual_seed(3))
    assert first.ndim == 0 and torch.isfinite(first) and torch.equal(first, second)
    first.backward()
    grads = [p.grad for p in denoiser.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_v_prediction_target_is_the_velocity(folders):
    """With the model predicting exactly the velocity, the v-prediction loss is zero."""
    fam = load(folders["sd-v"]).family
    assert fam.objective == "v_prediction"
    x0 = torch.randn(2, 4, 16, 16)
    sched = fam.noise_scheduler

    class Oracle(torch.nn.Module):  # recovers noise from (x_t, t) given x0, and returns v
        def forward(self, noisy, t, encoder_hidden_states):
            a = sched.alphas_cumprod[t].view(-1, 1, 1, 1).sqrt()
            s = (1 - sched.alphas_cumprod[t]).view(-1, 1, 1, 1).sqrt()
            noise = (noisy - a * x0) / s
            return SimpleNamespace(sample=a * noise - s * x0)

    loss = fam.loss(Oracle(), x0, torch.zeros(2, 16, 16), torch.Generator().manual_seed(0))
    assert loss < 1e-8


@pytest.mark.parametrize("key", ["sd", "flux"])
def test_generation_depends_on_seed_not_batch(folders, key):
    loaded = load(folders[key])
    fam = loaded.family
    embeds = fam.encode_prompts(["a photo of sks cat"] * 3)
    negative = fam.encode_prompts([""])
    args = dict(steps=2, guidance=2.0, resolution=RESOLUTION)
    together = fam.generate(loaded.denoiser, embeds, negative, [0, 1, 0], batch_size=3, **args)
    alone = fam.generate(loaded.denoiser, embeds[:1], negative, [1], batch_size=1, **args)
    assert together.shape == (3, 3, RESOLUTION, RESOLUTION) and 0 <= together.min() and together.max() <= 1
    assert torch.allclose(together[0], together[2], atol=1e-5)  # same prompt + seed = same image
    assert torch.allclose(together[1], alone[0], atol=1e-4)  # whatever batch it was generated in
    assert not torch.allclose(together[0], together[1], atol=1e-3)  # another seed, another image


def test_wrong_family_and_unsupported_pipeline(folders, tmp_path):
    with pytest.raises(UserError, match="imagegen.family .flux2-klein.: .* is a stable-diffusion pipeline"):
        load(folders["sd"], family="flux2-klein")
    (tmp_path / "model_index.json").write_text('{"_class_name": "KandinskyPipeline"}')
    with pytest.raises(UserError, match="'KandinskyPipeline' is not supported"):
        load(tmp_path)
    with pytest.raises(UserError, match="model_id .*not found"):
        load(tmp_path / "missing")


def test_split_is_by_position_and_checked(folders):
    from peftbench.tasks.imagegen.data import load_splits

    spec = SimpleNamespace(dataset_id=str(folders["images"]), dataset_split="train", image_column="image",
                           instance_prompts=[f"p{i}" for i in range(6)], num_train=2, valid_size=1, test_size=2)
    splits = load_splits(spec)
    assert [it.prompt for it in splits.train] == ["p0", "p1"]
    assert [it.prompt for it in splits.valid] == ["p3"] and [it.prompt for it in splits.test] == ["p4", "p5"]
    assert splits.info["num_images"] == 6 and len(splits.info["sha256"]) == 64
    with pytest.raises(UserError, match="5 prompts for 6 images"):
        load_splits(SimpleNamespace(**{**vars(spec), "instance_prompts": ["p"] * 5}))
    with pytest.raises(UserError, match="has only 6 images"):
        load_splits(SimpleNamespace(**{**vars(spec), "num_train": 4}))


def test_every_shipped_experiment_trains_a_flux2_klein_transformer(folders):
    """Each shipped adapter config (written for FLUX.2-klein's module names) applies to the stand-in's
    transformer and one loss step reaches its trainable parameters."""
    from peftbench.adapters.build import wrap_model
    from peftbench.planning.experiment import discover

    loaded = load(folders["flux"])
    fam = loaded.family
    latents = fam.encode_images(pixels(1))
    embeds = fam.encode_prompts(["a photo of sks cat"])
    experiments = discover(EXPERIMENTS, "imagegen")
    assert {e.method for e in experiments} >= {"lora", "dora", "loha", "lokr", "oft", "boft", "ia3", "vera",
                                               "fourierft", "full-finetuning"}
    assert len({e.name for e in experiments if e.method == "lora"}) >= 2
    for exp in experiments:
        denoiser = fam.load_denoiser()
        model = wrap_model(denoiser, fit_flux2_standin(exp.peft_config), exp.full_name, True, default_task_type=None)
        loss = fam.loss(model, latents, embeds, torch.Generator().manual_seed(0))
        loss.backward()
        trained = [p for p in model.parameters() if p.requires_grad]
        assert trained and any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained), exp.full_name
