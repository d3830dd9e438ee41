"""How many test items a paired comparison needs: run two (or more) experiments with several seeds on a
larger test split, then print, from their predictions, the measured 95% half-width of each paired
difference and the test items that ±4 points with 3 seeds would need (at the measured accuracies and
rescaled to 35%), with the variance components behind the number.

Usage: python benchmarks/power.py --task minimath ia3/default ln_tuning/default --seeds 0,1,2 --test-size 200
       python benchmarks/power.py --results bench_results/power-<time>   # only the computation, from runs on disk
Runs go into a new folder per invocation (bench_results/power-<time>/), one at a time unless --jobs
says otherwise; only accuracies are used, so concurrent runs do not distort the figures. The seeds
also change minimath's training draw, so they measure the whole run-to-run spread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import time
from pathlib import Path

from peftbench.analysis import power
from peftbench.analysis.load import load_runs
from peftbench.analysis.verdicts import item_matrix
from peftbench.records.status import SUCCESS
from peftbench.system.environment import system_info
from peftbench.sweep.driver import failed, sweep_folders
from peftbench.sweep.executor import ExecutorOptions

ROOT = Path(__file__).resolve().parents[1]


def run(args) -> Path:
    out = args.output_dir / f"power-{dt.datetime.now():%Y%m%d-%H%M%S}"
    overrides = {"data": {"test_size": args.test_size, "gsm8k_test_size": 0}}
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    _, outcomes = sweep_folders([ROOT / "experiments" / args.task / n for n in args.experiments], out, overrides, seeds,
                                ExecutorOptions(jobs=args.jobs))
    info = system_info()
    print(f"setup: {args.task} defaults + {overrides}, seeds {seeds}, {info['accelerator']}, {info['cpu_count']} cpus, "
          f"{dt.date.today()}; wall {time.perf_counter() - started:.0f} s; results in {out}")
    for key in failed(outcomes):
        print(f"{key}: {outcomes[key].state}: {outcomes[key].reason}")
    return out


def report(results: Path, task: str, half_width: float, seeds: int, accuracy: float) -> None:
    runs = load_runs(results, task=task)
    runs = runs[(runs["status"] == SUCCESS) & runs["predictions_path"].notna()]
    groups = {name: group.sort_values("seed") for name, group in runs.groupby("experiment")}
    matrices = {name: item_matrix(list(group["predictions_path"]), {task}, "correct") for name, group in groups.items()}
    print(f"target: 95% half-width ±{half_width * 100:g} points with {seeds} seeds per method")
    for (a, ma), (b, mb) in itertools.combinations(sorted(matrices.items()), 2):
        shared = [c for c in ma.columns if c in set(mb.columns)]
        paired = list(groups[a]["seed"]) == list(groups[b]["seed"])  # the same seeds, rows in seed order
        result = power.pair_power(ma[shared].to_numpy(), mb[shared].to_numpy(), a, b, paired=paired)
        c = result.parts
        print(result.describe(half_width))
        print(f"  components: seed {c.seed:.5f}, item {c.item:.4f}, cell {c.cell:.4f} ({'paired' if c.paired else 'per side'}); "
              f"{seeds} seeds rescaled to {accuracy:.0%}: {power.sizing(c.at_accuracy(accuracy), half_width, (seeds,))}; "
              f"per-seed accuracies {', '.join(f'{v:.1%}' for v in ma[shared].mean(axis=1))} / "
              f"{', '.join(f'{v:.1%}' for v in mb[shared].mean(axis=1))}")
    print(f"orientation: independent errors, no run effect, near {accuracy:.0%}: "
          f"{power.independent_items(accuracy, half_width, seeds):,} items")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", default=["ia3/default", "ln_tuning/default"])
    parser.add_argument("--task", default="minimath")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--output-dir", type=Path, default=Path("bench_results"))
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (the cores are split between them)")
    parser.add_argument("--results", type=Path, help="compute from these runs instead of running")
    parser.add_argument("--half-width", type=float, default=0.04)
    parser.add_argument("--target-seeds", type=int, default=3)
    parser.add_argument("--accuracy", type=float, default=0.35)
    args = parser.parse_args()
    results = args.results or run(args)
    report(results, args.task, args.half_width, args.target_seeds, args.accuracy)


if __name__ == "__main__":
    main()
