"""`peftbench report` and `peftbench import`: the reader side of the CLI (never imports torch)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from peftbench.cli.common import console, user_errors, warn
from peftbench.errors import UserError


class Format(str, Enum):
    html = "html"
    table = "table"
    markdown = "markdown"


def report(
    results: list[Path] = typer.Option([Path("results")], "--results", help="Results folder or file; repeat to combine several (e.g. your results and a reference folder)."),
    task: Optional[str] = typer.Option(None, help="Only this task."),
    out: Path = typer.Option(Path("report"), "--out", "--output-dir", help="Folder for report.html, summary.md and figures/*.png."),
    format: Format = typer.Option(Format.html, "--format", help="html: write the report folder; table: print the leaderboards in the terminal; markdown: print each task's note and leaderboard as Markdown (for a README)."),
    reference: Optional[str] = typer.Option(None, help="Experiment (lora/default) or method (lora) the paired bootstrap compares against; a method means its <method>/tuned-default experiment when a search made one, else its <method>/default, else its best. Default: lora."),
    resamples: int = typer.Option(10_000, min=100, help="Bootstrap resamples over test items."),
    narrow: bool = typer.Option(False, "--narrow", help="With --format table or markdown: the answer and a leaderboard a terminal's width can hold (main metric with interval, verdict, forgetting, memory, time, size), without the details."),
) -> None:
    """Leaderboard with 95% CIs, paired significance tests, Pareto fronts, learning curves and published
    reference numbers, as a self-contained HTML report plus PNGs and a Markdown summary."""
    from peftbench.analysis import report as report_mod
    from peftbench.analysis.load import load_runs

    with user_errors():
        missing = [p for p in results if not p.exists()]
        if missing:
            raise UserError(f"--results {missing[0]}: no such file or folder")
        runs = load_runs(results, task=task, warn=warn)
        if runs.empty and task is not None:
            raise UserError(f"--task {task!r}: no result files of this task under {', '.join(map(str, results))}")
        reports = report_mod.build(runs, reference or "lora", explicit_reference=reference is not None,
                                   n_resamples=resamples, warn=warn)
        if format is Format.table:
            for table in report_mod.rich_tables(reports, narrow):
                console.print(table)
            return
        if format is Format.markdown:
            print(report_mod.markdown_tables(reports, resamples, narrow), end="")
            return
        files = report_mod.write(reports, out, results, resamples)
    console.print(Text(f"report: {files.html}\nsummary: {files.markdown}\nfigures: {files.html.parent / 'figures'}"))


def import_results(
    path: list[Path] = typer.Argument(..., help="Reference-schema result files, or folders searched recursively."),
    output_dir: Path = typer.Option(Path("results"), help="Results store to import into: files land in <output-dir>/<task>/<source>/."),
    source: str = typer.Option("hf-method-comparison", help="Tag recorded in each imported file (run_info.source) and used as folder name."),
    task: Optional[str] = typer.Option(None, help="Task of the imported files; default: each file's task, or its folder's name (MetaMathQA -> metamathqa)."),
) -> None:
    """Copy result files of the reference schema (huggingface/peft method_comparison) into a results
    store, tagged with their source, so reports show them next to your own runs."""
    from peftbench.analysis.importer import import_files

    with user_errors():
        outcome = import_files(path, output_dir, source, task, warn=warn)
    console.print(Text(f"imported {len(outcome.written)} files, {len(outcome.unchanged)} already there, "
                       f"{len(outcome.skipped)} skipped -> {output_dir}"))
