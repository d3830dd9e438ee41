"""minigen's similarity feature extractor (the DINOv2 stand-in): a small CNN digit classifier trained
once on all ten digits and cached; its penultimate layer is the embedding."""

from __future__ import annotations

import hashlib
import json
import os

import torch
from torch import nn

from peftbench.system.folders import cache_dir
from peftbench.records.results import atomic_write_json
from peftbench.tasks.minigen import digits

CODE_VERSION = 2
FEATURE_DIM = 64
TRAIN_FRACTION = 0.8  # the rest measures the classifier's accuracy, recorded in model_info


class DigitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, FEATURE_DIM),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(FEATURE_DIM, 10))

    def forward(self, x):
        return self.head(self.features(x))


class DigitFeatures:
    """`embed(images in [0,1], NCHW, any size) -> [N, 64]` penultimate features, on CPU.

    Taken before the ReLU: after it, every feature is >= 0 and any two digits look alike (cos ~0.8)."""

    def __init__(self, net: DigitNet, info: dict):
        self.net = net.eval()
        self.info = info

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().cpu()
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        x = digits.resize(x * 2.0 - 1.0, 8)
        return self.net.features(x)


def load_features(steps: int, seed: int = 0) -> DigitFeatures:
    ident = {"steps": steps, "seed": seed, "code_version": CODE_VERSION}
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "minigen"
    weights, meta = folder / f"features-{key}.pt", folder / f"features-{key}.json"
    with torch.random.fork_rng():
        net = DigitNet()
    if meta.exists() and weights.exists():
        net.load_state_dict(torch.load(weights))
        return DigitFeatures(net, json.loads(meta.read_text()))
    with torch.random.fork_rng():  # a cache miss must not change the run's random state
        accuracy = _train(net, steps, seed)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(f".{weights.name}.{os.getpid()}.tmp")
    torch.save(net.state_dict(), tmp)
    os.replace(tmp, weights)
    info = {"kind": "minigen digit CNN (penultimate layer)", "cache_key": key, "steps": steps,
            "held_out_accuracy": accuracy, "code_version": CODE_VERSION}
    atomic_write_json(meta, info)  # written last: its presence means the weights are complete
    return DigitFeatures(net, info)


def _train(net: DigitNet, steps: int, seed: int) -> float:
    torch.manual_seed(seed)
    images, labels = digits.load_images()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    cut = int(len(order) * TRAIN_FRACTION)
    train_idx, test_idx = order[:cut], order[cut:]
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        idx = train_idx[torch.randint(0, cut, (128,), generator=gen)]
        loss = nn.functional.cross_entropy(net(images[idx]), labels[idx])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    net.eval()
    with torch.no_grad():
        return float((net(images[test_idx]).argmax(1) == labels[test_idx]).float().mean())
