"""The verdict procedure on synthetic runs with a known truth (analysis/simulate.py): at the seeds and
test items of the published comparison (5 seeds, 400 items), with the variance components measured on
its records, a comparison of two equal methods is called better or worse about 5% of the time, and a
real 5-point difference is found often. benchmarks/calibration.py prints the full table (docs/tuning.md)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from peftbench.analysis.simulate import Truth, components, draw, rejection_rate


def test_the_fitted_truth_has_the_measured_variance_components():
    """Median pair of published/minimath-tune: seed-level SD about 0.03, item about 0.13, cell about 0.45."""
    rng = np.random.default_rng(0)
    found = np.mean([components(np.subtract(*draw(Truth(), 3, 400, 0.0, rng))) for _ in range(20)], axis=0)
    assert found == pytest.approx([0.025, 0.13, 0.45], abs=0.02)


def test_false_positive_rate_is_nominal_and_power_real():
    fpr = rejection_rate(Truth(), seeds=5, items=400, effect=0.0, simulations=250, paired=True, n_resamples=500)
    assert 0.02 <= fpr <= 0.08, fpr
    power = rejection_rate(Truth(), seeds=5, items=400, effect=0.05, simulations=60, paired=True, n_resamples=500)
    assert power >= 0.35, power


def test_pairing_seeds_gains_power_when_seeds_move_every_method_alike():
    truth = replace(Truth(), seed_sd=0.4)
    paired = rejection_rate(truth, seeds=5, items=400, effect=0.05, simulations=60, paired=True, n_resamples=500)
    unpaired = rejection_rate(truth, seeds=5, items=400, effect=0.05, simulations=60, paired=False, n_resamples=500)
    assert paired > unpaired + 0.1, (paired, unpaired)
