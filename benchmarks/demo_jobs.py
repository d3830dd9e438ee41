"""Wall time of `peftbench demo` with its four runs one at a time vs several at a time.

Usage: python benchmarks/demo_jobs.py [--jobs 2,1]

Runs the demo (`peftbench demo --jobs J`) once per value of --jobs, one after the other, each into a
fresh temporary folder, and prints each sweep's wall time, every run's seconds, thread count and test
accuracy, and the ratio of each wall time to the first's. On a CPU the local executor splits the cores
between concurrent runs, so `--jobs 2` on 2 cores runs two runs on one thread each. The first sweep
pays what is still cold in peftbench's cache (the base model's cross-entropy, the tokenised data; the
converted model is assumed cached by an earlier run), so put the value you hope wins first.
Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peftbench.records.record import read_record
from peftbench.records.results import find_results
from setup_line import setup_line

ROOT = Path(__file__).resolve().parents[1]


def demo(jobs: int, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "peftbench", "demo", "--jobs", str(jobs), "--output-dir", str(out),
                    "--experiments-dir", str(ROOT / "experiments")], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def runs(out: Path) -> list[str]:
    rows = []
    for stem, path in sorted(find_results(out, "minimath").items()):
        rec = read_record(path)
        metrics = rec.train_info.metrics[-1]
        threads = rec.meta_info.system_info.get("torch_num_threads")
        rows.append(f"{stem}: {rec.run_info.total_time:.0f} s, {threads} thread(s), "
                    f"test accuracy {metrics['test accuracy']:.0%}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="2,1", help="comma-separated runs-at-a-time values, run in this order")
    args = parser.parse_args()
    values = [int(j) for j in args.jobs.split(",")]
    print(setup_line(), flush=True)
    print(f"peftbench demo (4 shortened minimath runs) with --jobs {args.jobs}, one after the other", flush=True)
    walls = {}
    with tempfile.TemporaryDirectory(prefix="peftbench-demo-jobs-") as work:
        for jobs in values:
            out = Path(work) / f"jobs{jobs}"
            walls[jobs] = demo(jobs, out)
            print(f"--jobs {jobs}: {walls[jobs]:.0f} s", flush=True)
            for row in runs(out):
                print(f"  {row}", flush=True)
    first = walls[values[0]]
    for jobs in values[1:]:
        print(f"wall time --jobs {jobs} / --jobs {values[0]}: {walls[jobs] / first:.2f}")


if __name__ == "__main__":
    main()
