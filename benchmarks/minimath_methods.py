"""Run several `minimath` experiments at full length, one process each, and print their comparison.

Usage: python benchmarks/minimath_methods.py [--output-dir bench_results] EXPERIMENT_NAME...
  e.g. python benchmarks/minimath_methods.py lora/default ia3/default ln_tuning/default
Runs one after another (never in parallel: on a 2-core machine concurrent runs distort each other's
times). Existing results in the output folder are rerun, so every figure comes from this invocation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console

from peftbench.analysis.table import comparison_table
from peftbench.cli import run_in_subprocess
from peftbench.environment import system_info

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="+", help="names under experiments/minimath/, e.g. lora/default")
    parser.add_argument("--output-dir", type=Path, default=Path("bench_results"))
    args = parser.parse_args()

    paths, started = [], time.perf_counter()
    for name in args.experiments:
        code, path = run_in_subprocess(ROOT / "experiments/minimath" / name, args.output_dir, "--quiet")
        if code == 0:
            paths.append(path)
        else:
            print(f"{name}: exit {code}", file=sys.stderr)
    info = system_info()
    console = Console(width=170)
    console.print(f"setup: minimath defaults, {info['accelerator']}, {info['cpu_count']} cpus, "
                  f"torch threads {info['torch_num_threads']}; wall {time.perf_counter() - started:.0f} s")
    if paths:
        console.print(comparison_table(paths, title="minimath, full-length runs"))


if __name__ == "__main__":
    main()
