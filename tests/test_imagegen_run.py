"""`peftbench run` on the full-scale task `imagegen`, end to end, on tiny random-init stand-ins built
from configs (a Stable Diffusion pipeline folder, a DINOv2 folder, PIL-drawn instance images)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from test_imagegen_standins import (FLUX2_TEXT_LAYERS, build_dino, build_flux2_klein_pipeline, build_instance_images,
                                    build_sd_pipeline)

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
LORA = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["to_q", "to_k", "to_v", "to_out.0"]}


def tiny_params(pipeline, dino, images) -> dict:
    """Everything small: 32 px, 2 sampler steps, one image per prompt, 3 training steps."""
    return {
        "model_id": str(pipeline), "dtype": "float32", "use_gc": False,
        "batch_size": 2, "batch_size_eval": 4, "max_steps": 3, "eval_steps": 2,
        "image": {"resolution": 32, "num_instance_images": 3, "num_inference_steps": 2, "guidance_scale": 2.0,
                  "grid_seeds": 2},
        "imagegen": {"dataset_id": str(images), "dino_model_id": str(dino), "instance_prompts": [],
                     "valid_size": 1, "test_size": 2, "drift_prompts": ["a photo of a tree", "a red car"],
                     "grid_prompts": ["a photo of {identifier} {class_word}", "a photo of {identifier} dog"]},
    }


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    import torch

    torch.set_num_threads(1)  # tiny matmuls only lose to a second thread on a shared machine
    root = tmp_path_factory.mktemp("imagegen-standins")
    return build_sd_pipeline(root / "sd"), build_dino(root / "dino"), build_instance_images(root / "images")


@pytest.fixture(scope="module")
def flux_standin(tmp_path_factory):
    return build_flux2_klein_pipeline(tmp_path_factory.mktemp("imagegen-flux") / "flux")


def make_experiment(root, method, adapter, params) -> str:
    folder = root / "experiments" / "imagegen" / method / "tiny"
    folder.mkdir(parents=True)
    if adapter is not None:
        (folder / "adapter_config.json").write_text(json.dumps(adapter))
    (folder / "training_params.json").write_text(json.dumps(params))
    return str(folder)


def run_cli(*args):
    from peftbench.cli import app

    return CliRunner().invoke(app, ["run", *args, "--quiet"])


def shipped_adapter(name: str) -> dict:
    return json.loads((EXPERIMENTS / "imagegen" / name / "adapter_config.json").read_text())


@pytest.mark.parametrize("family,method,adapter", [
    ("stable-diffusion", "lora", LORA),
    ("stable-diffusion", "full-finetuning", None),
    ("flux2-klein", "lora", shipped_adapter("lora/flux2-klein-default")),  # the shipped config, as is
])
def test_peftbench_run_imagegen_end_to_end(tmp_path, standins, flux_standin, family, method, adapter):
    params = tiny_params(*standins)
    if family == "flux2-klein":
        params["model_id"] = str(flux_standin)
        params["use_gc"] = True  # the full-scale default; also exercises checkpointing with an adapter
        params["imagegen"].update(family=family, max_sequence_length=24, text_encoder_out_layers=FLUX2_TEXT_LAYERS)
    exp = make_experiment(tmp_path, method, adapter, params)
    out = tmp_path / "results"
    result = run_cli(exp, "--output-dir", str(out))
    assert result.exit_code == 0, result.output

    path = out / "imagegen" / f"{method}--tiny.json"
    record = json.loads(path.read_text())
    info, final = record["train_info"], record["train_info"]["metrics"][-1]
    assert info["status"] == "success" and record["run_info"]["task"] == "imagegen"
    assert -1.0 <= final["test similarity"] <= 1.0 and 0.0 <= final["drift"] <= 1.0
    assert "base similarity" in final and "forgetting" not in final
    assert [row["step"] for row in info["metrics"]] == [2, 3, 3]
    assert all("valid similarity" in row for row in info["metrics"][:-1])
    assert info["train_time"] > 0 and info["memory_kind"] == "cpu-rss" and info["file_size"] > 0
    assert 0 < info["num_trainable_params"] <= info["num_total_params"]
    if adapter is None:
        assert info["num_trainable_params"] == info["num_total_params"]
    else:
        assert info["num_trainable_params"] < info["num_total_params"] / 2
    model_info = record["meta_info"]["model_info"]
    assert model_info["family"] == family and model_info["dino_model_id"] == standins[1].as_posix()
    assert record["meta_info"]["dataset_info"]["num_train"] == 3

    rows = [json.loads(line) for line in path.with_name(f"{method}--tiny.predictions.jsonl").read_text().splitlines()]
    assert sum(r["test_set"] == "test" for r in rows) == 2 and sum(r["test_set"] == "drift" for r in rows) == 2
    samples = path.with_name(f"{method}--tiny.samples.png")
    from PIL import Image

    with Image.open(samples) as png:
        assert png.format == "PNG" and png.size[0] > 64


def test_training_changes_the_images_and_drift_sees_it(tmp_path, standins):
    """A LoRA step with a huge learning rate must move the unrelated prompts' images: drift > 0,
    while the adapter's initial state (B = 0) would give exactly 0."""
    params = tiny_params(*standins)
    params.update(max_steps=2, eval_steps=2, optimizer_kwargs={"lr": 0.5})
    exp = make_experiment(tmp_path, "lora", LORA, params)
    assert run_cli(exp, "--output-dir", str(tmp_path / "r")).exit_code == 0
    final = json.loads((tmp_path / "r" / "imagegen" / "lora--tiny.json").read_text())["train_info"]["metrics"][-1]
    assert final["drift"] > 1e-4
    # and with no training at all the adapter is the identity: zero drift
    exp0 = make_experiment(tmp_path / "zero", "lora", LORA, {**params, "optimizer_kwargs": {"lr": 1e-30}})
    assert run_cli(exp0, "--output-dir", str(tmp_path / "r0")).exit_code == 0
    final0 = json.loads((tmp_path / "r0" / "imagegen" / "lora--tiny.json").read_text())["train_info"]["metrics"][-1]
    assert final0["drift"] < 1e-6


