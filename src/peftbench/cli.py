"""The `peftbench` command."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from peftbench.errors import UserError

app = typer.Typer(
    help="Benchmark parameter-efficient fine-tuning methods under identical conditions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Piped output (CI logs, `| tee`) would default to 80 columns and squeeze the comparison table.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True)

DEMO_EXPERIMENTS = ["minimath/lora/default", "minimath/ia3/default", "minimath/ln_tuning/default"]


def _fail(err: UserError) -> None:
    # escape: a path or name with `[...]` in it is text, not rich markup (which would crash or eat it).
    # A newline inside a name or key stays visible as \n: the error is one line.
    message = escape(str(err).replace("\n", "\\n"))
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def run(
    experiment_dir: Path = typer.Argument(..., help="Experiment folder: experiments/<task>/<method>/<name>/"),
    output_dir: Path = typer.Option(Path("results"), help="Results folder; failed or interrupted runs go to cancelled_<name> beside it."),
    max_steps: Optional[int] = typer.Option(None, help="Override max_steps (e.g. 2 for a smoke test)."),
    seed: Optional[int] = typer.Option(None, help="Override the seed; results of seeds other than 0 get a --seed<k> suffix."),
    set_: list[str] = typer.Option([], "--set", help="Override a training parameter: KEY=VALUE, dotted keys for nested ones, VALUE parsed as JSON (e.g. --set optimizer_kwargs.lr=5e-4 --set data.test_size=50)."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Train and evaluate one experiment; write its result record and predictions."""
    from peftbench.config import parse_overrides
    from peftbench.progress import Reporter
    from peftbench.runner import Terminated, execute, plan_run

    def on_sigterm(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)

    try:
        planned = plan_run(experiment_dir, max_steps=max_steps, seed=seed, overrides=parse_overrides(set_))
        console.print(f"[bold]{escape(planned.experiment.full_name)}[/bold] on {escape(planned.experiment.task)} "
                      f"(seed {planned.seed}, {planned.cfg.max_steps} steps, hash {planned.config_hash})")
        outcome = execute(planned, output_dir, Reporter(enabled=not quiet))
    except UserError as err:
        _fail(err)
    if outcome.status != "success":
        err_console.print(f"[red]{outcome.status}:[/red] {escape(str(outcome.record['run_info']['error_msg']))} "
                          f"-> {escape(str(outcome.path))}")
        codes = {KeyboardInterrupt: 130, Terminated: 143}
        raise typer.Exit(codes.get(type(outcome.error), 1))
    from peftbench.analysis.table import comparison_table

    console.print(comparison_table([outcome.path]))
    console.print(Text(f"result: {outcome.path}"))


@app.command("list")
def list_experiments(
    task: Optional[str] = typer.Option(None, help="Only this task."),
    experiments_dir: Path = typer.Option(Path("experiments"), help="Where experiment folders live."),
    results_dir: Path = typer.Option(Path("results"), help="Results folder to check for existing results."),
) -> None:
    """List experiments and whether each has a result."""
    from peftbench.experiment import discover
    from peftbench.results import find_results

    try:
        found = discover(experiments_dir, task)
    except UserError as err:
        _fail(err)
    done = find_results(results_dir)  # keys "<task>/<stem>"; one scan for all experiments
    table = Table("task", "experiment", "peft type", "result")
    for exp in found:
        kind = (exp.peft_config or {}).get("peft_type", "full fine-tuning")
        has_result = f"{exp.task}/{exp.result_stem(0)}" in done
        table.add_row(Text(exp.task), Text(exp.full_name), Text(str(kind)), "yes" if has_result else "")
    console.print(table)


def run_in_subprocess(exp_dir: Path, output_dir: Path | str, *extra: str, **popen) -> tuple[int, Path]:
    """`peftbench run` in its own process (so one run's memory never shows in another's figures);
    returns the exit code and where a successful result lands."""
    from peftbench.experiment import load_experiment
    from peftbench.results import result_path

    exp = load_experiment(exp_dir)
    args = [sys.executable, "-m", "peftbench", "run", str(exp_dir), "--output-dir", str(output_dir), *extra]
    code = subprocess.run(args, **popen).returncode
    return code, result_path(output_dir, exp.task, exp.result_stem(0), "success")


