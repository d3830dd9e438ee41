"""Pareto fronts over two metrics, and "the best run under a budget".

Directions come from `metrics.direction` (higher accuracy, lower memory/time/size/forgetting), so a
caller never says which way a metric points. Missing values (NaN) never count: a run without the
figure is neither on a front nor within a budget, because an unknown value cannot be shown to be good.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peftbench.metrics import direction
from peftbench.errors import UserError


def _require(df: pd.DataFrame, *columns: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"unknown metric {missing[0]!r}: expected one of {', '.join(map(repr, df.columns))}")


def _oriented(df: pd.DataFrame, column: str) -> np.ndarray:
    """The column as floats where larger is better; non-numeric and non-finite values become NaN."""
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    values = np.where(np.isfinite(values), values, np.nan)
    # 12 significant digits: means of equal results can differ in the last bit ((0.2+0.4)/2 >
    # (0.5+0.1)/2), which would let float noise decide who is on a front.
    values = np.array([float(f"{v:.12g}") for v in values], dtype=float)
    return values if direction(column) else -values


def pareto_front(df: pd.DataFrame, x: str, y: str) -> pd.Series:
    """True for the rows no other row dominates on (x, y), each metric in its own better direction.

    Ties are kept: a row equal to a front row on both metrics is on the front too. Rows with a missing
    x or y are False and dominate nothing.
    """
    _require(df, x, y)
    a, b = _oriented(df, x), _oriented(df, y)
    known = ~(np.isnan(a) | np.isnan(b))
    front = np.zeros(len(df), dtype=bool)
    if known.any():
        points = pd.DataFrame({"a": a[known], "b": b[known]})
        # Walk the distinct x values from best to worst. A row is on the front iff it has the best y
        # of its x value and that y beats every y seen at a strictly better x (else that row dominates).
        best_b = points.groupby("a")["b"].max().sort_index(ascending=False)
        beaten_by_better_a = best_b.cummax().shift(1, fill_value=-np.inf)
        on_front = (points["b"] == points["a"].map(best_b)) & (points["b"] > points["a"].map(beaten_by_better_a))
        front[known] = on_front.to_numpy()
    return pd.Series(front, index=df.index, name="pareto")


def best_under_budget(df: pd.DataFrame, metric: str, constraints: dict[str, float]) -> pd.DataFrame:
    """Rows within every constraint, best first by `metric`; rows missing `metric` are left out.

    A constraint is an upper bound for a cost (`{"accelerator_memory_max": 2e10}` means <= 2e10) and a
    lower bound for a quality metric (`{"test accuracy": 0.4}` means >= 0.4).
    """
    _require(df, metric, *constraints)
    keep = ~np.isnan(_oriented(df, metric))
    for column, limit in constraints.items():
        try:
            limit = float(limit)
        except (TypeError, ValueError):
            raise UserError(f"budget for {column!r}: expected a number, got {limit!r}") from None
        values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        # NaN compares False either way, so a run missing a constrained figure is excluded.
        keep &= values >= limit if direction(column) else values <= limit
    chosen = df[keep]
    return chosen.sort_values(metric, ascending=not direction(metric), kind="stable",
                              key=lambda column: pd.to_numeric(column, errors="coerce"))
