"""The report's verdict sections, for every renderer (terminal, Markdown, HTML, PNG): verdicts against
the reference, the noise floor and statistical power, default vs tuned, what the search cost, and the
learning-rate sensitivity of each search (validation score of every trial against its learning rate)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from peftbench.analysis import claims as claims_mod
from peftbench.analysis import power as power_mod
from peftbench.analysis import tuning as tuning_mod
from peftbench.analysis import verdicts as verdicts_mod
from peftbench.analysis.markdown import md_table, md_text
from peftbench.analysis.report_data import TaskReport
from peftbench.analysis.stats import t_interval
from peftbench.metrics import direction, format_value, is_fraction, label


def verdict_sentence(report: TaskReport, n_resamples: int) -> str:
    """The note's sentence on comparisons: how they were made and what they found."""
    if not report.reference:
        return "No reference experiment (see --reference): differences were not tested."
    main = [v for v in report.verdicts if v.metric == report.main]
    if not main:
        return f"No per-item predictions to pair with {report.reference}: differences were not tested."
    found = {word: [v.experiment for v in main if v.word == word]
             for word in (verdicts_mod.BETTER, verdicts_mod.WORSE, verdicts_mod.SAME, verdicts_mod.UNDECIDED)}
    return (f"Verdicts against {report.reference}: {method_words(main, n_resamples)} Better: {', '.join(found['better']) or 'none'}. "
            f"Worse: {', '.join(found['worse']) or 'none'}. Not distinguishable: {', '.join(found['not distinguishable']) or 'none'}. "
            f"Cannot decide (too few seeds or no predictions): {', '.join(found['cannot decide']) or 'none'}.")


def method_words(found: list, n_resamples: int) -> str:
    """How a list of verdicts was made: the bootstrap, the pairing of seeds, the correction."""
    testable = [v for v in found if v.testable]
    paired = sum(v.paired for v in testable)
    family = max((v.family for v in testable), default=0)
    pairing = ("seeds paired (both sides ran the same seed values)" if testable and paired == len(testable)
               else "seeds drawn per side (the two sides ran different seeds)" if not paired
               else f"seeds paired in {paired} of {len(testable)} comparisons (the same seed values on both sides), "
                    "drawn per side in the others")
    correction = (f"Holm's correction over the {family} comparisons on this metric (family-wise 5%)" if family > 1
                  else "no correction (one comparison)")
    return (f"hierarchical bootstrap over seeds and test items ({n_resamples:,} resamples, fixed seed), {pairing}; "
            f"{correction}; a verdict needs {verdicts_mod.MIN_SEEDS}+ distinct seeds on each side and a corrected "
            "95% interval that excludes zero.")


def _by_effect(verdicts: list) -> list:
    """Each metric's verdicts together (main metric first), best effect first in its better direction;
    those without a difference (no items) last."""
    order = list(dict.fromkeys(v.metric for v in verdicts))

    def key(v):
        better = v.diff if direction(v.metric) else -v.diff
        return order.index(v.metric), math.isnan(v.diff), -better if not math.isnan(v.diff) else 0.0

    return sorted(verdicts, key=key)


def verdict_table(report: TaskReport) -> pd.DataFrame:
    power = {p.experiment: p for p in report.power}
    rows = []
    for v in _by_effect(report.verdicts):
        points = is_fraction(v.metric)
        row = {"experiment": v.experiment, "metric": label(v.metric),
               f"difference vs {v.reference} [corrected 95% CI]": v.interval(points),
               "verdict": v.word if v.word != verdicts_mod.UNDECIDED else f"{v.word}: {v.why}",
               "seeds": f"{v.seeds[0]} vs {v.seeds[1]}", "items": str(v.n_items) if v.n_items else "",
               "interval": v.scheme if v.testable else ""}
        if is_fraction(report.main):  # item counts are sized for accuracies (±4 points)
            p = power.get(v.experiment) if v.metric == report.main else None
            row[f"items for ±4 pts, {SIZED_SEEDS} seeds"] = _items(p) if p else ""
        rows.append(row)
    return pd.DataFrame(rows)


SIZED_SEEDS = 5  # the verdict table's sizing column: items a ±4-point interval needs at this many seeds


def _items(p) -> str:
    if min(p.parts.seeds) < 2:
        return "needs 2+ seeds"
    n = p.parts.items_needed(0.04, SIZED_SEEDS)
    if math.isnan(n):
        return "no spread measured"
    return "more seeds" if math.isinf(n) else f"{int(n):,}"


CLAIMS_TITLE = "The reference suite's claims, on these runs"
RL_CLAIMS_TITLE = "Published claims about PEFT under RL, on these runs"