# The demo shortens every run (fewer steps, smaller test sets) so three methods fit in a few minutes on
# a 2-core laptop; its results go to their own folder and never mix with full-length runs.
DEMO_SETTINGS = [
    "--max-steps", "30", "--set", "data.valid_size=8", "--set", "data.test_size=50",
    "--set", "data.gsm8k_test_size=0", "--set", "data.forgetting_size=8",
]


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("demo_results"), help="Results folder of the demo runs."),
    experiments_dir: Path = typer.Option(Path("experiments"), help="Where experiment folders live."),
) -> None:
    """Run LoRA, IA3 and LN tuning on `minimath` (shortened: 30 steps, 50 test problems, no GSM8K
    problems), each in its own process, then print a comparison table."""
    from peftbench.analysis.table import comparison_table

    console.print(f"[bold]peftbench demo[/bold]: {', '.join(DEMO_EXPERIMENTS)} with {' '.join(DEMO_SETTINGS)}")
    paths = []
    for name in DEMO_EXPERIMENTS:
        try:
            code, path = run_in_subprocess(experiments_dir / name, output_dir, *DEMO_SETTINGS)
        except UserError as err:
            _fail(err)
        if code == 2:
            raise typer.Exit(2)
        if code == 0 and path.exists():
            paths.append(path)
    if not paths:
        err_console.print("[red]no demo run succeeded[/red]")
        raise typer.Exit(1)
    console.print(comparison_table(paths, title="minimath demo (shortened runs; see README for full-length figures)"))


SMOKE_SIZES = {
    "text": [
        "--set", "data.valid_size=2", "--set", "data.test_size=4", "--set", "data.gsm8k_test_size=2",
        "--set", "data.forgetting_size=2", "--set", "data.forgetting_max_tokens=32",
        "--set", "generation_kwargs.max_new_tokens=8",
    ],
    "image": [
        "--set", "image.test_seeds=2", "--set", "image.valid_seeds=1", "--set", "image.drift_seeds=1",
        "--set", "image.grid_seeds=2", "--set", "image.num_inference_steps=2",
    ],
}


@app.command()
def smoke(
    task: str = typer.Option("minimath", help="Task whose experiments to check."),
    experiments_dir: Path = typer.Option(Path("experiments"), help="Where experiment folders live."),
    max_steps: int = typer.Option(2, help="Training steps per experiment."),
) -> None:
    """Run every experiment of a task for a few steps with tiny evaluation sets, to catch broken configs.

    Results go to a temporary folder and are discarded; the exit code is non-zero if any run failed."""
    import tempfile

    from peftbench.experiment import discover
    from peftbench.tasks import get_task
    from peftbench.tasks.base import task_kind

    try:
        found = discover(experiments_dir, task)
    except UserError as err:
        _fail(err)
    table = Table("experiment", "outcome")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="peftbench-smoke-") as out:
        for exp in found:
            with tempfile.TemporaryFile("w+") as log:
                sizes = SMOKE_SIZES[task_kind(get_task(exp.task))]
                code, _ = run_in_subprocess(exp.path, out, "--max-steps", str(max_steps), "--quiet", *sizes,
                                            stdout=subprocess.DEVNULL, stderr=log)
                log.seek(0)
                last = (log.read().strip().splitlines() or [""])[-1]
            failed += code != 0
            table.add_row(Text(exp.full_name), "ok" if code == 0 else f"[red]exit {code}[/red] {escape(last)}")
            console.print(Text(f"{exp.full_name}: {'ok' if code == 0 else 'FAILED'}"))
    console.print(table)
    if failed:
        raise typer.Exit(1)


# Commands defined in their own modules (sweep, report, dashboard, ...) are registered here, one line each.
# --- registered commands ---
from peftbench import cli_sweep  # noqa: E402

app.command("sweep")(cli_sweep.sweep)
app.command("status")(cli_sweep.status)
from peftbench import cli_dashboard  # noqa: E402

app.command("dashboard")(cli_dashboard.dashboard)
from peftbench import cli_report  # noqa: E402

app.command("report")(cli_report.report)
app.command("import")(cli_report.import_results)
# --- end registered commands ---


def main() -> None:
    app()


if __name__ == "__main__":
    main()
