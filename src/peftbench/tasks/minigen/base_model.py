"""minigen's base model: a small conditional diffusion model on the known digits, pretrained once per
settings and cached, so every experiment starts from the same weights.

The "text encoder" is a word-embedding table trained jointly with the UNet (prompts such as
"a 3 digit"), then frozen. A word it never saw (the identifier "sks") gets a fixed pseudo-random vector
derived from the word itself, like a rare token of a real tokenizer: it exists, but means nothing yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from peftbench.system.folders import cache_dir
from peftbench.image.diffusion import diffusion_loss
from peftbench.tasks.minigen import digits

# Bump when pretraining code changes what it produces: old cache entries are then ignored.
CODE_VERSION = 1
VOCAB = ("<pad>", "a", "digit", *(str(d) for d in digits.DIGITS))
MAX_WORDS = 4
TRAIN_TIMESTEPS = 1000
CLASS_PROMPT = "a digit"


class PromptEncoder:
    """Frozen prompt -> [MAX_WORDS, dim] embeddings (whitespace words, padded with <pad>)."""

    def __init__(self, table: torch.Tensor):
        self.table = table.detach().float()
        self.index = {word: i for i, word in enumerate(VOCAB)}

    def _vector(self, word: str) -> torch.Tensor:
        if word in self.index:
            return self.table[self.index[word]]
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        noise = torch.randn(self.table.shape[1], generator=torch.Generator().manual_seed(seed))
        return noise * self.table.std()

    def encode(self, prompts: list[str]) -> torch.Tensor:
        rows = []
        for prompt in prompts:
            words = prompt.split()
            if len(words) > MAX_WORDS:
                raise ValueError(f"prompt {prompt!r}: at most {MAX_WORDS} words")
            words += ["<pad>"] * (MAX_WORDS - len(words))
            rows.append(torch.stack([self._vector(w) for w in words]))
        return torch.stack(rows)


def noise_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2")


def build_unet(settings, resolution: int):
    from diffusers import UNet2DConditionModel

    channels = tuple(settings.channels)
    return UNet2DConditionModel(
        sample_size=resolution, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=channels,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(channels) - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (len(channels) - 1) + ("UpBlock2D",),
        cross_attention_dim=settings.embed_dim, attention_head_dim=8, norm_num_groups=8,
    )


def digit_prompt(digit: int) -> str:
    return f"a {digit} digit"


def cache_key(settings, resolution: int, concept: int) -> str:
    images, _ = digits.load_images()
    ident = {"settings": settings.model_dump(mode="json"), "resolution": resolution, "concept": concept,
             "code_version": CODE_VERSION, "data": hashlib.sha256(images.numpy().tobytes()).hexdigest()[:16]}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def load_base(settings, resolution: int, concept: int):
    """(unet, PromptEncoder, info): from the cache, pretraining first if needed (one process at a time)."""
    from diffusers import UNet2DConditionModel
    from filelock import FileLock

    key = cache_key(settings, resolution, concept)
    folder = cache_dir() / "minigen" / f"base-{key}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):  # parallel sweep workers wait for one pretraining
        if not (folder / "info.json").exists():
            _pretrain_into(folder, settings, resolution, concept)
    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    info = json.loads((folder / "info.json").read_text())
    return unet, PromptEncoder(torch.load(folder / "prompt_table.pt")), info


def _pretrain_into(folder: Path, settings, resolution: int, concept: int) -> None:
    started = time.perf_counter()
    # fork_rng: the run's own random state (adapter initialisation) must not depend on whether the
    # base came from the cache or was pretrained in this process.
    with torch.random.fork_rng():
        unet, table, final_loss = pretrain(settings, resolution, concept)
    info = {"model_id": "minigen:digits-unet", "cache_key": folder.name, "code_version": CODE_VERSION,
            "pretrain": settings.model_dump(mode="json"), "resolution": resolution, "unseen_digit": concept,
            "num_params": sum(p.numel() for p in unet.parameters()), "pretrain_final_loss": final_loss,
            "pretrain_seconds": round(time.perf_counter() - started, 1)}
    # Temp folder + rename: a killed pretraining never leaves a half-written cache entry.
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        unet.save_pretrained(tmp / "unet")
        torch.save(table, tmp / "prompt_table.pt")
        (tmp / "info.json").write_text(json.dumps(info, indent=2))
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pretrain(settings, resolution: int, concept: int):
    """Train UNet + word table on the nine known digits; deterministic from settings.seed."""
    torch.manual_seed(settings.seed)
    images, labels = digits.load_images()
    keep = labels != concept
    images, labels = digits.resize(images[keep], resolution), labels[keep]
    unet = build_unet(settings, resolution)
    table = torch.nn.Parameter(torch.randn(len(VOCAB), settings.embed_dim) * 0.5)
    scheduler = noise_scheduler()
    optimizer = torch.optim.AdamW([*unet.parameters(), table], lr=settings.lr, weight_decay=0.0)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=settings.steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(settings.seed)
    word = {w: i for i, w in enumerate(VOCAB)}
    # Word ids per image: "a <k> digit", or the bare class prompt "a digit" (the guidance baseline).
    digit_ids = torch.tensor([word[str(int(k))] for k in labels])
    losses = []
    unet.train()
    for _ in range(settings.steps):
        idx = torch.randint(0, len(images), (settings.batch_size,), generator=gen)
        bare = torch.rand(len(idx), generator=gen) < settings.class_prompt_rate
        ids = torch.stack([torch.full_like(idx, word["a"]), torch.where(bare, word["digit"], digit_ids[idx]),
                           torch.where(bare, word["<pad>"], word["digit"]), torch.full_like(idx, word["<pad>"])], 1)
        cond = table[ids]
        loss = diffusion_loss(lambda x, t: unet(x, t, encoder_hidden_states=cond).sample, images[idx], "epsilon",
                              TRAIN_TIMESTEPS, scheduler, generator=gen)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*unet.parameters(), table], 1.0)
        optimizer.step()
        lr_schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    tail = losses[-50:]
    return unet.eval(), table.detach(), sum(tail) / len(tail)
