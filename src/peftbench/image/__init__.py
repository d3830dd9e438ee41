"""Pieces shared by the image tasks (minigen, imagegen): metrics, diffusion training/sampling, sample grids,
used by the run pipeline's image strategy. See README.md in this folder."""
