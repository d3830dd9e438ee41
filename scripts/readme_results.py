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

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from marked_block import write_or_check

from peftbench.records.record import read_record

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS_PAGE = ROOT / "docs" / "results-minimath.md"
DEFAULTS = Path("published") / "minimath-defaults"
BLOCKS = {"defaults": ("<!-- minimath-results:start -->", "<!-- minimath-results:end -->"),
          "tune": ("<!-- minimath-tune:start -->", "<!-- minimath-tune:end -->"),
          "tuned": ("<!-- minimath-tuned:start -->", "<!-- minimath-tuned:end -->"),
          "front": ("<!-- minimath-front:start -->", "<!-- minimath-front:end -->")}
HOURS = 3600
SITTING_GAP = 600  # seconds between runs that start a new sitting (a sweep starts its next run within seconds)


@dataclass(frozen=True)
class Comparison:
    """A committed tuned comparison: its folder, what `peftbench tune` was told, and how its runs shared the
    2-core machine (the results do not depend on it, only the wall time does)."""

    folder: Path
    methods: str
    trials: int
    seeds: str
    flags: str  # the rest of its tune command line
    together: str
    search_items: int  # validation problems that scored a trial
    figure: Path  # its learning-rate sensitivity figure, in docs/
    protocol: str  # how it chose and tested, for the front page
    benchmark: str = ""
    settles: bool = True  # its search writes tune.json when it settles (the earlier protocol's predates them)  # the benchmark command that makes it today ("" when none: its defaults have moved on)

    @property
    def method_list(self) -> list[str]:
        return self.methods.split(",")

    @property
    def n_seeds(self) -> int:
        return len(self.seeds.split(","))

    def command(self) -> str:
        tune = (f"`peftbench tune --task minimath --methods {self.methods} --trials {self.trials} --seeds {self.seeds} "
                f"{self.flags} --output-dir {self.folder.as_posix()}`")
        return f"`{self.benchmark}` (= {tune})" if self.benchmark else tune


# benchmarks/tune_minimath.py's defaults: the comparison the README leads with once its finals are in.
TUNED = Comparison(Path("published") / "minimath-tuned", "lora,ia3,loha,vera,ln_tuning,full-finetuning,lily,hira,miss,gralora",
                   8, "0,1,2,3,4", "--set data.valid_size=64 --search-set data.valid_size=256 --jobs 2 "
                   "--final-set data.test_size=400 --final-set overhead.repeats=0", "two at a time", 256,
                   Path("minimath-tuned-lr-sensitivity.png"),
                   "Each method had 8 Optuna trials of 60 steps scored on 256 validation problems, its own default "
                   "among them; a better trial replaced the default only if a second seed confirmed it. Each default "
                   "and each confirmed winner then ran on 400 test problems with seeds 0 to 4.",
                   "python benchmarks/tune_minimath.py")
# The earlier protocol (6 trials on 64 problems, no default among them, no confirmation, 3 seeds).
EARLIER = Comparison(Path("published") / "minimath-tune", "lora,ia3,loha,vera,ln_tuning,full-finetuning,lily,hira", 6,
                     "0,1,2", "--set data.valid_size=64 --final-set data.test_size=400 --jobs 2",
                     "two at a time (the first 20 trials one at a time beside other runs)", 64,
                     Path("minimath-lr-sensitivity.png"),
                     "Each method had 6 Optuna trials of 60 steps scored on 64 validation problems; its default and its "
                     "best trial (\"tuned-default\") then ran on 400 test problems with seeds 0, 1 and 2.",
                     settles=False)


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


def _write_sensitivity(comparison: Comparison) -> None:
    """Draw the report's learning-rate sensitivity figure of a search to its `figure` in docs/ (the results
    page links it), in process: the figure needs the trials only, not the rest of a report."""
    from peftbench.analysis.load import load_runs
    from peftbench.analysis.report_data import build
    from peftbench.analysis.report_verdicts import sensitivity_png

    reports = build(load_runs(ROOT / comparison.folder, task="minimath", warn=lambda message: None), n_resamples=100)
    sensitivity_png(reports[0], RESULTS_PAGE.parent / comparison.figure)


def _sensitivity_note(comparison: Comparison, complete: bool) -> str:
    if not complete:
        return ""
    return (f"\n![validation accuracy of every trial against its learning rate, per method]({comparison.figure.as_posix()})\n\n"
            f"*Every trial of the search: validation accuracy ({comparison.search_items} problems, one training seed) "
            f"against the learning rate, per method; each method's best trial is its highest point. A trial's score moves "
            f"in steps of {100 / comparison.search_items:.1f} points and is itself noisy: these choose a learning rate, "
            f"they do not rank methods.*\n")


