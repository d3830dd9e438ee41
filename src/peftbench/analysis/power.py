"""Statistical power of a paired comparison: how wide the 95% interval of a difference between two methods
is with the test items and seeds at hand, and how many test items a target width needs.

The model behind the item count (per method m, seed s, item i; y is 0/1 correctness):

    y[m,s,i] = mu[m] + alpha[m,i] + beta[m,s] + eps[m,s,i]

alpha: how hard item i is for method m; beta: the run-level effect of a seed (shared by every item);
eps: what changes on one item from seed to seed. The paired difference of means over n items and k
seeds per method has variance

    Var(item) / n + (Var(eps_A) + Var(eps_B)) / (k n) + (Var(beta_A) + Var(beta_B)) / k

with Var(item) = Var(alpha_A - alpha_B). The run term does not shrink with more items: past some
point only more seeds narrow the interval, and `items_needed` is infinite then (the report says "more
seeds, not more items"). Every component is estimated from runs by moments (below); `measured` is the
hierarchical bootstrap's own interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from peftbench.analysis.verdicts import hierarchical_bootstrap

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Components:
    item: float  # Var(alpha_A - alpha_B)
    eps: tuple[float, float]  # per side: seed-to-seed variance on one item, beyond the run effect
    run: tuple[float, float]  # per side: the run-level (seed) variance
    n_items: int
    seeds: tuple[int, int]
    accuracy: tuple[float, float]

    def half_width(self, n_items: int, seeds: int) -> float:
        """The 95% half-width of the paired difference with `n_items` items and `seeds` per side."""
        var = (self.item + sum(self.eps) / seeds) / n_items + sum(self.run) / seeds
        return Z95 * math.sqrt(max(var, 0.0))

    def items_needed(self, half_width: float = 0.04, seeds: int = 3) -> float:
        """Test items for a 95% half-width of `half_width` with `seeds` per side; inf when the run-level
        variance alone is wider (then only more seeds help)."""
        if not self.item + sum(self.eps) + sum(self.run) > 0:  # nothing varied (or unknown): nothing to size from
            return math.nan
        room = (half_width / Z95) ** 2 - sum(self.run) / seeds
        if room <= 0:
            return math.inf
        return math.ceil((self.item + sum(self.eps) / seeds) / room)

    def at_accuracy(self, p: float) -> Components:
        """The item-level components rescaled to accuracy `p`: for 0/1 outcomes they are parts of
        p(1-p), so they scale with it (a first-order assumption; the run term is kept as measured)."""
        mean = sum(self.accuracy) / 2
        if not 0 < mean < 1:  # all right or all wrong: no spread to rescale
            return replace(self, item=math.nan, eps=(math.nan, math.nan), accuracy=(p, p))
        scale = p * (1 - p) / (mean * (1 - mean))
        return replace(self, item=self.item * scale, eps=(self.eps[0] * scale, self.eps[1] * scale),
                       accuracy=(p, p))


def _side(y: np.ndarray) -> tuple[float, float]:
    """(eps variance, run variance) of one side from seeds x items, by moments:
    within-item variance across seeds W = run + eps; variance of the run means V = run + eps / n."""
    k, n = y.shape
    if k < 2:
        return math.nan, math.nan
    within = float(np.mean(np.var(y, axis=0, ddof=1)))
    between = float(np.var(y.mean(axis=1), ddof=1))
    run = max(0.0, (between - within / n) / (1 - 1 / n)) if n > 1 else 0.0
    return max(0.0, within - run), run


def components(a: np.ndarray, b: np.ndarray) -> Components:
    """The variance components of two methods' seeds x items scores (the same items, in the same order)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    (eps_a, run_a), (eps_b, run_b) = _side(a), _side(b)
    diffs = a.mean(axis=0) - b.mean(axis=0)
    spread = float(np.var(diffs, ddof=1)) if len(diffs) > 1 else math.nan
    item = max(0.0, spread - eps_a / len(a) - eps_b / len(b)) if math.isfinite(eps_a + eps_b) else spread
    return Components(item, (eps_a, eps_b), (run_a, run_b), a.shape[1], (len(a), len(b)),
                      (float(a.mean()), float(b.mean())))


@dataclass(frozen=True)
class Power:
    experiment: str
    reference: str
    measured: float  # the hierarchical bootstrap's 95% half-width with these runs
    parts: Components

    def describe(self, half_width: float = 0.04, seeds: int = 3, accuracy: float = 0.35) -> str:
        c = self.parts
        head = (f"{self.experiment} vs {self.reference}: 95% interval ±{self.measured * 100:.1f} pts with "
                f"{c.n_items} items and {c.seeds[0]}+{c.seeds[1]} seeds")
        if min(c.seeds) < 2:
            return head + "; one seed cannot separate run-level from item-level noise: run 2+ seeds for a sizing"
        here = c.items_needed(half_width, seeds)
        there = c.at_accuracy(accuracy).items_needed(half_width, seeds)
        return (head + f"; ±{half_width * 100:g} pts with {seeds} seeds needs "
                f"{_needs(here, f'at these accuracies ({c.accuracy[0]:.0%}, {c.accuracy[1]:.0%})')}; "
                f"{_needs(there, f'near {accuracy:.0%}')}")


def _needs(n: float, where: str) -> str:
    """What a target width needs, `where` naming the accuracies: a number of items, or more seeds when
    the run-level spread alone is wider than the target (NaN: nothing measured to size from)."""
    if math.isnan(n):
        return f"an unknown number of items {where} (no spread measured)"
    return f"more seeds {where}, not more items" if math.isinf(n) else f"{int(n):,} items {where}"


def pair_power(a: np.ndarray, b: np.ndarray, experiment: str, reference: str, n_resamples: int = 10_000,
               seed: int = 0) -> Power:
    _, low, high = hierarchical_bootstrap(a, b, None, n_resamples, seed)
    return Power(experiment, reference, (high - low) / 2, components(a, b))


def independent_items(p: float = 0.35, half_width: float = 0.04, seeds: int = 3) -> int:
    """Items needed if two methods near accuracy `p` erred independently of each other and seeds had no
    run-level effect: an orientation figure only (real methods share hard items, which helps, and seeds
    do have run effects, which hurts)."""
    return math.ceil(Z95 ** 2 * 2 * p * (1 - p) / seeds / half_width ** 2)
