"""Write the minimath tables from the committed records, between the markers of README.md and
docs/results-minimath.md:

- README.md, the front page: the equal-budget tuning's answer and narrow leaderboard
  (`peftbench report --format markdown --narrow` on published/minimath-tune/);
- docs/results-minimath.md: the same tuning in full (noise floor, power, default vs tuned, the reference
  suite's claims, the search's figure) and every shipped experiment at full length, one seed
  (published/minimath-defaults/, from `python benchmarks/methods.py --task minimath --into
  published/minimath-defaults [EXPERIMENT...]`).

Each table is `peftbench report --format markdown` on its folder, with the set-up the records name.
`--check` only says whether both files are up to date (exit 1 if not); tests/test_readme_results.py
runs that. Writing also draws the report's learning-rate sensitivity figure of the search to
docs/minimath-lr-sensitivity.png (not compared by --check: a PNG's bytes depend on the plotting library).

    python scripts/readme_results.py [--check]
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

from marked_block import write_or_check

from peftbench.records.record import read_record

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS_PAGE = ROOT / "docs" / "results-minimath.md"
DEFAULTS = Path("published") / "minimath-defaults"
TUNE = Path("published") / "minimath-tune"
BLOCKS = {"defaults": ("<!-- minimath-results:start -->", "<!-- minimath-results:end -->"),
          "tune": ("<!-- minimath-tune:start -->", "<!-- minimath-tune:end -->"),
          "front": ("<!-- minimath-front:start -->", "<!-- minimath-front:end -->")}
SENSITIVITY = Path("minimath-lr-sensitivity.png")  # the search's figure in docs/, linked from the results page
HOURS = 3600
SITTING_GAP = 600  # seconds between runs that start a new sitting (a sweep starts its next run within seconds)
# benchmarks/tune_minimath.py's defaults; run two at a time on the 2-core machine (the first 20 trials ran one at
# a time beside other runs): the results do not depend on it, only the wall time does.
TUNED_METHODS, TRIALS, SEEDS = "lora,ia3,loha,vera,ln_tuning,full-finetuning,lily,hira", 6, "0,1,2"
METHODS, N_SEEDS = TUNED_METHODS.split(","), len(SEEDS.split(","))
RUN_TOGETHER = "two at a time (the first 20 trials one at a time beside other runs)"


def _records(folder: Path) -> list[dict]:
    """The folder's records as written (strictly read: a file that is not a record stops the script)."""
    return [read_record(p).to_json() for p in sorted((ROOT / folder).glob("*.json"))]


def _machine(records: list[dict], how: str) -> str:
    dates = sorted(r["run_info"]["created_at"][:10] for r in records)
    systems = sorted({f"{r['meta_info']['system_info']['accelerator']}, {r['meta_info']['system_info']['cpu_count']} cores, "
                      f"{r['meta_info']['system_info']['torch_num_threads']} torch thread(s)" for r in records})
    span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    return f"run {span} on {'; '.join(systems)}, {how} on the same machine (times are indicative)"


