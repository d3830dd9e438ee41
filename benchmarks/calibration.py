"""Calibration of the verdict procedure: how often it calls a difference where there is none (false
positives, nominal 5%), and how often it finds a real one (power), on synthetic runs with a known truth
(`peftbench.analysis.simulate`) at the seeds and test items a comparison uses.

    python benchmarks/calibration.py                  # the table in docs/tuning.md
    python benchmarks/calibration.py --simulations 2000

Each row: a truth (the default is fitted to the published minimath comparison; "large seed effect" has
about twice its seed-level spread; "no seed effect" none), seeds per side, items, the bootstrap scheme
(paired: both sides ran the same seeds), and the share of comparisons called better or worse at a true
difference of 0, 2, 5 and 8 points. Before any correction for many comparisons.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from peftbench.analysis.simulate import Truth, components, draw, rejection_rate

TRUTHS = {"fitted": Truth(), "large seed effect": replace(Truth(), seed_method_sd=0.5),
          "no seed effect": replace(Truth(), seed_sd=0.0, seed_method_sd=0.0, seed_item_sd=0.0)}
EFFECTS = (0.0, 0.02, 0.05, 0.08)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=400, help="comparisons per cell")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per comparison")
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--seeds", default="3,5")
    args = parser.parse_args()
    print(f"setup: {args.simulations} simulated comparisons per cell, {args.resamples} bootstrap resamples each, "
          f"{args.items} items, accuracy 35%, two-sided 95%", flush=True)
    import numpy as np

    rng = np.random.default_rng(0)
    for name, truth in TRUTHS.items():
        found = np.mean([components(np.subtract(*draw(truth, 3, args.items, 0.0, rng))) for _ in range(20)], axis=0)
        print(f"truth '{name}': {truth}; paired-difference SDs, mean of 20 simulated pairs of 3 seeds: seed "
              f"{found[0]:.3f}, item {found[1]:.3f}, cell {found[2]:.3f}")
    print("| truth | seeds | scheme | " + " | ".join(f"{e * 100:g} pts" for e in EFFECTS) + " |")
    print("|---|--:|---|" + "--:|" * len(EFFECTS))
    started = time.perf_counter()
    for name, truth in TRUTHS.items():
        for seeds in (int(s) for s in args.seeds.split(",")):
            for paired in (True, False):
                rates = [rejection_rate(truth, seeds, args.items, effect, args.simulations, paired, args.resamples)
                         for effect in EFFECTS]
                print(f"| {name} | {seeds} | {'paired' if paired else 'unpaired'} | "
                      + " | ".join(f"{r:.1%}" for r in rates) + " |", flush=True)
    print(f"wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
