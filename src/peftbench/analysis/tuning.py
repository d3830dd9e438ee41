"""What the report shows about searches (`peftbench tune`): every trial's validation score against its
learning rate (the sensitivity plot), and each method's default configuration beside its tuned one.

Trial records are read here and nowhere else: leaderboards never show them (they have no test metric;
they chose on the validation split). Reader side: no torch.
"""

from __future__ import annotations

import math

import pandas as pd

from peftbench.analysis import verdicts as verdicts_mod
from peftbench.analysis.load import read_record
from peftbench.tune.space import LR_KEY

TUNED_PREFIX = "tuned-"


def trial_points(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trial run: source (the experiment searched), study, number, lr, value (its validation
    score, NaN when it failed), status, params (the searched values)."""
    rows = []
    for path, status in zip(trials["path"], trials["status"]):
        record = read_record(path, lambda message: None)
        info = record.run_info.trial if record else None
        if info is None:
            continue
        lr = info.params.get(LR_KEY, ((record.run_info.train_config or {}).get("optimizer_kwargs") or {}).get("lr"))
        value = _last(record.window_rows(), info.objective) if status == "success" else math.nan
        rows.append({"source": info.source, "study": info.study, "number": info.number, "lr": lr, "value": value,
                     "objective": info.objective, "status": status, "params": info.params})
    columns = ["source", "study", "number", "lr", "value", "objective", "status", "params"]
    return pd.DataFrame(rows, columns=columns).sort_values(["source", "number"], kind="stable").reset_index(drop=True)


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
        record = read_record(group["path"].iloc[0], lambda message: None)
        if record is not None and record.run_info.tuned is not None:
            found[str(name)] = record.run_info.tuned.model_dump()
    return found


def default_vs_tuned(runs: pd.DataFrame, main: str, test_sets: set[str] | None, score: str,
                     n_resamples: int = 10_000, seed: int = 0, sidecars=None) -> list[dict]:
    """Per tuned experiment: its source's and its own runs, the chosen values, and the verdict of tuned
    against default (paired over seeds and items) — did the search change anything measurable."""
    rows = []
    for name, info in tuned_info(runs).items():
        source = info["source"]
        pair = runs[runs["experiment"].isin([name, source])]
        found = [v for v in verdicts_mod.compute(pair, source, main, test_sets, score, n_resamples, seed,
                                                 sidecars=sidecars)
                 if v.experiment == name and v.metric == main]
        rows.append({"tuned": name, "default": source, "info": info,
                     "default runs": pair[pair["experiment"] == source][main].dropna().tolist(),
                     "tuned runs": pair[pair["experiment"] == name][main].dropna().tolist(),
                     "verdict": found[0] if found else None})
    return rows
