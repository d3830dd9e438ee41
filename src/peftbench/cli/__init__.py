"""The `peftbench` command: one typer app, a module per group of subcommands, registered here."""

from __future__ import annotations

import typer

from peftbench.cli import dashboard, presets, report, run, sweep, tune

app = typer.Typer(
    help="Benchmark parameter-efficient fine-tuning methods under identical conditions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("run")(run.run)
app.command("list")(run.list_experiments)
app.command("params")(run.params)
app.command("sweep")(sweep.sweep)
app.command("status")(sweep.status)
app.command("tune")(tune.tune)
app.command("demo")(presets.demo)
app.command("smoke")(presets.smoke)
app.command("report")(report.report)
app.command("import")(report.import_results)
app.command("dashboard")(dashboard.dashboard)


def main() -> None:
    app()
