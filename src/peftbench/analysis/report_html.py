"""The self-contained HTML report: plotly figures (plotly.js inlined once, so the file works offline
and opened straight from disk), tables, and sample images embedded as data URIs."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import jinja2
import pandas as pd
import plotly.graph_objects as go

from peftbench.metrics import (FILE_SIZE, FORGETTING, MEMORY_MAX, METRICS, direction, fmt_of,
                               format_value, is_bytes, label, memory_keys, trade_off_metrics)
from peftbench.analysis import answer, report_verdicts
from peftbench.analysis.report_data import TaskReport, leaderboard
from peftbench.analysis.report_figures import (FRONT_COLOR, OTHER_COLOR, REF_COLOR, curve_columns, curve_experiments,
                                               wide_range)

LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "font": {"size": 12}}


def _tickformat(column: str) -> str | None:
    return ".0%" if "%" in fmt_of(column) else None


def _axis(column: str, values: pd.Series | None = None) -> dict:
    axis = {"title": label(column) + ("" if column.startswith("test ") else
                                      f" ({'higher' if direction(column) else 'lower'} is better)")}
    if _tickformat(column):
        axis["tickformat"] = _tickformat(column)
    elif is_bytes(column):  # bytes: 1.5GB, not 1.5B
        axis.update(tickformat=".3~s", ticksuffix="B")
    if values is not None and wide_range(values):
        axis["type"] = "log"
    return axis


def leaderboard_figure(report: TaskReport) -> go.Figure:
    summary = report.summary.dropna(subset=[f"{report.main} mean"]).iloc[::-1]
    mean = summary[f"{report.main} mean"]
    fig = go.Figure()
    single = summary[f"{report.main} ci_low"].isna()
    fig.add_scatter(x=mean[~single], y=summary["experiment"][~single], mode="markers", name="mean, 95% CI over seeds",
                    marker={"color": REF_COLOR, "size": 8},
                    error_x={"type": "data", "symmetric": False,
                             "array": (summary[f"{report.main} ci_high"] - mean)[~single],
                             "arrayminus": (mean - summary[f"{report.main} ci_low"])[~single]})
    fig.add_scatter(x=mean[single], y=summary["experiment"][single], mode="markers", name="single run (no CI)",
                    marker={"color": "white", "size": 8, "line": {"color": REF_COLOR, "width": 1.5}})
    fig.update_layout(**LAYOUT, title=f"{label(report.main)} per experiment", xaxis=_axis(report.main),
                      height=160 + 22 * len(summary), legend={"orientation": "h", "y": -0.1 - 6 / (len(summary) + 6)})
    return fig


def pareto_figure(report: TaskReport, x: str) -> go.Figure:
    means, front = report.means, report.fronts[x]
    known = means[[x, report.main]].notna().all(axis=1)
    fig = go.Figure()
    for name, rows, color in (("dominated", means[known & ~front], OTHER_COLOR),
                              ("Pareto front", means[front].sort_values(x), FRONT_COLOR)):
        hover = [f"{e}<br>{label(report.main)}: {format_value(m, report.main, units=True)}"
                 f"<br>{label(x)}: {format_value(v, x, units=True)}"
                 for e, m, v in zip(rows["experiment"], rows[report.main], rows[x])]
        on_front = name == "Pareto front"  # front points carry their names: the answer the plot is for
        fig.add_scatter(x=rows[x], y=rows[report.main], name=name, hovertext=hover, hoverinfo="text",
                        text=list(rows["experiment"]) if on_front else None, textposition="top center",
                        textfont={"size": 10}, mode="lines+markers+text" if on_front else "markers",
                        line={"shape": "hv", "width": 1}, marker={"color": color, "size": 9 if on_front else 7})
    fig.update_layout(**LAYOUT, title=f"{label(report.main)} vs {label(x)}", xaxis=_axis(x, means.loc[known, x]),
                      yaxis=_axis(report.main), height=420)
    return fig


def curves_figure(report: TaskReport, column: str) -> go.Figure:
    fig = go.Figure()
    for name in curve_experiments(report):
        line = report.curves[report.curves["experiment"] == name].groupby("step")[column].mean().dropna()
        if len(line):
            fig.add_scatter(x=line.index, y=line.to_numpy(), name=name, mode="lines+markers" if len(line) < 4 else "lines")
    fig.update_layout(**LAYOUT, title=f"{column} over steps (mean over seeds; click the legend to hide lines)",
                      xaxis={"title": "step"}, yaxis={"title": column, "tickformat": _tickformat(report.main) if column.startswith("valid") else None},
                      height=420)
    return fig


def published_figure(report: TaskReport) -> go.Figure:
    ours = report.best_per_method.set_index("method")[f"{report.main} mean"]
    ref = report.published.set_index("method")
    models = ", ".join(sorted(report.published["model"].dropna().unique()))
    fig = go.Figure()
    fig.add_bar(y=ref.index, x=[ours.get(m) for m in ref.index], orientation="h", name=f"ours: {report.model}",
                marker_color=REF_COLOR)
    fig.add_bar(y=ref.index, x=ref[report.main], orientation="h", text=ref["experiment"], name=f"reference: {models}, different hardware",
                marker_color="#ff7f0e")
    fig.update_layout(**LAYOUT, barmode="group", title="best configuration per method: ours vs published reference",
                      xaxis=_axis(report.main), height=200 + 50 * len(ref), legend={"orientation": "h", "y": -0.25})
    return fig


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, border=0, classes="table", na_rep="")


# A verdict cell reads "<difference> [<interval>]: better than <reference>" (report_data.leaderboard)
VERDICT_CELL = re.compile(r"<td>([^<]*: (better|worse) than [^<]*)</td>")


def colour_verdicts(html: str) -> str:
    """The leaderboard's better / worse cells in colour, so a real difference stands out of the table."""
    return VERDICT_CELL.sub(r'<td class="\2">\1</td>', html)


