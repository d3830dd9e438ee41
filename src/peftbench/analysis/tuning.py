"""What the report shows about searches (`peftbench tune`): every trial's validation score against its
learning rate (the sensitivity plot), each method's default configuration beside its tuned one, and
what the search cost.

Trial records are read here and nowhere else: leaderboards never show them (they have no test metric;
they chose on the validation split). Reader side: no torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from peftbench.analysis import verdicts as verdicts_mod
from peftbench.metrics import TOTAL_TIME
from peftbench.records.record import read_record_or_none
from peftbench.records.status import SUCCESS
from peftbench.tune.space import LR_KEY

TUNED_PREFIX = "tuned-"
TUNED_DIR = "tuned"  # where a search leaves its winners in its results folder (tune/winner.py)


def trial_points(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trial run: source (the experiment searched), study, number, lr, value (its validation
    score, NaN when it failed), status, params (the searched values)."""
    rows = []
    for path, status in zip(trials["path"], trials["status"]):
        record = read_record_or_none(path)
        info = record.run_info.trial if record else None
        if info is None or info.confirms:  # a re-score with the confirmation seed: in tune.json's decision
            continue
        lr = info.params.get(LR_KEY, ((record.run_info.train_config or {}).get("optimizer_kwargs") or {}).get("lr"))
        value = _last(record.window_rows(), info.objective) if status == SUCCESS else math.nan
        rows.append({"source": info.source, "study": info.study, "number": info.number, "lr": lr, "value": value,
                     "objective": info.objective, "status": status, "params": info.params})
    columns = ["source", "study", "number", "lr", "value", "objective", "status", "params"]
    return pd.DataFrame(rows, columns=columns).sort_values(["source", "number"], kind="stable").reset_index(drop=True)


COST_STAGES = ("search", "confirmation", "finals")
HOUR = 3600.0


def cost(trials: pd.DataFrame, finals: pd.DataFrame) -> pd.DataFrame:
    """What a tuned comparison cost, per experiment searched: CPU-hours (each run's total time x the torch
    threads it had; 1 when the record does not say) and runs, per stage — the search's trials, the
    confirmation re-scores, and the test-set finals (a tuned experiment's count to the one it was tuned
    from; baselines are rows of their own). Failed and interrupted runs count: they took the time. Empty
    without trials (no search)."""
    if trials.empty:
        return pd.DataFrame()
    rows = [(source, "confirmation" if confirms else "search", hours)
            for source, confirms, hours in zip(trials["trial_source"], trials["confirms"], _cpu_hours(trials))]
    for name, source, hours in zip(finals["experiment"], finals["tuned_from"], _cpu_hours(finals)):
        rows.append((source if isinstance(source, str) else name, "finals", hours))
    frame = pd.DataFrame(rows, columns=["experiment", "stage", "hours"])
    hours = frame.pivot_table(index="experiment", columns="stage", values="hours", aggfunc="sum", fill_value=0.0)
    runs = frame.pivot_table(index="experiment", columns="stage", values="hours", aggfunc="count", fill_value=0)
    table = pd.DataFrame(index=hours.index)
    for stage in COST_STAGES:
        table[f"{stage} CPU-h"] = hours[stage] if stage in hours else 0.0
        table[f"{stage} runs"] = runs[stage].astype(int) if stage in runs else 0
    table["total CPU-h"] = table[[f"{s} CPU-h" for s in COST_STAGES]].sum(axis=1)
    return table.reset_index()


def _cpu_hours(runs: pd.DataFrame) -> list[float]:
    seconds = runs[TOTAL_TIME.key] if TOTAL_TIME.key in runs else pd.Series(math.nan, index=runs.index)
    threads = runs["threads"] if "threads" in runs else pd.Series(math.nan, index=runs.index)
    return [(0.0 if pd.isna(s) else float(s)) * (1 if pd.isna(t) else int(t)) / HOUR
            for s, t in zip(seconds, threads)]


def _last(rows: list[dict], key: str) -> float:
    for row in reversed(rows):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return math.nan


def tuned_info(runs: pd.DataFrame) -> dict[str, dict]:
    """Experiment -> its `run_info.tuned` (the search behind it), for experiments a search wrote."""
    found = {}
    for name, group in runs[runs["tuned_from"].notna()].groupby("experiment", sort=False):
        record = read_record_or_none(group["path"].iloc[0])
        if record is not None and record.run_info.tuned is not None:
            found[str(name)] = record.run_info.tuned.model_dump()
    return found


def kept_defaults(runs: pd.DataFrame) -> dict[str, dict]:
    """Source experiment -> tune.json, for searches that kept the default: they have no runs of their
    own (the default's are theirs), so their provenance is read from the results folder's
    `tuned/<task>/<method>/tuned-<name>/tune.json` (tune/winner.py)."""
    found = {}
    for task in runs["task"].dropna().unique():
        roots = {Path(p).parents[1] for p in runs.loc[runs["task"] == task, "path"]}
        for root in sorted(roots):
            for path in sorted((root / TUNED_DIR / str(task)).glob(f"*/{TUNED_PREFIX}*/tune.json")):
                try:
                    info = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                if isinstance(info, dict) and info.get("kept_default") and isinstance(info.get("source"), str):
                    found.setdefault(info["source"], info)
    return found


def default_vs_tuned(runs: pd.DataFrame, main: str, test_sets: set[str] | None, score: str,
                     n_resamples: int = 10_000, seed: int = 0, sidecars=None) -> list[dict]:
    """Per tuned experiment: its source's and its own runs, the chosen values, and the verdict of tuned
    against default (paired over seeds and items; the pairs of the table corrected together, Holm) —
    did the search change anything measurable. A search that kept the default is a row too, with the
    default's runs on both sides and no verdict (`kept`)."""
    rows, found = [], []
    for source, info in kept_defaults(runs).items():
        if source in set(runs["experiment"]):
            runs_of = runs[runs["experiment"] == source][main].dropna().tolist()
            rows.append({"tuned": None, "default": source, "info": info, "default runs": runs_of,
                         "tuned runs": runs_of, "verdict": None, "kept": True})
    for name, info in tuned_info(runs).items():
        source = info["source"]
        pair = runs[runs["experiment"].isin([name, source])]
        mine = [(v, boot) for v, boot in verdicts_mod.raw_comparisons(pair, source, main, test_sets, score, n_resamples,
                                                                        seed, sidecars=sidecars, correct=False)
                if v.experiment == name and v.metric == main]
        found += mine
        rows.append({"tuned": name, "default": source, "info": info,
                     "default runs": pair[pair["experiment"] == source][main].dropna().tolist(),
                     "tuned runs": pair[pair["experiment"] == name][main].dropna().tolist(),
                     "verdict": len(found) - 1 if mine else None, "kept": False})
    corrected = verdicts_mod.holm(found)
    for row in rows:
        if not row["kept"]:
            row["verdict"] = corrected[row["verdict"]] if row["verdict"] is not None else None
    return sorted(rows, key=lambda row: row["default"])
