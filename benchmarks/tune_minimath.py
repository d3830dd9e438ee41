"""The tuned comparison on minimath: `peftbench tune` for the methods below, then the report and what it
cost, per method.

Usage: python benchmarks/tune_minimath.py                      # search, finals, report, cost
       python benchmarks/tune_minimath.py --no-final           # only the search (resumable)
       python benchmarks/tune_minimath.py --report-only        # the report and cost from the records on disk
       python benchmarks/tune_minimath.py --task minimath-rl --methods ... --output-dir ...   # the RL preset's
Everything goes to one results folder (default published/minimath-tuned/, committed with the project so
anyone can regenerate the report, and so a comparison that does not fit one sitting resumes from it):
the same command continues where the last one stopped. Prints the set-up and the wall time of this
invocation; the report it ends with shows the CPU-hours every method took (search, confirmation,
finals) from the records: each run's total time times the torch threads it had.

The protocol: 8 trials per method (trial 0 the default, then 4 Latin-hypercube centres of the lr range,
then TPE), each scored on 256 validation problems (`--search-set`), the best re-scored beside the
default with a second seed before it may replace it; then every default and every winner that replaced
its default on 400 test problems with 5 seeds, and the two baselines. The finals keep the 64-problem
validation of the earlier 3-seed comparison, so its seed 0-2 runs of the defaults (the same
configurations, hence the same config hashes) count here; like those, they skip the inference-overhead
measurement, which benchmarks/afterwards_minimath.py makes once per configuration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

from peftbench.system.environment import system_info

ROOT = Path(__file__).resolve().parents[1]
# The earlier comparison's eight (the reference's usual suspects, full fine-tuning, two of its winners),
# plus two more of the reference suite's winners that ship.
METHODS = "lora,ia3,loha,vera,ln_tuning,full-finetuning,lily,hira,miss,gralora"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="minimath", help="minimath, or minimath-rl (its GRPO preset, docs/rl.md)")
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--search-valid-size", type=int, default=256, help="validation problems that score the trials")
    parser.add_argument("--final-valid-size", type=int, default=64, help="validation problems of the final runs "
                        "(their windows only; 64 keeps the earlier comparison's runs comparable)")
    parser.add_argument("--final-test-size", type=int, default=400, help="test problems of the final runs (minimath has 500)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (the cores are split between them)")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "published" / "minimath-tuned")
    parser.add_argument("--prune", help="peftbench tune --prune: stop clearly losing trials at a look part-way "
                        "(lower-quartile, median, halving); default none, as the committed supervised search ran")
    parser.add_argument("--prune-at", type=int, help="the step of that look (default: a third of the steps)")
    parser.add_argument("--no-final", action="store_true", help="stop after the search")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()

    info = system_info()
    print(f"setup: {args.task} defaults, methods {args.methods}, {args.trials} trials each on {args.search_valid_size} "
          f"validation problems, final seeds {args.seeds} on {args.final_test_size} test problems, {args.jobs} run(s) "
          f"at a time{'; pruning: ' + args.prune if args.prune else ''}; {info['accelerator']}, {info['cpu_count']} cpus, {dt.date.today()}; results in {args.output_dir}",
          flush=True)
    started = time.perf_counter()
    peftbench = [sys.executable, "-m", "peftbench"]
    if not args.report_only:
        tune = [*peftbench, "tune", "--task", args.task, "--methods", args.methods, "--trials", str(args.trials),
                "--seeds", args.seeds, "--set", f"data.valid_size={args.final_valid_size}",
                "--search-set", f"data.valid_size={args.search_valid_size}", "--jobs", str(args.jobs),
                "--final-set", f"data.test_size={args.final_test_size}",
                # Inference overhead (about 3 minutes a run here) is measured once per configuration by
                # benchmarks/afterwards_minimath.py, not in each of the 5 seeds' runs: the earlier seeds'
                # runs, which count here, predate it anyway. Not in the config hash: nothing is rerun.
                "--final-set", "overhead.repeats=0",
                "--output-dir", str(args.output_dir), *(["--no-final"] if args.no_final else []),
                *(["--prune", args.prune] if args.prune else []), *(["--prune-at", str(args.prune_at)] if args.prune_at else [])]
        print("$ " + " ".join(tune[2:]), flush=True)
        code = subprocess.call(tune, cwd=ROOT)
        print(f"tune exit {code}; wall {time.perf_counter() - started:.0f} s", flush=True)
        if code != 0 or args.no_final:
            raise SystemExit(code)
    base = [*peftbench, "report", "--results", str(args.output_dir), "--task", args.task]
    for extra in (["--out", str(args.output_dir / "report")], ["--format", "table"]):  # the files, then the terminal
        print("$ " + " ".join(base[2:] + extra), flush=True)
        code = subprocess.call(base + extra, cwd=ROOT)
        if code:
            raise SystemExit(code)


if __name__ == "__main__":
    main()
