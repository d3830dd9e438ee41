"""The `peftbench` command: one typer app, a module per group of subcommands, registered here."""

from __future__ import annotations

import typer

from peftbench.cli import dashboard, doctor, export, init, methods, presets, push, report, run, sweep, tune

app = typer.Typer(
    help="Benchmark parameter-efficient fine-tuning methods under identical conditions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from peftbench import __version__

        typer.echo(f"peftbench {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                help="Show other libraries' warnings (-v) and all their messages (-vv); "
                                     "by default only their errors. Goes before the command: peftbench -v run ..."),
) -> None:
    """Benchmark parameter-efficient fine-tuning methods under identical conditions."""
    from peftbench.system import folders, logs

    # Before any command imports torch, peft or bitsandbytes: they log while being imported, and
    # huggingface_hub reads its folder variables at import.
    logs.configure(max(verbose, logs.verbosity_from_env()))
    folders.unset_empty_variables()


app.command("init")(init.init)
app.command("run")(run.run)
app.command("list")(run.list_experiments)
app.command("params")(run.params)
app.command("methods")(methods.methods)
app.command("sweep")(sweep.sweep)
app.command("status")(sweep.status)
app.command("tune")(tune.tune)
app.command("demo")(presets.demo)
app.command("smoke")(presets.smoke)
app.command("report")(report.report)
app.command("import")(report.import_results)
app.command("export")(export.export)
app.command("dashboard")(dashboard.dashboard)
app.command("push")(push.push)
app.command("doctor")(doctor.doctor)


def main() -> None:
    app()
