"""Pieces shared by the image tasks (minigen, imagegen): metrics, diffusion training/sampling, sample grids,
and the runner's image phase. See README.md in this folder."""
