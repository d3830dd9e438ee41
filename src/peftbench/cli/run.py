"""`peftbench run`, `peftbench list`, `peftbench params`: one experiment, what exists, what can be set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from peftbench.cli.common import console, err_console, user_errors

REPORT_TO_HELP = ("Also log training windows and the final figures to a tracker: tensorboard, mlflow, wandb or "
                  "trackio (each configured as its users expect, e.g. MLFLOW_TRACKING_URI, WANDB_MODE); repeat for several.")
TRACKING_DIR_HELP = "Folder for the local trackers' files (TensorBoard event files, MLflow's file store, W&B runs)."
SET_HELP = ("Override a training parameter: KEY=VALUE, dotted keys for nested ones, VALUE parsed as JSON "
            "(e.g. --set optimizer_kwargs.lr=5e-4 --set data.test_size=50); `peftbench params` lists them.")


def run(
    experiment_dir: Path = typer.Argument(..., help="Experiment folder: experiments/<task>/<method>/<name>/"),
    output_dir: Path = typer.Option(Path("results"), help="Results folder; failed or interrupted runs go to cancelled_<name> beside it."),
    max_steps: Optional[int] = typer.Option(None, help="Override max_steps (e.g. 2 for a smoke test)."),
    seed: Optional[int] = typer.Option(None, help="Override the seed; results of seeds other than 0 get a --seed<k> suffix."),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    quiet: bool = typer.Option(False, help="No progress bars."),
    report_to: list[str] = typer.Option([], "--report-to", help=REPORT_TO_HELP),
    tracking_dir: Path = typer.Option(Path("tracking"), help=TRACKING_DIR_HELP),
) -> None:
    """Train and evaluate one experiment; write its result record and predictions."""
    from peftbench.config import parse_overrides
    from peftbench.extras import require_extra
    from peftbench.plan import plan_run
    from peftbench.progress import Reporter
    from peftbench.record import SUCCESS
    from peftbench.signals import Terminated, exit_code, handle_sigterm
    from peftbench.trackers import tracking_options

    handle_sigterm()
    try:
        with user_errors():
            require_extra("train")
            plan = plan_run(experiment_dir, max_steps=max_steps, seed=seed, overrides=parse_overrides(set_))
            trackers = tracking_options(report_to, tracking_dir).make()
            from peftbench.pipeline import execute  # torch and the model stack: only once the plan is valid

            console.print(Text.assemble((plan.experiment.full_name, "bold"), f" on {plan.task} (seed {plan.seed}, "
                                        f"{plan.cfg.max_steps} steps, hash {plan.config_hash})"))
            outcome = execute(plan, output_dir, Reporter(enabled=not quiet), trackers)
    except (KeyboardInterrupt, Terminated) as err:  # stopped before the run began: nothing to record
        raise typer.Exit(exit_code("cancelled", err)) from None
    if outcome.status != SUCCESS:
        err_console.print(Text(f"{outcome.status}: ", style="red") +
                          Text(f"{outcome.record.run_info.error_msg} -> {outcome.path}"))
        raise typer.Exit(exit_code(outcome.status, outcome.error))
    from peftbench.analysis.table import comparison_table

    console.print(comparison_table([outcome.path]))
    console.print(Text(f"result: {outcome.path}"))


def list_experiments(
    task: Optional[str] = typer.Option(None, help="Only this task."),
    experiments_dir: Path = typer.Option(Path("experiments"), help="Where experiment folders live."),
    results_dir: Path = typer.Option(Path("results"), help="Results folder to check for existing results."),
) -> None:
    """List experiments and whether each has a result."""
    from peftbench.experiment import discover
    from peftbench.results import find_results

    with user_errors():
        found = discover(experiments_dir, task)
    done = find_results(results_dir)  # keys "<task>/<stem>"; one scan for all experiments
    table = Table("task", "experiment", "peft type", "result")
    for exp in found:
        kind = (exp.peft_config or {}).get("peft_type", "full fine-tuning")
        has_result = f"{exp.task}/{exp.result_stem(0)}" in done
        table.add_row(Text(exp.task), Text(exp.full_name), Text(str(kind)), "yes" if has_result else "")
    console.print(table)


def params(
    task: str = typer.Option("minimath", help="Task whose parameters to list (`peftbench params --task minigen`)."),
) -> None:
    """Every training parameter of a task — what training_params.json and --set accept — with its
    default for this task and what it means."""
    from peftbench.config import describe_fields
    from peftbench.tasks import task_spec

    with user_errors():
        spec = task_spec(task)
        fields = describe_fields(spec.config_model, spec.defaults)
    table = Table("key", "type", f"default ({task})", "meaning", title=f"{task}: {spec.summary}",
                  title_justify="left")
    for field in fields:
        table.add_row(Text(field.key), Text(field.type), Text(field.default), Text(field.description))
    console.print(table)