@dataclass
class Progress:
    """How far a comparison's records go: its search trials, confirmations and finals, and what is left."""

    trials: list[dict]
    confirmations: list[dict]
    finals: list[dict]
    searching: list[str]  # methods whose search has not settled yet (no tune.json)
    seeds_left: dict[str, int]  # final experiment -> seeds still to run (methods and baselines)

    @property
    def searched(self) -> int:
        return sum(r["train_info"]["status"] == "success" for r in self.trials)

    @property
    def complete(self) -> bool:
        return not self.searching and not self.seeds_left


def progress(comparison: Comparison) -> Progress:
    from peftbench.planning.experiment import discover

    runs = _records(comparison.folder / "trials" / "minimath")
    confirms = [r for r in runs if (r["run_info"].get("trial") or {}).get("confirms")]
    trials = [r for r in runs if r not in confirms]
    finals = _records(comparison.folder / "minimath")
    searching, expected = [], []
    for method in comparison.method_list:
        decision = _decision(comparison, method)
        if decision is None and comparison.settles:
            searching.append(method)
        expected += [f"{method}/default"] + ([f"{method}/tuned-default"] if not (decision or {}).get("kept_default") else [])
    baselines = [e.full_name for e in discover(ROOT / "experiments", "minimath") if e.is_baseline]
    done = Counter(r["run_info"]["experiment_name"] for r in finals)
    left = {n: comparison.n_seeds - done[n] for n in expected + baselines if done[n] < comparison.n_seeds}
    return Progress(trials, confirms, finals, searching, left)


def _decision(comparison: Comparison, method: str) -> dict | None:
    path = ROOT / comparison.folder / "tuned" / "minimath" / method / "tuned-default" / "tune.json"
    return json.loads(path.read_text()) if path.is_file() else None


def tune_block(comparison: Comparison, state: Progress, narrow: bool = False) -> str:
    runs = state.trials + state.confirmations + state.finals
    wall, sittings = _wall(runs) if runs else (0.0, 0)
    hours = sum(r["run_info"]["total_time"] for r in runs) / HOURS
    spent = f"{hours:.1f} h of run time and {wall:.1f} h of wall time in {sittings} sittings, in the committed records"
    searched = len(comparison.method_list) * comparison.trials
    counts = (f"{state.searched} of {searched} search trials, {len(state.confirmations)} confirmation runs and "
              f"{len(state.finals)} final test-set runs")
    if not state.complete:  # without every method's finals (LoRA's included) the verdicts would compare a partial field
        left = (f"searches still to settle: {', '.join(state.searching)}; " if state.searching else "") + \
            f"final runs still to run: {'at most ' if state.searching else ''}{sum(state.seeds_left.values())} " \
            f"({len(state.seeds_left)} experiments; a search that keeps its default needs no finals of its own)"
        return (f"Under way with {comparison.command()}: {counts} done so far ({spent}); {left}. The leaderboard, default "
                f"vs tuned, the claims and what the search cost appear here once every final run is in. The same command "
                f"resumes it.\n")
    head = (f"{comparison.command()}; {counts}, {spent}, {_machine(runs, comparison.together)}. "
            f"{_regenerate(comparison.folder, narrow)}")
    figure = "" if narrow else _sensitivity_note(comparison, True)
    protocol = f"{comparison.protocol} " if narrow else ""  # the results page says it in its prose
    return f"{protocol}{head}\n\n{_report(comparison.folder, narrow)}{figure}"


def front_block(states: dict[Comparison, Progress]) -> str:
    """The README leads with today's comparison once it is complete; until then with the earlier one, saying so."""
    state = states[TUNED]
    if state.complete:
        return tune_block(TUNED, state, narrow=True)
    return (f"The 5-seed comparison of 10 methods under the protocol of [tuning and verdicts](docs/tuning.md) is under "
            f"way ({state.searched} of {len(TUNED.method_list) * TUNED.trials} search trials and {len(state.finals)} "
            f"final runs committed, [progress](docs/results-minimath.md)); until it is complete, this is the earlier "
            f"3-seed comparison.\n\n{tune_block(EARLIER, states[EARLIER], narrow=True)}")


def main(argv: list[str]) -> int:
    states = {comparison: progress(comparison) for comparison in (TUNED, EARLIER)}  # each folder read once
    page = [(*BLOCKS["tuned"], tune_block(TUNED, states[TUNED])), (*BLOCKS["tune"], tune_block(EARLIER, states[EARLIER])),
            (*BLOCKS["defaults"], defaults_block())]
    if "--check" not in argv:
        for comparison, state in states.items():
            if state.complete:
                _write_sensitivity(comparison)
    front = write_or_check(README, [(*BLOCKS["front"], front_block(states))], argv, "scripts/readme_results.py")
    return front or write_or_check(RESULTS_PAGE, page, argv, "scripts/readme_results.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
