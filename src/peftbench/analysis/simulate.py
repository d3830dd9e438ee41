"""Synthetic per-item results with a known truth, to check the verdict procedure (its false-positive rate
under no difference, its power under a given one) at the seeds and items a benchmark uses.

The model, per method m, seed s, item i (y is 0/1 correctness):

    y[m,s,i] = 1[ u < sigmoid(centre[m] + item[i] + item_m[m,i] + seed[s] + seed[s,i] + seed_m[m,s]) ]

item: how hard an item is for every method; item_m: how much harder or easier it is for one method;
seed: what a seed does to every method alike (it fixes the data order and the initialisation, the same
for all methods), to all items (run level) and to each item (seed_item_sd); seed_m: what a seed does to
one method only; u: uniform noise per cell. The centres are set so that the reference's mean accuracy
is `accuracy` and the other method's `effect` higher. Reader side: numpy.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Truth:
    """Logit-scale spreads. The defaults give, for the paired difference of two methods over 400 items
    and 3 seeds, the variance components measured on the published minimath comparison (median pair):
    a seed-level SD of about 0.03, an item-level SD of about 0.13 and a cell SD of about 0.45
    (`components` reads them back from simulated runs)."""

    accuracy: float = 0.35  # the reference method's mean accuracy
    item_sd: float = 2.0  # how hard an item is, for every method alike
    item_method_sd: float = 1.0  # how differently two methods find the same item
    seed_sd: float = 0.15  # a seed's effect on every method and item alike
    seed_method_sd: float = 0.3  # what a seed does to one method only (the seed-level part of a difference)
    seed_item_sd: float = 3.0  # what a seed does to one item, alike for every method (same data order)

    @property
    def logit_sd(self) -> float:
        """The spread of a cell's logit about its method's centre (every random part together)."""
        return math.sqrt(self.item_sd ** 2 + self.item_method_sd ** 2 + self.seed_sd ** 2
                         + self.seed_item_sd ** 2 + self.seed_method_sd ** 2)

    def mean_accuracy(self, centre: float) -> float:
        """E[sigmoid(centre + z)], z ~ N(0, logit_sd^2), by Gauss-Hermite quadrature."""
        nodes, weights = np.polynomial.hermite_e.hermegauss(64)
        return float(np.sum(weights / (1 + np.exp(-(centre + self.logit_sd * nodes)))) / math.sqrt(2 * math.pi))

    @functools.lru_cache(maxsize=64)
    def centre_for(self, accuracy: float) -> float:
        """The logit centre whose mean accuracy over items and seeds is `accuracy` (bisection)."""
        low, high = -30.0, 30.0
        for _ in range(100):
            mid = (low + high) / 2
            low, high = (mid, high) if self.mean_accuracy(mid) < accuracy else (low, mid)
        return (low + high) / 2


def draw(truth: Truth, seeds: int, items: int, effect: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): seeds x items of 0/1 results of a method `effect` better than the reference b, both run
    with the same seeds (the shared seed effect is common to both)."""
    item = rng.normal(0, truth.item_sd, items)
    seed = rng.normal(0, truth.seed_sd, (seeds, 1)) + rng.normal(0, truth.seed_item_sd, (seeds, items))
    sides = []
    for centre in (truth.centre_for(truth.accuracy + effect), truth.centre_for(truth.accuracy)):
        logit = (centre + item + rng.normal(0, truth.item_method_sd, items) + seed
                 + rng.normal(0, truth.seed_method_sd, (seeds, 1)))
        sides.append((rng.random((seeds, items)) < 1 / (1 + np.exp(-logit))).astype(float))
    return sides[0], sides[1]


def rejection_rate(truth: Truth, seeds: int, items: int, effect: float, simulations: int, paired: bool = True,
                   n_resamples: int = 1000, seed: int = 0) -> float:
    """The share of simulated comparisons whose verdict is "better" or "worse" (two-sided, 95%)."""
    from peftbench.analysis.verdicts import bootstrap_difference

    rng = np.random.default_rng(seed)
    rejected = 0
    for index in range(simulations):
        a, b = draw(truth, seeds, items, effect, rng)
        result = bootstrap_difference(a, b, paired=paired, n_resamples=n_resamples, seed=index)
        low, high = result.interval(0.05)
        rejected += low > 0 or high < 0
    return rejected / simulations


def components(d: np.ndarray) -> tuple[float, float, float]:
    """(seed-level SD, item-level SD, cell SD) of a seeds x items matrix of paired differences, by
    two-way analysis-of-variance moments (negative variance estimates read as 0)."""
    k, n = d.shape
    grand, rows, cols = d.mean(), d.mean(1), d.mean(0)
    ms_seed = n * float(((rows - grand) ** 2).sum()) / (k - 1)
    ms_item = k * float(((cols - grand) ** 2).sum()) / (n - 1)
    residual = d - rows[:, None] - cols[None, :] + grand
    ms_cell = float((residual ** 2).sum()) / ((k - 1) * (n - 1))
    return (math.sqrt(max(ms_seed - ms_cell, 0) / n), math.sqrt(max(ms_item - ms_cell, 0) / k), math.sqrt(ms_cell))
