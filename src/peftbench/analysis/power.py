"""Statistical power of a comparison: how wide the 95% interval of a difference between two methods is
with the test items and seeds at hand, and how many items (at how many seeds) a target width needs.

The difference of the two methods' means over n items and k seeds per side has variance

    seed / k + item / n + cell / (k n)

seed: the run-level part (what one seed does to the whole run); item: how differently the two methods
find the same item; cell: what changes on one item from seed to seed. When both sides ran the same seeds
(paired), the three come from the seeds x items matrix of differences by two-way analysis-of-variance
moments, and what a seed does to both methods alike has cancelled; otherwise from each side's own
spread (its run-level and per-item seed variances add). The seed term does not shrink with more items:
past some point only more seeds narrow the interval, and `items_needed` is infinite then.

A pair's own seed term rests on k-1 degrees of freedom, so sizing uses the seed variance pooled over
every pair of the table (`pool`). Widths use Student t quantiles with Satterthwaite's degrees of freedom
(a few seeds make the seed term uncertain: t with 2 degrees of freedom is 4.3, not 1.96). These are
uncorrected 95% widths: a table's verdicts are corrected for its many comparisons, which widens them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from peftbench.analysis.verdicts import bootstrap_difference

SIZING_SEEDS = (3, 5, 8)  # the seeds a printed sizing considers


@dataclass(frozen=True)
class Components:
    seed: float  # variance of the run-level part of the difference (both sides together)
    item: float
    cell: float
    n_items: int
    seeds: tuple[int, int]
    accuracy: tuple[float, float]
    paired: bool = False
    seed_dof: int = 0  # degrees of freedom behind `seed` (k-1 per side; more once pooled)

    def _terms(self, n_items: int, seeds: int) -> tuple[float, float, float]:
        return self.seed / seeds, self.item / n_items, self.cell / (seeds * n_items)

    def dof(self, n_items: int, seeds: int) -> float:
        """Satterthwaite's degrees of freedom of the variance estimate."""
        s, i, c = self._terms(n_items, seeds)
        seed_dof = self.seed_dof or max(seeds - 1, 1)
        denominator = s ** 2 / seed_dof + i ** 2 / max(n_items - 1, 1) + c ** 2 / max((seeds - 1) * (n_items - 1), 1)
        return (s + i + c) ** 2 / denominator if denominator > 0 else math.inf

    def half_width(self, n_items: int, seeds: int) -> float:
        """The 95% half-width of the difference with `n_items` items and `seeds` per side."""
        var = sum(self._terms(n_items, seeds))
        if not var > 0:
            return 0.0
        return float(stats.t.ppf(0.975, self.dof(n_items, seeds))) * math.sqrt(var)

    def items_needed(self, half_width: float = 0.04, seeds: int = 3) -> float:
        """Test items for a 95% half-width of `half_width` with `seeds` per side; inf when the seed term
        alone is wider (then only more seeds help); NaN when nothing varied."""
        if not self.seed + self.item + self.cell > 0:
            return math.nan
        if self.half_width(10**9, seeds) > half_width:
            return math.inf
        low, high = 1, 2
        while self.half_width(high, seeds) > half_width:
            low, high = high, high * 2
        while high - low > 1:  # the smallest n within the target (t's dof move with n: search, not solve)
            mid = (low + high) // 2
            low, high = (mid, high) if self.half_width(mid, seeds) > half_width else (low, mid)
        return high

    def at_accuracy(self, p: float) -> Components:
        """The item-level terms rescaled to accuracy `p`: for 0/1 outcomes they are parts of p(1-p), so
        they scale with it (a first-order assumption; the seed term is kept as measured)."""
        mean = sum(self.accuracy) / 2
        if not 0 < mean < 1:  # all right or all wrong: no spread to rescale
            return replace(self, item=math.nan, cell=math.nan, accuracy=(p, p))
        scale = p * (1 - p) / (mean * (1 - mean))
        return replace(self, item=self.item * scale, cell=self.cell * scale, accuracy=(p, p))


def _anova(d: np.ndarray) -> tuple[float, float, float]:
    """(seed, item, cell) variances of a seeds x items matrix by two-way moments (negatives read as 0)."""
    k, n = d.shape
    grand, rows, cols = d.mean(), d.mean(1), d.mean(0)
    ms_seed = n * float(((rows - grand) ** 2).sum()) / (k - 1)
    ms_item = k * float(((cols - grand) ** 2).sum()) / (n - 1) if n > 1 else 0.0
    residual = d - rows[:, None] - cols[None, :] + grand
    ms_cell = float((residual ** 2).sum()) / ((k - 1) * max(n - 1, 1))
    return max(ms_seed - ms_cell, 0.0) / n, max(ms_item - ms_cell, 0.0) / k, ms_cell


