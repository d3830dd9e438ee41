"""What a report shows, computed once: per task, the leaderboard with CIs, paired comparisons, Pareto
flags, best config per method, learning curves, reference numbers and sample images.

The HTML, PNG, Markdown and terminal renderers all draw from a `TaskReport`, so they cannot disagree.
"""

from __future__ import annotations

import json

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from peftbench.analysis import power as power_mod
from peftbench.analysis import stats, tuning
from peftbench.analysis import verdicts as verdicts_mod
from peftbench.analysis.load import load_curves, memory_key
from peftbench.analysis.pareto import pareto_front
from peftbench.metrics import (MEMORY_AXIS, MEMORY_MAX, direction, format_value, front_name, is_fraction, label,
                               leaderboard_columns, memory_keys, ordered_columns, trade_off_metrics, trade_offs)
from peftbench.records.results import CAPABILITIES, capabilities_path, samples_path
from peftbench.records.status import SUCCESS

OURS = "peftbench"


@dataclass
class TaskReport:
    task: str
    source: str  # whose runs the leaderboard shows: ours, or the reference's when there are none of ours
    model: str
    main: str  # the task's main metric column, e.g. "test accuracy"
    metrics: list[str]  # metric columns present in these runs, in the registry's order
    runs: pd.DataFrame  # successful runs of the task, one row each
    summary: pd.DataFrame  # one row per experiment, best first: `<m> mean/std/ci_low/ci_high/n`
    reference: str | None = None  # experiment the paired bootstrap compares against
    verdicts: list[verdicts_mod.Verdict] = field(default_factory=list)  # main metric and forgetting, vs reference
    noise: verdicts_mod.NoiseFloor | None = None  # the pooled seed-to-seed spread, and the reference's own
    power: list[power_mod.Power] = field(default_factory=list)  # interval widths and item counts, per pair
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)  # tuning trials (`tuning.trial_points`)
    tuned: list[dict] = field(default_factory=list)  # default vs tuned (`tuning.default_vs_tuned`)
    cost: pd.DataFrame = field(default_factory=pd.DataFrame)  # CPU-hours of a search, per stage (`tuning.cost`)
    memory: str = MEMORY_MAX.key  # the training-memory column that ranks these runs (`memory_key`)
    trade_offs: list[str] = field(default_factory=list)  # x metrics of the Pareto plots
    fronts: dict[str, pd.Series] = field(default_factory=dict)  # x metric -> on-front flag per summary row
    best_per_method: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    published: pd.DataFrame = field(default_factory=pd.DataFrame)  # reference side by side, per method
    samples: list[tuple[str, Path]] = field(default_factory=list)  # (run, sample-grid PNG)
    capabilities: pd.DataFrame = field(default_factory=pd.DataFrame)  # saved capability matrix, these experiments
    n_failed: int = 0

    @property
    def means(self) -> pd.DataFrame:
        """The summary with `<m> mean` renamed to `<m>`: one point per experiment for the fronts and
        plots. Rounded to 12 significant digits: means of equal results can differ in the last bit
        ((0.2+0.4)/2 > (0.5+0.1)/2), which would put a dominated experiment on a front and make
        plotly zoom into a 1e-17 wide axis."""
        means = self.summary.rename(columns={f"{m} mean": m for m in self.metrics})
        means[self.metrics] = means[self.metrics].map(lambda v: float(f"{v:.12g}"))
        return means


def main_metric(runs: pd.DataFrame) -> str | None:
    """The task's main metric: the `test …` column most runs have; ties go to the shorter name
    (`test accuracy` over `test accuracy gsm8k`)."""
    candidates = [c for c in runs.columns if c.startswith("test ") and runs[c].notna().any()]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (-runs[c].notna().sum(), len(c), c))


def present_metrics(runs: pd.DataFrame) -> list[str]:
    """Metric columns with at least one value, in the registry's reading order."""
    return ordered_columns(c for c in runs.columns if runs[c].notna().any())


def item_source(main: str, task: str) -> tuple[set[str], str]:
    """Where a metric's per-item scores are in a predictions sidecar: the `test_set` labels and the
    score column. `test accuracy` -> the task's own set (text tasks label it with the task name,
    image tasks `test`), column `correct`; `test accuracy gsm8k` -> set `gsm8k`; `test similarity`
    -> column `similarity`."""
    parts = main.split(" ", 2)
    sets = {parts[2]} if len(parts) == 3 else {task, "test"}
    return sets, "correct" if parts[1] == "accuracy" else parts[1]


