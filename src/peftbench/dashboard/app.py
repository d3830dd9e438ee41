"""The Gradio dashboard: pick a task and model, filter and sort the runs, plot a Pareto front, export
the filtered table as CSV, and read any run's answers item by item (two runs side by side).

Offline by construction: no analytics, no share link, system fonts (no Google Fonts request).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import sys
import tempfile
from functools import partial
from pathlib import Path
from types import SimpleNamespace

# Must be set before gradio is imported: it decides at import time whether to phone home.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import pandas as pd  # noqa: E402

from peftbench.analysis.filters import InvalidFilter  # noqa: E402
from peftbench.analysis.load import load_runs, memory_key  # noqa: E402
from peftbench.dashboard import figure, items, view  # noqa: E402
from peftbench.records.names import is_name  # noqa: E402
from peftbench.system.extras import require  # noqa: E402

gr = require("gradio")  # the [dashboard] extra; missing -> one line naming the pip install

FILTER_HELP = ("e.g. `test accuracy >= 0.3 and method in (lora, ia3)` — columns as headed (or backquoted), "
               "comparisons == != < <= > >=, `in (…)`, `not`, `and`, `or`, parentheses; `30%` means 0.3")


class Results:
    """The runs read from the result folders; `reload` re-reads them (a sweep may have added some)."""

    def __init__(self, sources: list[Path]):
        self.sources = sources
        self.runs = pd.DataFrame()
        self.answers: dict[str, str] = {}
        self.warnings: list[str] = []
        self.export_dir = Path(tempfile.mkdtemp(prefix="peftbench-dashboard-"))
        atexit.register(shutil.rmtree, self.export_dir, ignore_errors=True)

    def reload(self) -> None:
        found: list[str] = []
        self.runs = load_runs(self.sources, warn=found.append)
        self.warnings = found
        self.answers: dict[str, str] = {}

    def answer(self, task: str | None) -> str:
        """The report's one-sentence answer for `task` (the same verdicts, the same resamples)."""
        if task is None:
            return ""
        if task not in self.answers:
            from peftbench.analysis import answer
            from peftbench.analysis.report_data import verdict_report

            report = verdict_report(task, self.runs, "lora", warn=lambda message: None)
            self.answers[task] = answer.sentence(report) if report is not None else "No test results for this task."
        return f"**{view.markdown_text(self.answers[task])}**"

    def summary(self) -> str:
        places = ", ".join(view.markdown_text(str(s)) for s in self.sources)
        text = f"{len(self.runs)} runs read from {places}."
        if self.warnings:
            shown = "\n".join(f"- {view.markdown_text(w)}" for w in self.warnings[:20])
            text += f" {len(self.warnings)} files skipped:\n\n{shown}"
        return text

    def export(self, task: str | None, table: pd.DataFrame) -> str:
        """The filtered table as a CSV file; named by content, so concurrent sessions never collide."""
        text = table.to_csv(index=False)
        folder = self.export_dir / hashlib.sha256(text.encode()).hexdigest()[:16]
        # The task comes from the browser: only a plain name goes into a file name.
        path = folder / f"peftbench-{task if is_name(task) else 'runs'}-filtered.csv"
        if not path.exists():  # written once, atomically: another session may be downloading it
            folder.mkdir(exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp", encoding="utf-8") as tmp:
                tmp.write(text)
            os.replace(tmp.name, path)
        return str(path)


def _datatypes(frame: pd.DataFrame) -> list[str]:
    return ["number" if pd.api.types.is_numeric_dtype(frame[c]) else "str" for c in frame.columns]


def _axis_choices(runs: pd.DataFrame) -> list[tuple[str, str]]:
    return [(view.header(c), c) for c in view.metric_columns(runs)]


def _run_pickers(runs: pd.DataFrame) -> tuple:
    """Choices of runs A and B: the runs with a predictions file (B may be none)."""
    choices = view.run_choices(runs)
    info = None if choices else "no run of this selection has a predictions file (e.g. reference results)"
    return (gr.update(choices=choices, value=None, info=info),
            gr.update(choices=[("(none)", ""), *choices], value=""))


def _layout() -> SimpleNamespace:
    """The page's components, top to bottom (inside a `gr.Blocks` context)."""
    ui = SimpleNamespace()
    gr.Markdown("# peftbench dashboard\nWhich PEFT method for my budget? "
                "Higher accuracy/similarity is better; lower memory, time, size, forgetting and drift are better.")
    ui.summary = gr.Markdown(elem_id="summary")
    ui.answer = gr.Markdown(elem_id="answer")
    with gr.Row():
        ui.task = gr.Dropdown(label="Task", elem_id="task", scale=2)
        ui.model = gr.Dropdown(label="Model", elem_id="model", scale=2)
        ui.reload = gr.Button("Reload results", elem_id="reload", scale=0, min_width=160, size="md")
    with gr.Row():
        ui.filter = gr.Textbox(label="Filter", placeholder="test accuracy >= 0.3 and method != lora",
                               info=FILTER_HELP, elem_id="filter", scale=5)
        ui.apply = gr.Button("Apply filter", variant="primary", elem_id="apply-filter", scale=0, min_width=160,
                             size="md")
    ui.per_experiment = gr.Checkbox(value=True, label="one row per experiment: mean over its seeds, with the 95% "
                                    "interval of the quality metric (empty for a single seed); off: one row per run",
                                    elem_id="per-experiment")
    ui.filter_error = gr.Markdown(elem_id="filter-error")
    ui.count = gr.Markdown(elem_id="row-count")
    ui.table = gr.Dataframe(label="Runs (sort from a header's ⋮ menu)", interactive=False, max_height=420,
                            elem_id="runs-table", buttons=["fullscreen", "copy"])
    ui.export = gr.DownloadButton("Export CSV of the filtered table", elem_id="export-csv", size="sm")
    gr.Markdown("## Pareto front\nRuns no other run beats on both metrics (in each one's better direction).")
    with gr.Row():
        ui.x_axis = gr.Dropdown(label="x axis", elem_id="pareto-x")
        ui.y_axis = gr.Dropdown(label="y axis", elem_id="pareto-y")
    ui.plot = gr.Plot(elem_id="pareto-plot", show_label=False)
    ui.gallery = gr.Gallery(label="Image samples (image tasks)", visible=False, columns=4, elem_id="samples")
    gr.Markdown("## Per-item predictions\nPick a run to read its answers; pick a second run to compare "
                "both on the same items.")
    with gr.Row(equal_height=True):
        ui.run_a = gr.Dropdown(label="Run A", elem_id="run-a", scale=3)
        ui.run_b = gr.Dropdown(label="Run B (side by side)", elem_id="run-b", scale=3)
        ui.only_diff = gr.Checkbox(label="only items where A and B answer differently", elem_id="only-diff", scale=1)
    ui.items = gr.Dataframe(_no_items(), label="Items", interactive=False, wrap=True, max_height=520,
                            max_chars=300, elem_id="items-table")
    return ui


def _no_items() -> pd.DataFrame:
    return pd.DataFrame(columns=items.ITEM_COLUMNS)


# Event handlers: `results` first (bound with functools.partial), then the components' values.

def load_all(results: Results):
    results.reload()
    choices = view.tasks(results.runs)
    return results.summary(), gr.update(choices=choices, value=choices[0] if choices else None)


def on_task(results: Results, task: str | None):
    runs = view.select(results.runs, task, None)
    models = view.models(results.runs, task)
    axes = _axis_choices(runs)
    x, y = figure.default_axes([c for _, c in axes], memory_key(runs))
    return (results.answer(task), gr.update(choices=models, value=models[0]), gr.update(choices=axes, value=x),
            gr.update(choices=axes, value=y), *_run_pickers(runs))


def on_model(results: Results, task: str | None, model: str | None):
    return _run_pickers(view.select(results.runs, task, model))


def refresh(results: Results, task: str | None, model: str | None, text: str, x: str | None, y: str | None,
            per_experiment: bool):
    """Table, headline, filter error, CSV file, Pareto figure and gallery of the current selection."""
    runs = view.select(results.runs, task, model)
    rows = view.per_experiment(runs) if per_experiment else runs
    error = ""
    try:
        kept, shown = view.filtered(rows, text)
    except InvalidFilter as err:
        # Show the selection unfiltered rather than rows of an earlier selection; say why.
        error = f"⚠️ {err} — showing all runs of this selection"
        kept, shown = view.filtered(rows, "")
    plot = figure.pareto_figure(kept, x, y) if x and y else None
    images = view.samples_images(runs[runs["experiment"].isin(kept["experiment"])])
    line = view.headline(kept, len(rows), "experiments" if per_experiment else "runs",
                         view.trial_count(results.runs, task))
    return (gr.update(value=view.cells(shown), datatype=_datatypes(shown)), line, error,
            results.export(task, shown), plot, gr.update(value=images, visible=bool(images)))


def show_items(a: str | None, b: str | None, only_differing: bool):
    if not a:
        return _no_items()
    try:
        frame = items.side_by_side(a, b, only_differing) if b else items.items(a)
    except ValueError as err:  # an unreadable sidecar: say which
        raise gr.Error(str(err)) from None
    return view.cells(frame)


def _wire(ui: SimpleNamespace, page: gr.Blocks, results: Results) -> None:
    """Which events run which handlers. Data are re-read on each page load and on *Reload*."""
    selection = [ui.task, ui.model, ui.filter, ui.x_axis, ui.y_axis, ui.per_experiment]
    shown = [ui.table, ui.count, ui.filter_error, ui.export, ui.plot, ui.gallery]
    pickers = [ui.run_a, ui.run_b, ui.only_diff]
    task_outputs = [ui.answer, ui.model, ui.x_axis, ui.y_axis, ui.run_a, ui.run_b]
    update = partial(refresh, results)
    for trigger in (page.load, ui.reload.click):
        (trigger(partial(load_all, results), outputs=[ui.summary, ui.task])
         .then(partial(on_task, results), [ui.task], task_outputs)
         .then(update, selection, shown).then(show_items, pickers, ui.items))
    (ui.task.input(partial(on_task, results), [ui.task], task_outputs)
     .then(update, selection, shown).then(show_items, pickers, ui.items))
    (ui.model.input(partial(on_model, results), [ui.task, ui.model], [ui.run_a, ui.run_b])
     .then(update, selection, shown).then(show_items, pickers, ui.items))
    for event in (ui.filter.submit, ui.apply.click, ui.x_axis.input, ui.y_axis.input, ui.per_experiment.input):
        event(update, selection, shown)
    for event in (ui.run_a.input, ui.run_b.input, ui.only_diff.input):
        event(show_items, pickers, ui.items)


def build(results: Results) -> gr.Blocks:
    """The dashboard page over `results`."""
    with gr.Blocks(title="peftbench dashboard", fill_width=True) as page:
        _wire(_layout(), page, results)
    return page


# System fonts only: the default theme would fetch Google Fonts, which an offline machine cannot.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])


def serve(sources: list[Path], host: str = "127.0.0.1", port: int = 7860) -> None:
    """Build the dashboard and serve it until interrupted (blocking)."""
    page = build(Results(sources))
    # SIGTERM (a service manager, a test) exits like Ctrl-C, so the exported CSV files are removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    # Gradio serves only files under allowed paths: the results folders hold the image samples.
    allowed = [str(s if s.is_dir() else s.parent) for s in sources]
    page.launch(server_name=host, server_port=port, share=False, inbrowser=False, theme=THEME,
                ssr_mode=False, mcp_server=False, pwa=False, footer_links=[], show_error=True,
                allowed_paths=allowed)
