"""The sample grid PNG: rows of labelled images, written atomically."""

import pytest
import torch
from PIL import Image

from peftbench.image.grid import save_grid
from peftbench.records.results import samples_path


def test_grid_png_has_one_row_per_prompt_set(tmp_path):
    rows = [("a sks digit", torch.rand(4, 1, 8, 8)), ("rgb row", torch.rand(2, 3, 16, 16))]
    path = save_grid(rows, tmp_path / "out" / "x.samples.png", title="t")
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size[0] > img.size[1]  # 4 columns, 2 rows
    assert [p.name for p in path.parent.iterdir()] == ["x.samples.png"]  # no temp file left


def test_empty_grid_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        save_grid([], tmp_path / "x.png")


def test_samples_path_sits_next_to_the_result():
    assert samples_path("results/minigen/lora--r4.json").as_posix() == "results/minigen/lora--r4.samples.png"
