"""`peftbench methods`: every peft method type of the installed peft, for one task."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from peftbench.cli.common import console, user_errors
from peftbench.errors import UserError
from peftbench.records.names import probe_writable


def methods(
    task: str = typer.Option("minimath", help="Task whose experiments to list."),
    capabilities: bool = typer.Option(False, "--capabilities", help="Per shipped experiment: merge, several adapters on one base, disabled adapter = base, quantized base, layer types (measured on the tiny stand-in; first run takes a while, then cached)."),
    experiments_dir: Optional[Path] = typer.Option(None, help="Where experiment folders live (default: ./experiments if it exists, else the experiments shipped with peftbench)."),
    check: bool = typer.Option(True, help="Check that each shipped experiment trains on the task's tiny stand-in (cached)."),
    refresh: bool = typer.Option(False, help="Redo the cached checks."),
    results: Path | None = typer.Option(None, "--results", help="A results folder with full-length runs of the experiments (e.g. published/minimath-defaults): adds each one's test metric, and notes those at or below the untrained base model's."),
    save_to: Path | None = typer.Option(None, "--save-to", help="With --capabilities: also write the matrix into this results folder (.methods/<task>.capabilities.json), where `peftbench report` shows it as a section."),
) -> None:
    """One row per PeftType of the installed peft, plus full fine-tuning: experiments shipped for the
    task, whether they train (checked), and why a type is not shipped."""
    from peftbench.planning.experiment import experiments_root
    from peftbench.tasks import task_spec

    with user_errors():
        task_spec(task)
        experiments_dir = experiments_root(experiments_dir)
        if save_to is not None and not capabilities:
            raise UserError("--save-to: only with --capabilities (it saves the capability matrix)")
        if results is not None and not results.is_dir():
            raise UserError(f"--results {results}: no such folder")
        table = _capability_table(task, experiments_dir, refresh, save_to) if capabilities else \
            _coverage_table(task, experiments_dir, check, refresh, results)
    console.print(table)


def _coverage_table(task: str, experiments_dir: Path, check: bool, refresh: bool, results: Path | None) -> Table:
    from importlib.metadata import version

    from peftbench.methods.coverage import FULL, coverage, full_runs

    rows = coverage(task, experiments_dir, check=check, refresh=refresh)
    types = [r for r in rows if r.peft_type != FULL]
    shipped = sum(bool(r.experiments) for r in types)
    title = f"{task}: {shipped} of {len(types)} method types of peft {version('peft')} shipped, plus full fine-tuning"
    runs = full_runs(results, task) if results is not None else None
    columns = ["peft type", "experiments", "trains"] + ([f"full run ({runs.metric})"] if runs else []) + ["note"]
    table = Table(*columns, title=title)
    for row in rows:
        trains = row.trains if check or not row.experiments else "not checked"
        cells = [row.peft_type, ", ".join(row.experiments) or "-", trains]
        note = row.detail
        if runs:
            cells.append(", ".join(runs.cell(name) for name in row.experiments))
            note = "; ".join(filter(None, [note, runs.below_base(row.experiments)]))
        table.add_row(*cells, note)
    if runs:
        table.caption = runs.caption()
    return table


def _capability_table(task: str, experiments_dir: Path, refresh: bool, save_to: Path | None) -> Table:
    from peftbench.planning.experiment import discover
    from peftbench.methods.capabilities import CAPABILITIES, experiment_capabilities, save_matrix
    from peftbench.methods.coverage import experiment_type

    if save_to is not None:
        probe_writable(save_to, "--save-to")  # before minutes of checks, not after
    table = Table("experiment", "peft type", *CAPABILITIES, title=f"{task}: capabilities measured on the tiny stand-in")
    matrix = {}
    for exp in (e for e in discover(experiments_dir, task) if not e.is_baseline):
        found = matrix[exp.full_name] = experiment_capabilities(exp, refresh)
        table.add_row(exp.full_name, experiment_type(exp), *(found[k]["value"] for k in CAPABILITIES))
    if save_to is not None:
        console.print(f"saved: {save_matrix(save_to, task, matrix)}")
    return table
