"""The per-run sample grid: one labelled row of images per prompt set, saved as a PNG next to the result."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from peftbench.records.results import atomic_write_bytes


def save_grid(rows: list[tuple[str, torch.Tensor]], path: Path | str, title: str = "", cell_inches: float = 1.2) -> Path:
    """Write `rows` (label, images float [0,1] NCHW with 1 or 3 channels) as a PNG, atomically.

    Rows may differ in length; missing cells stay blank. Small images are shown with nearest-neighbour
    pixels, so an 8x8 digit stays crisp."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("save_grid: no rows")
    cols = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * cell_inches + 2.2, len(rows) * cell_inches + 0.4),
                             squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(_to_hwc(images[c]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            else:
                ax.axis("off")
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", dpi=80)
    finally:
        plt.close(fig)
    # The records' atomic write (temp file, fsync, rename), so a reader never sees a half-written PNG.
    atomic_write_bytes(path, png.getvalue())
    return path


def _to_hwc(image: torch.Tensor):
    image = image.detach().float().clamp(0, 1).cpu()
    if image.shape[0] == 1:
        return image[0].numpy()
    return image.permute(1, 2, 0).numpy()
