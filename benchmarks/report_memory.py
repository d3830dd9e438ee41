"""Peak memory of `peftbench report` as the number of prediction rows grows.

Usage: python benchmarks/report_memory.py [--rows 1000000] [--small 100000] [--text 1500]

Writes synthetic result folders: two experiments x two seeds (four runs), each run with rows/4
prediction rows of ~`--text` bytes of prompt and answer (GSM8K-like items), 0/1 `correct`.
Then, each in a fresh process, reports peak resident memory (ru_maxrss) and wall time of:
  * streamed  — the paired verdicts as `peftbench report` computes them now (ids and scores only),
                plus the whole `peftbench report --format table` command on the same folder;
  * baseline  — the same imports and nothing else, subtracted for the per-row figure;
  * full rows — the previous way, one DataFrame per sidecar with every column (`load_predictions`
                of all rows), only on the `--small` folder (it needs ~25 KB per row).
Both on the `--small` folder side by side, then the streamed path alone on `--rows`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = [("lora/default", 0), ("lora/default", 1), ("ia3/default", 0), ("ia3/default", 1)]


def write_folder(root: Path, rows: int, text: int) -> Path:
    """Four runs of one task with rows/4 prediction rows each; returns the results folder."""
    import random

    from peftbench.records.results import atomic_write_json

    folder = root / "results" / "minimath"
    folder.mkdir(parents=True)
    per_run = rows // len(RUNS)
    prompt, answer = "q" * (text * 2 // 5), "a" * (text * 3 // 5)
    for experiment, seed in RUNS:
        stem = experiment.replace("/", "--") + (f"--seed{seed}" if seed else "")
        rng = random.Random(f"{experiment}{seed}")
        p = 0.45 if experiment.startswith("lora") else 0.5
        with open(folder / f"{stem}.predictions.jsonl", "w", encoding="utf-8") as handle:
            for i in range(per_run):
                correct = rng.random() < p
                handle.write(json.dumps({"id": f"minimath-{i}", "prompt": prompt, "gold": "42", "prediction": answer,
                                         "extracted": "42" if correct else "7", "correct": correct,
                                         "test_set": "minimath"}) + "\n")
        record = {"run_info": {"experiment_name": experiment, "task": "minimath", "seed": seed,
                               "peftbench_version": "bench", "peft_config": {"peft_type": experiment.split("/")[0].upper()},
                               "train_config": {"model_id": "synthetic", "seed": seed}},
                  "train_info": {"status": "success", "metrics": [{"test accuracy": p}]}}
        atomic_write_json(folder / f"{stem}.json", record)
    return root / "results"


def child(mode: str, folder: str) -> None:
    """Runs in a fresh process; prints its own peak RSS and wall time as JSON."""
    started = time.perf_counter()
    if mode == "baseline":  # the same imports, no data: what every mode pays before reading a row
        from peftbench.analysis import verdicts  # noqa: F401
        from peftbench.analysis.load import load_runs  # noqa: F401
        from peftbench.cli import app  # noqa: F401
    elif mode == "report":
        from typer.testing import CliRunner

        from peftbench.cli import app

        result = CliRunner().invoke(app, ["report", "--results", folder, "--format", "table", "--resamples", "1000"])
        assert result.exit_code == 0, result.output
    else:
        from peftbench.analysis import verdicts
        from peftbench.analysis.load import load_predictions, load_runs

        runs = load_runs(folder)
        if mode == "streamed":
            diffs = verdicts.compute(runs, "lora/default", "test accuracy", {"minimath"}, "correct", n_resamples=1000)
        else:  # the way before streaming: every sidecar as a full DataFrame, all at once per experiment
            frames = [load_predictions(p) for p in runs["predictions_path"]]
            diffs = {"rows": sum(len(f) for f in frames)}
        print(diffs, file=sys.stderr)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"peak_bytes": peak, "seconds": time.perf_counter() - started}))


def measure(mode: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(folder)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--text", type=int, default=1500, help="bytes of prompt + answer per row")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    import platform

    print(f"setup: {len(RUNS)} runs (2 experiments x 2 seeds), ~{args.text} bytes of text per row, "
          f"1,000 bootstrap resamples; python {platform.python_version()}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), {platform.system()} {platform.release()}")
    base = measure("baseline", Path("."))["peak_bytes"]
    print(f"baseline (imports only): peak RSS {base / 2**20:,.0f} MiB; 'per row' below is (peak - baseline) / rows")
    with tempfile.TemporaryDirectory(prefix="peftbench-report-memory-") as tmp:
        for rows, modes in ((args.small, ["full rows", "streamed", "report"]), (args.rows, ["streamed", "report"])):
            folder = write_folder(Path(tmp) / str(rows), rows, args.text)
            size = sum(p.stat().st_size for p in folder.rglob("*.jsonl"))
            print(f"{rows:,} prediction rows ({size / 2**20:,.0f} MiB of sidecars):")
            for mode in modes:
                result = measure(mode.split()[0], folder)
                print(f"  {mode:10} peak RSS {result['peak_bytes'] / 2**20:8,.0f} MiB   "
                      f"({(result['peak_bytes'] - base) / rows:8,.0f} bytes per row)   {result['seconds']:6.1f} s")


if __name__ == "__main__":
    main()
