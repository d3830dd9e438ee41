"""Static PNG figures of a report (matplotlib).

Figures are built with `matplotlib.figure.Figure`, not pyplot: no backend or display is involved and
no global state changes, so importing this in a notebook leaves its plotting alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, PercentFormatter

from peftbench.metrics import REWARD, TRAIN_LOSS, direction, fmt_of, is_bytes, label
from peftbench.analysis.report_data import TaskReport

FRONT_COLOR, OTHER_COLOR, REF_COLOR = "#d62728", "#9a9a9a", "#1f77b4"
FEW_LABELS = 6  # up to this many points, each is named next to itself
MAX_CURVES = 8  # more lines than this are unreadable (a palette of 10 colours repeats); the best ones are drawn
MIN_CURVE_POINTS = 3  # a "curve" of 1-2 validation windows shows no shape: such runs are left out
DPI = 110


def _axis_format(ax_axis, column: str) -> None:
    """Percent for accuracies, MB / KB for byte counts, so tick labels read like the tables."""
    how = fmt_of(column)
    if "%" in how:
        ax_axis.set_major_formatter(PercentFormatter(1.0, decimals=None))  # decimals follow the range
    elif how in ("mb", "kb"):
        ax_axis.set_major_formatter(FuncFormatter(lambda v, _: _size(v)))


def _size(v: float) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if abs(v) >= scale:
            return f"{v / scale:,.0f} {unit}" if abs(v) >= 100 * scale else f"{v / scale:.3g} {unit}"
    return f"{v:,.0f} B"


def wide_range(values: pd.Series) -> bool:
    """Log scale when positive values span more than two orders of magnitude (adapter vs full model)."""
    values = values.dropna()
    return bool(len(values) > 1 and (values > 0).all() and values.max() / values.min() > 100)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def leaderboard(report: TaskReport, path: Path) -> Path:
    """Main metric per experiment with its 95% CI; single runs hollow (no interval exists)."""
    summary = report.summary.dropna(subset=[f"{report.main} mean"]).iloc[::-1]  # best at the top
    fig = Figure(figsize=(8, 1.2 + 0.28 * len(summary)))
    ax = fig.subplots()
    y = np.arange(len(summary))
    mean = summary[f"{report.main} mean"].to_numpy(dtype=float)
    low, high = summary[f"{report.main} ci_low"].to_numpy(dtype=float), summary[f"{report.main} ci_high"].to_numpy(dtype=float)
    has_ci = ~np.isnan(low)
    ax.errorbar(mean[has_ci], y[has_ci], xerr=[mean[has_ci] - low[has_ci], high[has_ci] - mean[has_ci]],
                fmt="o", color=REF_COLOR, capsize=3, label="mean, 95% CI over seeds")
    if (~has_ci).any():
        ax.plot(mean[~has_ci], y[~has_ci], "o", mfc="white", color=REF_COLOR, label="single run (no CI)")
    names = list(summary["experiment"])
    ax.set_yticks(y, names, fontsize=8 if len(names) > 30 else 9)
    if report.reference in names:
        ax.get_yticklabels()[names.index(report.reference)].set_fontweight("bold")
    ax.set_xlabel(label(report.main))
    _axis_format(ax.xaxis, report.main)
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{report.task}: {label(report.main)} ({report.model})", fontsize=10)
    return _save(fig, path)


def _spread(wanted: list[float], gap: float) -> list[float]:
    """Label heights (axes fraction, ascending input) moved apart by at least `gap`, kept in [0, 1]."""
    placed: list[float] = []
    for y in wanted:
        placed.append(max(y, placed[-1] + gap) if placed else y)
    overshoot = max(0.0, placed[-1] - 1) if placed else 0.0
    placed = [y - overshoot for y in placed]
    for i in range(len(placed)):  # a long list pushed below 0 goes back up, evenly
        placed[i] = max(placed[i], i * gap)
    return placed


def _label_points(ax, rows: pd.DataFrame, x: str, y: str, color: str) -> None:
    for _, row in rows.iterrows():
        ax.annotate(row["experiment"], (row[x], row[y]), xytext=(5, 5), textcoords="offset points",
                    fontsize=8, color=color)


def _label_column(ax, on: pd.DataFrame, x: str, y: str) -> None:
    """Front points named in a column right of the axes, a thin line to each point, so labels of
    clustered points never overlap (a front of 60 reference experiments clusters a lot)."""
    ax.autoscale_view()  # data limits settled, so transData maps points where they will be drawn
    to_axes = ax.transAxes.inverted()
    points = [ax.transData.transform((row[x], row[y])) for _, row in on.iterrows()]
    fractions = [to_axes.transform(p)[1] for p in points]
    order = sorted(range(len(on)), key=lambda i: fractions[i])
    heights = _spread([fractions[i] for i in order], gap=0.055)
    for i, height in zip(order, heights):
        row = on.iloc[i]
        ax.annotate(row["experiment"], (row[x], row[y]), xytext=(1.03, height), textcoords="axes fraction",
                    fontsize=7, va="center", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": FRONT_COLOR, "alpha": 0.35, "lw": 0.6})


def _pareto_panel(ax, report: TaskReport, x: str) -> None:
    means = report.means
    front = report.fronts[x]
    known = means[[x, report.main]].notna().all(axis=1)
    others = known & ~front
    ax.scatter(means.loc[others, x], means.loc[others, report.main], s=18, color=OTHER_COLOR, label="dominated")
    on = means[front].sort_values(x)
    # The front as a staircase: each step is the best main metric reachable within that budget.
    ax.step(on[x], on[report.main], where="post", color=FRONT_COLOR, alpha=0.5, lw=1)
    ax.scatter(on[x], on[report.main], s=30, color=FRONT_COLOR, label="Pareto front", zorder=3)
    if not wide_range(means.loc[known, x]):
        ax.xaxis.set_major_locator(MaxNLocator(5))
    else:
        ax.set_xscale("log")
        if is_bytes(x):
            ax.xaxis.set_major_locator(LogLocator(base=2**10))  # ticks at 1 KB, 1 MB, 1 GB
    ax.set_xlabel(f"{label(x)} ({'higher' if direction(x) else 'lower'} is better)", fontsize=9)
    ax.set_ylabel(label(report.main), fontsize=9)
    _axis_format(ax.xaxis, x)
    _axis_format(ax.yaxis, report.main)
    ax.grid(alpha=0.3)
    if known.sum() <= FEW_LABELS:  # few points: name every one where it is
        _label_points(ax, on, x, report.main, "black")
        _label_points(ax, means[others], x, report.main, "dimgray")
    else:
        _label_column(ax, on, x, report.main)


def pareto_grid(report: TaskReport, path: Path) -> Path | None:
    """The report's main figure: the main metric against each cost, fronts highlighted."""
    if not report.trade_offs:
        return None
    cols = 2 if len(report.trade_offs) > 1 else 1
    rows = math.ceil(len(report.trade_offs) / cols)
    # Each panel keeps room on its right for the column of front labels.
    fig = Figure(figsize=(8.5 * cols, 4.6 * rows))
    spacing = {"wspace": 0.75, "hspace": 0.35, "right": 0.8, "top": 1 - 0.6 / (4.6 * rows)}
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw=spacing)
    for ax, x in zip(axes.flat, report.trade_offs):
        _pareto_panel(ax, report, x)
    for ax in list(axes.flat)[len(report.trade_offs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{report.task}: {label(report.main)} vs costs (experiment means; {report.model})", fontsize=11)
    return _save(fig, path)


def curve_experiments(report: TaskReport) -> list[str]:
    """The best experiments (at most MAX_CURVES) whose curves have MIN_CURVE_POINTS windows or more."""
    data = report.curves
    if data.empty:
        return []
    windows = data.groupby("experiment")["step"].nunique()
    return [e for e in report.summary["experiment"] if windows.get(e, 0) >= MIN_CURVE_POINTS][:MAX_CURVES]


def valid_column(report: TaskReport) -> str:
    """The window key of the task's main metric: `test accuracy` -> `valid accuracy`."""
    return "valid " + report.main.split(" ", 2)[1]


def curve_columns(report: TaskReport) -> list[str]:
    """The per-step figures drawn as curves: train loss, the validation metric and, for runs trained by
    reinforcement learning, the training reward (their learning signal); those some run has."""
    data = report.curves
    if data.empty or not curve_experiments(report):
        return []
    return [c for c in (TRAIN_LOSS.key, valid_column(report), REWARD.key) if c in data and data[c].notna().any()]


def curves(report: TaskReport, path: Path) -> Path | None:
    """Train loss, the validation metric (and the reward of RL runs) over steps, mean over seeds, for the
    best experiments."""
    panels = curve_columns(report)
    if not panels:
        return None
    data, valid, top = report.curves, valid_column(report), curve_experiments(report)
    fig = Figure(figsize=(6.2 * len(panels), 4.2))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, column in zip(axes.flat, panels):
        for name in top:
            line = data[data["experiment"] == name].groupby("step")[column].mean().dropna()
            if len(line):
                ax.plot(line.index, line.to_numpy(), marker="o" if len(line) < 4 else None, ms=3, lw=1.2, label=name)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(column)
        if column == valid:
            _axis_format(ax.yaxis, report.main)
        ax.grid(alpha=0.3)
    axes.flat[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    shown = f"best {len(top)} of {len(report.summary)} experiments" if len(top) < len(report.summary) else "all experiments"
    fig.suptitle(f"{report.task}: learning curves ({shown}, mean over seeds)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def published(report: TaskReport, path: Path) -> Path | None:
    """Our best per method next to the reference's best for the same method."""
    ref = report.published
    if ref.empty:
        return None
    ours = report.best_per_method.set_index("method")[f"{report.main} mean"]
    ref = ref.set_index("method")[report.main]
    methods = sorted(ref.index, key=lambda m: ours.get(m, -np.inf))
    y = np.arange(len(methods))
    fig = Figure(figsize=(8, 1.6 + 0.45 * len(methods)))
    ax = fig.subplots()
    ax.barh(y + 0.2, [ours.get(m, np.nan) for m in methods], height=0.4, color=REF_COLOR,
            label=f"ours: {report.model}")
    models = ", ".join(sorted(report.published["model"].dropna().unique()))
    ax.barh(y - 0.2, [ref[m] for m in methods], height=0.4, color="#ff7f0e",
            label=f"reference: {models}, different hardware")
    ax.set_yticks(y, methods)
    ax.set_xlabel(label(report.main) + " (best configuration per method)")
    _axis_format(ax.xaxis, report.main)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"{report.task}: ours next to published reference numbers (different model and hardware)", fontsize=10)
    return _save(fig, path)


def write_all(report: TaskReport, folder: Path) -> dict[str, Path]:
    """Every PNG of one task; returns {kind: path} for the figures that had data."""
    from peftbench.analysis import report_verdicts  # it imports report_data, as this module does

    slug = report.task.replace("/", "_")
    made = {
        "pareto": pareto_grid(report, folder / f"{slug}-pareto.png"),
        "leaderboard": leaderboard(report, folder / f"{slug}-leaderboard.png"),
        "curves": curves(report, folder / f"{slug}-curves.png"),
        "published": published(report, folder / f"{slug}-reference.png"),
        "sensitivity": report_verdicts.sensitivity_png(report, folder / f"{slug}-lr-sensitivity.png"),
    }
    return {kind: path for kind, path in made.items() if path is not None}