def test_user_mistakes_stop_with_one_line(tmp_path, standins):
    params = tiny_params(*standins)
    params["imagegen"]["valid_size"] = 5  # 6 images cannot give 3 train + 5 valid + 2 test
    exp = make_experiment(tmp_path, "lora", LORA, params)
    result = run_cli(exp, "--output-dir", str(tmp_path / "r"))
    assert result.exit_code == 2 and "imagegen.valid_size is 5, but task 'imagegen' can supply at most 4" in result.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "cancelled_r").exists()

    params = tiny_params(*standins)
    params["imagegen"]["resolution"] = 32  # belongs to `image`, not `imagegen`
    exp = make_experiment(tmp_path / "b", "lora", LORA, params)
    result = run_cli(exp)
    assert result.exit_code == 2 and "unknown training parameter 'imagegen.resolution'" in result.output


def test_shipped_flux_config_on_a_unet_adapts_its_attention_only(standins):
    """The documented behaviour kept by the target-module check being a text-run check: the shipped FLUX
    configs name the transformer's layers, of which a Stable Diffusion UNet has only the attention
    projections; peft adapts those and skips the rest. The strict check would refuse the config."""
    from diffusers import UNet2DConditionModel

    from peftbench.adapters.build import wrap_model
    from peftbench.errors import UserError

    flux = shipped_adapter("lora/flux2-klein-default")
    unet = UNet2DConditionModel.from_pretrained(standins[0], subfolder="unet")
    with pytest.raises(UserError, match="target_modules: .*add_k_proj.* not in this model"):
        wrap_model(unet, flux, "flux2-klein-default", True, None)
    wrapped = wrap_model(unet, flux, "flux2-klein-default", True, None, every_target=False)
    adapted = {name.rsplit(".", 1)[-1] for name, module in wrapped.named_modules() if hasattr(module, "lora_A")}
    assert adapted == {"to_q", "to_k", "to_v", "0"}  # to_out.0 is named by its index
