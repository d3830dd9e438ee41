"""Run several `minigen` experiments at full length, one process each, and print their figures.

Usage: python benchmarks/minigen_methods.py [--output-dir bench_results] [EXPERIMENT_NAME...]
  e.g. python benchmarks/minigen_methods.py lora/r4 lora/r16 ia3/default vera/default
Without names, every shipped minigen experiment runs. Runs go one after another (concurrent runs on a
2-core machine distort each other's times); results already in the output folder are rerun, so every
figure comes from this invocation. The first run pretrains the base model if it is not cached yet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from peftbench.analysis.table import format_value
from peftbench.cli import run_in_subprocess
from peftbench.experiment import discover
from peftbench.results import load_result

ROOT = Path(__file__).resolve().parents[1]
# (header, key in the final metrics row or train_info, format)
COLUMNS = [("test sim", "test similarity", "{:.3f}"), ("base sim", "base similarity", "{:.3f}"),
           ("drift", "drift", "{:.4f}"), ("train s", "train_time", "{:.0f}"), ("total s", "total_time", "{:.0f}"),
           ("train mem MB", "accelerator_memory_max", "mb"), ("trainable", "num_trainable_params", "{:,}"),
           ("file KB", "file_size", "kb")]


def figures(path: Path) -> dict:
    record = load_result(path)
    info = record["train_info"]
    return {"experiment": record["run_info"]["experiment_name"], **info, **info["metrics"][-1],
            "system_info": record["meta_info"]["system_info"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiments", nargs="*", help="names under experiments/minigen/, e.g. lora/r4")
    parser.add_argument("--output-dir", type=Path, default=Path("bench_results"))
    args = parser.parse_args()
    names = args.experiments or [e.full_name for e in discover(ROOT / "experiments", "minigen")]

    rows, started = [], time.perf_counter()
    for name in names:
        code, path = run_in_subprocess(ROOT / "experiments/minigen" / name, args.output_dir, "--quiet")
        if code == 0:
            rows.append(figures(path))
        else:
            print(f"{name}: exit {code}", file=sys.stderr)
    info = rows[0]["system_info"] if rows else {}  # the runs' own: minigen sets its thread count
    console = Console(width=170)
    console.print(f"setup: minigen defaults, {info.get('accelerator')}, {info.get('cpu_count')} cpus, "
                  f"torch threads {info.get('torch_num_threads')}; wall {time.perf_counter() - started:.0f} s")
    table = Table("experiment", *(header for header, _, _ in COLUMNS), title="minigen, full-length runs")
    for row in sorted(rows, key=lambda r: -(r.get("test similarity") or 0)):
        table.add_row(row["experiment"], *(format_value(row.get(key), how) for _, key, how in COLUMNS))
    console.print(table)


if __name__ == "__main__":
    main()