def claims_title(report: TaskReport) -> str:
    return RL_CLAIMS_TITLE if report.task in claims_mod.RL_TASKS else CLAIMS_TITLE


COMPACT_POWER = 3  # more pairs than this: `compact` statistics give the range of their widths in one line


def statistics_lines(report: TaskReport, compact: bool = False) -> list[str]:
    """The noise floor and, per pair with the reference, the interval width and the items it needs;
    `compact`: one line for all pairs when there are many, and no sizing where one seed allows none."""
    points = is_fraction(report.main)
    lines = [report.noise.describe(points)] if report.noise else []
    if not points:
        return lines
    pooled = sorted((p for p in report.power if p.parts.seed_dof > max(p.parts.seeds)), key=lambda p: p.measured)
    if pooled:
        typical = pooled[len(pooled) // 2]  # the pair of median width: its item and cell terms, the pooled seed term
        lines.append(f"sizing, for the pair of median width ({typical.experiment} vs {typical.reference}, "
                     f"{typical.parts.accuracy[0]:.0%} vs {typical.parts.accuracy[1]:.0%}) with the seed variance pooled "
                     f"over {len(pooled)} pairs: a ±4 pts interval (uncorrected) needs {power_mod.sizing(typical.parts)}")
    if compact and len(report.power) > COMPACT_POWER:
        widths = sorted(p.measured * 100 for p in report.power)
        items = sorted({p.parts.n_items for p in report.power})
        single = all(min(p.parts.seeds) < 2 for p in report.power)
        return lines + [f"power: paired 95% intervals against {report.reference} of ±{widths[0]:.1f} to "
                        f"±{widths[-1]:.1f} pts over {len(widths)} pairs ({', '.join(map(str, items))} items)"
                        + ("; with one seed a side, run-level and item-level noise cannot be told apart" if single
                           else "; the report's verdict table gives the items each pair needs")]
    return lines + ["power: " + p.describe() for p in report.power]


def _cell(values: list[float], main: str) -> str:
    mean, _, low, high, n = t_interval(values)
    if n == 0:
        return ""
    if n == 1:
        return f"{format_value(mean, main, units=True)} (1 run, no CI)"
    if is_fraction(main):
        low, high = max(low, 0), min(high, 1)
    return (f"{format_value(mean, main, units=True)} [{format_value(low, main, units=True)}, "
            f"{format_value(high, main, units=True)}] ({n} seeds)")


def tuned_table(report: TaskReport) -> pd.DataFrame:
    """Default and tuned side by side, with what the search chose and on which split."""
    rows = []
    for item in report.tuned:
        info, verdict = item["info"], item["verdict"]
        chosen = ", ".join(f"{k.removeprefix('optimizer_kwargs.')}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in info["params"].items())
        why = info.get("decision") or (f"{info['objective']} {_score(info.get('value'), report.main)}, "
                                       f"trial {info['trial']}")
        rows.append({
            "default": item["default"], f"default {label(report.main)}": _cell(item["default runs"], report.main),
            "tuned": "the default (kept)" if item.get("kept") else item["tuned"],
            f"tuned {label(report.main)}": "the same runs" if item.get("kept") else _cell(item["tuned runs"], report.main),
            "chosen": chosen,
            "chosen on": f"{info['selected_on']} split, {info['trials']} trials of {info.get('max_steps')} steps: {why}",
            "tuned vs default": ("same configuration" if item.get("kept")
                                 else verdict.describe(is_fraction(report.main)) if verdict else ""),
        })
    return pd.DataFrame(rows)


COST_TITLE = "What the search cost"
COST_NOTE = ("CPU-hours: each run's total time (training, validation, test) times the torch threads it had, from "
             "the records; runs that shared cores took longer than alone, so these are upper bounds. Failed runs count.")


def cost_table(report: TaskReport) -> pd.DataFrame:
    """Per experiment searched, the CPU-hours and runs of its search, confirmation and finals, and a total row."""
    cost = report.cost
    if cost is None or cost.empty:
        return pd.DataFrame()
    total = cost.drop(columns="experiment").sum().to_dict() | {"experiment": "all"}
    rows = []
    for row in [*cost.to_dict("records"), total]:
        cells = {"experiment": row["experiment"]}
        for stage in tuning_mod.COST_STAGES:
            runs = int(row[f"{stage} runs"])
            cells[stage] = f"{row[f'{stage} CPU-h']:.2f} h ({runs} run{'s' if runs != 1 else ''})" if runs else ""
        cells["total"] = f"{row['total CPU-h']:.2f} h"
        rows.append(cells)
    return pd.DataFrame(rows)


def _score(value, main: str) -> str:
    return "" if value is None else format_value(value, main, units=True)


def sensitivity_png(report: TaskReport, path: Path) -> Path | None:
    """Validation score vs learning rate, every trial of every search (failed trials at the bottom, x)."""
    trials = report.trials
    if trials is None or trials.empty or trials["lr"].isna().all():
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    sources = sorted(trials["source"].unique())
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for source in sources:
        rows = trials[trials["source"] == source].sort_values("lr")
        ok = rows["value"].notna()
        line = ax.plot(rows.loc[ok, "lr"], rows.loc[ok, "value"], marker="o", linewidth=1, label=source)[0]
        if (~ok).any():
            ax.plot(rows.loc[~ok, "lr"], [0] * int((~ok).sum()), "x", color=line.get_color(), markersize=8)
    ax.set_xscale("log")
    objective = trials["objective"].iloc[0]
    if "accuracy" in objective:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(f"{objective} (validation split)")
    ax.set_title(f"{report.task}: learning-rate sensitivity, every trial (x = failed)", fontsize=10)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def sensitivity_figure(report: TaskReport):
    import plotly.graph_objects as go

    fig = go.Figure()
    for source in sorted(report.trials["source"].unique()):
        rows = report.trials[report.trials["source"] == source].sort_values("lr")
        text = [f"{source} trial {n}<br>lr {lr:.3g}<br>{'failed' if math.isnan(v) else f'{v:.3g}'}"
                for n, lr, v in zip(rows["number"], rows["lr"], rows["value"])]
        fig.add_scatter(x=rows["lr"], y=rows["value"].fillna(0), name=source, mode="lines+markers", text=text,
                        hoverinfo="text")
    objective = report.trials["objective"].iloc[0]
    fig.update_layout(template="plotly_white", title="learning-rate sensitivity (every trial; failed trials at 0)",
                      xaxis={"title": "learning rate", "type": "log"},
                      yaxis={"title": f"{objective} (validation split)",
                             "tickformat": ".0%" if "accuracy" in objective else None}, height=420)
    return fig


def markdown(report: TaskReport, figure: str | None, verdicts: bool = True, level: str = "###") -> list[str]:
    """The Markdown lines of the verdict sections (empty when there is nothing to say); `verdicts=False`
    leaves out the verdict table and condenses the power lines (`statistics_lines(compact=True)`),
    `level` is the headings' level."""
    lines = []
    if report.verdicts and verdicts:
        lines += [f"{level} Verdicts", "", md_table(verdict_table(report)), ""]
    stats = statistics_lines(report, compact=not verdicts)
    if stats:
        lines += [f"- {md_text(line)}" for line in stats] + [""]
    if report.tuned:
        lines += [f"{level} Default vs tuned", "", md_table(tuned_table(report)), ""]
    cost = cost_table(report)
    if not cost.empty:
        lines += [f"{level} {COST_TITLE}", "", md_table(cost), "", md_text(COST_NOTE), ""]
    claims = claims_mod.table(report)
    if not claims.empty:
        lines += [f"{level} {claims_title(report)}", "", md_table(claims), ""]
    if figure:
        lines += [f"{level} Learning-rate sensitivity", "", f"![learning-rate sensitivity](figures/{figure})", ""]
    return lines


def html(report: TaskReport, table, embed) -> str:
    """The HTML of the verdict sections; `table` renders a DataFrame, `embed` a plotly figure."""
    parts = []
    if report.verdicts:
        parts += ["<h3>Verdicts</h3>", table(verdict_table(report))]
    stats = statistics_lines(report)
    if stats:
        head, rest = stats[:2], stats[2:]  # the noise floor and the sizing; the per-pair power lines fold away
        parts.append("<ul class=\"note\">" + "".join(f"<li>{_escape(line)}</li>" for line in head) + "</ul>")
        if rest:
            parts.append(f"<details><summary>power of each comparison ({len(rest)} lines)</summary><ul class=\"note\">"
                         + "".join(f"<li>{_escape(line)}</li>" for line in rest) + "</ul></details>")
    if report.tuned:
        parts += ["<h3>Default vs tuned</h3>", table(tuned_table(report))]
    cost = cost_table(report)
    if not cost.empty:
        parts += [f"<h3>{COST_TITLE}</h3>", table(cost), f"<p class=\"note\">{_escape(COST_NOTE)}</p>"]
    claims = claims_mod.table(report)
    if not claims.empty:
        parts += [f"<h3>{claims_title(report)}</h3>", table(claims)]
    if report.trials is not None and not report.trials.empty:
        parts += ["<h3>Learning-rate sensitivity</h3>", embed(sensitivity_figure(report))]
    return "\n".join(parts)


def _escape(text: str) -> str:
    import html as html_mod

    return html_mod.escape(text)
