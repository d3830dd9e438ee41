"""Equal-budget tuning on minimath: `peftbench tune` for the issue's methods, then the report.

Usage: python benchmarks/tune_minimath.py                      # search, finals, report
       python benchmarks/tune_minimath.py --no-final           # only the search (resumable)
       python benchmarks/tune_minimath.py --report-only        # the report from the records on disk
Everything goes to one results folder (default published/minimath-tune/, committed with the project
so anyone can regenerate the report, and so a search that does not fit one sitting resumes from it):
the same command continues where the last one stopped. Runs go one at a time by default (concurrent
runs on a 2-core machine distort each other's times); `--jobs 2` halves the wall time of a sitting, and
the records say how many threads each run had. Prints the set-up and the wall time of this invocation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

from peftbench.environment import system_info

ROOT = Path(__file__).resolve().parents[1]
# The list: the reference's usual suspects, full fine-tuning, and two of its winners that ship.
METHODS = "lora,ia3,loha,vera,ln_tuning,full-finetuning,lily,hira"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--valid-size", type=int, default=64, help="validation problems that choose (the budget)")
    # One seed on 100 test problems gave paired intervals of +-7 to +-11 points (README table); issue 13 asks
    # for +-4 with 3 seeds near 35% accuracy, which takes several hundred items. The report prints the
    # measured half-widths and the items +-4 needs, so this choice is checked by the runs themselves.
    parser.add_argument("--final-test-size", type=int, default=400, help="test problems of the final runs (minimath has 500)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "published" / "minimath-tune")
    parser.add_argument("--no-final", action="store_true", help="stop after the search")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()

    info = system_info()
    print(f"setup: minimath defaults, methods {args.methods}, {args.trials} trials each, valid_size "
          f"{args.valid_size}, final seeds {args.seeds} on {args.final_test_size} test problems, {args.jobs} run(s) at a time; {info['accelerator']}, {info['cpu_count']} cpus, "
          f"{dt.date.today()}; results in {args.output_dir}", flush=True)
    started = time.perf_counter()
    peftbench = [sys.executable, "-m", "peftbench"]
    if not args.report_only:
        tune = [*peftbench, "tune", "--task", "minimath", "--methods", args.methods, "--trials", str(args.trials),
                "--seeds", args.seeds, "--set", f"data.valid_size={args.valid_size}", "--jobs", str(args.jobs),
                "--final-set", f"data.test_size={args.final_test_size}",
                "--output-dir", str(args.output_dir), *(["--no-final"] if args.no_final else [])]
        print("$ " + " ".join(tune[2:]), flush=True)
        code = subprocess.call(tune, cwd=ROOT)
        print(f"tune exit {code}; wall {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0 or args.no_final:
            raise SystemExit(code)
    base = [*peftbench, "report", "--results", str(args.output_dir), "--task", "minimath"]
    for extra in (["--out", str(args.output_dir / "report")], ["--format", "table"]):  # the files, then the terminal
        print("$ " + " ".join(base[2:] + extra), flush=True)
        code = subprocess.call(base + extra, cwd=ROOT)
        if code:
            raise SystemExit(code)


if __name__ == "__main__":
    main()
