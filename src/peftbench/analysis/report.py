"""`peftbench report`: runs -> a folder with `report.html` (interactive, offline), `summary.md`, and
PNG figures in `figures/`; or the leaderboard as a terminal table."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from rich.table import Table
from rich.text import Text

from peftbench.analysis import answer, claims, report_data, report_figures, report_html, report_verdicts
from peftbench.analysis.markdown import md_table, md_text
from peftbench.analysis.report_data import TaskReport, leaderboard
from peftbench.metrics import ACCOUNTED_MAX, FORGETTING, MEMORY_MAX, REWARD, TRAINABLE, TRAIN_TIME, label
from peftbench.errors import UserError
from peftbench.records.names import join_under, probe_writable
from peftbench.records.results import atomic_write_text

MAIN_FIGURE = "pareto"  # the figure the README and docs show: main metric vs every cost
# Shorter headers for the terminal's leaderboard: the comparison table's (`Metric.short`), the memory one without
# its unit (the leaderboard's cells carry it).
TERMINAL_HEADERS = {FORGETTING.label: FORGETTING.short, TRAIN_TIME.label: TRAIN_TIME.short,
                    MEMORY_MAX.label: "train mem", TRAINABLE.label: TRAINABLE.short, "Pareto front vs": "front vs"}
MIN_WIDTHS = {"experiment": 28, "Pareto front vs": 20}


@dataclass
class ReportFiles:
    html: Path
    markdown: Path
    figures: dict[str, dict[str, Path]] = field(default_factory=dict)  # task -> kind -> PNG


def build(runs: pd.DataFrame, reference: str = "lora", explicit_reference: bool = False,
          n_resamples: int = 10_000, seed: int = 0, warn=None) -> list[TaskReport]:
    """The task reports of `runs`; UserError when there is nothing to report or a reference given
    explicitly names no experiment or method."""
    if runs.empty:
        raise UserError("no result files found: expected <results>/<task>/<method>--<name>.json files")
    reports = report_data.build(runs, reference, n_resamples, seed, warn)
    if not reports:
        raise UserError(f"no successful run with a test metric among {len(runs)} result files")
    if explicit_reference and all(r.reference is None for r in reports):
        known = sorted(set(runs["experiment"]) | set(runs["method"]))
        raise UserError(f"--reference {reference!r}: no such experiment or method; expected one of {', '.join(known[:12])}"
                        + (", ..." if len(known) > 12 else ""))
    return reports


def note(report: TaskReport, n_resamples: int) -> str:
    """What the reader must know to read the numbers right: data, statistics, what was left out."""
    seeds = report.summary["n_runs"]
    parts = [f"{len(report.summary)} experiments, {len(report.runs)} successful runs ({report.source}); "
             f"model {report.model}; main metric {label(report.main)}. Intervals are 95% Student-t intervals "
             f"over seeds ({int((seeds > 1).sum())} experiments have more than one seed; a single run has no interval; "
             f"intervals of accuracies are clipped to 0-100%)."]
    parts.append(report_verdicts.verdict_sentence(report, n_resamples))
    kinds = sorted(report.runs["memory_kind"].dropna().unique()) if "memory_kind" in report.runs else []
    if report.memory == ACCOUNTED_MAX.key:
        parts.append("Training memory is accounted: bytes of parameters, gradients, optimizer state and the peak "
                     f"of tensors saved for backward, the same on any allocator (the process's {', '.join(kinds) or 'RSS'} "
                     "is in the records too).")
    elif kinds:
        parts.append(f"Memory figures are {', '.join(kinds)}.")
    if report.source != report_data.OURS or not report.published.empty:
        parts.append("The reference suite's train_time includes test-set generation, and its MetaMathQA memory "
                     "peak includes evaluation: published figures are not measured like ours.")
    if report.n_failed:
        parts.append(f"{report.n_failed} failed or cancelled runs are left out.")
    flat = flat_rewards(report)
    if flat:
        parts.append(f"Reinforcement learning without a rising reward (its mean over the second half of training "
                     f"is not above its first step's, the starting model's): {', '.join(flat)}.")
    parts.append("Empty cells: the runs did not record that figure.")
    return " ".join(parts)


def flat_rewards(report: TaskReport) -> list[str]:
    """Experiments trained by RL whose reward (mean over seeds per step) did not rise: the mean over the
    second half of the steps is at most the first step's, sampled from the starting model. Said in the
    note so a run that learned nothing is never a silent zero."""
    data = report.curves
    if data.empty or REWARD.key not in data:
        return []
    flat = []
    for name, rows in data.dropna(subset=[REWARD.key]).groupby("experiment"):
        line = rows.groupby("step")[REWARD.key].mean().sort_index()
        if len(line) >= 2 and line.iloc[len(line) // 2:].mean() <= line.iloc[0]:
            flat.append(str(name))
    return sorted(flat)


def _markdown(reports: list[TaskReport], figures: dict, notes: dict[str, str], intro: str, samples: dict) -> str:
    lines = ["# peftbench report", "", md_text(intro), "", "Interactive version: [report.html](report.html).", ""]
    for report in reports:
        lines += [f"## Task {md_text(report.task)}", "", f"**{md_text(answer.sentence(report))}**", "",
                  "### Leaderboard", "", md_table(leaderboard(report)), "", md_text(notes[report.task]), ""]
        for kind, title in (("pareto", "Trade-offs (Pareto fronts)"), ("leaderboard", "Main metric with 95% CIs"),
                            ("curves", "Learning curves")):
            if kind in figures[report.task]:
                lines += [f"### {title}", "", f"![{title}](figures/{figures[report.task][kind].name})", ""]
        lines += report_verdicts.markdown(report, figures[report.task]["sensitivity"].name
                                          if "sensitivity" in figures[report.task] else None)
        lines += ["### Highest test mean per method", "", md_text(report_html.BEST_NOTE), "",
                  md_table(report_html.best_table(report)), ""]
        if not report.capabilities.empty:
            lines += ["### Capabilities", "", md_text(report_html.CAPABILITIES_NOTE), "", md_table(report.capabilities), ""]
        if not report.published.empty:
            lines += ["### Published reference numbers", "", md_text(report_html.published_note(report)), "",
                      md_table(report_html.published_table(report)), ""]
            if "published" in figures[report.task]:
                lines += [f"![ours vs reference](figures/{figures[report.task]['published'].name})", ""]
        if samples.get(report.task):
            lines += ["### Samples", ""] + [f"![{md_text(name).replace('[', '(').replace(']', ')')}](figures/{path})" for name, path in samples[report.task]] + [""]
    return "\n".join(lines)


def _copy_samples(report: TaskReport, folder: Path) -> list[tuple[str, str]]:
    """Sample grids copied next to the figures, so the Markdown's links survive moving the folder.
    The folder is named from the records' task: join_under keeps it inside `folder` whatever it says."""
    copied = []
    for name, source in report.samples:
        target = join_under(folder, f"{report.task}-samples", source.name, what="sample grid", last_is_file=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.append((name, f"{target.parent.name}/{target.name}"))
    return copied


def write(reports: list[TaskReport], out_dir: Path, sources: list[Path], n_resamples: int = 10_000) -> ReportFiles:
    """Write `report.html`, `summary.md` and `figures/*.png` into `out_dir`."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: expected a folder, found a file")
    probe_writable(out_dir, "--out")  # before the figures: a read-only folder is one line, not a traceback
    try:
        return _write(reports, out_dir, sources, n_resamples)
    except OSError as err:  # e.g. the disk filled up while writing figures
        raise UserError(f"--out {out_dir}: cannot write the report ({err.strerror}: {err.filename})") from None


def _write(reports: list[TaskReport], out_dir: Path, sources: list[Path], n_resamples: int) -> ReportFiles:
    figures_dir = out_dir / "figures"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    intro = f"Generated {stamp} from {', '.join(map(str, sources))}."
    notes = {r.task: note(r, n_resamples) for r in reports}
    figures = {r.task: report_figures.write_all(r, figures_dir) for r in reports}
    samples = {r.task: _copy_samples(r, figures_dir) for r in reports}
    files = ReportFiles(out_dir / "report.html", out_dir / "summary.md", figures)
    atomic_write_text(files.html, report_html.render(reports, notes, intro))
    atomic_write_text(files.markdown, _markdown(reports, figures, notes, intro, samples) + "\n")
    return files


def markdown_tables(reports: list[TaskReport], n_resamples: int = 10_000, narrow: bool = False) -> str:
    """Each task's note and leaderboard as Markdown, with the noise floor, power, default vs tuned and the
    reference's claims, but no figures and no verdict table (the leaderboard's paired column has them):
    for a README, regenerated from the committed records by `peftbench report --format markdown`.
    `narrow`: the answer, the narrow leaderboard and the note only (a front page)."""
    lines = []
    for report in reports:
        answer_line = f"**{md_text(answer.sentence(report))}**"
        if narrow:
            lines += [f"### Task {md_text(report.task)}", "", answer_line, "",
                      md_table(leaderboard(report, narrow=True)), "", md_text(note(report, n_resamples)), ""]
            continue
        lines += [f"### Task {md_text(report.task)}", "", answer_line, "",
                  md_text(note(report, n_resamples)), "", md_table(leaderboard(report)), ""]
        lines += report_verdicts.markdown(report, None, verdicts=False, level="####")
    return "\n".join(lines)


def rich_tables(reports: list[TaskReport], narrow: bool = False) -> list:
    """The leaderboards for the terminal, each followed by its verdicts, the noise floor and power, and
    default vs tuned (`narrow`: the answer and the narrow leaderboard only)."""
    tables = []
    for report in reports:
        board = leaderboard(report, narrow=narrow)
        title = Text(f"{report.task} ({report.source}; model {report.model})")  # record text, never markup
        tables.append(Text(answer.sentence(report), style="bold"))
        table = Table(title=title, title_justify="left")
        for column in board.columns:
            # Intervals stay on one line; long names and front lists fold, but not to a sliver.
            table.add_column(Text(TERMINAL_HEADERS.get(column, column)), no_wrap="95% CI" in column, overflow="fold",
                             min_width=MIN_WIDTHS.get(column),
                             justify="left" if column in ("experiment", "Pareto front vs") else "right")
        for row in board.itertuples(index=False):
            table.add_row(*(Text(str(cell)) for cell in row))
        tables.append(table)
        if not narrow:
            tables += _plain_tables(report)
    return tables


def _plain_tables(report: TaskReport) -> list:
    from rich.text import Text

    found = []
    for title, frame in ((f"{report.task}: verdicts", report_verdicts.verdict_table(report)),
                         (f"{report.task}: default vs tuned", report_verdicts.tuned_table(report)),
                         (f"{report.task}: {report_verdicts.COST_TITLE.lower()}", report_verdicts.cost_table(report)),
                         (f"{report.task}: {report_verdicts.claims_title(report)}", claims.table(report))):
        if not frame.empty:
            table = Table(*frame.columns, title=title, title_justify="left")
            for row in frame.itertuples(index=False):
                table.add_row(*(Text(str(cell)) for cell in row))
            found.append(table)
    found += [Text(line) for line in report_verdicts.statistics_lines(report)]
    return found