BEST_NOTE = ("Each method's experiment with the highest mean on the test set: a description of these runs, not a "
             "choice (choosing on the test set would flatter every method; `peftbench tune` chooses on validation) "
             "and not a verdict (the verdicts above are).")


def best_table(report: TaskReport) -> pd.DataFrame:
    best = report.best_per_method
    columns = {"method": best["method"], "best experiment": best["experiment"]}
    # The main metric, then the training costs and what was lost of the base model: the trade-off metrics
    # of roles cost and retention (the memory one that ranks these runs).
    shown = {report.main, report.memory} | {k for k in trade_off_metrics()
                                            if k not in memory_keys() and METRICS[k].role in ("cost", "retention")}
    for metric in [report.main] + [m for m in report.metrics if m != report.main]:
        if metric in shown:
            columns[label(metric)] = [format_value(v, metric, units=True) for v in best[f"{metric} mean"]]
    return pd.DataFrame(columns)


# The reference suite's figures shown beside ours, besides its main metric.
REFERENCE_FIGURES = (FORGETTING.key, MEMORY_MAX.key, FILE_SIZE.key)


def published_table(report: TaskReport) -> pd.DataFrame:
    """Per method: our best next to the reference's best; reference cells say whose numbers they are."""
    ours = report.best_per_method.set_index("method")
    rows = []
    for _, ref in report.published.iterrows():
        row = {"method": ref["method"], "ours: experiment": ours.loc[ref["method"], "experiment"],
               f"ours: {label(report.main)}": format_value(ours.loc[ref["method"], f"{report.main} mean"], report.main, units=True),
               "reference: experiment": ref["experiment"], "reference: model": ref["model"],
               f"reference: {label(report.main)}": format_value(ref[report.main], report.main, units=True)}
        for metric in REFERENCE_FIGURES:
            if metric in ref:
                row[f"reference: {label(metric)}"] = format_value(ref[metric], metric, units=True)
        rows.append(row)
    return pd.DataFrame(rows)


def published_note(report: TaskReport) -> str:
    models = ", ".join(sorted(report.published["model"].dropna().unique()))
    return (f"reference: {models}, different hardware (and different data and training length): "
            "compare rankings, not absolute numbers.")


