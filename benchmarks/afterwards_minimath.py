"""What fine-tuning costs afterwards, for the configurations behind the README's leaderboard: each method's
instruction-following retention and inference overhead on minimath, one seed.

Usage: python benchmarks/afterwards_minimath.py                  # 350 instruction prompts, seed 0
       python benchmarks/afterwards_minimath.py --report-only    # the table from the records on disk
       python benchmarks/afterwards_minimath.py --smoke --output-dir /tmp/aw   # 2 steps, 8 prompts: the wiring

Each method runs what its search settled on: its tuned configuration
(`<tuned>/tuned/minimath/<method>/tuned-default/`, written by benchmarks/tune_minimath.py) where the search
replaced the default, else its shipped default (kept, or while its search has not settled; the table says
which), through `peftbench sweep` with `retention.instructions.size` set; inference overhead is in every
record anyway. Prints its set-up first, then per method: test accuracy, instruction following of the tuned
and the base model with the delta's 95% interval over the prompts, generation overhead unmerged and merged
(median and interquartile range of the per-round ratios to the base), and the seconds each measurement
added to the run. Resumable: the same command skips finished runs.

Cost, measured with --smoke on lora and ia3 (2026-12-07, the shared 2-core machine, a niced search beside
it): 8 prompts of up to 160 new tokens took 40-82 s (the tuned model's answers; the base model's are cached
per model and prompt set) and one overhead round 33-37 s, so the default 5 rounds are about 3 minutes a run;
the untrained model answered all 350 prompts in 1,775 s at 1 thread beside two runs (docs/figures.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from peftbench.records.record import read_record_or_none
from peftbench.system.environment import system_info

ROOT = Path(__file__).resolve().parents[1]
METHODS = "lora,ia3,loha,vera,ln_tuning,full-finetuning,lily,hira,miss,gralora"  # tune_minimath.py's


def experiment_dirs(methods: list[str], tuned: Path) -> list[Path]:
    """Each method's tuned configuration where its search replaced the default, else its shipped default
    (the search kept it, or has not settled yet)."""
    found = []
    for method in methods:
        winner = tuned / "tuned" / "minimath" / method / "tuned-default"
        decision = winner / "tune.json"
        replaced = decision.is_file() and not json.loads(decision.read_text()).get("kept_default")
        found.append(winner if replaced else ROOT / "experiments" / "minimath" / method / "default")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--prompts", type=int, default=350, help="instruction prompts (350: the base's pass rate ±5 pts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-size", type=int, default=400, help="test problems (the leaderboard's 400)")
    parser.add_argument("--tuned", type=Path, default=ROOT / "published" / "minimath-tuned", help="the tuned comparison")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "published" / "minimath-afterwards")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (timings are fairest alone)")
    parser.add_argument("--smoke", action="store_true", help="2 steps, 8 prompts, 8 test problems, 1 overhead round")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()

    dirs = experiment_dirs(args.methods.split(","), args.tuned)
    info = system_info()
    prompts, test_size = (8, 8) if args.smoke else (args.prompts, args.test_size)
    print(f"setup: minimath, {len(dirs)} configurations ({sum('tuned-' in d.name for d in dirs)} tuned), seed "
          f"{args.seed}, {prompts} instruction prompts, {test_size} test problems, {args.jobs} run(s) at a time; "
          f"{info['accelerator']}, {info['cpu_count']} cpus, {dt.date.today()}; results in {args.output_dir}", flush=True)
    if not args.report_only:
        sweep = [sys.executable, "-m", "peftbench", "sweep", *map(str, dirs), "--task", "minimath",
                 "--seeds", str(args.seed), "--jobs", str(args.jobs), "--output-dir", str(args.output_dir),
                 "--set", f"retention.instructions.size={prompts}", "--set", f"data.test_size={test_size}",
                 *(["--max-steps", "2", "--set", "overhead.repeats=1"] if args.smoke else [])]
        print("$ " + " ".join(sweep[2:]), flush=True)
        started = time.perf_counter()
        code = subprocess.call(sweep, cwd=ROOT)
        print(f"sweep exit {code}; wall {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            raise SystemExit(code)
    print_table(args.output_dir)


def _pct(value) -> str:
    return "" if value is None else f"{value:.1%}"


def print_table(results: Path) -> None:
    print("| experiment | test acc | instr. tuned | instr. base | delta [95% CI] | overhead unmerged [IQR] "
          "| merged [IQR] | retention s | overhead s |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for path in sorted((results / "minimath").glob("*.json")):
        record = read_record_or_none(path)
        if record is None:
            continue
        final, train = record.final_metrics(), record.train_info
        instructions = (train.retention or {}).get("instructions", {})
        models = (train.inference or {}).get("models", {})

        def overhead(name: str) -> str:
            entry = models.get(name)
            if not entry:
                return (train.inference or {}).get("merged", "") if name == "merged" else ""
            low, high = entry["overhead_iqr"]
            return f"{entry['overhead_median']:+.0%} [{low:+.0%}, {high:+.0%}]"

        low, high = instructions.get("delta_ci95", (None, None))
        delta = final.get("instruction following delta")
        cells = [record.run_info.experiment_name, _pct(final.get("test accuracy")),
                 _pct(final.get("instruction following")), _pct(final.get("base instruction following")),
                 "" if delta is None else f"{delta * 100:+.1f} pts [{low * 100:+.1f}, {high * 100:+.1f}]",
                 overhead("unmerged"), overhead("merged"), f"{instructions.get('seconds', 0):.0f}",
                 f"{(train.inference or {}).get('seconds', 0):.0f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
