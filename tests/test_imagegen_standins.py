"""Tiny random-init stand-ins for the full-scale `imagegen` task, built from configs (no download):
a Stable Diffusion pipeline folder, a FLUX.2-klein pipeline folder, a DINOv2 folder and a folder of
instance images (PIL-drawn shapes). Other imagegen tests import the builders from here; the tests in
this file check that diffusers and transformers load the stand-ins as the real thing."""

from __future__ import annotations

from pathlib import Path


RESOLUTION = 32


def _byte_level_vocab() -> dict[str, int]:
    """A BPE vocabulary with no merges: every word becomes its characters. Enough for a tokenizer to
    run; the text encoder is random anyway."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    return {t: i for i, t in enumerate(tokens)}


def build_sd_pipeline(folder: Path, prediction_type: str = "epsilon") -> Path:
    """A Stable Diffusion pipeline folder with components of a few thousand parameters each."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=RESOLUTION // 2, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, attention_head_dim=(2, 4), norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, sample_size=RESOLUTION,
    )
    tokenizer = CLIPTokenizer(vocab=_byte_level_vocab(), merges=[], model_max_length=16)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=16, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1, prediction_type=prediction_type)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def build_dino(folder: Path) -> Path:
    """A 2-layer DINOv2 for 32x32 images, with its image processor."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    model = Dinov2Model(Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                     image_size=RESOLUTION, patch_size=8))
    processor = BitImageProcessor(size={"shortest_edge": RESOLUTION}, crop_size={"height": RESOLUTION, "width": RESOLUTION},
                                  image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_instance_images(folder: Path, count: int = 6) -> Path:
    """`count` 48x48 PNGs of the same 'concept' (a red disc on a striped ground) at different places."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = Image.new("RGB", (48, 48), (230, 230, 200))
        draw = ImageDraw.Draw(img)
        for y in range(0, 48, 8):
            draw.rectangle([0, y, 47, y + 3], fill=(60, 90 + 10 * i, 160))
        x, y = 6 + 3 * i, 10 + 2 * i
        draw.ellipse([x, y, x + 20, y + 20], fill=(200, 30, 30))
        img.save(folder / f"img{i:02d}.png")
    return folder


def test_sd_standin_loads_as_a_pipeline(tmp_path):
    from diffusers import DiffusionPipeline

    folder = build_sd_pipeline(tmp_path / "sd")
    pipe = DiffusionPipeline.from_pretrained(folder)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size
    ids = pipe.tokenizer("a photo of sks disc").input_ids
    assert ids[0] == pipe.tokenizer.bos_token_id and len(ids) > 3


def test_dino_standin_embeds_an_image(tmp_path):
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, Dinov2Model

    folder = build_dino(tmp_path / "dino")
    processor, model = AutoImageProcessor.from_pretrained(folder), Dinov2Model.from_pretrained(folder)
    with torch.no_grad():
        out = model(**processor(images=[Image.new("RGB", (40, 40))], return_tensors="pt"))
    assert out.pooler_output.shape == (1, 16)


QWEN_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FLUX2_TEXT_LAYERS = [1, 2, 3]  # hidden states stacked into the prompt embedding (the stand-in has 3 layers)


def build_flux2_klein_pipeline(folder: Path) -> Path:
    """A FLUX.2-klein pipeline folder: tiny Flux2 transformer, Qwen3 text encoder, Flux2 VAE."""
    import torch
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline
    from transformers import Qwen2Tokenizer, Qwen3Config, Qwen3ForCausalLM

    from peftbench.methods.standins import tiny_flux2_transformer

    torch.manual_seed(0)
    vocab = _byte_level_vocab()
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], pad_token="<|endoftext|>", eos_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    text_encoder = Qwen3ForCausalLM(Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
    ))
    latent_channels = 4
    vae = AutoencoderKLFlux2(
        block_out_channels=(8, 16), latent_channels=latent_channels, norm_num_groups=4, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, sample_size=RESOLUTION,
    )
    transformer = tiny_flux2_transformer()  # the one `peftbench methods` checks imagegen adapters on
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True)
    pipe = Flux2KleinPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              transformer=transformer, is_distilled=False)
    pipe.save_pretrained(folder)
    return folder


def test_flux2_klein_standin_generates(tmp_path):
    """The stand-in runs through diffusers' own Flux2KleinPipeline with a text prompt."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(build_flux2_klein_pipeline(tmp_path / "flux"))
    assert type(pipe).__name__ == "Flux2KleinPipeline"
    out = pipe(prompt="a photo of sks cat", height=RESOLUTION, width=RESOLUTION, num_inference_steps=2,
               guidance_scale=2.0, max_sequence_length=24, text_encoder_out_layers=tuple(FLUX2_TEXT_LAYERS),
               output_type="pt")
    assert out.images.shape == (1, 3, RESOLUTION, RESOLUTION)