def _image(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


TEMPLATE = jinja2.Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title|e }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table.table { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
table.table th, table.table td { padding: 3px 8px; vertical-align: top; border-bottom: 1px solid #ddd; text-align: left; }
.better { color: #1a7f37; font-weight: 600; } .worse { color: #cf222e; font-weight: 600; }
.note { color: #555; font-size: 14px; } .answer { font-size: 17px; } .gallery img { max-width: 100%; margin: .5em 0; }
</style></head><body>
<h1>{{ title|e }}</h1>
<p class="note">{{ intro|e }}</p>
<p>Tasks: {% for s in sections %}<a href="#{{ s.task|e }}">{{ s.task|e }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</p>
{% for s in sections %}
<h2 id="{{ s.task|e }}">Task {{ s.task|e }}</h2>
<p class="answer"><strong>{{ s.answer|e }}</strong></p>
<h3>Leaderboard</h3>{{ s.leaderboard_table }}
<details><summary>How these numbers were made</summary><p class="note">{{ s.note|e }}</p></details>
{{ s.leaderboard_figure }}
{{ s.verdicts }}
<h3>Trade-offs (Pareto fronts)</h3>
<p class="note">Red points: no other experiment is at least as good on both axes and better on one. Hover for names.</p>
{% for fig in s.pareto %}{{ fig }}{% endfor %}
{% if s.curves %}<h3>Learning curves</h3>{% for fig in s.curves %}{{ fig }}{% endfor %}{% endif %}
<h3>Highest test mean per method</h3>
<p class="note">{{ best_note|e }}</p>{{ s.best_table }}
{% if s.published_table %}<h3>Published reference numbers</h3>
<p class="note">{{ s.published_note|e }}</p>{{ s.published_table }}{{ s.published_figure }}{% endif %}
{% if s.capabilities_table %}<h3>Capabilities</h3>
<p class="note">{{ capabilities_note|e }}</p>{{ s.capabilities_table }}{% endif %}
{% if s.samples %}<h3>Samples</h3><div class="gallery">{% for name, uri in s.samples %}
<p><b>{{ name|e }}</b><br><img src="{{ uri }}" alt="samples of {{ name|e }}"></p>{% endfor %}</div>{% endif %}
{% endfor %}
</body></html>
""", autoescape=False)  # tables (escaped by pandas) and figures are HTML already; text is escaped with |e


CAPABILITIES_NOTE = ("Measured by `peftbench methods --capabilities` on a tiny random-init stand-in of the task's model "
                     "after a short run, not taken from documentation: merge = merge_and_unload gives the tuned "
                     "outputs; switch = two adapters loaded on one base and switched each give their own outputs; "
                     "base = the adapter switched off gives the base model back; quantized = trains on a 4-bit base; "
                     "layers = the layer types adapted.")


class _Embed:
    """Hands out plotly HTML snippets; the first carries plotly.js inline, the rest reuse it."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig: go.Figure) -> str:
        html = fig.to_html(full_html=False, include_plotlyjs=self.first, config={"displaylogo": False})
        self.first = False
        return html


def render(reports: list[TaskReport], notes: dict[str, str], intro: str) -> str:
    embed = _Embed()
    sections = []
    for report in reports:
        section = {
            "task": report.task, "note": notes[report.task], "answer": answer.sentence(report),
            "leaderboard_table": colour_verdicts(_table(leaderboard(report))),
            "leaderboard_figure": embed(leaderboard_figure(report)),
            "pareto": [embed(pareto_figure(report, x)) for x in report.trade_offs],
            "curves": [embed(curves_figure(report, c)) for c in curve_columns(report)],
            "best_table": _table(best_table(report)),
            "verdicts": report_verdicts.html(report, _table, embed),
            "samples": [(name, _image(path)) for name, path in report.samples],
        }
        if not report.capabilities.empty:
            section["capabilities_table"] = _table(report.capabilities)
        if not report.published.empty:
            section.update(published_table=_table(published_table(report)), published_figure=embed(published_figure(report)),
                           published_note=published_note(report))
        sections.append(section)
    return TEMPLATE.render(title="peftbench report", intro=intro, sections=sections, capabilities_note=CAPABILITIES_NOTE,
                           best_note=BEST_NOTE)