def _report(folder: Path, narrow: bool = False) -> str:
    out = subprocess.run([sys.executable, "-m", "peftbench", "report", "--results", str(folder), "--task", "minimath",
                          "--format", "markdown", *(["--narrow"] if narrow else [])], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return out.replace("### Task minimath\n\n", "", 1).rstrip() + "\n"


def _regenerate(folder: Path, narrow: bool = False) -> str:
    return (f"Regenerate with `python scripts/readme_results.py` (it runs `peftbench report --results "
            f"{folder.as_posix()} --task minimath --format markdown{' --narrow' if narrow else ''}`).")


def defaults_block() -> str:
    from peftbench.planning.experiment import discover

    records = _records(DEFAULTS / "minimath")
    if not records:
        return "No full-length runs recorded yet.\n"
    done = {r["run_info"]["experiment_name"] for r in records}
    shipped = [e.full_name for e in discover(ROOT / "experiments", "minimath") if not e.name.startswith("tuned-")]
    left = [n for n in shipped if n not in done]
    pending = f"\nNot run yet ({len(left)}): {', '.join(f'`{n}`' for n in left)}.\n" if left else ""
    head = (f"{len(records)} full-length runs (60 steps of batch 4, 100 minimath test problems, 50 GSM8K, one seed "
            f"each), {_machine(records, 'one at a time beside other work')}. {_regenerate(DEFAULTS)}")
    return f"{head}\n\n{_report(DEFAULTS)}{pending}"


def _wall(records: list[dict]) -> tuple[float, int]:
    """Hours of wall time the runs took and in how many sittings: runs whose [start, start + run time]
    intervals overlap or follow within SITTING_GAP form one sitting, timed from its first start to its last
    end (runs two at a time count once; the seconds a sweep spends between runs count too)."""
    spans = sorted((datetime.fromisoformat(r["run_info"]["created_at"]).timestamp(), r["run_info"]["total_time"])
                   for r in records)
    sittings: list[list[float]] = []
    for start, length in spans:
        if not sittings or start > sittings[-1][1] + SITTING_GAP:
            sittings.append([start, start + length])
        sittings[-1][1] = max(sittings[-1][1], start + length)
    return sum(end - start for start, end in sittings) / HOURS, len(sittings)


def _write_sensitivity() -> None:
    """Draw the report's learning-rate sensitivity figure of the search to SENSITIVITY (docs/results-minimath.md links it),
    in process: the figure needs the trials only, not the rest of a report."""
    from peftbench.analysis.load import load_runs
    from peftbench.analysis.report_data import build
    from peftbench.analysis.report_verdicts import sensitivity_png

    reports = build(load_runs(ROOT / TUNE, task="minimath", warn=lambda message: None), n_resamples=100)
    sensitivity_png(reports[0], RESULTS_PAGE.parent / SENSITIVITY)


def _sensitivity_note(searched: int, done: int) -> str:
    if done < searched:
        return ""
    return (f"\n![validation accuracy of every trial against its learning rate, per method]({SENSITIVITY.as_posix()})\n\n"
            f"*Every trial of the search: validation accuracy (64 problems, one training seed) against the learning "
            f"rate, per method; each method's winner is its highest point. A trial's score moves in steps of 1.6 "
            f"points and is itself noisy: these choose a learning rate, they do not rank methods.*\n")


def _seeds_left(finals: list[dict], names: list[str]) -> dict[str, int]:
    """Of the final experiments `names`, those with seeds still to run, and how many."""
    done = Counter(r["run_info"]["experiment_name"] for r in finals)
    return {n: N_SEEDS - done[n] for n in names if done[n] < N_SEEDS}


def tune_block(narrow: bool = False) -> str:
    from peftbench.planning.experiment import discover

    trials = _records(TUNE / "trials" / "minimath")
    finals = _records(TUNE / "minimath")
    hours = sum(r["run_info"]["total_time"] for r in trials + finals) / HOURS
    wall, sittings = _wall(trials + finals)
    spent = f"{hours:.1f} h of run time and {wall:.1f} h of wall time in {sittings} sittings, in the committed records"
    command = (f"`python benchmarks/tune_minimath.py --jobs 2` (= `peftbench tune --task minimath --methods {TUNED_METHODS} "
               f"--trials {TRIALS} --seeds {SEEDS} --set data.valid_size=64 --final-set data.test_size=400 --jobs 2 "
               f"--output-dir {TUNE.as_posix()}`)")
    done = sum(r["train_info"]["status"] == "success" for r in trials)
    searched = len(METHODS) * TRIALS
    figure = "" if narrow else _sensitivity_note(searched, done)
    # the tune command's final runs: each method's default and winner, and the no-training baselines
    methods_left = _seeds_left(finals, [f"{m}/{v}" for m in METHODS for v in ("default", "tuned-default")])
    baselines_left = _seeds_left(finals, [e.full_name for e in discover(ROOT / "experiments", "minimath") if e.is_baseline])
    if methods_left:  # without every method's finals (LoRA's included) the verdicts would compare a partial field
        return (f"Under way with {command}: {done} of {searched} search trials and {len(finals)} final test-set runs "
                f"done so far ({spent}); the tuned leaderboard, default vs tuned and the claims appear here once every "
                f"method's final runs are in ({len(methods_left)} experiments left). The same command resumes it.\n{figure}")
    pending = (f"\nNot run yet, the baselines (no training; the same command resumes them, and they join the table "
               f"above as rows): {', '.join(f'`{n}` ({k} of {N_SEEDS} seeds still to run)' for n, k in baselines_left.items())}.\n"
               if baselines_left else "")
    head = (f"{command}; {len(trials)} trials and {len(finals)} final runs, {spent}, {_machine(trials + finals, RUN_TOGETHER)}. "
            f"{_regenerate(TUNE, narrow)}")
    return f"{head}\n\n{_report(TUNE, narrow)}{pending}{figure}"


def main(argv: list[str]) -> int:
    page = [(*BLOCKS["tune"], tune_block()), (*BLOCKS["defaults"], defaults_block())]
    if "--check" not in argv and _records(TUNE / "trials" / "minimath"):
        _write_sensitivity()
    front = write_or_check(README, [(*BLOCKS["front"], tune_block(narrow=True))], argv, "scripts/readme_results.py")
    return front or write_or_check(RESULTS_PAGE, page, argv, "scripts/readme_results.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
