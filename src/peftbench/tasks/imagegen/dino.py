"""DINOv2 as the similarity feature extractor of `imagegen` (peftbench.image.metrics.FeatureExtractor)."""

from __future__ import annotations

import os

import torch

from peftbench.errors import UserError


class DinoExtractor:
    """CLS embedding (after DINOv2's final layer norm, i.e. `pooler_output`) of each image.

    Kept on the CPU between calls when training on an accelerator, so it adds nothing to training memory."""

    def __init__(self, model_id: str, device: torch.device, batch_size: int = 8):
        from transformers import AutoImageProcessor, Dinov2Model

        try:
            self.processor = AutoImageProcessor.from_pretrained(model_id)
            self.model = Dinov2Model.from_pretrained(model_id).eval()
        except OSError as err:
            offline = " (offline: HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
            raise UserError(f"imagegen.dino_model_id '{model_id}': not found as a local folder or on the Hub{offline}: "
                            f"{str(err).splitlines()[0]}") from None
        self.model_id, self.device, self.batch_size = model_id, device, batch_size
        from peftbench.tasks.imagegen.pipeline import hub_revision

        self.info = {"dino_model_id": model_id, "dino_revision": hub_revision(model_id)}

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Float [0, 1] NCHW images (any size: the processor resizes and crops) -> [N, D] on CPU."""
        from peftbench.tasks.imagegen.pipeline import on_device

        out = []
        with on_device(self.model, self.device):
            for start in range(0, len(images), self.batch_size):
                chunk = [img for img in images[start : start + self.batch_size].float().clamp(0, 1)]
                # do_rescale=False: the images are already in [0, 1], not 0..255.
                pixels = self.processor(images=chunk, return_tensors="pt", do_rescale=False).pixel_values
                out.append(self.model(pixel_values=pixels.to(self.device)).pooler_output.float().cpu())
        return torch.cat(out)
