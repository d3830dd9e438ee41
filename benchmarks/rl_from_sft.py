"""GRPO that starts from a supervised adapter, against that adapter: does the offline RL preset learn
once its groups carry signal?

Usage: python benchmarks/rl_from_sft.py                 # both runs (skipped when their records exist), then the figures
       python benchmarks/rl_from_sft.py --lr 1e-3       # the RL run at another learning rate (results in rl-lr0.001/)
       python benchmarks/rl_from_sft.py --report-only   # the figures from the records on disk
Two runs, one seed: `experiments/minimath/lora/default` trained supervised with `--save-adapter`, then
`experiments/minimath-rl/lora/default` with `grpo.init_adapter` set to that adapter. Both score the same
100 minimath test problems greedily; the comparison pairs them per problem (bootstrap over problems).
Prints the set-up, each run's wall time, the RL run's reward, signal and KL per step, and the paired
difference in test accuracy with its 95% interval. Neither run measures inference overhead (not the
question here, and ~3 minutes a run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from peftbench.analysis.verdicts import bootstrap_difference, item_matrix
from peftbench.records.record import read_record
from peftbench.system.environment import system_info

ROOT = Path(__file__).resolve().parents[1]
SFT = "experiments/minimath/lora/default"
RL = "experiments/minimath-rl/lora/default"


def run(command: list[str]) -> None:
    print("$ peftbench " + " ".join(command), flush=True)
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "peftbench", *command], cwd=ROOT)
    print(f"exit {code}; wall {time.perf_counter() - started:.0f} s", flush=True)
    if code:
        raise SystemExit(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "published" / "minimath-rl-from-sft")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--lr", type=float, help="the RL run's learning rate (default: the preset's, 1e-4)")
    args = parser.parse_args()
    info = system_info()
    lr = "the preset's learning rate" if args.lr is None else f"learning rate {args.lr:g}"
    print(f"setup: {SFT} (supervised, --save-adapter) then {RL} from its adapter at {lr}; seed 0; test on minimath's "
          f"first 100 test problems, greedy; {info['accelerator']}, {info['cpu_count']} cpus, {dt.date.today()}; "
          f"results in {args.results}", flush=True)
    sft_record = args.results / "sft" / "minimath" / "lora--default.json"
    rl_dir = args.results / ("rl" if args.lr is None else f"rl-lr{args.lr:g}")
    rl_record = rl_dir / "minimath-rl" / "lora--default.json"
    quiet = ["--set", "overhead.repeats=0"]
    adapter = sft_record.with_suffix(".adapter")  # not committed: a fresh clone retrains it when RL must run
    needs_rl = not args.report_only and not rl_record.exists()
    if not args.report_only and (not sft_record.exists() or (needs_rl and not adapter.exists())):
        run(["run", SFT, "--save-adapter", "--output-dir", str(args.results / "sft"),
             "--set", "data.gsm8k_test_size=0", *quiet])
    if needs_rl:
        lr_set = [] if args.lr is None else ["--set", f"optimizer_kwargs.lr={args.lr:g}"]
        run(["run", RL, "--output-dir", str(rl_dir), "--set", f"grpo.init_adapter={adapter}", *lr_set, *quiet])
    for path in (sft_record, rl_record):
        if not path.exists():
            raise SystemExit(f"rl_from_sft: no record at {path}; run without --report-only to make it")
    report(sft_record, rl_record)


def report(sft_path: Path, rl_path: Path) -> None:
    sft, rl = read_record(sft_path), read_record(rl_path)
    for name, record in (("supervised", sft), ("RL from it", rl)):
        ti = record.train_info
        print(f"{name}: test accuracy {record.final_metrics()['test accuracy']:.1%}, train {ti.train_time:.0f} s, "
              f"total {ti.total_time:.0f} s (peftbench {record.run_info.peftbench_version})")
    print("RL per step: step reward signal kl valid")
    windows = [row for row in rl.train_info.metrics if "reward" in row]
    for row in windows:
        valid = row.get("valid accuracy")
        print(f"  {row['step']:>3} {row['reward']:.3f} {1 - row['groups without signal']:.2f} {row['kl']:.4f}"
              + (f" {valid:.1%}" if valid is not None else ""))
    print(f"mean reward {np.mean([r['reward'] for r in windows]):.3f}; groups with signal "
          f"{np.mean([1 - r['groups without signal'] for r in windows]):.0%}; KL at the last step {windows[-1]['kl']:.4f}")
    items = item_matrix([str(rl_path.with_suffix(".predictions.jsonl")), str(sft_path.with_suffix(".predictions.jsonl"))],
                        None, "correct")
    a, b = items.iloc[[0]].to_numpy(), items.iloc[[1]].to_numpy()
    result = bootstrap_difference(a, b, paired=True)
    low, high = result.interval()
    better, worse = int(np.sum(a > b)), int(np.sum(a < b))
    print(f"RL minus supervised, paired over {items.shape[1]} problems: {100 * result.point:+.1f} points, 95% interval "
          f"[{100 * low:+.1f}, {100 * high:+.1f}] ({better} problems gained, {worse} lost); one seed a side, so no "
          f"verdict: the interval over problems {'includes' if low <= 0 <= high else 'excludes'} zero, but another "
          "seed's run could land elsewhere")


if __name__ == "__main__":
    main()