def _clip_fractions(summary: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Accuracies cannot leave [0, 1]; a t interval over 2-3 seeds can (t(0.975, 1) = 12.7), which
    reads as a bug. The clipped interval is what the data allow; the note says so."""
    for metric in filter(is_fraction, metrics):
        for end in ("ci_low", "ci_high"):
            summary[f"{metric} {end}"] = summary[f"{metric} {end}"].clip(0, 1)
    return summary


def _best_first(summary: pd.DataFrame, main: str) -> pd.DataFrame:
    ordered = summary.sort_values(f"{main} mean", ascending=not direction(main), na_position="last", kind="stable")
    return ordered.reset_index(drop=True)


def _best_per_method(summary: pd.DataFrame, main: str) -> pd.DataFrame:
    # `summary` is already best first, so the first row of each method is its best configuration.
    return summary.dropna(subset=[f"{main} mean"]).drop_duplicates("method").reset_index(drop=True)


def _published(external: pd.DataFrame, main: str, methods: list[str]) -> pd.DataFrame:
    """Reference runs with the same main metric, best per method of ours: method, experiment, model,
    source, main metric and the trade-off figures."""
    pool = external[external["method"].isin(methods)].dropna(subset=[main]) if main in external else external.iloc[:0]
    if pool.empty:
        return pd.DataFrame()
    pool = pool.sort_values(main, ascending=not direction(main), kind="stable").drop_duplicates("method")
    columns = ["method", "experiment", "model", "source", main] + [c for c in trade_off_metrics() if c in pool]
    return pool[columns].reset_index(drop=True)


def _samples(runs: pd.DataFrame) -> list[tuple[str, Path]]:
    found = []
    for run, path in zip(runs["run"], runs["path"]):
        grid = samples_path(path)
        if grid.is_file():
            found.append((run, grid))
    return found


def _capabilities(runs: pd.DataFrame, task: str) -> pd.DataFrame:
    """The capability matrix saved beside these runs (`peftbench methods --capabilities --save-to`), for
    the experiments the runs are of; empty when none was saved or it cannot be read."""
    rows = {}
    for root in dict.fromkeys(Path(p).parent.parent for p in runs["path"]):
        try:
            saved = json.loads(capabilities_path(root, task).read_text())["experiments"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for experiment in runs["experiment"].unique():
            found = saved.get(experiment) if isinstance(saved, dict) else None
            if isinstance(found, dict) and experiment not in rows:
                rows[experiment] = {k: str((found.get(k) or {}).get("value", "")) for k in CAPABILITIES}
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame.from_dict(rows, orient="index").rename_axis("experiment").reset_index()
    return frame.sort_values("experiment").reset_index(drop=True)


def _trade_offs(summary: pd.DataFrame, memory: str) -> list[str]:
    """The x metric of each trade-off axis (`metrics.trade_offs`): the first of the axis's metrics with
    values (drift where there is no forgetting), on the memory axis the one that ranks these runs."""
    chosen = []
    for axis, keys in trade_offs().items():
        for candidate in ([memory] if axis == MEMORY_AXIS else keys):
            if summary.get(f"{candidate} mean", pd.Series(dtype=float)).notna().any():
                chosen.append(candidate)
                break
    return chosen


def verdict_report(task: str, all_runs: pd.DataFrame, reference: str, n_resamples: int = 10_000,
                   seed: int = 0, warn=None) -> TaskReport | None:
    """Just what the answer sentence reads (the leaderboard summary and the verdicts), computed exactly
    as `task_report` computes them: the dashboard's answer is the report's."""
    return task_report(task, all_runs, reference, n_resamples, seed, warn, verdicts_only=True)


def task_report(task: str, all_runs: pd.DataFrame, reference: str, n_resamples: int = 10_000,
                seed: int = 0, warn=None, verdicts_only: bool = False) -> TaskReport | None:
    """Everything the report shows for one task (`verdicts_only`: the summary and verdicts alone); None
    when the task has no successful run with a `test …` metric."""
    of_task = all_runs[all_runs["task"] == task]
    trial_runs = of_task[of_task["trial"].notna()]  # they chose on validation data: never leaderboard rows
    of_task = of_task[of_task["trial"].isna()]
    ok = of_task[of_task["status"] == SUCCESS]
    ours = ok[ok["source"] == OURS]
    subject = ours if not ours.empty else ok
    main = main_metric(subject)
    if main is None:
        return None
    source = OURS if not ours.empty else ", ".join(sorted(subject["source"].unique()))
    metrics = present_metrics(subject)
    summary = _best_first(_clip_fractions(stats.summarize(subject, metrics), metrics), main)
    report = TaskReport(task=task, source=source, model=", ".join(sorted(subject["model"].dropna().unique())),
                        main=main, metrics=metrics, runs=subject, summary=summary,
                        n_failed=int(len(of_task) - len(ok)))
    report.reference = verdicts_mod.reference_experiment(subject, reference, main)
    sets, score = item_source(main, task)
    sidecars = verdicts_mod.Sidecars(subject, sets, score, warn)  # each sidecar read once per report
    if report.reference is not None:
        report.verdicts = verdicts_mod.compute(subject, report.reference, main, sets, score, n_resamples, seed,
                                               sidecars=sidecars)
    if verdicts_only:
        return report
    if report.reference is not None:
        report.noise = verdicts_mod.noise_floor(subject, report.reference, main)
        report.power = _power(sidecars, report.reference, n_resamples, seed)
    report.trials = tuning.trial_points(trial_runs) if not trial_runs.empty else pd.DataFrame()
    report.tuned = tuning.default_vs_tuned(subject, main, sets, score, n_resamples, seed, sidecars)
    report.cost = tuning.cost(trial_runs, of_task[of_task["source"] == OURS])
    report.memory = memory_key(subject)
    report.trade_offs = _trade_offs(summary, report.memory)
    means = report.means
    report.fronts = {x: pareto_front(means, x, main) for x in report.trade_offs}
    report.best_per_method = _best_per_method(summary, main)
    report.curves = load_curves(subject["path"], warn=lambda message: None)
    if source == OURS:
        external = all_runs[(all_runs["source"] != OURS) & (all_runs["status"] == SUCCESS)]
        report.published = _published(external, main, sorted(summary["method"].unique()))
    report.samples = _samples(subject)
    report.capabilities = _capabilities(subject, task)
    return report


def _power(sidecars: verdicts_mod.Sidecars, reference: str, n_resamples: int, seed: int) -> list[power_mod.Power]:
    """Interval width and item counts of each experiment against the reference, on their shared items
    (seeds matched where both ran the same ones), the seed variance pooled over the pairs."""
    ref_read = sidecars.get(reference)
    if ref_read is None:
        return []
    ref, ref_seeds = ref_read[0], sidecars.seeds.get(reference, [])
    theirs = set(ref.columns)
    found = []
    for name in sidecars.paths:
        read = sidecars.get(name) if name != reference else None
        if read is None:
            continue
        mine, seeds = read[0], sidecars.seeds.get(name, [])
        shared = [c for c in mine.columns if c in theirs]
        if len(shared) > 1:
            paired = verdicts_mod.same_seeds(seeds, ref_seeds)
            a, b = mine[shared], ref[shared]
            if paired:
                a, b = a.iloc[np.argsort(seeds, kind="stable")], b.iloc[np.argsort(ref_seeds, kind="stable")]
            found.append(power_mod.pair_power(a.to_numpy(), b.to_numpy(), name, reference, n_resamples, seed, paired))
    return power_mod.pool(found)


def build(runs: pd.DataFrame, reference: str = "lora", n_resamples: int = 10_000,
          seed: int = 0, warn=None) -> list[TaskReport]:
    """One `TaskReport` per task that has our runs, or, where none of ours exist anywhere, per task
    of the loaded (reference) runs."""
    ours = runs[runs["source"] == OURS]
    tasks = sorted((ours if not ours.empty else runs)["task"].dropna().unique())
    reports = [task_report(task, runs, reference, n_resamples, seed, warn) for task in tasks]
    return [r for r in reports if r is not None]


def main_cell(row: pd.Series, main: str) -> str:
    """`mean [low, high]`, or the mean with "1 run, no CI" — never a ±0 for a single run."""
    mean, low, high = row[f"{main} mean"], row[f"{main} ci_low"], row[f"{main} ci_high"]
    if isinstance(mean, float) and math.isnan(mean):
        return ""
    if math.isnan(low):
        return f"{format_value(mean, main, units=True)} ({int(row[f'{main} n'])} run, no CI)"
    low, high = format_value(low, main, units=True), format_value(high, main, units=True)
    return f"{format_value(mean, main, units=True)} [{low}, {high}]"


def leaderboard(report: TaskReport, narrow: bool = False) -> pd.DataFrame:
    """The leaderboard as text cells, best first: experiment, seeds, main metric with 95% CI, the
    paired comparison with the reference experiment, costs, and the fronts each experiment is on
    (`narrow`: the narrow columns of the costs, `metrics.leaderboard_columns(narrow=True)`, no fronts:
    a terminal's or a front page's width)."""
    columns = leaderboard_columns(narrow)
    rows = []
    for index, row in report.summary.iterrows():
        name = row["experiment"]
        cells = {"experiment": name, "runs": str(row["n_runs"]), label(report.main) + " (95% CI)": main_cell(row, report.main)}
        if report.verdicts:
            verdict = next((v for v in report.verdicts if v.experiment == name and v.metric == report.main), None)
            cells[f"vs {report.reference} (paired)"] = ("reference" if name == report.reference
                                                         else verdict.describe(is_fraction(report.main))
                                                         if verdict else "")
        for metric in report.metrics:
            if metric != report.main and metric in columns and _shown(report, metric):
                cells[label(metric)] = format_value(row[f"{metric} mean"], metric, units=True)
        if not narrow:
            cells["Pareto front vs"] = ", ".join(front_name(x) for x, front in report.fronts.items() if front.iloc[index])
        rows.append(cells)
    return pd.DataFrame(rows)


def _shown(report: TaskReport, metric: str) -> bool:
    """Of the two training-memory figures, only the one that ranks these runs is a leaderboard column."""
    return metric not in memory_keys() or metric == report.memory
