"""The dashboard's Pareto plot: every run as a point, the front highlighted, intervals as error bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from peftbench.metrics import MEMORY_MAX, METRICS, direction, trade_off_metrics
from peftbench.analysis.pareto import pareto_front
from peftbench.dashboard.view import MB, header, is_bytes, is_fraction, seed_suffix


def default_axes(columns: list[str], memory: str = MEMORY_MAX.key) -> tuple[str | None, str | None]:
    """Quality on y against memory (`memory`: the column that ranks these runs, `load.memory_key`; else
    another training cost on a trade-off axis: the other memory figure, time, size; else anything) on x."""
    quality = [c for c in columns if c.startswith("test ")]
    training_costs = [k for k in trade_off_metrics() if METRICS[k].role == "cost"]
    costs = [c for c in dict.fromkeys([memory, *training_costs]) if c in columns]
    y = quality[0] if quality else (columns[0] if columns else None)
    x = costs[0] if costs else next((c for c in columns if c != y), y)
    return x, y


def _axis_values(runs: pd.DataFrame, column: str) -> pd.Series:
    """In the table's units: bytes as MB, accuracies in % (an interval column in its metric's unit)."""
    values = pd.to_numeric(runs[column], errors="coerce")
    base = column.removesuffix(" ci_low").removesuffix(" ci_high")
    if is_bytes(base):
        return values / MB
    return values * 100 if is_fraction(base) else values


def _axis_title(column: str) -> str:
    better = "higher" if direction(column) else "lower"
    return f"{header(column)} ({better} is better)"


def _log_scale(values: pd.Series) -> bool:
    """Log axis when positive values span more than two decades (parameter counts, file sizes)."""
    values = values[np.isfinite(values)]
    return len(values) > 1 and (values > 0).all() and values.max() / values.min() > 100


def pareto_figure(runs: pd.DataFrame, x: str, y: str) -> go.Figure:
    """Every run with both figures as a point; the Pareto front highlighted and joined by a line."""
    figure = go.Figure()
    if x not in runs.columns or y not in runs.columns:
        figure.update_layout(title="no runs with these metrics")
        return figure
    front = pareto_front(runs, x, y)
    xs, ys = _axis_values(runs, x), _axis_values(runs, y)
    has_both = xs.notna() & ys.notna()
    names = runs["experiment"].astype(str).astype(object) + seed_suffix(runs)
    short = runs["method"].astype(str) if "method" in runs.columns else names
    for label, rows, style in [
        ("other runs", has_both & ~front, dict(color="#9aa5b1", size=8)),
        ("Pareto front", front, dict(color="#d62728", size=11, symbol="diamond")),
    ]:
        order = xs[rows].sort_values(kind="stable").index
        on_front = label == "Pareto front"
        figure.add_trace(go.Scatter(
            x=xs[order], y=ys[order], customdata=names[order], name=label, marker=style,
            error_x=_error_bars(runs, x, order), error_y=_error_bars(runs, y, order),
            # front points carry their method's name: the answer the plot is for
            text=short[order] if on_front else None, textposition="top center",
            mode="lines+markers+text" if on_front else "markers",
            line=dict(shape="hv", color="#d62728", width=1, dash="dot"),
            hovertemplate="%{customdata}<br>" + header(x) + ": %{x}<br>" + header(y) + ": %{y}<extra></extra>",
        ))
    missing = int((~has_both).sum())
    noun = "experiments" if "runs" in runs.columns else "runs"  # the per-experiment table counts seeds in `runs`
    title = f"{int(front.sum())} of {int(has_both.sum())} {noun} on the front"
    if missing:
        title += f" ({missing} without both figures not shown)"
    figure.update_layout(
        title=title, xaxis_title=_axis_title(x), yaxis_title=_axis_title(y), template="plotly_white",
        height=480, margin=dict(l=60, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.18),
    )
    if _log_scale(xs[has_both]):
        figure.update_xaxes(type="log")
    if _log_scale(ys[has_both]):
        figure.update_yaxes(type="log")
    return figure


def _error_bars(runs: pd.DataFrame, column: str, order: pd.Index) -> dict | None:
    """The 95% interval over seeds as asymmetric error bars, where the per-experiment view has one."""
    if column + " ci_low" not in runs.columns:
        return None
    middle = _axis_values(runs, column)[order]
    low, high = _axis_values(runs, column + " ci_low")[order], _axis_values(runs, column + " ci_high")[order]
    return dict(type="data", symmetric=False, array=(high - middle).tolist(), arrayminus=(middle - low).tolist(),
                color="#7f7f7f", thickness=1)