def _side(y: np.ndarray) -> tuple[float, float]:
    """(cell variance, run variance) of one side from seeds x items, by moments: within-item variance
    across seeds W = run + cell; variance of the run means V = run + cell / n."""
    k, n = y.shape
    if k < 2:
        return math.nan, math.nan
    within = float(np.mean(np.var(y, axis=0, ddof=1)))
    between = float(np.var(y.mean(axis=1), ddof=1))
    run = max(0.0, (between - within / n) / (1 - 1 / n)) if n > 1 else 0.0
    return max(0.0, within - run), run


def components(a: np.ndarray, b: np.ndarray, paired: bool = False) -> Components:
    """The variance components of two methods' seeds x items scores (the same items, in the same order;
    `paired`: row s of each side ran the same seed)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    accuracy = (float(a.mean()), float(b.mean()))
    if paired and a.shape == b.shape and len(a) > 1:
        seed, item, cell = _anova(a - b)
        return Components(seed, item, cell, a.shape[1], (len(a), len(b)), accuracy, True, len(a) - 1)
    (cell_a, run_a), (cell_b, run_b) = _side(a), _side(b)
    diffs = a.mean(axis=0) - b.mean(axis=0)
    spread = float(np.var(diffs, ddof=1)) if len(diffs) > 1 else math.nan
    item = max(0.0, spread - cell_a / len(a) - cell_b / len(b)) if math.isfinite(cell_a + cell_b) else spread
    return Components(run_a + run_b, item, cell_a + cell_b, a.shape[1], (len(a), len(b)), accuracy, False,
                      len(a) + len(b) - 2)


@dataclass(frozen=True)
class Power:
    experiment: str
    reference: str
    measured: float  # the bootstrap's (uncorrected) 95% half-width with these runs
    parts: Components

    def describe(self, half_width: float = 0.04, accuracy: float = 0.35) -> str:
        c = self.parts
        head = (f"{self.experiment} vs {self.reference}: 95% interval ±{self.measured * 100:.1f} pts with "
                f"{c.n_items} items and {c.seeds[0]}+{c.seeds[1]} seeds{' (paired)' if c.paired else ''}")
        if min(c.seeds) < 2:
            return head + "; one seed cannot separate run-level from item-level noise: run 2+ seeds for a sizing"
        return (head + f"; ±{half_width * 100:g} pts needs " + sizing(c, half_width)
                + f" at these accuracies ({c.accuracy[0]:.0%}, {c.accuracy[1]:.0%})")


def sizing(parts: Components, half_width: float = 0.04, seeds: tuple[int, ...] = SIZING_SEEDS) -> str:
    """'3 seeds: more seeds, not more items; 5 seeds: 1,200 items; ...' for a target half-width."""
    return "; ".join(f"{k} seeds: {_needs(parts.items_needed(half_width, k))}" for k in seeds)


def _needs(n: float) -> str:
    if math.isnan(n):
        return "unknown (no spread measured)"
    return "more seeds, not more items" if math.isinf(n) else f"{int(n):,} items"


def pool(powers: list[Power]) -> list[Power]:
    """Each pair's components with the seed variance pooled over all pairs (weighted by degrees of
    freedom): one pair's own seed term, from 2-4 seeds, is too uncertain to size from."""
    usable = [p for p in powers if min(p.parts.seeds) >= 2 and math.isfinite(p.parts.seed)]
    dof = sum(p.parts.seed_dof for p in usable)
    if len(usable) < 2 or not dof:
        return powers
    pooled = sum(p.parts.seed * p.parts.seed_dof for p in usable) / dof
    return [replace(p, parts=replace(p.parts, seed=pooled, seed_dof=dof)) if p in usable else p for p in powers]


def pair_power(a: np.ndarray, b: np.ndarray, experiment: str, reference: str, n_resamples: int = 10_000,
               seed: int = 0, paired: bool = False) -> Power:
    low, high = bootstrap_difference(a, b, None, paired, n_resamples, seed).interval(0.05)
    return Power(experiment, reference, (high - low) / 2, components(a, b, paired))


def independent_items(p: float = 0.35, half_width: float = 0.04, seeds: int = 3) -> int:
    """Items needed if two methods near accuracy `p` erred independently of each other and seeds had no
    run-level effect: an orientation figure only (real methods share hard items, which helps, and seeds
    do have run effects, which hurts)."""
    return math.ceil(stats.norm.ppf(0.975) ** 2 * 2 * p * (1 - p) / seeds / half_width ** 2)
