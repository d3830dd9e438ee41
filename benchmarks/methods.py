"""Run experiments of one task at full length as a sweep (one process each, one at a time) and print
their comparison table with the set-up that produced it.

Usage: python benchmarks/methods.py --task minimath lora/default ia3/default ln_tuning/default
       python benchmarks/methods.py --task minigen            # every shipped minigen experiment
Runs go one after another (concurrent runs on a 2-core machine distort each other's times) into a new
folder per invocation (bench_results/<task>-<time>/), so every figure comes from this invocation; or, with
`--into DIR`, into one fixed folder that a later invocation resumes (finished runs are skipped, as in any
sweep) — how the committed records under published/ are built over several sittings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from rich.console import Console

from peftbench.analysis.table import comparison_table
from peftbench.system.environment import system_info
from peftbench.planning.experiment import discover
from peftbench.records.results import find_results
from peftbench.sweep.driver import failed, sweep_folders

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", help="names under experiments/<task>/, e.g. lora/default; none = all")
    parser.add_argument("--task", default="minimath")
    parser.add_argument("--output-dir", type=Path, default=Path("bench_results"))
    parser.add_argument("--into", type=Path, help="a fixed results folder, resumed if it exists")
    args = parser.parse_args()
    names = args.experiments or [e.full_name for e in discover(ROOT / "experiments", args.task)]
    out = args.into or args.output_dir / f"{args.task}-{dt.datetime.now():%Y%m%d-%H%M%S}"

    started = time.perf_counter()
    planned, outcomes = sweep_folders([ROOT / "experiments" / args.task / n for n in names], out)
    info = system_info()
    console = Console(width=170)
    console.print(f"setup: {args.task} defaults, {info['accelerator']}, {info['cpu_count']} cpus, "
                  f"{dt.date.today()}; wall {time.perf_counter() - started:.0f} s; results in {out}")
    for key in failed(outcomes):
        console.print(f"{key}: {outcomes[key].state}: {outcomes[key].reason}")
    done = find_results(out, args.task)
    paths = [done[p.stem] for p in planned if p.stem in done]
    if paths:
        console.print(comparison_table(paths, title=f"{args.task}, full-length runs (one seed each)"))


if __name__ == "__main__":
    main()
