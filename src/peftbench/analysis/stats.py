"""Statistics over runs: per-experiment mean / std / 95% CI across seeds, and which experiment is the
reference. Paired comparisons between experiments are verdicts (analysis/verdicts.py).

With one seed the across-seed interval is undefined (NaN), never ±0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


GROUP_KEYS = ["source", "task", "experiment"]
CONFIDENCE = 0.95


def t_interval(values) -> tuple[float, float, float, float, int]:
    """(mean, std, CI low, CI high, n) of the finite values; Student-t interval, NaN when n < 2."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n == 1:
        return mean, math.nan, math.nan, math.nan, 1
    std = float(x.std(ddof=1))
    if std == 0:  # identical seeds: the interval is the point, scipy would return NaN here
        return mean, 0.0, mean, mean, n
    low, high = stats.t.interval(CONFIDENCE, df=n - 1, loc=mean, scale=std / math.sqrt(n))
    return mean, std, float(low), float(high), n


def summarize(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per (source, task, experiment): `n_runs`, seeds, method, model, and for each metric
    `<m> mean`, `<m> std`, `<m> ci_low`, `<m> ci_high`, `<m> n` (number of runs that have it)."""
    rows = []
    for keys, group in runs.groupby(GROUP_KEYS, sort=False, dropna=False):
        row = dict(zip(GROUP_KEYS, keys))
        row.update(method=group["method"].iloc[0], model=group["model"].iloc[0], n_runs=len(group),
                   seeds=sorted(int(s) for s in group["seed"].dropna()))
        for metric in metrics:
            values = group[metric] if metric in group else []
            mean, std, low, high, n = t_interval(values)
            row.update({f"{metric} mean": mean, f"{metric} std": std, f"{metric} ci_low": low,
                        f"{metric} ci_high": high, f"{metric} n": n})
        rows.append(row)
    return pd.DataFrame(rows)


def pick_reference(runs: pd.DataFrame, name: str, metric: str) -> str | None:
    """The experiment a `--reference` names: an experiment (`lora/default`) as is; a method (`lora`)
    -> its `<method>/default` experiment if it exists, else its best by mean `metric`."""
    experiments = runs["experiment"].unique()
    if name in experiments:
        return name
    of_method = runs[runs["method"] == name.lower()]
    if of_method.empty:
        return None
    if f"{name.lower()}/default" in set(of_method["experiment"]):
        return f"{name.lower()}/default"
    if metric not in of_method:
        return str(of_method["experiment"].iloc[0])
    means = of_method.groupby("experiment")[metric].mean()
    return str(means.idxmax()) if means.notna().any() else str(means.index[0])
