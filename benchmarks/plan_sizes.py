"""What checking data sizes at planning (TaskSpec.sizes) costs: `plan_run` of shipped experiments with
the task's hook and with it switched off, each in a fresh process (as a `run` or a sweep worker plans).

Usage: python benchmarks/plan_sizes.py [--repeats 3] [experiment folders...]

Each measurement is one new Python process that imports peftbench, plans the experiment once and
prints the seconds `plan_run` took (imports not counted); with and without the hook alternate, and the
medians and their difference are printed. Validated adapter configs are cached before timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = ["minimath/lora/default", "minigen/lora/r4"]

PROBE = """
import sys, time
from peftbench.planning.plan import plan_run
from peftbench.tasks.registry import task_spec
from peftbench.planning.experiment import load_experiment
spec = task_spec(load_experiment(sys.argv[1]).task)
if sys.argv[2] == "off":
    object.__setattr__(spec, "sizes", None)
started = time.perf_counter()
plan_run(sys.argv[1])
print(time.perf_counter() - started)
"""


def plan_seconds(folder: Path, mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, str(folder), mode], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("experiments", nargs="*")
    args = parser.parse_args()
    folders = [Path(p) for p in args.experiments] or [ROOT / "experiments" / e for e in DEFAULTS]
    print(f"setup: plan_run in a fresh process per measurement, {args.repeats} repeats alternating, medians; "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for folder in folders:
        plan_seconds(folder, "on")  # warm-up: validated-config cache, page cache
        on, off = [], []
        for _ in range(args.repeats):
            on.append(plan_seconds(folder, "on"))
            off.append(plan_seconds(folder, "off"))
        with_hook, without = statistics.median(on), statistics.median(off)
        print(f"{folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder}: plan with sizes "
              f"{with_hook:.2f} s, without {without:.2f} s, difference {with_hook - without:+.2f} s")


if __name__ == "__main__":
    main()
